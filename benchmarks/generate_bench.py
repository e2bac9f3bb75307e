"""Benchmark: `obsgen generate` in a cold process against grafanalib's own `generate-dashboard`, and its scaling.

1. **Ratio.** Rounds of cold processes, in alternating order within each round:
   - `obsgen generate --out NEW_DIR`: the whole tree of the built-in spec (both targets, compose and
     kubernetes) into an empty directory (every file written and fsynced, the atomic swap included);
   - `obsgen generate --out SAME_DIR`: regenerating a current tree (everything built, nothing to write: CI's
     `--check` costs the same);
   - `OBSGEN_WORKER=0 obsgen generate --out NEW_DIR`: the same without the dashboard worker (`obsgen.offload`:
     grafanalib imported and the dashboards built in-process, on one core);
   - optionally another version of obsgen (`--compare DIR`), into a new directory;
   - grafanalib's `generate-dashboard -o FILE benchmarks/panels15.dashboard.py` (15 time-series panels);
   - the floor: a process that only imports the libraries `obsgen generate` cannot do without (click, Jinja2 and
     grafanalib from the design card, PyYAML for the spec) and does nothing else, in one process and split over
     two (a fork: grafanalib in the child, the rest in the parent, as `obsgen.offload` splits them). No version
     of obsgen on these libraries can be faster than the floor; the floor's ratio to grafanalib's CLI says how
     much of the baseline is left for reading, checking, building and writing the tree.
   Every round prints each process's wall time (around `subprocess.run`), its CPU time (user + system, from
   `getrusage(RUSAGE_CHILDREN)`: far less sensitive than wall time to other jobs on the machine) and the
   load average (`os.getloadavg()`); then the medians, and the medians of the per-round ratios to grafanalib.
2. **Scaling.** N variants of the built-in spec (service, namespace, metric, alert and dashboard names
   renamed: `svc-000` … `svc-099`) in one tree: `obsgen generate DIR_OF_N_SPECS --out NEW_DIR` for N in
   `--sizes`; time per service = time / N, and the cost of each service beyond the first (the slope between
   two sizes: the same for every pair of sizes when time is linear in the number of services).

Every process runs from compiled bytecode and with the stack templates' compiled code in Jinja2's file cache
(`$XDG_CACHE_HOME/obsgen/templates`), as an installed package does after its first run; one uncounted warm-up
process per case writes them (both into the run's temporary directory).

    .venv/bin/python benchmarks/generate_bench.py    # --rounds 11 --scale-rounds 3 --sizes 1,10,100; 4-8 min
    .venv/bin/python benchmarks/generate_bench.py --rounds 21 --sizes 1,10,50,100 --json /tmp/gen.json
    # against another version, e.g. main: its generator/ as DIR/obsgen, with templates/ inside
    mkdir -p /tmp/old && git archive main generator templates | tar -x -C /tmp/old &&
      mv /tmp/old/generator /tmp/old/obsgen && mv /tmp/old/templates /tmp/old/obsgen/
    .venv/bin/python benchmarks/generate_bench.py --compare /tmp/old --sizes ""
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
GRAFANALIB = "grafanalib generate-dashboard"
LIBRARIES = "import click, jinja2, yaml, grafanalib.core"
LIBRARIES_SPLIT = """
import os
pid = os.fork()
if pid == 0:
    import grafanalib.core
    os._exit(0)
import click, jinja2, yaml
os.waitpid(pid, 0)
"""
FLOOR = "libraries alone, one process"
FLOOR_SPLIT = "libraries alone, two processes"
TARGET_S = 0.3
"""Issue 9's bound for the whole tree of the built-in spec, cold process."""

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
"""Every process runs from compiled bytecode, as an installed package does (pip compiles site-packages; an
editable obsgen, or PYTHONDONTWRITEBYTECODE, would otherwise compile obsgen's sources in every process).
``main`` points PYTHONPYCACHEPREFIX and XDG_CACHE_HOME at the run's temporary directory, so neither the checkout
nor the user's cache directory changes."""


def load() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


