"""Lake benchmark: ingest events/s and the daily rollup's time, DuckDB vs Spark local, in one run.

    .venv/bin/python benchmarks/lake_bench.py                      # 1,000,000 events (one day), both engines
    .venv/bin/python benchmarks/lake_bench.py --events 10000000    # the issue's 10 M-event day (about an hour here)
    .venv/bin/python benchmarks/lake_bench.py --events 200000 --no-spark --json /tmp/lake-bench.json

The day is the built-in spec's known-truth day of tests/support/lake.py repeated (requests, rankings, two
impressions each, engagements, errors), written as landing files the way the collector's ``file/landing``
exporter writes them (zstd OTLP JSON, ``--file-events`` per file). Writing them is not timed. Timed:
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
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support.lake, when run as a script from anywhere

from obsgen.generate import load  # noqa: E402
from obsgen.lake import rollup  # noqa: E402
from obsgen.lake.engines import DuckDBEngine, SparkEngine, spark_session  # noqa: E402
from obsgen.lake.ingest import Ingest  # noqa: E402
from obsgen.lake.layout import Lake  # noqa: E402

from tests.support.lake import rid, truth_day, write_landing  # noqa: E402

DAY = dt.date(2026, 11, 20)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def write_day(model: Any, landing: Path, events: int, per_file: int) -> int:
    """Landing files of about ``events`` events: copies of the truth day with fresh request ids."""
    base = truth_day(DAY).events
    written, copy, batch, files = 0, 0, [], 0
    while written < events:
        copy += 1
        for name, fields in base:
            f = dict(fields)
            if "request_id" in f:  # a new context per copy: no copy is a duplicate of another
                f["request_id"] = rid(copy * 1_000_000 + int(f["request_id"][-6:], 16) % 1_000_000)
            else:  # events of no context differ by their text
                f["message"] = f"{f['message']} #{copy}"
            batch.append((name, f))
            written += 1
            if len(batch) == per_file or written == events:
                files += 1
                write_landing(model, landing, f"events-{files:05d}.jsonl", batch,
                              dt.datetime(2026, 11, 21, 6, tzinfo=dt.UTC))
                batch = []
            if written == events:
                break
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--file-events", type=int, default=100_000, help="Events per landing file.")
    parser.add_argument("--rounds", type=int, default=1, help="Rollup rounds per engine.")
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
    shutil.rmtree(work / "lake", ignore_errors=True)
    lake = Lake.at(str(work / "lake"))
    t = time.perf_counter()
    summary = Ingest(model, lake).run(str(work / "landing"))
    ingest_s = time.perf_counter() - t
    duplicates = sum(summary.duplicates.values())
    assert sum(summary.ingested.values()) + duplicates == written, summary.to_dict(2)
    result["ingest"] = {"seconds": round(ingest_s, 2), "events_per_s": round(written / ingest_s),
                        "duplicates": duplicates}
    print(f"  ingest: {written:,} events in {ingest_s:.1f} s = {written / ingest_s:,.0f} events/s "
          f"({duplicates:,} duplicates found)")
    end = DAY + dt.timedelta(days=1)
    engines: list[tuple[str, Any]] = [("duckdb", lambda: DuckDBEngine(lake))]
    if not args.no_spark:
        t = time.perf_counter()
        session = spark_session("local[2]")
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
        print(f"  daily rollup, {name}: {len(rows)} rows; rounds {times} s")
    result["uptime_after"] = uptime()
    print(f"  {result['uptime_after']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
