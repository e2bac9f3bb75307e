"""Lake benchmark: ingest events/s and the daily rollup's time, DuckDB vs Spark local, in one run.

    .venv/bin/python benchmarks/lake_bench.py                      # 1,000,000 events (one day), both engines
    .venv/bin/python benchmarks/lake_bench.py --events 10000000    # the issue's 10 M-event day
    .venv/bin/python benchmarks/lake_bench.py --events 200000 --no-spark --json /tmp/lake-bench.json

The day is the built-in spec's known-truth day of tests/support/lake.py repeated (requests, rankings, two
impressions each, engagements, errors), written as landing files the way the collector's ``file/landing``
exporter writes them (zstd OTLP JSON, ``--file-events`` per file; a copy of the day, about 1,000 events, a
logs and a spans message). Writing them is not timed. Timed:
``obsgen lake ingest`` of every file (validation, de-duplication, Snappy Parquet), then ``rollup`` of the
day with DuckDB and with Spark (``local[2]``; the session start is reported apart). Prints every round and
the machine load (``uptime``) before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support.lake, when run as a script from anywhere

from obsgen.generate import load  # noqa: E402
from obsgen.lake import rollup  # noqa: E402
from obsgen.lake.engines import DuckDBEngine, SparkEngine, spark_session  # noqa: E402
from obsgen.lake.ingest import Ingest  # noqa: E402
from obsgen.lake.layout import Lake  # noqa: E402

from tests.support.lake import landing_file, truth_day  # noqa: E402

DAY = dt.date(2026, 11, 20)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


COPY = b"@COPY@@@"
"""Stands for a copy's number (8 hex digits) in the template of one copy of the day."""


def write_day(model: Any, landing: Path, events: int, per_file: int) -> int:
    """Landing files of ``events`` events: copies of the truth day, each copy's request ids and error messages
    made its own (the copy number as the ids' first 8 hex digits), so no copy duplicates another.

    Fast: one copy is encoded once as OTLP JSON (a logs and a spans message, as ``tests.support.lake`` encodes
    them); every copy is that text with its number put in, each message a zstd frame behind its length, as the
    collector's ``file/landing`` exporter writes them."""
    base = truth_day(DAY).events
    placeholder = COPY.decode()

    def template(n: int) -> list[bytes]:
        day = []
        for name, fields in base[:n]:
            f = dict(fields)
            if "request_id" in f:
                f["request_id"] = placeholder + f["request_id"][8:]
            else:
                f["message"] = f"{f['message']} #{placeholder}"
            day.append((name, f))
        return landing_file(model, day, per_message=len(day), compress=False).splitlines()

    whole, rest = template(len(base)), events % len(base)
    folder = landing / model.service.name
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime(2026, 11, 21, 6, tzinfo=dt.UTC).timestamp()
    copies, files, out, in_file = -(-events // len(base)), 0, bytearray(), 0
    for copy in range(1, copies + 1):
        lines = template(rest) if copy == copies and rest else whole
        for line in lines:
            frame = pa.compress(line.replace(COPY, b"%08x" % copy), codec="zstd", asbytes=True)
            out += struct.pack(">I", len(frame)) + frame
        in_file += len(base) if lines is whole else rest
        if in_file >= per_file or copy == copies:
            files += 1
            path = folder / f"events-{files:05d}.jsonl"
            path.write_bytes(bytes(out))
            os.utime(path, (stamp, stamp))
            out, in_file = bytearray(), 0
    return (copies - 1) * len(base) + (rest or len(base))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--file-events", type=int, default=1_000_000,
                        help="Events per landing file (the collector rotates at 64 MB: about two million).")
    parser.add_argument("--rounds", type=int, default=1, help="Rollup rounds per engine.")
    parser.add_argument("--ingest-rounds", type=int, default=1,
                        help="Ingest rounds (each into a new lake); 0: roll up the lake a previous run left in --work.")
    parser.add_argument("--spark-memory", default="6g", help="Spark's driver memory (local mode: all of Spark's).")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--work", type=Path, default=None, help="Keep the lake here (default: a temporary dir).")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    model = load(None)
    work = args.work or Path(tempfile.mkdtemp(prefix="lake-bench-"))
    result: dict[str, Any] = {"events": args.events, "python": platform.python_version(),
                              "cpus": os.cpu_count(), "uptime_before": uptime()}
    print(f"lake bench: {args.events:,} events, work dir {work}\n  {result['uptime_before']}")
    marker = work / "landing.json"
    if marker.exists() and json.loads(marker.read_text())["events"] == args.events:
        written = args.events
        print(f"  reusing the landing files of {marker}")
    else:
        t = time.perf_counter()
        written = write_day(model, work / "landing", args.events, args.file_events)
        marker.write_text(json.dumps({"events": written}))
        print(f"  landing files written in {time.perf_counter() - t:.1f} s (not timed)")
    rounds, lake = [], Lake.at(str(work / "lake"))
    for _ in range(args.ingest_rounds):  # each round into a new lake: the same work every time
        shutil.rmtree(work / "lake", ignore_errors=True)
        t, cpu = time.perf_counter(), time.process_time()
        summary = Ingest(model, lake).run(str(work / "landing"))
        ingest_s, cpu_s = time.perf_counter() - t, time.process_time() - cpu
        duplicates = sum(summary.duplicates.values())
        assert sum(summary.ingested.values()) + duplicates == written, summary.to_dict(2)
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: kB
        rounds.append({"seconds": round(ingest_s, 2), "events_per_s": round(written / ingest_s),
                       "cpu_seconds": round(cpu_s, 2), "duplicates": duplicates, "peak_rss_gb": round(peak_gb, 2),
                       "uptime": uptime()})
        print(f"  ingest: {written:,} events in {ingest_s:.1f} s = {written / ingest_s:,.0f} events/s "
              f"({cpu_s:.1f} CPU-s = {written / cpu_s:,.0f} events per CPU-second; {duplicates:,} duplicates "
              f"found; peak memory so far {peak_gb:.1f} GB)\n    {rounds[-1]['uptime']}")
    result["ingest"] = rounds
    if not rounds:
        print(f"  no ingest: rolling up the lake in {work / 'lake'}")
    end = DAY + dt.timedelta(days=1)
    engines: list[tuple[str, Any]] = [("duckdb", lambda: DuckDBEngine(lake))]
    if not args.no_spark:
        t = time.perf_counter()
        session = spark_session("local[2]", driver_memory=args.spark_memory)
        result["spark_start_s"] = round(time.perf_counter() - t, 1)
        print(f"  spark session started in {result['spark_start_s']} s (not in the rollup times)")
        engines.append(("spark", lambda: SparkEngine(lake, session=session)))
    for name, make in engines:
        times = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            rows = rollup.compute(model, lake, make(), "day", DAY, end)
            times.append(round(time.perf_counter() - t, 2))
        result[f"rollup_{name}_s"] = times
        print(f"  daily rollup, {name}: {len(rows)} rows; rounds {times} s\n    {uptime()}")
    result["uptime_after"] = uptime()
    print(f"  {result['uptime_after']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