@dataclass
class Times:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    """user + system seconds of the child, less sensitive to other load on the machine than wall time."""
    load: list[float] = field(default_factory=list)
    """1-minute load average when the process started."""


def timed(command: list[str], into: Times | None = None) -> tuple[float, float]:
    """Wall and CPU time of ``command``, its descendants included (obsgen waits for its dashboard worker, so
    ``RUSAGE_CHILDREN`` counts the worker's CPU too). A leading ``NAME=VALUE`` item sets that variable."""
    env = ENV
    if command and "=" in command[0]:
        name, value = command[0].split("=", 1)
        env, command = {**ENV, name: value}, command[1:]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load1 = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if into is not None:
        into.wall.append(wall)
        into.cpu.append(cpu)
        into.load.append(load1)
    return wall, cpu


def obsgen(*args: str) -> list[str]:
    return [str(BIN / "obsgen"), *args]


def obsgen_from(source: Path, *args: str) -> list[str]:
    """``obsgen`` imported from another copy of its sources (``source/obsgen``: e.g. an older commit's
    ``generator/`` with ``templates/`` inside), so two versions can be timed in one run."""
    code = f"import sys; sys.path.insert(0, {str(source)!r}); from obsgen.cli import main; main()"
    return [sys.executable, "-c", code, *args]


def variant(text: str, i: int) -> str:
    """The built-in spec renamed for service ``i``: its own service, namespace, series, alerts and dashboards."""
    return (text.replace("movie-recommender", f"svc-{i:03d}").replace("recsys", f"svc{i:03d}")
            .replace("Recsys", f"Svc{i:03d}"))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def ratio_rounds(rounds: int, work: Path, compare: Path | None) -> dict[str, Times]:
    current = work / "current"
    subprocess.run(obsgen("generate", "--out", str(current)), check=True, capture_output=True, env=ENV)
    fresh = iter(range(10**6))

    def new_dir() -> str:
        return str(work / f"new-{next(fresh)}")

    cases: dict[str, Callable[[], list[str]]] = {
        "obsgen, new dir": lambda: obsgen("generate", "--out", new_dir()),
        "obsgen, current tree": lambda: obsgen("generate", "--out", str(current)),
        "obsgen, new dir, no worker": lambda: ["OBSGEN_WORKER=0", *obsgen("generate", "--out", new_dir())],
        GRAFANALIB: lambda: [str(BIN / "generate-dashboard"), "-o", str(work / "d.json"), str(DASHBOARD)],
        FLOOR: lambda: [sys.executable, "-c", LIBRARIES],
        FLOOR_SPLIT: lambda: [sys.executable, "-c", LIBRARIES_SPLIT],
    }
    if compare is not None:
        cases[f"{compare.name}, new dir"] = lambda: obsgen_from(compare, "generate", "--out", new_dir())
    times = {name: Times() for name in cases}
    for command in cases.values():  # warm the page cache, write the .pyc files and the template cache (uncounted)
        timed(command())
    print("\ncold processes, ms (wall / cpu); load = 1-minute load average at the start of the round:")
    for r in range(rounds):
        load1 = os.getloadavg()[0]
        for name in list(cases) if r % 2 == 0 else list(reversed(cases)):
            timed(cases[name](), times[name])
        base = times[GRAFANALIB]
        cells = "  ".join(f"{name}: {ms(t.wall[-1])} / {ms(t.cpu[-1])}" for name, t in times.items())
        ratio = times["obsgen, new dir"].cpu[-1] / base.cpu[-1]
        print(f"  round {r + 1:2}  load {load1:5.2f}  {cells}  (new dir / grafanalib, cpu: {ratio:.2f})", flush=True)
    return times


