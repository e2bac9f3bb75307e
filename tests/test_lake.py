"""The telemetry lake (DuckDB engine): ingest, rollup accuracy on a day with known truth, idempotence, late
arrivals, quarantine, retention/tiering/compaction (dry run, then effect) and the access-tier views.

The landing files are written as the collector's ``file/landing`` exporter writes them (tests/support/lake.py);
tests/test_lake_landing.py proves that against the real collector, tests/test_lake_spark.py the Spark engine.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import struct
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.generate import load
from obsgen.lake import access, commands, landing, rollup
from obsgen.lake.ingest import MANIFEST, Ingest
from obsgen.lake.layout import Lake
from obsgen.model import Model

from tests.support.lake import (
    ARMS,
    ERRORS,
    IMPRESSIONS_PER_REQUEST,
    Truth,
    landing_file,
    ms,
    rid,
    sha,
    truth_day,
    write_landing,
)

DAY = dt.date(2026, 11, 20)
LANDED = dt.datetime(2026, 11, 21, 3, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def model() -> Model:
    return load(None)


@pytest.fixture(scope="module")
def truth() -> Truth:
    return truth_day(DAY)


@pytest.fixture(scope="module")
def day_lake(tmp_path_factory: pytest.TempPathFactory, model: Model, truth: Truth) -> Lake:
    """The truth day, ingested and rolled up (day grain) once for the module."""
    work = tmp_path_factory.mktemp("lake")
    write_landing(model, work / "landing", "events.jsonl", truth.events, LANDED)
    lake = Lake.at(str(work / "lake"))
    Ingest(model, lake).run(str(work / "landing"))
    rollup.run(model, lake, "day")
    return lake


def rows(lake: Lake, grain: str, start: dt.date) -> dict[tuple[str, str, str | None, str], float | None]:
    return {(r["indicator"], r["slice"], r["slice_value"], r["measure"]): r["value"]
            for r in rollup.read(lake, grain, start)}


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks: the definition both engines compute."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (pos - lo)


def test_every_event_is_in_its_partition_once(day_lake: Lake, model: Model, truth: Truth) -> None:
    for event in model.events:
        expected = sum(1 for name, _ in truth.events if name == event.name)
        directory = day_lake.partition(event.name, DAY)
        table = pq.read_table(directory)
        assert table.num_rows == expected, event.name
        assert len(set(table.column("_key").to_pylist())) == expected
        assert pq.ParquetFile(day_lake.files(directory)[0]).metadata.row_group(0).column(0).compression == "SNAPPY"


def test_rollup_equals_the_known_truth(day_lake: Lake, truth: Truth) -> None:
    got = rows(day_lake, "day", DAY)
    clicks = {arm: engaged + (1 if arm == "control" else 0) for arm, (_, engaged) in ARMS.items()}
    impressions = {arm: n * IMPRESSIONS_PER_REQUEST for arm, (n, _) in ARMS.items()}
    for arm in ARMS:
        assert got[("ctr", "bucket", arm, "numerator")] == clicks[arm]
        assert got[("ctr", "bucket", arm, "denominator")] == impressions[arm]
        assert got[("ctr", "bucket", arm, "ratio")] == clicks[arm] / impressions[arm]
        assert got[("recall_at_k", "bucket", arm, "ratio")] == ARMS[arm][1] / ARMS[arm][0]
        assert got[("traffic_allocation", "bucket", arm, "share")] == 0.5
    assert got[("ctr", "all", None, "ratio")] == sum(clicks.values()) / sum(impressions.values())
    errors = ERRORS["error"] + ERRORS["critical"]  # the spec's errors indicator: severity error or critical
    assert got[("errors", "all", None, "numerator")] == errors
    assert got[("errors", "all", None, "ratio")] == errors / sum(n for n, _ in ARMS.values())
    # Wilson 95 % bounds and the two-proportion z-test, from their textbook formulas.
    z = 1.959963984540054
    n, p = impressions["treatment"], clicks["treatment"] / impressions["treatment"]
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (
        1 + z * z / n)
    assert got[("ctr", "bucket", "treatment", "ci_low")] == pytest.approx(centre - half, rel=1e-12)
    assert got[("ctr", "bucket", "treatment", "ci_high")] == pytest.approx(centre + half, rel=1e-12)
    x1, n1, x0, n0 = clicks["treatment"], impressions["treatment"], clicks["control"], impressions["control"]
    pooled = (x1 + x0) / (n1 + n0)
    zt = (x1 / n1 - x0 / n0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    assert got[("ctr", "bucket", "treatment", "lift")] == pytest.approx((x1 / n1) / (x0 / n0) - 1, rel=1e-12)
    assert got[("ctr", "bucket", "treatment", "z")] == pytest.approx(zt, rel=1e-12)
    assert got[("ctr", "bucket", "treatment", "p_value")] == pytest.approx(math.erfc(abs(zt) / math.sqrt(2)), rel=1e-9)
    for q in (0.5, 0.95, 0.99):
        assert got[("ranking_latency", "all", None, f"p{round(q * 100)}")] == pytest.approx(
            quantile(truth.latencies, q), rel=1e-12)
    # Join integrity: the one engagement with an item its request never showed is the one orphan.
    assert got[("orphan_click", "all", None, "broken")] == 1
    assert got[("orphan_click", "all", None, "judged")] == sum(clicks.values())
    assert got[("impression_position", "all", None, "integrity")] == 1.0
    assert got[("unknown_request.click", "all", None, "broken")] == 0


def test_ingesting_again_changes_nothing(tmp_path: Path, model: Model, truth: Truth) -> None:
    landing, lake = tmp_path / "landing", Lake.at(str(tmp_path / "lake"))
    write_landing(model, landing, "a.jsonl", truth.events, LANDED)
    first = Ingest(model, lake).run(str(landing))
    assert sum(first.ingested.values()) == len(truth.events)
    before = sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "lake" / "events").rglob("*.parquet"))
    again = Ingest(model, lake).run(str(landing))
    assert (again.files_read, again.files_skipped, sum(again.ingested.values())) == (0, 1, 0)
    # The same events in another file (a redelivery, a rotated copy): all recognised as duplicates.
    write_landing(model, landing, "b.jsonl", truth.events[::-1], LANDED)
    copy = Ingest(model, lake).run(str(landing))
    assert copy.files_read == 1 and sum(copy.ingested.values()) == 0
    assert sum(copy.duplicates.values()) == len(truth.events)
    after = sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "lake" / "events").rglob("*.parquet"))
    assert after == before


def test_copies_within_one_batch_are_written_once(tmp_path: Path, model: Model, truth: Truth) -> None:
    landing, lake = tmp_path / "landing", Lake.at(str(tmp_path / "lake"))
    write_landing(model, landing, "a.jsonl", truth.events, LANDED)
    write_landing(model, landing, "b.jsonl", truth.events[::-1], LANDED)
    summary = Ingest(model, lake).run(str(landing))
    assert (summary.files_read, sum(summary.ingested.values())) == (2, len(truth.events))
    assert sum(summary.duplicates.values()) == len(truth.events)


def test_a_run_killed_before_its_manifest_is_finished_by_the_next(tmp_path: Path, model: Model,
                                                                   truth: Truth) -> None:
    landing, lake, root = tmp_path / "landing", Lake.at(str(tmp_path / "lake")), tmp_path / "lake"
    write_landing(model, landing, "a.jsonl", truth.events, LANDED)
    Ingest(model, lake).run(str(landing))
    written = sorted(p.relative_to(root) for p in root.rglob("events/**/*.parquet"))
    # Killed after writing some partitions, before the manifest: one partition's file missing, no manifest.
    (root / "_state" / "ingested.json").unlink()
    next(root.glob("events/event_type=request/*/*.parquet")).unlink()
    again = Ingest(model, lake).run(str(landing))
    assert sum(again.ingested.values()) == len(truth.events) and not sum(again.duplicates.values())
    assert sorted(p.relative_to(root) for p in root.rglob("events/**/*.parquet")) == written  # rewritten, no copy
    for event in model.events:
        assert pq.read_table(lake.partition(event.name, DAY)).num_rows == sum(
            1 for name, _ in truth.events if name == event.name)


def test_any_landing_line_is_read_whole(tmp_path: Path, model: Model, truth: Truth) -> None:
    """Lines off the reader's usual path are read all the same: one holding both signals (no request the exporter
    writes), one larger than the JSON reader's default buffer (read again with the large one), a file cut into a
    part per message."""
    half = len(truth.events) // 2
    logs, spans = (json.loads(line) for line in landing_file(model, truth.events[:half], per_message=half,
                                                             compress=False).splitlines())
    big, rest = (json.loads(line) for line in landing_file(model, truth.events[half:], per_message=half + 1,
                                                           compress=False).splitlines())
    padding = {"key": "padding", "value": {"stringValue": "x" * (landing.MESSAGE_BYTES * 2 + 1)}}
    big["resourceLogs"][0]["resource"]["attributes"].append(padding)
    folder = tmp_path / "landing" / model.service.name
    folder.mkdir(parents=True)
    frames = [pa.compress(json.dumps(m).encode(), codec="zstd", asbytes=True) for m in ({**logs, **spans}, big, rest)]
    (folder / "events.jsonl").write_bytes(b"".join(struct.pack(">I", len(f)) + f for f in frames))
    os.utime(folder / "events.jsonl", (LANDED.timestamp(), LANDED.timestamp()))
    lake = Lake.at(str(tmp_path / "lake"))
    summary = Ingest(model, lake, part_bytes=1).run(str(tmp_path / "landing"))
    assert summary.ingested == Counter(name for name, _ in truth.events)
    assert not summary.quarantined and not sum(summary.duplicates.values())


def _request(n: int, day: dt.date) -> tuple[str, dict[str, Any]]:
    return ("request", {"request_id": rid(n), "user_id": sha(f"u{n}"), "timestamp_ms": ms(day, 3600),
                        "experiment_id": "exp-1", "bucket": "control", "k": 3})


def test_late_events_refresh_their_date_or_go_to_the_late_table(tmp_path: Path, model: Model) -> None:
    landing, lake = tmp_path / "landing", Lake.at(str(tmp_path / "lake"))
    write_landing(model, landing, "1.jsonl", [_request(1, DAY)], LANDED)
    Ingest(model, lake).run(str(landing))
    rollup.run(model, lake, "day")
    assert rows(lake, "day", DAY)[("traffic_allocation", "bucket", "control", "count")] == 1
    assert rollup.run(model, lake, "day") == []  # nothing stale: nothing recomputed
    # T+2: the end of DAY + 2 days is still inside the window; T+3 is not.
    inside = dt.datetime.combine(DAY + dt.timedelta(days=3), dt.time(), dt.UTC) - dt.timedelta(seconds=1)
    write_landing(model, landing, "2.jsonl", [_request(2, DAY)], inside)
    write_landing(model, landing, "3.jsonl", [_request(3, DAY - dt.timedelta(days=1))], inside)
    summary = Ingest(model, lake).run(str(landing))
    assert summary.ingested["request"] == 1 and summary.late["request"] == 1
    assert summary.stale_dates == {DAY.isoformat()}
    assert rollup.run(model, lake, "day") == [(DAY, len(rollup.read(lake, "day", DAY)))]
    assert rows(lake, "day", DAY)[("traffic_allocation", "bucket", "control", "count")] == 2
    late = pq.read_table(lake.path("late")).to_pylist()
    assert [json.loads(r["record"])["request_id"] for r in late] == [rid(3)]
    prom = (tmp_path / "lake" / "_state" / "lake.prom").read_text()
    assert 'obsgen_lake_ingest_late{service="movie-recommender",event_type="request"} 1' in prom
    assert "obsgen_lake_ingest_timeliness_seconds_count" in prom


def test_invalid_events_are_quarantined_with_their_reason(tmp_path: Path, model: Model) -> None:
    landing, lake = tmp_path / "landing", Lake.at(str(tmp_path / "lake"))
    name, good = _request(1, DAY)
    bad = {**good, "request_id": rid(2), "k": 0}
    missing = {k: v for k, v in good.items() if k != "bucket"} | {"request_id": rid(3)}
    write_landing(model, landing, "1.jsonl", [(name, good), (name, bad), (name, missing)], LANDED)
    summary = Ingest(model, lake).run(str(landing))
    assert (summary.ingested["request"], summary.quarantined["request"]) == (1, 2)
    reasons = sorted(r["reason"] for r in pq.read_table(lake.path("quarantine")).to_pylist())
    assert reasons[0].startswith("field bucket is required") and reasons[1].startswith("field k ")


def test_weekly_and_monthly_rollups_cover_their_period(day_lake: Lake, model: Model) -> None:
    rollup.run(model, day_lake, "week", [DAY])
    rollup.run(model, day_lake, "month", [DAY])
    day = rows(day_lake, "day", DAY)
    for grain, start in (("week", dt.date(2026, 11, 16)), ("month", dt.date(2026, 11, 1))):
        assert rows(day_lake, grain, start)[("ctr", "all", None, "ratio")] == day[("ctr", "all", None, "ratio")]
    table = pq.ParquetFile(Path(day_lake.aggregate("week", dt.date(2026, 11, 16))) / "part-0.parquet")
    assert table.metadata.row_group(0).column(0).compression == "GZIP"


def _backdated(tmp_path: Path, model: Model, today: dt.date) -> Lake:
    """A lake with partitions 10, 40, 100 and 500 days old, two small files each, and errors 60 days old."""
    landing, lake = tmp_path / "landing", Lake.at(str(tmp_path / "lake"))
    for age in (10, 40, 100, 500):
        day = today - dt.timedelta(days=age)
        for part in (1, 2):
            write_landing(model, landing, f"{age}-{part}.jsonl", [_request(age * 10 + part, day)],
                          dt.datetime.combine(day, dt.time(12), dt.UTC))
    day = today - dt.timedelta(days=60)
    errors = [("error", {"timestamp_ms": ms(day, i), "component": "api", "severity": s, "error_code": "E_X1",
                         "message": "m"}) for i, s in enumerate(("error", "critical"))]
    write_landing(model, landing, "errors.jsonl", errors, dt.datetime.combine(day, dt.time(12), dt.UTC))
    Ingest(model, lake, batch_bytes=1).run(str(landing))  # a batch per landing file: two small files a partition
    return lake


def test_compaction_tiering_and_retention_dry_run_then_effect(tmp_path: Path, model: Model) -> None:
    today = dt.date(2026, 11, 29)
    lake = _backdated(tmp_path, model, today)
    uri = str(tmp_path / "lake")
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(main, ["lake", *args, "--lake", uri], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet"))
    plan = run("compact", "--dry-run")
    assert plan.count("merge events/event_type=request/") == 4 and "dry run, 4 change(s) not made" in plan
    retain = run("retain", "--dry-run", "--today", today.isoformat())
    assert retain.splitlines() == [
        f"keep-critical events/event_type=error/event_date={today - dt.timedelta(days=60)}: 60 days old > "
        "retention.errors 30d: only severity=critical rows kept (retention.critical_errors 90d)",
        f"delete events/event_type=request/event_date={today - dt.timedelta(days=500)}: 500 days old > "
        "retention.raw_events 90d",
        f"delete events/event_type=request/event_date={today - dt.timedelta(days=100)}: 100 days old > "
        "retention.raw_events 90d",
        "obsgen lake retain: dry run, 3 change(s) not made."]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet")) == before

    run("compact")
    assert all(len(lake.files(d)) == 1 for d in lake.partitions("request").values())
    assert pq.read_table(lake.path("events", "event_type=request")).num_rows == 8
    run("retain", "--today", today.isoformat())
    assert sorted((today - d).days for d in lake.partitions("request")) == [10, 40]
    assert pq.read_table(lake.path("events", "event_type=error")).column("severity").to_pylist() == ["critical"]

    warm, cold = tmp_path / "warm", tmp_path / "cold"
    tier = ["tier", "--warm", str(warm), "--cold", str(cold), "--today", today.isoformat()]
    assert "move" in run(*tier, "--dry-run") and not warm.exists()
    run(*tier)
    assert sorted((today - d).days for d in lake.partitions("request")) == [10]
    assert sorted((today - d).days for d in Lake.at(str(warm)).partitions("request")) == [40]
    assert sorted((today - d).days for d in Lake.at(str(warm)).partitions("error")) == [60]
    assert run(*tier).strip() == "obsgen lake tier: nothing to do."


def test_a_second_run_cannot_take_the_lake_while_one_holds_it(tmp_path: Path, model: Model) -> None:
    from obsgen.lake.lock import LakeLocked, locked

    lake = Lake.at(str(tmp_path / "lake"))
    with locked(lake, "test"), pytest.raises(LakeLocked, match="locked by"):
        Ingest(model, lake).run(str(tmp_path))
    assert not (tmp_path / "lake" / "_state" / "lock").exists()


def test_analyst_and_viewer_views_expose_no_pseudonymised_id(day_lake: Lake, model: Model) -> None:
    hidden = access.masked(model)
    assert hidden == {"user_id", "session_id"}
    con = duckdb.connect()
    for statement in commands.views(model, day_lake.uri, "duckdb").split(";\n"):
        con.execute(statement.rstrip(";"))
    for event in model.events:
        engineer = {r[0] for r in con.execute(f"DESCRIBE {access.view_name('engineer', event.name)}").fetchall()}
        analyst = {r[0] for r in con.execute(f"DESCRIBE {access.view_name('analyst', event.name)}").fetchall()}
        assert not analyst & hidden, event.name
        assert analyst <= engineer
    viewer = {r[0] for r in con.execute("DESCRIBE viewer_rollups").fetchall()}
    assert not viewer & hidden and {"indicator", "measure", "value"} <= viewer
    assert con.execute("SELECT count(*) FROM analyst_request").fetchone() == (200,)


def test_every_lake_command_has_help_with_an_example() -> None:
    for command in ("ingest", "rollup", "compact", "tier", "retain", "views"):
        result = CliRunner().invoke(main, ["lake", command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, command


def test_a_locked_lake_is_a_clean_error(tmp_path: Path) -> None:
    from obsgen.lake.lock import locked

    lake = Lake.at(str(tmp_path / "lake"))
    with locked(lake, "test"):
        result = CliRunner().invoke(main, ["lake", "ingest", "--landing", str(tmp_path), "--lake", lake.uri])
    assert result.exit_code == 2 and "is locked by" in result.output


def test_retain_deletes_ingested_landing_files_but_never_the_live_one(tmp_path: Path, model: Model) -> None:
    landing, lake = tmp_path / "landing", Lake.at(str(tmp_path / "lake"))
    rotated = write_landing(model, landing, "events-2026-11-20T10-00-00.000.jsonl", [_request(1, DAY)], LANDED)
    live = write_landing(model, landing, "events.jsonl", [_request(2, DAY)], LANDED)
    Ingest(model, lake).run(str(landing))
    late_arrival = write_landing(model, landing, "events-2026-11-21T10-00-00.000.jsonl", [_request(3, DAY)], LANDED)
    args = ["lake", "retain", "--lake", lake.uri, "--landing", str(landing), "--today", DAY.isoformat()]
    plan = CliRunner().invoke(main, [*args, "--dry-run"])
    assert plan.output.splitlines()[0].startswith(f"delete-landing {rotated}: ingested (sha256 ")
    assert "dry run, 1 change(s) not made" in plan.output and rotated.exists()
    assert CliRunner().invoke(main, args).exit_code == 0
    assert not rotated.exists() and live.exists() and late_arrival.exists()


def test_retain_deletes_no_file_outside_the_landing_zone_a_manifest_names(tmp_path: Path, model: Model) -> None:
    """The manifest is a file in the lake: an entry naming a file elsewhere (as it was, so it looks ingested)
    is never deleted by ``retain --landing``."""
    landing, lake = tmp_path / "landing", Lake.at(str(tmp_path / "lake"))
    write_landing(model, landing, "events-2026-11-20T10-00-00.000.jsonl", [_request(1, DAY)], LANDED)
    Ingest(model, lake).run(str(landing))
    victim = tmp_path / "elsewhere" / "events-2026-11-20T10-00-00.000.jsonl"
    victim.parent.mkdir()
    victim.write_text("precious")
    os.utime(victim, ns=(0, 0))
    manifest = lake.read_json(MANIFEST, {})
    for i, path in enumerate((str(victim), f"{landing}/../elsewhere/{victim.name}")):
        manifest[f"{i:064x}"] = {**next(iter(manifest.values())), "path": path, "bytes": victim.stat().st_size,
                                 "landed_ms": 10**13}
    lake.write_json(MANIFEST, manifest)
    args = ["lake", "retain", "--lake", lake.uri, "--landing", str(landing), "--today", DAY.isoformat()]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert victim.read_text() == "precious"
