"""``obsgen lake ingest``: landing files → validated, de-duplicated, typed Parquet partitions.

Batch, idempotent and resumable:

* a landing file whose SHA-256 is in the manifest (``_state/ingested.json``) is skipped, so ingesting
  the same files again changes nothing;
* landing files are read in batches (``batch_bytes`` of landing data each, whole files): a batch's rows go to
  ``part-<its hash>.parquet`` in each partition it touches and are de-duplicated on the events' natural key
  within the batch and against the partition's other files: a run killed half-way is finished by the next
  one (the same file names are rewritten, or the rows already written are found) without a duplicate;
* an invalid event (the spec's JSON Schema, as the SQL of ``obsgen.lake.schema_sql``) goes to ``quarantine/``
  with its reason; an event that lands more than the late window after its date (``retention.late_arrival``,
  T+2 days by default) goes to ``late/``; the rest go to their own date's partition, and that date's rollups
  become stale (``_state/stale.json``).

The work is DuckDB's: in one pass over a batch (``staged_sql``), its JSON reader parses the files and SQL
flattens OTLP into events and types and judges the fields of every event type into one table; a few queries
per event type then find duplicates and order the rows. Python only moves files, writes Parquet (pyarrow, on
any filesystem) and decodes the rare rows that need it (quarantined and late records, ``object`` fields).

Timeliness (event time → landed time, the landing file's modification time) is summarised per run and
written as Prometheus text (``_state/lake.prom``, for node_exporter's textfile collector).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import posixpath
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from obsgen.lake import landing, schema_sql, tables
from obsgen.lake.layout import GRAINS, LATE, QUARANTINE, STATE, Lake, Windows, open_uri
from obsgen.lake.lock import locked
from obsgen.lake.schema_sql import q
from obsgen.lake.sql import literal
from obsgen.model import Event, Model
from obsgen.model.eventschema import UNIX_MS_MAX, UNIX_MS_MIN, attribute_schema
from obsgen.runtime.validation import compile_check
from pyarrow import fs as pafs

MANIFEST = "ingested.json"
STALE = "stale.json"
METRICS = "lake.prom"
LAG_BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400, 2 * 86400, 3 * 86400)
BATCH_BYTES = 64 << 20
"""Landing bytes per batch (whole files): the collector's rotation size, about two million events zstd-compressed."""
DAY_MS = 86400_000
NO_TIME = "has no event time from 2000-01-01 to 2100-01-01"
TOO_DEEP = "is nested too deeply to decode"
_MEMBERS = {"string": ("stringValue",), "integer": ("intValue", "doubleValue"), "number": ("intValue", "doubleValue"),
            "boolean": ("boolValue",), "array": ()}
"""The ``AnyValue`` members a field of each JSON Schema type is usually read from (as the runtime sends it); the
others are read from the attribute itself, for the rows that hold them only."""

@dataclass
class Summary:
    files_read: int = 0
    files_skipped: int = 0
    ingested: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)
    late: Counter[str] = field(default_factory=Counter)
    stale_dates: set[str] = field(default_factory=set)
    lag_chunks: list[pa.Array] = field(default_factory=list)
    """Event time → landed time (ms) of every valid event in its window, one array per batch and event."""

    @property
    def lags_ms(self) -> pa.Array:
        return pa.concat_arrays(self.lag_chunks) if self.lag_chunks else pa.array([], pa.int64())

    def timeliness(self, late_window_days: int) -> dict[str, Any]:
        lags = self.lags_ms
        n = len(lags)
        if not n:
            return {"events": 0}
        ordered = lags.take(pc.sort_indices(lags))

        def at(quantile: float) -> float:
            return ordered[min(n - 1, int(quantile * n))].as_py() / 1000

        within = pc.sum(pc.less_equal(lags, late_window_days * DAY_MS)).as_py() or 0
        return {"events": n, "p50_s": at(0.5), "p95_s": at(0.95), "max_s": ordered[n - 1].as_py() / 1000,
                "within_late_window": within / n}

    def to_dict(self, late_window_days: int) -> dict[str, Any]:
        return {"files_read": self.files_read, "files_skipped": self.files_skipped,
                "ingested": dict(sorted(self.ingested.items())), "duplicates": dict(sorted(self.duplicates.items())),
                "quarantined": dict(sorted(self.quarantined.items())), "late": dict(sorted(self.late.items())),
                "stale_dates": sorted(self.stale_dates), "timeliness": self.timeliness(late_window_days)}


