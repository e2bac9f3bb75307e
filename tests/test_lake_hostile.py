"""The lake against hostile or odd input (DuckDB engine): landing files that are not OTLP JSON, symlinks in the
landing zone, a service without a landing folder, attribute names the runtime or the lake gives meaning, event
times no date partition can hold, values nested too deeply to decode, odd directories and state files in the
lake, a garbled lock, a lake path that needs quoting (and no globbing) in SQL, a landing file rotated mid-run and
a compaction killed half-way. Spark's side of the lake path: tests/test_lake_spark.py."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.generate import load
from obsgen.lake import commands, maintain, rollup
from obsgen.lake.ingest import NO_TIME, Ingest, Summary
from obsgen.lake.layout import Lake
from obsgen.lake.lock import LakeLocked, locked
from obsgen.model import Model
from pyarrow import fs as pafs

from tests.support.lake import landing_file, ms, rid, sha, truth_day, write_landing

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 11, 20)
LANDED = dt.datetime(2026, 11, 21, 3, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def model() -> Model:
    return load(None)


def _request(n: int) -> tuple[str, dict[str, Any]]:
    return ("request", {"request_id": rid(n), "user_id": sha(f"u{n}"), "timestamp_ms": ms(DAY, 3600 + n),
                        "experiment_id": "exp-1", "bucket": "control", "k": 3})


@pytest.mark.parametrize("data", [b"\x00\x01 not a frame" * 4, b'{"resourceLogs": [oops\n',
                                  b'{"resourceLogs": [{"resource": {"attributes": {"a": 1}}}]}\n',
                                  b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"eventName": "\x01"}]}]}]}\n'],
                         ids=["garbage", "malformed", "wrong-shape", "control-char"])
def test_a_landing_file_that_is_not_otlp_json_is_named_in_a_one_line_error(tmp_path: Path, model: Model,
                                                                           data: bytes) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    write_landing(model, landing, "a.jsonl", [_request(1)], LANDED)
    bad = landing / model.service.name / "b.jsonl"
    bad.write_bytes(data)
    args = ["lake", "ingest", "--landing", str(landing), "--lake", str(lake)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"obsgen lake: landing file {bad} is not OTLP JSON") and "obsgen-ingest-" not in line
    assert line.endswith("move the file out of the landing zone, then run again")
    assert not (lake / "_state" / "lock").exists()
    bad.rename(tmp_path / "b.jsonl")
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and " 1 landing files read" in again.output


def test_symlinked_folders_in_the_landing_zone_are_not_followed(tmp_path: Path, model: Model) -> None:
    """A link to the folder itself would list it again at every depth (two such links: without end)."""
    real = tmp_path / "real"
    write_landing(model, real, "a.jsonl", [_request(1)], LANDED)
    os.symlink(".", real / model.service.name / "again")
    os.symlink(real, tmp_path / "landing")  # the landing zone itself may be a link
    summary = Ingest(model, Lake.at(str(tmp_path / "lake"))).run(str(tmp_path / "landing"))
    assert (summary.files_read, summary.files_skipped, summary.ingested["request"]) == (1, 0, 1)


def test_a_service_without_a_landing_folder_reads_no_other_services_files(tmp_path: Path, model: Model) -> None:
    """Its ingest read the whole zone instead, and its manifest entries (one lake, one manifest) made the other
    service's ingest skip those files: their events were never ingested, and ``retain --landing`` deleted them."""
    landing, lake = tmp_path / "landing", Lake.at(str(tmp_path / "lake"))
    write_landing(model, landing, "events-2026-11-21T03-00-00.000.jsonl", [_request(1), _request(2)], LANDED)
    other = load(ROOT / "tests/fixtures/specs/checkout.yaml")
    assert (Ingest(other, lake).run(str(landing)).files_read, lake.read_json("ingested.json", {})) == (0, {})
    assert Ingest(model, lake).run(str(landing)).ingested["request"] == 2
    # Pointed at its own folder, a service reads it (the folder is named for it).
    write_landing(model, landing, "events.jsonl", [_request(3)], LANDED)
    assert Ingest(model, lake).run(str(landing / model.service.name)).ingested["request"] == 1


