"""``obsgen lake ingest``: landing files → validated, de-duplicated, typed Parquet partitions.

Batch, idempotent and resumable:

* a landing file whose SHA-256 is in the manifest (``_state/ingested.json``) is skipped, so ingesting
  the same files again changes nothing;
* each landing file's rows go to ``part-<its hash>.parquet`` in each partition it touches and are
  de-duplicated on the events' natural key against the partition's other files: a run killed half-way
  is finished by the next one (the same file names are rewritten) without a duplicate;
* an invalid event (the spec's JSON Schema, checked by the same compiled checks the runtime uses) goes
  to ``quarantine/`` with its reason; an event that lands more than the late window after its date
  (``retention.late_arrival``, T+2 days by default) goes to ``late/``; the rest go to their own date's
  partition, and that date's rollups become stale (``_state/stale.json``).

Timeliness (event time → landed time, the landing file's modification time) is summarised per run and
written as Prometheus text (``_state/lake.prom``, for node_exporter's textfile collector).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import posixpath
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from obsgen.lake import tables
from obsgen.lake.landing import Decoder, messages
from obsgen.lake.layout import GRAINS, LATE, QUARANTINE, STATE, Lake, Windows, open_uri
from obsgen.lake.lock import locked
from obsgen.model import Model
from obsgen.runtime.validation import EventSchema
from pyarrow import fs as pafs

MANIFEST = "ingested.json"
STALE = "stale.json"
METRICS = "lake.prom"
LAG_BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400, 2 * 86400, 3 * 86400)


@dataclass
class Summary:
    files_read: int = 0
    files_skipped: int = 0
    ingested: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)
    late: Counter[str] = field(default_factory=Counter)
    stale_dates: set[str] = field(default_factory=set)
    lags_ms: list[int] = field(default_factory=list)

    def timeliness(self, late_window_days: int) -> dict[str, Any]:
        lags = sorted(self.lags_ms)
        if not lags:
            return {"events": 0}

        def at(q: float) -> float:
            return lags[min(len(lags) - 1, int(q * len(lags)))] / 1000

        within = sum(1 for lag in lags if lag <= late_window_days * 86400_000)
        return {"events": len(lags), "p50_s": at(0.5), "p95_s": at(0.95), "max_s": lags[-1] / 1000,
                "within_late_window": within / len(lags)}

    def to_dict(self, late_window_days: int) -> dict[str, Any]:
        return {"files_read": self.files_read, "files_skipped": self.files_skipped,
                "ingested": dict(sorted(self.ingested.items())), "duplicates": dict(sorted(self.duplicates.items())),
                "quarantined": dict(sorted(self.quarantined.items())), "late": dict(sorted(self.late.items())),
                "stale_dates": sorted(self.stale_dates), "timeliness": self.timeliness(late_window_days)}


class Ingest:
    def __init__(self, model: Model, lake: Lake) -> None:
        self.model = model
        self.lake = lake
        self.windows = Windows.of(model)
        self.decoder = Decoder(model)
        self.events = {e.name: e for e in model.events}
        self.schemas = {e.name: EventSchema(model, e) for e in model.events}
        self.arrow = {e.name: tables.event_schema(model, e) for e in model.events}
        self.time_field = {e.name: tables.timestamp_field(model, e) for e in model.events}
        self.key_field = {e.name: tables.key_field(model, e) for e in model.events}

    # -- one record ---------------------------------------------------------------------------------

    def problem(self, event: str, fields: dict[str, Any]) -> str | None:
        schema = self.schemas[event]
        for name in schema.event.required:
            if name not in fields:
                return f"field {name} is required"
        for name, value in fields.items():
            check = schema.checks.get(name)
            if check is None:
                return f"field {name} is not a field of this event"
            reason = check(value)
            if reason is not None:
                return f"field {name} {reason}"
        return None

    # -- one landing file ---------------------------------------------------------------------------

    def ingest_file(self, data: bytes, source: str, digest: str, landed_ms: int, summary: Summary) -> None:
        late_ms = self.windows["late_arrival"] * 86400_000
        rows: dict[tuple[str, dt.date], list[dict[str, Any]]] = defaultdict(list)
        quarantine: list[dict[str, Any]] = []
        late: dict[tuple[str, dt.date], list[dict[str, Any]]] = defaultdict(list)
        for message in messages(data):
            for landed in self.decoder.events(message):
                event, fields = landed.event, landed.fields
                if event is None:
                    quarantine.append(self._quarantined("", "not an event of the spec", source, fields, landed_ms))
                    summary.quarantined["(unknown)"] += 1
                    continue
                reason = self.problem(event, fields)
                tf = self.time_field[event]
                event_ms = fields.get(tf) if tf else landed.time_ms
                if reason is None and event_ms is None:
                    reason = "has no event time"
                if reason is not None:
                    quarantine.append(self._quarantined(event, reason, source, fields, landed_ms))
                    summary.quarantined[event] += 1
                    continue
                day = dt.datetime.fromtimestamp(event_ms / 1000, dt.UTC).date()
                end_of_window = (dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1000
                                 + 86400_000 + late_ms)
                if landed_ms >= end_of_window:
                    late[(event, day)].append({"source": source, "record": json.dumps(fields, sort_keys=True),
                                               tables.EVENT_MS: event_ms, tables.LANDED_MS: landed_ms})
                    summary.late[event] += 1
                    continue
                summary.lags_ms.append(max(0, landed_ms - event_ms))
                attrs = self.model.attributes
                row = {name: tables.column_value(attrs[name], v) for name, v in fields.items()}
                row[tables.KEY] = tables.natural_key(fields, self.key_field[event])
                row[tables.EVENT_MS] = event_ms
                row[tables.LANDED_MS] = landed_ms
                row[tables.SHADOW] = landed.shadow
                rows[(event, day)].append(row)
        name = f"part-{digest[:16]}.parquet"
        for (event, day), batch in sorted(rows.items()):
            written = self._write_partition(event, day, batch, name)
            summary.ingested[event] += written
            summary.duplicates[event] += len(batch) - written
            if written:
                summary.stale_dates.add(day.isoformat())
        if quarantine:
            self._write(pa.Table.from_pylist(quarantine, tables.QUARANTINE_SCHEMA),
                        self.lake.path(QUARANTINE, f"ingest_date={_today()}"), name)
        for (event, day), batch in sorted(late.items()):
            self._write(pa.Table.from_pylist(batch, tables.LATE_SCHEMA),
                        self.lake.path(LATE, f"event_type={event}", f"event_date={day.isoformat()}"), name)

    @staticmethod
    def _quarantined(event: str, reason: str, source: str, fields: dict[str, Any], landed_ms: int) -> dict[str, Any]:
        return {"event_type": event, "reason": reason, "source": source,
                "record": json.dumps(fields, sort_keys=True, default=str), tables.LANDED_MS: landed_ms}

    def _write_partition(self, event: str, day: dt.date, batch: list[dict[str, Any]], name: str) -> int:
        """Rows whose natural key the partition lacks, written as ``name``; returns how many."""
        directory = self.lake.partition(event, day)
        seen: set[str] = set()
        for path in self.lake.files(directory):
            if posixpath.basename(path) != name:  # a rerun after a crash rewrites its own file
                seen.update(pq.read_table(path, columns=[tables.KEY], filesystem=self.lake.fs)
                            .column(0).to_pylist())
        fresh = []
        for row in batch:
            if row[tables.KEY] not in seen:
                seen.add(row[tables.KEY])
                fresh.append(row)
        if fresh:
            table = pa.Table.from_pylist(fresh, self.arrow[event])
            self._write(table.sort_by([(tables.EVENT_MS, "ascending")]), directory, name)
        return len(fresh)

    def _write(self, table: pa.Table, directory: str, name: str) -> None:
        self.lake.fs.create_dir(directory, recursive=True)
        tmp = posixpath.join(directory, f".{name}.tmp")
        pq.write_table(table, tmp, filesystem=self.lake.fs, compression="snappy")
        self.lake.fs.move(tmp, posixpath.join(directory, name))

    # -- a run --------------------------------------------------------------------------------------

    def run(self, landing_uri: str) -> Summary:
        landing_fs, landing_root = open_uri(landing_uri)
        base = posixpath.join(landing_root, self.model.service.name)
        if landing_fs.get_file_info(base).type != pafs.FileType.Directory:
            base = landing_root  # a landing folder of this service itself
        infos = landing_fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        files = sorted((i for i in infos if i.type == pafs.FileType.File), key=lambda i: i.path)
        summary = Summary()
        with locked(self.lake, "ingest"):
            manifest: dict[str, Any] = self.lake.read_json(MANIFEST, {})
            for info in files:
                with landing_fs.open_input_stream(info.path) as f:
                    data = f.read()
                digest = hashlib.sha256(data).hexdigest()
                if digest in manifest:
                    summary.files_skipped += 1
                    continue
                landed_ms = info.mtime_ns // 1_000_000 if info.mtime_ns else int(time.time() * 1000)
                before = sum(summary.ingested.values())
                self.ingest_file(data, info.path, digest, landed_ms, summary)
                summary.files_read += 1
                manifest[digest] = {"path": info.path, "bytes": len(data), "landed_ms": landed_ms,
                                    "events": sum(summary.ingested.values()) - before}
                self.lake.write_json(MANIFEST, manifest)  # after each file: a rerun resumes here
            mark_stale(self.lake, summary.stale_dates)
            self.lake.write_json("last_ingest.json", summary.to_dict(self.windows["late_arrival"]))
            write_metrics(self.lake, self.model, summary)
        return summary


def _today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def mark_stale(lake: Lake, dates: set[str]) -> None:
    stale = lake.read_json(STALE, {g: [] for g in GRAINS})
    for grain in GRAINS:
        stale[grain] = sorted(set(stale.get(grain, [])) | dates)
    lake.write_json(STALE, stale)


def write_metrics(lake: Lake, model: Model, summary: Summary) -> None:
    """The last run's counts and timeliness histogram as Prometheus text (``_state/lake.prom``)."""
    svc = model.service.name
    lines = []
    for metric, what, counts in (
            ("obsgen_lake_ingest_events", "Events written to their partition by the last ingest.", summary.ingested),
            ("obsgen_lake_ingest_duplicates", "Events the last ingest found already in the lake.", summary.duplicates),
            ("obsgen_lake_ingest_quarantined", "Invalid events the last ingest quarantined.", summary.quarantined),
            ("obsgen_lake_ingest_late", "Events past the late window the last ingest set aside.", summary.late)):
        lines += [f"# HELP {metric} {what}", f"# TYPE {metric} gauge"]
        for event, n in sorted(counts.items()):
            lines.append(f'{metric}{{service="{svc}",event_type="{event}"}} {n}')
    name = "obsgen_lake_ingest_timeliness_seconds"
    lines += [f"# HELP {name} Event time to landed time of the events the last ingest wrote.",
              f"# TYPE {name} histogram"]
    lags = pa.array(summary.lags_ms, pa.int64())
    for bound in LAG_BUCKETS_S:
        n = pc.sum(pc.less_equal(lags, bound * 1000)).as_py() or 0
        lines.append(f'{name}_bucket{{service="{svc}",le="{bound}"}} {n}')
    lines.append(f'{name}_bucket{{service="{svc}",le="+Inf"}} {len(summary.lags_ms)}')
    lines.append(f'{name}_sum{{service="{svc}"}} {sum(summary.lags_ms) / 1000:g}')
    lines.append(f'{name}_count{{service="{svc}"}} {len(summary.lags_ms)}')
    lines += ["# HELP obsgen_lake_ingest_last_run_timestamp_seconds When the last ingest finished.",
              "# TYPE obsgen_lake_ingest_last_run_timestamp_seconds gauge",
              f'obsgen_lake_ingest_last_run_timestamp_seconds{{service="{svc}"}} {time.time():.0f}']
    path = lake.path(STATE, METRICS)
    with lake.fs.open_output_stream(path) as f:
        f.write(("\n".join(lines) + "\n").encode())