@dataclass
class Landed:
    """One landing file read for a batch."""

    path: str
    digest: str
    size: int
    landed_ms: int
    local: list[str]
    """Where DuckDB reads it: temporary files of JSON lines, zstd-compressed or not (``obsgen.lake.landing.ndjson``)."""


class Ingest:
    def __init__(self, model: Model, lake: Lake, batch_bytes: int = BATCH_BYTES,
                 part_bytes: int = landing.PART_BYTES) -> None:
        self.model = model
        self.lake = lake
        self.batch_bytes = batch_bytes
        self.part_bytes = part_bytes
        self.windows = Windows.of(model)
        self.arrow = {e.name: tables.event_schema(model, e) for e in model.events}
        self.time_field = {e.name: tables.timestamp_field(model, e) for e in model.events}
        self.key_field = {e.name: tables.key_field(model, e) for e in model.events}
        self.fields = list(dict.fromkeys(f for e in model.events for f in e.fields))
        self.holders = {f: [e.name for e in model.events if f in e.fields] for f in self.fields}
        self.schemas = {name: attribute_schema(model.attributes[name]) for name in self.fields}
        self.objects = {name: compile_check(s) for name, s in self.schemas.items() if s["type"] == "object"}
        self.segments = max((len(self._objects_of(e)) for e in model.events), default=0) + 1

    def _objects_of(self, event: Event) -> list[str]:
        return [f for f in event.fields if f in self.objects]

    # -- the SQL ------------------------------------------------------------------------------------

    def _event_ms(self, event: Event) -> str:
        """SQL: the event time in ms (NULL when there is none, or one outside the bounds of a ``unix_ms`` field: a
        log record's or span's own time is bounded so too, since any OTLP client can set it, and a date partition
        must be one Python and the rollups can handle)."""
        tf = self.time_field[event.name]
        t = q("t:" + tf) if tf else "_signal_ms"
        return f"CASE WHEN {t} BETWEEN {UNIX_MS_MIN} AND {UNIX_MS_MAX} THEN CAST({t} AS BIGINT) END"

    def _by_event(self, sql: dict[str, str], otherwise: str = "NULL") -> str:
        """SQL: per event name (``_event``), its expression; ``otherwise`` for the rest."""
        whens = " ".join(f"WHEN {literal(name)} THEN {expr}" for name, expr in sql.items())
        return f"CASE _event {whens} ELSE {otherwise} END" if whens else otherwise

    def staged_sql(self, files: list[str], message_bytes: int = landing.MESSAGE_BYTES) -> str:
        """SQL: every landed event (``obsgen.lake.landing.events_sql``) of every event type in one pass: its
        landing file (``_src``, ``_landed_ms``), event, time, date, whether it is late, each field of its event
        as the lake's column (``t:<field>``; ``object`` fields: only whether present, ``p:<field>``), why it is
        invalid (``_reason``, then ``_reason<i>`` after its i-th ``object`` field, which Python judges) and its
        attributes as JSON text where a record may be needed (invalid, late, or holding an object)."""
        late_ms = self.windows["late_arrival"] * DAY_MS
        # Each attribute's kind, and the members fields are usually read from, as lists beside the attributes: a
        # field's value is then a list element or two at its attribute's index (the last attribute of its name wins).
        # (A member read for rare rows only is read from the attribute itself, and once: DuckDB computes an
        # expression a query repeats for every row.)
        needed = {m for f in self.fields if f not in self.objects for m in _MEMBERS[self.schemas[f]["type"]]}
        lists = [f"[{schema_sql.kind(schema_sql.members('a.value'))} FOR a IN _attrs] AS _kinds",
                 *(f"[a.value.{m} FOR a IN _attrs] AS {q('m:' + m)}" for m, _ in schema_sql.KINDS if m in needed)]

        def member(x: str) -> schema_sql.Member:
            return lambda m: f"{q('m:' + m)}[{x}]" if m in needed else f"_attrs[{x}].value.{m}"

        level1, level2 = ["*"], ["*"]
        for name in dict.fromkeys([*self.fields, landing.EVENT_NAME, landing.SHADOW]):
            holders, x = self.holders.get(name, []), q("x:" + name)
            position = f"list_position(_rkeys, {literal(name)})"
            if name in self.holders and len(holders) < len(self.model.events):  # the other events' rows: not needed
                position = f"CASE WHEN _event IN ({', '.join(map(literal, holders))}) THEN {position} END"
            level1.append(f"len(_keys) + 1 - {position} AS {x}")
            level2.append(f"{x} IS NOT NULL AS {q('p:' + name)}")
            if name in self.schemas and name not in self.objects:
                typed = schema_sql.typed(member(x), f"_kinds[{x}]", self.schemas[name])
                level2.append(f"{typed} AS {q('t:' + name)}")
        reasons = [f"CASE WHEN {q('p:' + name)} THEN {schema_sql.reason(self.schemas[name], q('t:' + name))} END "
                   f"AS {q('r:' + name)}" for name in self.fields if name not in self.objects]
        event_ms = self._by_event({e.name: self._event_ms(e) for e in self.model.events})
        segments = [self._by_event({e.name: s[i] for e in self.model.events
                                    for s in [self._segments(e)] if i < len(s)},
                                   literal("not an event of the spec") if i == 0 else "NULL")
                    for i in range(self.segments)]
        cols = [f"{schema_sql.column(self.schemas[f], q('t:' + f))} AS {q('t:' + f)}" if f not in self.objects
                else q("p:" + f) for f in self.fields]
        names = [q(self._segment(i)) for i in range(self.segments)]
        suspect = " OR ".join(["_event IS NULL", "_late", *(f"{n} IS NOT NULL" for n in names),
                               *(q("p:" + f) for f in self.objects)])
        return f"""
SELECT _src, _event, _shadow, _event_ms, _landed_ms, _day, _late, {', '.join([*cols, *names])},
       CASE WHEN {suspect} THEN to_json(_attrs) END AS _raw
FROM (
  SELECT *, {', '.join(f"{seg} AS {name}" for seg, name in zip(segments, names, strict=True))},
         _landed_ms >= (floor(_event_ms / {DAY_MS}) + 1) * {DAY_MS} + {late_ms} AS _late,
         (DATE '1970-01-01' + CAST(floor(_event_ms / {DAY_MS}) AS INTEGER)) AS _day
  FROM (
    SELECT *, {event_ms} AS _event_ms FROM (
      SELECT *, {', '.join(reasons)} FROM (
        SELECT {', '.join(level2)} FROM (
          SELECT {', '.join(level1)} FROM (
            SELECT e.*, list_reverse(_keys) AS _rkeys, {', '.join(lists)}, f._src, f._landed_ms
            FROM ({landing.events_sql(self.model, files, message_bytes)}) AS e
            JOIN batch_files AS f USING (_file)))))))"""

    @staticmethod
    def _segment(i: int) -> str:
        return "_reason" if i == 0 else f"_reason{i}"

    def _segments(self, event: Event) -> list[str]:
        """SQL: why an event fails its schema (its first field, in field order, missing or failing; then a field it
        does not have; then no event time), cut before each ``object`` field, whose verdict Python gives. Each
        segment first checks that all is well (the usual case, cheaper than finding the first problem)."""
        terms: list[list[str]] = [[]]
        well: list[list[str]] = [[]]
        for name in event.fields:
            if name in self.objects:
                terms.append([])
                well.append([])
                continue
            missing = literal(f"field {name} is required") if name in event.required else "NULL"
            terms[-1].append(f"CASE WHEN NOT {q('p:' + name)} THEN {missing} "
                             f"ELSE 'field {name} ' || {q('r:' + name)} END")
            well[-1] += [q("p:" + name)] * (name in event.required) + [f"{q('r:' + name)} IS NULL"]
        terms[-1] += [self._unknown(event), f"CASE WHEN _event_ms IS NULL THEN {literal(NO_TIME)} END"]
        well[-1] += [self._known(event), "_event_ms IS NOT NULL"]
        return [f"CASE WHEN {' AND '.join(w)} THEN NULL ELSE coalesce({', '.join(t)}) END" if t else "NULL"
                for t, w in zip(terms, well, strict=True)]

    @staticmethod
    def _known(event: Event) -> str:
        """SQL: true when as many attributes as distinct known names are present: then none is unknown."""
        allowed = dict.fromkeys([*event.fields, landing.EVENT_NAME, landing.SHADOW])
        return f"len(_keys) = {' + '.join(q('p:' + name) + '::INTEGER' for name in allowed)}"

    def _unknown(self, event: Event) -> str:
        """SQL: why the attributes (``_keys``) hold a field ``event`` does not have (the first by name), or NULL."""
        listed = f"[{', '.join(map(literal, dict.fromkeys([*event.fields, landing.EVENT_NAME, landing.SHADOW])))}]"
        return (f"CASE WHEN {self._known(event)} THEN NULL WHEN NOT list_has_all({listed}, _keys) THEN 'field ' || "
                f"list_sort([k FOR k IN _keys IF NOT list_contains({listed}, k)])[1] "
                "|| ' is not a field of this event' END")

    def judged_sql(self, event: Event) -> str:
        """SQL: the staged rows of ``event`` as the lake's columns, with their reason (``object`` fields: with the
        verdicts Python gave, table ``objects``)."""
        objects = self._objects_of(event)
        cols = [f"o.{q('t:' + f)} AS {q(f)}" if f in self.objects else f"{q('t:' + f)} AS {q(f)}"
                for f in event.fields]
        terms = [self._segment(0)]
        for i, name in enumerate(objects, start=1):
            missing = literal(f"field {name} is required") if name in event.required else "NULL"
            terms += [f"CASE WHEN {q('p:' + name)} THEN 'field {name} ' || o.{q('r:' + name)} ELSE {missing} END",
                      self._segment(i)]
        rows = f"(SELECT rowid AS _row, * FROM staged WHERE _event = {literal(event.name)}) AS s"
        joined = f"{rows} LEFT JOIN objects AS o USING (_row)" if objects else rows
        return (f"SELECT {', '.join(cols)}, _event_ms AS {q(tables.EVENT_MS)}, _landed_ms AS {q(tables.LANDED_MS)}, "
                f"_shadow AS {q(tables.SHADOW)}, _day, _late, _row, _src, _raw, coalesce({', '.join(terms)}) "
                f"AS _reason FROM {joined}")

    def _key(self, event: Event) -> str:
        """SQL: the natural key of a judged row of ``event``: its context key, or the MD5 of its fields as JSON."""
        content = ", ".join(f"{q(f)} := {q(f)}" for f in sorted(event.fields))
        key = f"md5(to_json(struct_pack({content})))"
        kf = self.key_field[event.name]
        return f"coalesce(CAST({q(kf)} AS VARCHAR), {key})" if kf is not None else key

    # -- a batch of landing files -------------------------------------------------------------------

    def _stage(self, con: Any, batch: list[Landed], files: list[str]) -> None:
        """The batch's events into the table ``staged`` (read again with the large buffer if a request needs it)."""
        import duckdb

        try:
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS {self.staged_sql(files)}")
            except duckdb.InvalidInputException as e:  # one export request exceeds the reader's buffer
                if "maximum_object_size" not in str(e):
                    raise
                con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS "
                            f"{self.staged_sql(files, landing.MAX_MESSAGE_BYTES)}")
        except duckdb.Error as e:
            raise _unreadable(batch, e) from e

    def ingest_batch(self, con: Any, batch: list[Landed], summary: Summary) -> dict[str, int]:
        """Ingest ``batch`` (one DuckDB pass over its files, then a query or two per event); returns the events
        written per landing file."""
        name = f"part-{(batch[0].digest if len(batch) == 1 else _digest(b.digest for b in batch))[:16]}.parquet"
        files = [(local, i, b.landed_ms) for i, b in enumerate(batch) for local in b.local]
        con.register("batch_files", pa.table({"_file": [f for f, _, _ in files],
                                              "_src": pa.array([i for _, i, _ in files], pa.int32()),
                                              "_landed_ms": pa.array([ms for _, _, ms in files], pa.int64())}))
        self._stage(con, batch, [f for f, _, _ in files])
        written: Counter[str] = Counter()
        # Parquet is written by a thread of its own (pyarrow lets go of the GIL) while DuckDB works on the next event;
        # every file is written before this returns, so before the manifest says the batch was ingested.
        with ThreadPoolExecutor(max_workers=1) as writer:
            writes: list[Future[None]] = []
            quarantine = self._quarantined(con.execute(
                "SELECT '' AS event_type, _reason, _src, _raw, _landed_ms FROM staged WHERE _event IS NULL "
                "ORDER BY rowid").fetchall(), batch, summary)
            for event in self.model.events:
                objects = self._objects_of(event)
                if objects:  # Python judges the rows holding an object
                    con.register("objects", self._objects(con, event, objects))
                con.execute(f"CREATE OR REPLACE TEMP VIEW judged AS {self.judged_sql(event)}")
                quarantine += self._quarantined(con.execute(
                    f"SELECT {literal(event.name)}, _reason, _src, _raw, {q(tables.LANDED_MS)} FROM judged "
                    "WHERE _reason IS NOT NULL ORDER BY _row").fetchall(), batch, summary)
                self._late(con, event, batch, name, summary)
                valid = "_reason IS NULL AND NOT _late"
                lags = _arrow(con.sql(f"SELECT greatest(0, {q(tables.LANDED_MS)} - {q(tables.EVENT_MS)}) "
                                      f"FROM judged WHERE {valid}")).column(0)
                if not len(lags):
                    continue
                summary.lag_chunks.append(lags.combine_chunks().cast(pa.int64()))
                fresh = self._fresh(con, event, name, valid)
                offset = 0  # the rows are in date order: each date's rows are a slice
                for day, n in sorted(zip(*(c.to_pylist() for c in pc.value_counts(fresh.column("_day")).flatten()),
                                         strict=True)):
                    rows = fresh.slice(offset, n).select(self.arrow[event.name].names).cast(self.arrow[event.name])
                    offset += n
                    writes.append(writer.submit(self._write, rows, self.lake.partition(event.name, day), name))
                    summary.stale_dates.add(day.isoformat())
                summary.ingested[event.name] += fresh.num_rows
                summary.duplicates[event.name] += len(lags) - fresh.num_rows
                for src, n in zip(*pc.value_counts(fresh.column("_src")).flatten(), strict=True):
                    written[batch[src.as_py()].path] += n.as_py()
            if quarantine:
                self._write(pa.Table.from_pylist(quarantine, tables.QUARANTINE_SCHEMA),
                            self.lake.path(QUARANTINE, f"ingest_date={_today()}"), name)
            for write in writes:
                write.result()  # raises what the write raised
        return written

    def _objects(self, con: Any, event: Event, names: list[str]) -> pa.Table:
        """``object`` fields, decoded and judged in Python by the compiled checks: ``_row``, typed text, reason."""
        out: dict[str, list[Any]] = {"_row": [], **{f"{c}:{name}": [] for name in names for c in "tr"}}
        present = " OR ".join(q("p:" + name) for name in names)
        for row, raw in con.execute(f"SELECT rowid, _raw FROM staged WHERE _event = {literal(event.name)} "
                                    f"AND ({present})").fetchall():
            try:
                values = landing.fields(raw, set(self.objects))
                reasons = {name: self.objects[name](values[name]) if name in values else None for name in names}
            except RecursionError:  # deeper than Python decodes or checks: any OTLP client can send that
                values, reasons = {}, dict.fromkeys(names, TOO_DEEP)
            out["_row"].append(row)
            for name in names:
                reason = reasons[name]
                out["r:" + name].append(reason)
                out["t:" + name].append(json.dumps(values[name], sort_keys=True)
                                        if name in values and reason is None else None)
        return pa.table({k: pa.array(v, pa.int64() if k == "_row" else pa.string()) for k, v in out.items()})

    def _quarantined(self, rows: list[tuple[Any, ...]], batch: list[Landed],
                     summary: Summary) -> list[dict[str, Any]]:
        out = []
        for event, reason, src, raw, landed_ms in rows:
            out.append({"event_type": event, "reason": reason, "source": batch[src].path,
                        "record": self._record(raw), tables.LANDED_MS: landed_ms})
            summary.quarantined[event or "(unknown)"] += 1
        return out

    def _record(self, raw: str) -> str:
        """A quarantined or late event's fields as JSON text; its attributes as they landed (OTLP JSON) when they
        are nested deeper than Python decodes."""
        try:
            return json.dumps(landing.fields(raw, set(self.objects)), sort_keys=True, default=str)
        except RecursionError:
            return raw

    def _late(self, con: Any, event: Event, batch: list[Landed], name: str, summary: Summary) -> None:
        rows = con.execute(f"SELECT _day, _src, _raw, {q(tables.EVENT_MS)}, {q(tables.LANDED_MS)} FROM judged "
                           "WHERE _reason IS NULL AND _late ORDER BY _day, _row").fetchall()
        by_day: dict[dt.date, list[dict[str, Any]]] = {}
        for day, src, raw, event_ms, landed_ms in rows:
            by_day.setdefault(day, []).append({"source": batch[src].path, "record": self._record(raw),
                                               tables.EVENT_MS: event_ms, tables.LANDED_MS: landed_ms})
            summary.late[event.name] += 1
        for day, rows_of_day in by_day.items():
            self._write(pa.Table.from_pylist(rows_of_day, tables.LATE_SCHEMA),
                        self.lake.path(LATE, f"event_type={event.name}", f"event_date={day.isoformat()}"), name)

    def _fresh(self, con: Any, event: Event, name: str, valid: str) -> pa.Table:
        """The valid rows of ``event`` whose natural key neither an earlier row of the batch nor the partition has."""
        days = [d for (d,) in con.execute(f"SELECT DISTINCT _day FROM judged WHERE {valid}").fetchall()]
        seen = [pa.table({"_day": pa.repeat(pa.scalar(day, pa.date32()), t.num_rows), tables.KEY: t.column(0)})
                for day in days for t in [self._keys(self.lake.partition(event.name, day), name)] if t.num_rows]
        con.register("seen", pa.concat_tables(seen) if seen else
                     pa.table({"_day": pa.array([], pa.date32()), tables.KEY: pa.array([], pa.string())}))
        key = q(tables.KEY)
        # The first row of each key by min(_row), not row_number() = 1: DuckDB rewrites that into an aggregate that
        # turns a -0.0 of the rows it carries into 0.0.
        return _arrow(con.sql(
            f"WITH v AS (SELECT *, {self._key(event)} AS {key} FROM judged WHERE {valid}) "
            f"SELECT * FROM v WHERE _row IN (SELECT min(_row) FROM v GROUP BY _day, {key}) AND NOT EXISTS "
            f"(SELECT 1 FROM seen AS s WHERE s._day = v._day AND s.{key} = v.{key}) "
            f"ORDER BY _day, {q(tables.EVENT_MS)}, _row"))

    def _keys(self, directory: str, name: str) -> pa.Table:
        """The natural keys already in a partition, but those of ``name`` (a rerun after a crash rewrites its file)."""
        files = [p for p in self.lake.files(directory) if posixpath.basename(p) != name]
        if not files:
            return pa.table({tables.KEY: pa.array([], pa.string())})
        return pads.dataset(files, format="parquet", filesystem=self.lake.fs).to_table(columns=[tables.KEY])

    def _write(self, table: pa.Table, directory: str, name: str) -> None:
        self.lake.fs.create_dir(directory, recursive=True)
        tmp = posixpath.join(directory, f".{name}.tmp")
        pq.write_table(table, tmp, filesystem=self.lake.fs, compression="snappy")
        self.lake.fs.move(tmp, posixpath.join(directory, name))

    # -- a run --------------------------------------------------------------------------------------

    def _batches(self, landing_fs: pafs.FileSystem, files: list[pafs.FileInfo], manifest: dict[str, Any],
                 work: str, summary: Summary) -> Iterator[list[Landed]]:
        """The landing files not ingested yet, read into ``work`` as DuckDB reads them, in batches."""
        batch: list[Landed] = []
        size = 0
        for info in files:
            try:
                with landing_fs.open_input_stream(info.path) as f:
                    data = f.read()
            except FileNotFoundError:  # rotated (renamed) since the listing: read under its new name next run
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest in manifest or any(b.digest == digest for b in batch):
                summary.files_skipped += 1
                continue
            local = []
            for part, (text, suffix) in enumerate(landing.ndjson(data, self.part_bytes)):
                local.append(os.path.join(work, f"{len(batch)}-{part}{suffix}"))
                with open(local[-1], "wb") as out:
                    out.write(text)
            landed_ms = info.mtime_ns // 1_000_000 if info.mtime_ns else int(time.time() * 1000)
            batch.append(Landed(info.path, digest, len(data), landed_ms, local))
            size += len(data)
            if size >= self.batch_bytes:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def run(self, landing_uri: str) -> Summary:
        import duckdb

        landing_fs, landing_root = open_uri(landing_uri)
        service = self.model.service.name
        base = posixpath.join(landing_root, service)
        if landing_fs.get_file_info(base).type != pafs.FileType.Directory and \
                posixpath.basename(landing_root.rstrip("/")) == service:
            base = landing_root  # the landing folder of this service itself (not the zone: other services' files)
        files = sorted((i for i in _listing(landing_fs, base) if i.type == pafs.FileType.File), key=lambda i: i.path)
        summary = Summary()
        with locked(self.lake, "ingest"), tempfile.TemporaryDirectory(prefix="obsgen-ingest-") as work:
            manifest: dict[str, Any] = self.lake.read_json(MANIFEST, {})
            con = duckdb.connect(config={"temp_directory": work})
            try:
                for batch in self._batches(landing_fs, files, manifest, work, summary):
                    written = self.ingest_batch(con, batch, summary)
                    summary.files_read += len(batch)
                    for landed in batch:
                        manifest[landed.digest] = {"path": landed.path, "bytes": landed.size,
                                                   "landed_ms": landed.landed_ms, "events": written[landed.path]}
                        for local in landed.local:
                            os.remove(local)
                    self.lake.write_json(MANIFEST, manifest)  # after each batch: a rerun resumes here
            finally:
                con.close()
            mark_stale(self.lake, summary.stale_dates)
            self.lake.write_json("last_ingest.json", summary.to_dict(self.windows["late_arrival"]))
            write_metrics(self.lake, self.model, summary)
        return summary