@pytest.mark.parametrize("name", ["shadow", "event_name", "event_type", "event_date"])
def test_an_attribute_may_not_take_a_name_the_runtime_or_the_lake_gives_meaning(tmp_path: Path, name: str) -> None:
    """A field ``shadow: "true"`` made the lake count real events as shadow traffic (rollups of nothing); a field
    ``event_date`` was hidden behind the partition column in every view."""
    spec = (ROOT / "tests/fixtures/specs/minimal.yaml").read_text()
    spec = spec.replace("  outcome: {", f"  {name}: {{type: string, pii: none, cardinality: low, description: x.}}\n"
                        "  outcome: {").replace("required: [http.route,", f"required: [{name}, http.route,")
    (tmp_path / "spec.yaml").write_text(spec)
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 2
    assert f"spec.yaml:12: attributes.{name}: attribute name `{name}` is reserved: " in result.output
    assert "— rename the attribute" in result.output


def test_an_event_time_outside_the_unix_ms_bounds_is_quarantined(tmp_path: Path) -> None:
    """An event without a time field of its own takes its log record's time, which any OTLP client sets: years
    Python's dates cannot hold stopped the ingest, and far-future ones made partitions no window retires."""
    described = "    description: One HTTP request served.\n"
    spec = (ROOT / "tests/fixtures/specs/minimal.yaml").read_text().replace(
        described, described + "    log: {severity: info}\n")
    (tmp_path / "spec.yaml").write_text(spec)
    model = load(tmp_path / "spec.yaml")
    seconds = {"ok": 1_763_600_000, "year 3000": 32_503_680_000, "year 20000": 568_971_820_800,
               "year -1": -62_198_755_200, "1969": -86_400}

    def record(route: str, s: int) -> dict[str, Any]:
        attrs = {"http.route": route, "outcome": "success", "duration_ms": 1.5, "event_name": "request"}
        return {"timeUnixNano": str(s * 10**9), "eventName": "request",
                "attributes": [{"key": k, "value": {"doubleValue": v} if isinstance(v, float) else {"stringValue": v}}
                               for k, v in attrs.items()]}

    message = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name",
                                                               "value": {"stringValue": model.service.name}}]},
                                 "scopeLogs": [{"logRecords": [record(f"/{k}", s) for k, s in seconds.items()]}]}]}
    folder = tmp_path / "landing" / model.service.name
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text(json.dumps(message) + "\n")
    os.utime(folder / "a.jsonl", (seconds["ok"] + 60, seconds["ok"] + 60))
    lake = Lake.at(str(tmp_path / "lake"))
    summary = Ingest(model, lake).run(str(tmp_path / "landing"))
    assert (summary.ingested["request"], summary.quarantined["request"]) == (1, len(seconds) - 1)
    quarantined = pq.read_table(lake.path("quarantine")).to_pylist()
    assert {r["reason"] for r in quarantined} == {NO_TIME}
    assert list(lake.partitions("request")) == [dt.date(2025, 11, 20)]


DEEP = 5000
"""Levels of nesting: beyond what Python's JSON decoder takes (its recursion limit)."""


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("unknown", '{"kvlistValue": {"values": [{"key": "k", "value": ' * DEEP + '{"stringValue": "x"}' + "}]}}" * DEEP,
     "field unknown is not a field of this event"),
    ("filters", json.dumps({"stringValue": "[" * DEEP + "]" * DEEP}), "field filters is nested too deeply to decode")],
    ids=["key-value-list", "object-as-json-text"])
def test_a_value_nested_too_deeply_to_decode_is_quarantined(tmp_path: Path, model: Model, key: str, value: str,
                                                            reason: str) -> None:
    """Any OTLP client can send attributes nested thousands deep: decoding them stopped every ingest."""
    name, fields = _request(1)
    line = landing_file(model, [_request(2), (name, {**fields, key: "MARK"})], compress=False)
    folder = tmp_path / "landing" / model.service.name
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_bytes(line.replace(b'{"stringValue": "MARK"}', value.encode()))
    os.utime(folder / "a.jsonl", (LANDED.timestamp(), LANDED.timestamp()))
    lake = Lake.at(str(tmp_path / "lake"))
    summary = Ingest(model, lake).run(str(tmp_path / "landing"))
    assert (summary.ingested["request"], summary.quarantined["request"]) == (1, 1)
    (row,) = pq.read_table(lake.path("quarantine")).to_pylist()
    assert row["reason"] == reason and len(row["record"]) > DEEP


