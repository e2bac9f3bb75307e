"""Worst-case cost of the free-text scrubber: linear in the text, and bounded per emit call.

    .venv/bin/python benchmarks/scrub_bench.py                # --rounds 5 --calls 200
    .venv/bin/python benchmarks/scrub_bench.py --json /tmp/scrub-bench.json

1. **Time per kB**, 1 kB to 1 MB, for adversarial texts (the review's ``a@b-b-…`` and a base64 blob among
   them) with every pattern on (``sensitive``) and raw values to replace, *without* the length bound
   (``max_length`` above the text's length), so the patterns themselves are measured. Linear means the
   time per kB stays flat as the text grows 1,000-fold. Every round is printed; the table is the median.
2. **Emit latency on 60 kB**: ``rt.error(message=<60 kB worst-case text>)`` inside a request scope with
   raw ids, through the runtime with in-memory exporters: p50, p99 and max of the wall time inside the
   call, and of the calling thread's CPU time (``time.thread_time_ns``), which a busy host's preemption
   does not inflate. As a yardstick for the host's noise, the same figures for a pure-Python loop of
   about the same p50 are printed too.

The machine load (``uptime``) is printed first: quote it with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

from obsgen.runtime import RuntimeConfig, Telemetry
from obsgen.runtime.pii import RawValues, sanitize_text
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SIZES_KB = (1, 4, 16, 64, 256, 1024)
RAW = RawValues.of([("user_id", "uid_884213377"), ("session_id", "sess-ALICE")])
WORST: dict[str, Callable[[int], str]] = {
    "a@b-b-": lambda n: ("a@" + "b-" * 40 + " ") * (n // 83 + 1),
    "a@a@a@": lambda n: "a@" * (n // 2 + 1),
    "base64 blob": lambda n: ("QUJD" * (n // 4 + 1)),
    "1.1.1.": lambda n: "1." * (n // 2 + 1),
    "a:a:a:": lambda n: "a:" * (n // 2 + 1),
    "digits": lambda n: "1 " * (n // 2 + 1),
    "words+ids": lambda n: "user uid_884213377 failed at 10.0.0.1 for a@b.io " * (n // 49 + 1),
}


def per_kb(text: str, repeat: int) -> float:
    best = []
    for _ in range(repeat):
        start = time.perf_counter()
        sanitize_text(text, len(text) + 1, RAW, True)
        best.append(time.perf_counter() - start)
    return min(best) / (len(text) / 1024) * 1e6


def linearity(rounds: int) -> dict[str, dict[int, list[float]]]:
    out: dict[str, dict[int, list[float]]] = {}
    for name, make in WORST.items():
        out[name] = {}
        for kb in SIZES_KB:
            text = make(kb * 1024)[: kb * 1024]
            out[name][kb] = [per_kb(text, 3 if kb <= 64 else 1) for _ in range(rounds)]
    return out


def emit_latency(calls: int) -> dict[str, float]:
    rt = Telemetry.from_default(RuntimeConfig(pii_key=os.urandom(32), span_exporter=InMemorySpanExporter(),
                                              log_exporter=InMemoryLogRecordExporter(), metric_readers=[]))
    texts = {name: make(60 * 1024)[: 60 * 1024] for name, make in WORST.items()}
    wall, cpu = [], []
    try:
        with rt.request(user_id="uid_884213377", session_id="sess-ALICE", experiment_id="x1", bucket="control", k=3):
            for i in range(calls):
                text = texts[list(texts)[i % len(texts)]]
                start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
                rt.error(component="api", severity="error", error_code="BIG", message=text)
                cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
                wall.append((time.perf_counter_ns() - start) / 1e6)
    finally:
        rt.shutdown(2.0)
    out = quantiles("wall", wall) | quantiles("cpu", cpu)
    wall, cpu = [], []
    for _ in range(calls):  # the host's noise: a loop of no I/O and no allocation to speak of
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        sum(range(1500))
        cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
        wall.append((time.perf_counter_ns() - start) / 1e6)
    return out | quantiles("loop_wall", wall) | quantiles("loop_cpu", cpu)


def quantiles(name: str, values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {f"{name}_p50_ms": values[len(values) // 2], f"{name}_p99_ms": values[int(len(values) * 0.99) - 1],
            f"{name}_max_ms": values[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    print("uptime:", os.popen("uptime").read().strip())
    lin = linearity(args.rounds)
    print(f"\nµs per kB, median of {args.rounds} rounds (each round: the best of 3 below 64 kB)")
    print(f"{'text':>12} " + " ".join(f"{kb:>8} kB" for kb in SIZES_KB))
    for name, by_size in lin.items():
        print(f"{name:>12} " + " ".join(f"{statistics.median(v):11.1f}" for v in by_size.values()))
    print("\nevery round:")
    for name, by_size in lin.items():
        print(f"  {name}: " + "; ".join(f"{kb} kB " + ", ".join(f"{x:.0f}" for x in v) for kb, v in by_size.items()))
    latency = emit_latency(args.calls)
    print(f"\nrt.error(message=60 kB worst case), {args.calls} calls in a request scope (ms):")
    for name, label in (("wall", "emit, wall"), ("cpu", "emit, thread CPU"), ("loop_wall", "plain loop, wall"),
                        ("loop_cpu", "plain loop, thread CPU")):
        print(f"  {label:>22}: p50 {latency[f'{name}_p50_ms']:.3f}, p99 {latency[f'{name}_p99_ms']:.3f}, "
              f"max {latency[f'{name}_max_ms']:.3f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"us_per_kb": lin, "emit_60kb": latency}, handle, indent=2)


if __name__ == "__main__":
    main()
