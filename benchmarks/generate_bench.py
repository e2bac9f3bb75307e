"""Benchmark: `obsgen generate` in a cold process against grafanalib's own `generate-dashboard`, and its scaling.

1. **Ratio.** Rounds of cold processes, in alternating order within each round:
   - `obsgen generate --out NEW_DIR`: the whole tree of the built-in spec into an empty directory (every
     file written and fsynced, the atomic swap included);
   - `obsgen generate --out SAME_DIR`: regenerating a current tree (everything built, nothing to write: CI's
     `--check` costs the same);
   - the same two with PyYAML's C loader patched in for reading the spec (`yaml.SafeLoader = CSafeLoader`
     before obsgen is imported): what `obsgen.spec.source` would give with libyaml (not obsgen's code today);
   - grafanalib's `generate-dashboard -o FILE benchmarks/panels15.dashboard.py` (15 time-series panels).
   Each process's wall time is measured around `subprocess.run`; reported: every round, the median, and the
   median of the per-round ratios to grafanalib.
2. **Scaling.** 100 variants of the built-in spec (service, namespace, metric, alert and dashboard names
   renamed: `svc-000` … `svc-099`) in one tree: `obsgen generate DIR_OF_N_SPECS --out NEW_DIR` for N in
   `--sizes`; time per service = median / N, and the cost of each service beyond the first (the slope:
   constant when the time is linear in the number of services).

    .venv/bin/python benchmarks/generate_bench.py                      # --rounds 11 --scale-rounds 3; ~3 min
    .venv/bin/python benchmarks/generate_bench.py --rounds 21 --sizes 1,10,50,100 --json /tmp/gen.json
    # against another version, e.g. main: its generator/ as DIR/obsgen, with templates/ inside
    mkdir -p /tmp/old && git archive main generator templates | tar -x -C /tmp/old &&
      mv /tmp/old/generator /tmp/old/obsgen && mv /tmp/old/templates /tmp/old/obsgen/
    .venv/bin/python benchmarks/generate_bench.py --compare /tmp/old --sizes ""

The machine load (`uptime`) is printed before and after; compare figures of one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
DASHBOARD = HERE / "panels15.dashboard.py"
C_LOADER = "import yaml; yaml.SafeLoader = yaml.CSafeLoader; from obsgen.cli import main; main()"
"""`obsgen` with libyaml reading the spec (source.py looks `yaml.SafeLoader` up when it loads)."""


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
"""Every process runs from compiled bytecode, as an installed package does (pip compiles site-packages; an
editable obsgen, or PYTHONDONTWRITEBYTECODE, would otherwise compile obsgen's sources in every process).
``main`` points PYTHONPYCACHEPREFIX at the run's temporary directory, so the checkout stays clean."""


@dataclass
class Times:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    """user + system seconds of the child, less sensitive to other load on the machine than wall time."""


def timed(command: list[str], into: Times | None = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if into is not None:
        into.wall.append(wall)
        into.cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall


def obsgen(*args: str, c_loader: bool = False) -> list[str]:
    return [sys.executable, "-c", C_LOADER, *args] if c_loader else [str(BIN / "obsgen"), *args]


def obsgen_from(source: Path, *args: str) -> list[str]:
    """``obsgen`` imported from another copy of its sources (``source/obsgen``: e.g. an older commit's
    ``generator/`` with ``templates/`` inside), so two versions can be timed in one run."""
    code = f"import sys; sys.path.insert(0, {str(source)!r}); from obsgen.cli import main; main()"
    return [sys.executable, "-c", code, *args]


def variant(text: str, i: int) -> str:
    """The built-in spec renamed for service ``i``: its own service, namespace, series, alerts and dashboards."""
    return (text.replace("movie-recommender", f"svc-{i:03d}").replace("recsys", f"svc{i:03d}")
            .replace("Recsys", f"Svc{i:03d}"))


def ratio_rounds(rounds: int, work: Path, compare: Path | None) -> dict[str, Times]:
    current = work / "current"
    subprocess.run(obsgen("generate", "--out", str(current)), check=True, capture_output=True, env=ENV)
    fresh = iter(range(10**6))

    def new_dir() -> str:
        return str(work / f"new-{next(fresh)}")

    cases: dict[str, Callable[[], list[str]]] = {
        "obsgen, new dir": lambda: obsgen("generate", "--out", new_dir()),
        "obsgen, current tree": lambda: obsgen("generate", "--out", str(current)),
        "obsgen + C loader, new dir": lambda: obsgen("generate", "--out", new_dir(), c_loader=True),
        "obsgen + C loader, current tree": lambda: obsgen("generate", "--out", str(current), c_loader=True),
        "grafanalib generate-dashboard": lambda: [str(BIN / "generate-dashboard"), "-o", str(work / "d.json"),
                                                  str(DASHBOARD)],
    }
    if compare is not None:
        cases[f"{compare.name}, new dir"] = lambda: obsgen_from(compare, "generate", "--out", new_dir())
    times = {name: Times() for name in cases}
    for command in cases.values():  # warm the page cache and write the .pyc files; not counted
        timed(command())
    for r in range(rounds):
        for name in list(cases) if r % 2 == 0 else list(reversed(cases)):
            timed(cases[name](), times[name])
    return times


def scaling(sizes: list[int], rounds: int, work: Path) -> dict[int, Times]:
    from obsgen.spec import default_spec_text

    text = default_spec_text()
    out: dict[int, Times] = {}
    for n in sizes:
        specs = work / f"specs-{n}"
        specs.mkdir(parents=True)
        for i in range(n):
            (specs / f"svc-{i:03d}.yaml").write_text(variant(text, i))
        out[n] = Times()
        for r in range(rounds):
            timed(obsgen("generate", str(specs), "--out", str(work / f"tree-{n}-{r}")), out[n])
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--scale-rounds", type=int, default=3)
    parser.add_argument("--sizes", default="1,10,50,100", help="numbers of services for the scaling figure")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--compare", metavar="DIR", type=Path,
                        help="also time the obsgen package in DIR/obsgen (another version's sources)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",") if n]
    print(f"before: {uptime()}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="obsgen-bench-") as tmp:
        work = Path(tmp)
        ENV["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        times = ratio_rounds(args.rounds, work, args.compare)
        base = times["grafanalib generate-dashboard"]
        print(f"\ncold process, {args.rounds} rounds, ms (wall: every round; then the medians, and the median of the "
              "per-round ratios to grafanalib; cpu: user+sys of the process):")
        for name, t in times.items():
            ratio = statistics.median(v / b for v, b in zip(t.wall, base.wall, strict=True))
            cpu_ratio = statistics.median(v / b for v, b in zip(t.cpu, base.cpu, strict=True))
            rounds = " ".join(ms(v) for v in t.wall)
            print(f"  {name:32} wall {ms(statistics.median(t.wall)):>5} (ratio {ratio:.2f})  "
                  f"cpu {ms(statistics.median(t.cpu)):>4} (ratio {cpu_ratio:.2f})   [{rounds}]")
        print(f"\nafter the ratio rounds: {uptime()}")
        scale = scaling(sizes, args.scale_rounds, work / "scale") if sizes else {}
        if scale:
            print(f"\nscaling, {args.scale_rounds} rounds per size (one cold `obsgen generate DIR --out NEW_DIR`):")
            first = min(scale)
            for n, t in scale.items():
                wall, cpu = statistics.median(t.wall), statistics.median(t.cpu)
                slope = (cpu - statistics.median(scale[first].cpu)) / (n - first) if n != first else 0.0
                added = f"; each service beyond {first}: {ms(slope)} ms cpu" if n != first else ""
                print(f"  {n:4} services: wall {wall:7.2f} s = {ms(wall / n):>5} ms per service, cpu {ms(cpu / n):>5} "
                      f"ms per service{added}   [{' '.join(f'{v:.2f}' for v in t.wall)}]")
    print(f"\nafter: {uptime()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"ratio_rounds": {k: asdict(v) for k, v in times.items()},
                                               "scaling": {n: asdict(v) for n, v in scale.items()}}, indent=2) + "\n")


if __name__ == "__main__":
    main()