@pytest.fixture(scope="module")
def small_lake(tmp_path_factory: pytest.TempPathFactory, model: Model) -> Path:
    """Two requests ingested and rolled up, for the tests to copy and spoil."""
    work = tmp_path_factory.mktemp("small")
    write_landing(model, work / "landing", "a.jsonl", [_request(1), _request(2)], LANDED)
    lake = Lake.at(str(work / "lake"))
    Ingest(model, lake).run(str(work / "landing"))
    rollup.run(model, lake, "day")
    return work / "lake"


SPARK_NULL_DATE = "events/event_type=request/event_date=__HIVE_DEFAULT_PARTITION__"


@pytest.mark.parametrize(("command", "odd", "content", "named"), [
    ("rollup", SPARK_NULL_DATE, None, "is not named for a date"),
    ("compact", SPARK_NULL_DATE, None, "is not named for a date"),
    ("retain", SPARK_NULL_DATE, None, "is not named for a date"),
    ("retain", "aggregates/grain=day/period=latest", None, "is not named for a date"),
    ("retain", "quarantine/ingest_date=2026-13-01", None, "is not named for a date"),
    ("rollup", "_state/stale.json", b"[]", "is not a JSON object"),
    ("rollup", "events/event_type=request/event_date=2026-11-20/part-0.parquet", b"", "Parquet file size is 0 bytes"),
    ("ingest", "_state/ingested.json", b'{"a": 1', "is not JSON"),
], ids=["rollup-spark-null-date", "compact-spark-null-date", "retain-spark-null-date", "retain-period",
        "retain-month-13", "rollup-stale-list", "rollup-empty-parquet", "ingest-manifest-cut"])
def test_an_odd_directory_or_state_file_in_the_lake_is_named_in_a_one_line_error(
        tmp_path: Path, small_lake: Path, command: str, odd: str, content: bytes | None, named: str) -> None:
    root = tmp_path / "lake"
    shutil.copytree(small_lake, root)
    if content is None:
        (root / odd).mkdir(parents=True)
    else:
        (root / odd).write_bytes(content)
    extra = {"ingest": ["--landing", str(tmp_path)], "rollup": ["--grain", "day", "--date", DAY.isoformat()],
             "compact": [], "retain": ["--today", DAY.isoformat()]}[command]
    result = CliRunner().invoke(main, ["lake", command, "--lake", str(root), *extra])
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert str(root / odd) in line and named in line


@pytest.mark.parametrize("held", [b"", b"{", b'{"since": "yesterday"}', b'{"since": null}', b"[1]"])
def test_a_lock_of_no_readable_age_is_as_fresh_as_its_file(tmp_path: Path, held: bytes) -> None:
    """An empty lock is what a run holds between creating it and writing its name: breaking it let two runs in."""
    lake = Lake.at(str(tmp_path / "lake"))
    (tmp_path / "lake" / "_state").mkdir(parents=True)
    lock = tmp_path / "lake" / "_state" / "lock"
    lock.write_bytes(held)
    with pytest.raises(LakeLocked, match="is locked by"), locked(lake, "test"):
        pass
    os.utime(lock, (1, 1))  # left by a run killed long ago: broken
    with locked(lake, "test"):
        assert json.loads(lock.read_text())["what"] == "test"