def report_ratio(times: dict[str, Times]) -> None:
    base = times[GRAFANALIB]
    print(f"\nmedians of {len(base.wall)} rounds, ms; ratios to grafanalib are medians of the per-round ratios:")
    for name, t in times.items():
        ratio = statistics.median(v / b for v, b in zip(t.wall, base.wall, strict=True))
        cpu_ratio = statistics.median(v / b for v, b in zip(t.cpu, base.cpu, strict=True))
        print(f"  {name:32} wall {ms(statistics.median(t.wall)):>5} (ratio {ratio:.2f})  "
              f"cpu {ms(statistics.median(t.cpu)):>4} (ratio {cpu_ratio:.2f})")
    new = times["obsgen, new dir"]
    print(f"  whole tree, new dir: cpu median {statistics.median(new.cpu):.3f} s, wall median "
          f"{statistics.median(new.wall):.3f} s (bound {TARGET_S} s); load during the rounds "
          f"{min(new.load):.2f}-{max(new.load):.2f}")
    one, two = (statistics.median(times[name].cpu) for name in (FLOOR, FLOOR_SPLIT))
    print(f"  room the baseline leaves beside the libraries: {ms(statistics.median(base.cpu) - one)} ms CPU; "
          f"{ms(statistics.median(base.wall) - statistics.median(times[FLOOR_SPLIT].wall))} ms wall with the "
          f"imports split over two processes (their CPU: {ms(two)} ms); obsgen's own work beside them: "
          f"{ms(statistics.median(new.cpu) - one)} ms CPU")


def scaling(sizes: list[int], rounds: int, work: Path) -> dict[int, Times]:
    from obsgen.spec import default_spec_text

    text = default_spec_text()
    out: dict[int, Times] = {}
    print(f"\nscaling, {rounds} rounds per size (one cold `obsgen generate DIR --out NEW_DIR`), s (wall / cpu):")
    for n in sizes:
        specs = work / f"specs-{n}"
        specs.mkdir(parents=True)
        for i in range(n):
            (specs / f"svc-{i:03d}.yaml").write_text(variant(text, i))
        out[n] = Times()
        for r in range(rounds):
            wall, cpu = timed(obsgen("generate", str(specs), "--out", str(work / f"tree-{n}-{r}")), out[n])
            print(f"  {n:4} services, round {r + 1}  load {out[n].load[-1]:5.2f}  {wall:7.2f} / {cpu:6.2f}",
                  flush=True)
    return out


def report_scaling(scale: dict[int, Times]) -> None:
    print("\nper service (medians), and each service beyond the previous size (the slope; constant = linear):")
    previous: tuple[int, float] | None = None
    slopes = []
    for n, t in scale.items():
        wall, cpu = statistics.median(t.wall), statistics.median(t.cpu)
        slope = ""
        if previous is not None:
            slopes.append((cpu - previous[1]) / (n - previous[0]))
            slope = f"; each service beyond {previous[0]}: {ms(slopes[-1])} ms cpu"
        print(f"  {n:4} services: wall {wall:7.2f} s = {ms(wall / n):>5} ms per service, cpu {cpu:6.2f} s = "
              f"{ms(cpu / n):>5} ms per service{slope}")
        previous = (n, cpu)
    if len(slopes) > 1:
        spread = max(slopes) / min(slopes) if min(slopes) > 0 else float("inf")
        print(f"  slopes {', '.join(ms(s) for s in slopes)} ms cpu per service: largest / smallest = {spread:.2f} "
              f"({'linear' if spread <= 1.25 else 'NOT linear'} within 25 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--scale-rounds", type=int, default=3)
    parser.add_argument("--sizes", default="1,10,100", help="numbers of services for the scaling figure")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--compare", metavar="DIR", type=Path,
                        help="also time the obsgen package in DIR/obsgen (another version's sources)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",") if n]
    print(f"load average (1 / 5 / 15 min) before: {load()}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="obsgen-bench-") as tmp:
        work = Path(tmp)
        ENV["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        ENV["XDG_CACHE_HOME"] = str(work / "cache")
        times = ratio_rounds(args.rounds, work, args.compare)
        report_ratio(times)
        print(f"load average after the ratio rounds: {load()}")
        scale = scaling(sizes, args.scale_rounds, work / "scale") if sizes else {}
        if scale:
            report_scaling(scale)
    print(f"\nload average after: {load()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"ratio_rounds": {k: asdict(v) for k, v in times.items()},
                                               "scaling": {n: asdict(v) for n, v in scale.items()}}, indent=2) + "\n")


if __name__ == "__main__":
    main()