class LandingUnreadable(ValueError):
    """A landing file the JSON reader cannot read as OTLP JSON (corrupt, truncated by hand, not the collector's)."""


def _unreadable(batch: list[Landed], error: Exception) -> Exception:
    """``error`` of the JSON reader as one line naming the landing file (DuckDB names the temporary copy)."""
    text = str(error).split("\n")[0].split(" Try ")[0].removeprefix("Invalid Input Error: ").strip()
    for landed in batch:
        for local in landed.local:
            if f'"{local}"' in text:
                return LandingUnreadable(
                    f"landing file {landed.path} is not OTLP JSON as the collector writes it "
                    f"({text.replace(local, landed.path)}): the ingest stopped there — move the file out of the "
                    "landing zone, then run again")
    return error


def _listing(fs: pafs.FileSystem, base: str) -> list[pafs.FileInfo]:
    """Everything under ``base``. Locally, a symlinked directory below it is not followed (a link to ``.`` would
    list the folder again at every depth: two such links make it endless); ``base`` itself may be a link."""
    if not isinstance(fs, pafs.LocalFileSystem):
        return fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    if not os.path.isdir(base):
        return []
    return fs.get_file_info([os.path.join(folder, name) for folder, _, names in os.walk(base, onerror=_raise)
                             for name in names])


