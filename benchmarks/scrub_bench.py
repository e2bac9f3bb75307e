"""Worst-case cost of the free-text scrubber: linear in the text, and bounded per emit call.

    .venv/bin/python benchmarks/scrub_bench.py                # --rounds 5 --calls 5000
    .venv/bin/python benchmarks/scrub_bench.py --latency-only  # part 2 only
    .venv/bin/python benchmarks/scrub_bench.py --json /tmp/scrub-bench.json

1. **Time per kB**, 1 kB to 1 MB, for adversarial texts (the review's ``a@b-b-…`` and a base64 blob among
   them) with every pattern on (``sensitive``) and raw values to replace, *without* the length bound
   (``max_length`` above the text's length), so the patterns themselves are measured. Linear means the
   time per kB stays flat as the text grows 1,000-fold. Every round is printed; the table is the median.
2. **Emit latency on 60 kB**, per call, over many calls (``--calls`` per round, every round printed):
   ``rt.error(message=<60 kB worst-case text>)`` and ``rt.ranking(items=<100 items of 40 characters>)``
   inside a request scope with raw ids, through the runtime as deployed: its export threads encode the spans
   and log records and send them over OTLP/HTTP to a local sink (a child process that discards). For each
   round and case: p50, p99, p99.9 and max of the wall time inside the call (``time.perf_counter_ns``), the
   number of calls over 5 ms of wall time and how many of those a garbage-collector pass overlapped
   (``gc.callbacks``), and the same quantiles of the calling thread's CPU time (``time.thread_time_ns``),
   which a busy host's preemption does not inflate. As a yardstick for the host's noise, the same figures
   for a pure-Python loop of about each case's p50 (0.02 ms and 1 ms) are printed too: a wall-time tail the
   loop shares is the host's. The interpreter's switch interval is left as it is (5 ms by default).

The machine load (``uptime``) is printed before every round: quote it with the figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable

from obsgen.runtime import RuntimeConfig, Telemetry, otlp_http
from obsgen.runtime.pii import RawValues, sanitize_text
from runtime_bench import start_sink

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


GOAL_MS = 5.0


class GcPasses:
    """When the garbage collector ran (``gc.callbacks``), to tell its pauses from the rest of a slow call."""

    def __init__(self) -> None:
        self.passes: list[tuple[int, int]] = []
        self._start = 0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
        else:
            self.passes.append((self._start, time.perf_counter_ns()))

    def overlapping(self, start: int, end: int) -> bool:
        return any(s < end and e > start for s, e in self.passes)


def timed(call: Callable[[int], object], calls: int) -> dict[str, float]:
    """Wall and thread-CPU quantiles (ms) of ``calls`` calls of ``call(i)``, how many went over ``GOAL_MS``, and
    how many of those overlapped a garbage-collector pass (in any thread: a pass holds the GIL)."""
    wall, cpu, slow = [], [], []
    gc_passes = GcPasses()
    gc.callbacks.append(gc_passes)
    try:
        for i in range(calls):
            start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
            call(i)
            cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
            end = time.perf_counter_ns()
            wall.append((end - start) / 1e6)
            if end - start > GOAL_MS * 1e6:
                slow.append((start, end))
    finally:
        gc.callbacks.remove(gc_passes)
    return quantiles("wall", wall) | quantiles("cpu", cpu) | {
        "wall_over_goal_in_gc": float(sum(gc_passes.overlapping(s, e) for s, e in slow)),
        "gc_passes": float(len(gc_passes.passes)),
        "gc_max_ms": max(((e - s) / 1e6 for s, e in gc_passes.passes), default=0.0)}


class ExportStretches:
    """CPU time the export threads run between two GIL releases: from an export's start or an encoder's pause
    to the next pause or the HTTP request, and from the request's end to the export's end. An application
    thread waiting for the GIL waits about one such stretch (on a CPU of its own), so their maximum is the
    load-independent side of the per-call tail. The requests' CPU is reported apart: it is mostly socket I/O,
    during which the GIL is released."""

    def __init__(self) -> None:
        self.stretches: list[int] = []
        self.sends: list[int] = []
        self._since = threading.local()

    def _mark(self) -> None:
        self._since.cpu = time.thread_time_ns()

    def _stretch(self) -> None:
        self.stretches.append(time.thread_time_ns() - self._since.cpu)

    def wrap_pause(self, pause: Callable[[], None]) -> Callable[[], None]:
        def timed_pause() -> None:
            self._stretch()
            pause()
            self._mark()
        return timed_pause

    def wrap_export(self, exporter: otlp_http.OtlpHttpExporter) -> None:
        export, send = exporter.export, exporter.sender.send

        def timed_export(batch: object) -> object:
            self._mark()
            try:
                return export(batch)  # type: ignore[arg-type]
            finally:
                self._stretch()

        def timed_send(chunks: list[bytes]) -> bool:
            self._stretch()
            start = time.thread_time_ns()
            try:
                return send(chunks)
            finally:
                self.sends.append(time.thread_time_ns() - start)
                self._mark()

        exporter.export = timed_export  # type: ignore[method-assign]
        exporter.sender.send = timed_send  # type: ignore[method-assign]


def emit_latency(calls: int, endpoint: str) -> dict[str, dict[str, float]]:
    """The calls through the runtime as an application runs it: its own OTLP/HTTP export of spans and log
    records to ``endpoint`` (a sink that discards), encoded on the export threads meanwhile."""
    stretches = ExportStretches()
    real_pause = otlp_http.pause
    otlp_http.pause = stretches.wrap_pause(real_pause)  # the exporters take it when they are made
    try:
        rt = Telemetry.from_default(RuntimeConfig(pii_key=os.urandom(32).hex(), endpoint=endpoint,
                                                  metric_readers=[]))
    finally:
        otlp_http.pause = real_pause
    for queue in rt._pipeline.queues:
        stretches.wrap_export(queue.exporter)
    texts = [make(60 * 1024)[: 60 * 1024] for make in WORST.values()]
    # The most an array keeps: 100 items (max_items) of 40 characters, 4,000 of max_object_bytes (4,096).
    arrays = [[text[k * 40:(k + 1) * 40] for k in range(100)] for text in texts]
    ranking = {"latency_ms": 41.5, "coverage": 0.97, "algorithm": "hybrid", "cache_result": "hit", "fallback": "none",
               "data_age_s": 1.0}

    def error(i: int) -> object:
        return rt.error(component="api", severity="error", error_code="BIG", message=texts[i % len(texts)])

    def ranked(i: int) -> object:
        return rt.ranking(items=arrays[i % len(arrays)], **ranking)

    try:
        with rt.request(user_id="uid_884213377", session_id="sess-ALICE", experiment_id="x1", bucket="control", k=3,
                        user_state="warm", surface="home", device_type="web"):
            out = {"rt.error(message=60 kB)": timed(error, calls),
                   "rt.ranking(items=100 x 40 chars)": timed(ranked, calls)}
    finally:
        rt.shutdown(2.0)
    out["export threads, CPU between GIL releases"] = quantiles("cpu", [n / 1e6 for n in stretches.stretches])
    out["export threads, CPU per HTTP request"] = quantiles("cpu", [n / 1e6 for n in stretches.sends])
    # The host's noise: loops of no I/O and no allocation to speak of, as long as each case's median call.
    return out | {"plain loop, 0.02 ms": timed(lambda _: sum(range(1_500)), calls),
                  "plain loop, 1 ms": timed(lambda _: sum(range(80_000)), calls)}


def quantiles(name: str, values: list[float]) -> dict[str, float]:
    values = sorted(values)
    n = len(values)
    return {f"{name}_p50_ms": values[n // 2], f"{name}_p99_ms": values[max(int(n * 0.99) - 1, 0)],
            f"{name}_p999_ms": values[max(int(n * 0.999) - 1, 0)], f"{name}_max_ms": values[-1],
            f"{name}_over_goal": float(sum(v > GOAL_MS for v in values))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5000, help="emit calls per round")
    parser.add_argument("--latency-only", action="store_true", help="skip the time-per-kB part")
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()
    print("uptime:", os.popen("uptime").read().strip())
    lin = {} if args.latency_only else linearity(args.rounds)
    if lin:
        print(f"\nµs per kB, median of {args.rounds} rounds (each round: the best of 3 below 64 kB)")
        print(f"{'text':>12} " + " ".join(f"{kb:>8} kB" for kb in SIZES_KB))
        for name, by_size in lin.items():
            print(f"{name:>12} " + " ".join(f"{statistics.median(v):11.1f}" for v in by_size.values()))
        print("\nevery round:")
        for name, by_size in lin.items():
            print(f"  {name}: " + "; ".join(f"{kb} kB " + ", ".join(f"{x:.0f}" for x in v)
                                            for kb, v in by_size.items()))
    print(f"\nper call, ms: {args.rounds} rounds of {args.calls} calls each in a request scope, spans and log "
          f"records exported over OTLP/HTTP to a local sink; switch interval {sys.getswitchinterval() * 1000:g} ms; "
          f"> {GOAL_MS:g} = calls over {GOAL_MS:g} ms (in GC: of those, calls a garbage-collector pass overlapped)")
    sink, endpoint = start_sink()
    latency = []
    try:
        for r in range(args.rounds):
            load = os.popen("uptime").read().strip().split("load average:")[-1].strip()
            result = emit_latency(args.calls, endpoint)
            latency.append(result)
            print(f"round {r + 1} (load {load}):")
            for case, f in result.items():
                for clock in ("wall", "cpu") if "wall_p50_ms" in f else ("cpu",):
                    gc_note = (f" (in GC: {f['wall_over_goal_in_gc']:.0f}; {f['gc_passes']:.0f} GC passes, longest "
                               f"{f['gc_max_ms']:.1f} ms)" if clock == "wall" else "")
                    print(f"  {case:>34} {clock:>4}: p50 {f[f'{clock}_p50_ms']:.3f} p99 {f[f'{clock}_p99_ms']:.3f} "
                          f"p99.9 {f[f'{clock}_p999_ms']:.3f} max {f[f'{clock}_max_ms']:.3f} "
                          f"> {GOAL_MS:g}: {f[f'{clock}_over_goal']:.0f}{gc_note}", flush=True)
    finally:
        sink.terminate()
    print("uptime:", os.popen("uptime").read().strip())
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"us_per_kb": lin, "emit_60kb": latency}, handle, indent=2)


if __name__ == "__main__":
    main()
