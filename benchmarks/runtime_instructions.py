"""Instructions per journey of the runtime, this checkout against an earlier one, counted by callgrind.

Wall-clock ratios on a shared 2-core machine swing by more than the 1 % a change must stay within (the
same code measured 0.81..1.16 against the baseline in one afternoon). ``valgrind --tool=callgrind``
counts instructions instead: repeatable whatever else the machine does. The workload is
``runtime_bench.py``'s journey (request k=20 → ranking → 20 impressions → 1 click on the built-in spec)
with the SDK's in-memory exporters, so the count covers obsgen and the SDK work it causes, not the
network. Each side runs twice (``--journeys`` and 20 journeys); the difference divided by the extra
journeys removes start-up and import costs.

    git worktree add /tmp/obsgen-before <rev>
    .venv/bin/python benchmarks/runtime_instructions.py --before /tmp/obsgen-before [--journeys 520]

The earlier checkout's runtime is imported from its source folder: as ``generator`` when it predates the
import name ``obsgen``, else (``--before-package obsgen``) through a temporary ``obsgen`` link to its
``generator/`` folder placed ahead of the installed package (this checkout's).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
WARM = 20


def workload(root: str, package: str, journeys: int) -> None:
    """Child process: ``journeys`` benchmark journeys through the runtime of ``root``'s ``package``."""
    sys.path.insert(0, root)
    if package == "obsgen" and Path(root).resolve() != HERE:
        link = Path(tempfile.mkdtemp()) / "obsgen"
        link.symlink_to(Path(root) / "generator")
        sys.path.insert(0, str(link.parent))
    spec = importlib.util.spec_from_file_location("runtime_bench", Path(root) / "benchmarks" / "runtime_bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["runtime_bench"] = bench
    spec.loader.exec_module(bench)
    runtime = __import__(f"{package}.runtime", fromlist=["RuntimeConfig", "Telemetry"])
    from opentelemetry.sdk._logs.export import InMemoryLogExporter
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    config = runtime.RuntimeConfig(pii_key=b"instructions-key-Zq8vR2mK7xW4pL9n", span_exporter=InMemorySpanExporter(),
                                   log_exporter=InMemoryLogExporter(), metric_readers=[InMemoryMetricReader()],
                                   max_queue_size=100_000, schedule_delay_s=3600)
    rt = runtime.Telemetry.from_default(config)
    for journey in bench.journeys(journeys):
        bench.obsgen_journey(rt, journey)
    rt.shutdown()


def instructions(root: Path, package: str, journeys: int) -> int:
    with tempfile.TemporaryDirectory() as work:
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={work}/out", sys.executable, "-W", "ignore",
             __file__, "--child", str(root), package, str(journeys)],
            capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise SystemExit(f"callgrind printed no count:\n{result.stderr[-2000:]}")
    return int(found.group(1))


def per_journey(root: Path, package: str, journeys: int) -> float:
    return (instructions(root, package, journeys) - instructions(root, package, WARM)) / (journeys - WARM)


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        workload(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="checkout of the earlier commit (package generator)")
    parser.add_argument("--before-package", choices=("generator", "obsgen"), default="generator",
                        help="the earlier checkout's import name (obsgen since the rename)")
    parser.add_argument("--journeys", type=int, default=520)
    args = parser.parse_args()
    before = per_journey(args.before, args.before_package, args.journeys)
    after = per_journey(HERE, "obsgen", args.journeys)
    print(f"instructions per journey: before {before:,.0f}, this checkout {after:,.0f}, ratio {after / before:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