def _raise(error: OSError) -> None:
    """A folder of the landing zone that cannot be listed stops the run (``os.walk`` would skip it unsaid)."""
    raise error


def _arrow(relation: Any) -> pa.Table:
    """A DuckDB relation's rows as an Arrow table (``to_arrow_table`` in newer DuckDB, ``arrow`` in older)."""
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()


def _digest(parts: Iterator[str]) -> str:
    return hashlib.sha256("".join(parts).encode()).hexdigest()


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
    lags = summary.lags_ms
    for bound in LAG_BUCKETS_S:
        n = pc.sum(pc.less_equal(lags, bound * 1000)).as_py() or 0
        lines.append(f'{name}_bucket{{service="{svc}",le="{bound}"}} {n}')
    lines.append(f'{name}_bucket{{service="{svc}",le="+Inf"}} {len(lags)}')
    lines.append(f'{name}_sum{{service="{svc}"}} {(pc.sum(lags).as_py() or 0) / 1000:g}')
    lines.append(f'{name}_count{{service="{svc}"}} {len(lags)}')
    lines += ["# HELP obsgen_lake_ingest_last_run_timestamp_seconds When the last ingest finished.",
              "# TYPE obsgen_lake_ingest_last_run_timestamp_seconds gauge",
              f'obsgen_lake_ingest_last_run_timestamp_seconds{{service="{svc}"}} {time.time():.0f}']
    path = lake.path(STATE, METRICS)
    with lake.fs.open_output_stream(path) as f:
        f.write(("\n".join(lines) + "\n").encode())