def test_views_quote_the_lake_path(tmp_path: Path, model: Model) -> None:
    landing, root = tmp_path / "landing", tmp_path / "o'brien" / "lake [1]*"  # a quote, and what globs would read
    write_landing(model, landing, "a.jsonl", truth_day(DAY).events, LANDED)  # every event type: a view each
    Ingest(model, Lake.at(str(root))).run(str(landing))
    rollup.run(model, Lake.at(str(root)), "day")
    con = duckdb.connect()
    for statement in commands.views(model, str(root), "duckdb").split(";\n"):
        con.execute(statement.rstrip(";"))
    assert con.execute("SELECT count(*) FROM analyst_request").fetchone() == (200,)
    # A lake on another filesystem: its views name it by its URI (the filesystem's paths lack the scheme).
    assert "read_parquet('mock:///lake/events/event_type=request/**" in commands.views(model, "mock:///lake", "duckdb")
    assert "parquet.`mock:///lake/events/event_type=request`" in commands.views(model, "mock:///lake/", "spark")


class _Killed(Exception):
    """What the test's filesystem raises where a run is killed."""


class _Local(pafs.FileSystemHandler):
    """The local filesystem as a ``PyFileSystem``, for a test to change one operation of."""

    def __init__(self) -> None:
        self.fs = pafs.LocalFileSystem()

    def delete_file(self, path: str) -> None:
        self.fs.delete_file(path)

    def get_type_name(self) -> str:
        return "test-local"

    def normalize_path(self, path: str) -> str:
        return self.fs.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(paths)

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self.fs.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.fs.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise NotImplementedError

    def move(self, src: str, dest: str) -> None:
        self.fs.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self.fs.copy_file(src, dest)

    def open_input_stream(self, path: str) -> Any:
        return self.fs.open_input_stream(path)

    def open_input_file(self, path: str) -> Any:
        return self.fs.open_input_file(path)

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        return self.fs.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        return self.fs.open_append_stream(path, metadata=metadata)


class _DyingAfter(_Local):
    """A run killed at its ``n``-th deletion of a Parquet file."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def delete_file(self, path: str) -> None:
        if path.endswith(".parquet"):
            self.n -= 1
            if self.n == 0:
                raise _Killed(path)
        self.fs.delete_file(path)


def test_a_landing_file_rotated_after_the_listing_is_read_under_its_new_name(tmp_path: Path, model: Model) -> None:
    """The collector renames its live file at 64 MB, whenever that is: a run that listed the old name went on."""
    landing, lake = tmp_path / "landing", Lake.at(str(tmp_path / "lake"))
    live = write_landing(model, landing, "events.jsonl", [_request(1), _request(2)], LANDED)
    local = pafs.LocalFileSystem()
    listed = [i for i in local.get_file_info(pafs.FileSelector(str(landing), recursive=True))
              if i.type == pafs.FileType.File]
    live.rename(live.with_name("events-2026-11-21T03-00-00.000.jsonl"))
    ingest, summary = Ingest(model, lake), Summary()
    assert list(ingest._batches(local, listed, {}, str(tmp_path), summary)) == []
    assert ingest.run(str(landing)).ingested["request"] == 2


def test_a_compaction_killed_half_way_is_finished_by_the_next_run(tmp_path: Path, model: Model) -> None:
    """Killed after the merged file is in place and before all its sources are gone, a compaction left every row
    of those sources twice: rollups counted them twice, and the next compaction merged the copies for good."""
    landing, lake = tmp_path / "landing", Lake.at(str(tmp_path / "lake"))
    for i in range(3):
        write_landing(model, landing, f"{i}.jsonl", [_request(10 * i + j) for j in range(5)], LANDED)
    Ingest(model, lake, batch_bytes=1).run(str(landing))
    partition = lake.partition("request", DAY)
    assert len(lake.files(partition)) == 3
    dying = Lake(pafs.PyFileSystem(_DyingAfter(2)), lake.root, lake.uri)
    with pytest.raises(_Killed):
        maintain.apply(dying, maintain.plan_compact(dying))
    assert rollup.run(model, lake, "day") == [(DAY, len(rollup.read(lake, "day", DAY)))]
    counts = {r["slice_value"]: r["value"] for r in rollup.read(lake, "day", DAY)
              if (r["indicator"], r["measure"]) == ("traffic_allocation", "count")}
    assert counts == {"control": 15}
    (merged,) = lake.files(partition)
    assert pq.read_table(merged).num_rows == 15 and not maintain.plan_compact(lake)
