"""Reading the landing zone: OTLP JSON as the collector's file exporter writes it, flattened into events by SQL.

The exporter writes each export request either as one JSON line, or (with ``compression``) as a 4-byte
big-endian length followed by that many bytes of a zstd frame holding the JSON. ``ndjson`` turns the
second form into zstd streams of JSON lines without decompressing (the length prefixes dropped, a
compressed newline between frames), cut at frame boundaries into parts of about ``part_bytes``, so DuckDB's
JSON reader (``read_ndjson``, one thread per compressed file) parses every file on all cores. ``events_sql``
unnests resourceLogs → scopeLogs → logRecords and resourceSpans → scopeSpans → spans side by side, in one
pass over the parsed requests with nothing materialised, into one row per event: log records name their
event (``eventName`` or the ``event_name`` attribute, set by the runtime); spans are matched to the event
whose ``span.name`` they carry, for events that have no log record (an event with both lands once, as its
log record).
"""

from __future__ import annotations

import json
import struct
from typing import Any

import pyarrow as pa
from obsgen.lake.sql import literal
from obsgen.model import Model

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
EVENT_NAME = "event_name"
"""Log attribute the runtime sets to the event's name (also the record's ``eventName``)."""
SHADOW = "shadow"
"""Attribute the runtime adds in shadow mode (``obsgen.model.SHADOW_LABEL``)."""
SERVICE_NAME = "service.name"
MESSAGE_BYTES = 16 << 20
"""The JSON reader's buffer (DuckDB's default): requests up to about twice this size are read with it."""
MAX_MESSAGE_BYTES = 1 << 30
"""Largest export request the JSON reader accepts, with a buffer this large (read again so when a request
exceeds ``MESSAGE_BYTES``: the large buffer costs memory and time, so it is not the default)."""
PART_BYTES = 8 << 20
"""Compressed bytes per part of a landing file (about 200,000 events): the unit of the reader's parallelism."""

_ITEM = ("STRUCT(stringValue VARCHAR, intValue VARCHAR, doubleValue DOUBLE, boolValue BOOLEAN, arrayValue JSON, "
         "kvlistValue JSON, bytesValue VARCHAR)")
ANY_VALUE = (f'STRUCT(stringValue VARCHAR, intValue VARCHAR, doubleValue DOUBLE, boolValue BOOLEAN, '
             f'arrayValue STRUCT("values" {_ITEM}[]), kvlistValue JSON, bytesValue VARCHAR)')
"""OTLP ``AnyValue`` as DuckDB reads it (64-bit integers arrive as strings; NaN as the string "NaN")."""
_ATTRS = f"STRUCT(key VARCHAR, value {ANY_VALUE})[]"
_RESOURCE = f"resource STRUCT(attributes {_ATTRS})"
_RECORD = (f"STRUCT(timeUnixNano VARCHAR, observedTimeUnixNano VARCHAR, eventName VARCHAR, name VARCHAR, "
           f"endTimeUnixNano VARCHAR, attributes {_ATTRS})")
"""A log record or a span: one type for both (a member the other signal lacks is NULL), so they unnest as one list."""
COLUMNS = {
    "resourceLogs": f"STRUCT({_RESOURCE}, scopeLogs STRUCT(logRecords {_RECORD}[])[])[]",
    "resourceSpans": f"STRUCT({_RESOURCE}, scopeSpans STRUCT(spans {_RECORD}[])[])[]",
}


def ndjson(data: bytes, part_bytes: int = PART_BYTES) -> list[tuple[bytes, str]]:
    """A landing file as DuckDB reads it: ``(bytes, file suffix)`` parts, plain JSON lines (one part: the reader
    splits it itself) or zstd streams of them, cut at message boundaries every ``part_bytes`` or so."""
    if data[:1] == b"{":
        return [(data, ".jsonl")]
    newline = pa.compress(b"\n", codec="zstd", asbytes=True)
    parts: list[tuple[bytes, str]] = []
    out, offset = bytearray(), 0
    while offset + 4 <= len(data):
        (size,) = struct.unpack_from(">I", data, offset)
        frame = data[offset + 4:offset + 4 + size]
        offset += 4 + size
        out += frame if frame[:4] == ZSTD_MAGIC else pa.compress(frame, codec="zstd", asbytes=True)
        out += newline
        if len(out) >= part_bytes:
            parts.append((bytes(out), ".jsonl.zst"))
            out = bytearray()
    if out or not parts:
        parts.append((bytes(out), ".jsonl.zst"))
    return parts


def _last(keys: str, name: str) -> str:
    """SQL: 1-based position of the last attribute called ``name`` (a later one wins, as in a dict); NULL if none."""
    return f"(len({keys}) + 1 - list_position(list_reverse({keys}), {literal(name)}))"


def attribute(attrs: str, keys: str, name: str) -> str:
    """SQL: the ``AnyValue`` of the attribute ``name`` (NULL when the record has none)."""
    return f"{attrs}[{_last(keys, name)}].value"


def events_sql(model: Model, files: list[str], message_bytes: int = MESSAGE_BYTES) -> str:
    """One row per landed event of the spec's service, in file order: ``_file``, ``_event`` (NULL: a log record
    that names no event of the spec), ``_signal_ms`` (log time, span end), ``_shadow``, ``_keys``, ``_attrs``."""
    log_events = [e.name for e in model.events if e.log_severity]
    span_events = {e.span.name: e.name for e in model.events if e.span is not None and not e.log_severity}
    read = (f"read_ndjson([{', '.join(map(literal, files))}], columns={{"
            + ", ".join(f"{name}: {literal(kind)}" for name, kind in COLUMNS.items())
            + f"}}, filename = true, maximum_object_size = {message_bytes})")

    def ours(r: str) -> str:
        keys = f"[a.key FOR a IN {r}.resource.attributes]"
        return (f"coalesce({attribute(f'{r}.resource.attributes', keys, SERVICE_NAME)}.stringValue = "
                f"{literal(model.service.name)}, false)")

    named = f"coalesce(nullif(x.eventName, ''), {attribute('x.attributes', '_keys', EVENT_NAME)}.stringValue)"
    log_event = (f"CASE WHEN {named} IN ({', '.join(map(literal, log_events))}) THEN {named} END"
                 if log_events else "NULL")
    span_event = ("CASE x.name " + " ".join(f"WHEN {literal(s)} THEN {literal(e)}" for s, e in span_events.items())
                  + " END") if span_events else "NULL"
    log_time = "CASE WHEN coalesce(x.timeUnixNano, '') <> '' THEN x.timeUnixNano ELSE x.observedTimeUnixNano END"
    shadow = attribute("_attrs", "_keys", SHADOW)
    # Resources, then scopes, of both signals side by side (a request holds one signal, but any line is read
    # whole); a scope's records are its log records then its spans, ``_log`` telling which.
    return f"""
WITH r AS (SELECT filename AS _file, unnest(resourceLogs) AS rl, unnest(resourceSpans) AS rs FROM {read}),
s AS (SELECT _file, unnest(CASE WHEN {ours('rl')} THEN rl.scopeLogs END) AS sl,
             unnest(CASE WHEN {ours('rs')} THEN rs.scopeSpans END) AS ss FROM r),
x AS (SELECT _file, unnest(list_concat(sl.logRecords, ss.spans)) AS x,
             unnest(list_concat(list_resize([]::BOOLEAN[], len(sl.logRecords), true),
                                list_resize([]::BOOLEAN[], len(ss.spans), false))) AS _log FROM s),
k AS (SELECT _file, _log, x, [a.key FOR a IN x.attributes] AS _keys FROM x),
events AS (
  SELECT _file, CASE WHEN _log THEN {log_event} ELSE {span_event} END AS _event,
         CASE WHEN _log THEN {log_time} ELSE x.endTimeUnixNano END AS _time_ns, x.attributes AS _attrs, _keys
  FROM k WHERE _log OR ({span_event}) IS NOT NULL)
SELECT _file, _event,
       CASE WHEN _time_ns IS NULL OR _time_ns = '0' THEN NULL ELSE TRY_CAST(_time_ns AS HUGEINT) // 1000000 END
         AS _signal_ms,
       list_contains(_keys, {literal(SHADOW)}) AND coalesce(lower(CASE WHEN {shadow}.stringValue IS NOT NULL
         THEN {shadow}.stringValue WHEN {shadow}.boolValue THEN 'true' END) = 'true', false) AS _shadow,
       _keys, _attrs
FROM events"""


def any_value(v: dict[str, Any] | None) -> Any:
    """An OTLP JSON ``AnyValue`` as a Python value (64-bit integers arrive as strings; absent members may be null)."""
    if not v:
        return None
    if v.get("stringValue") is not None:
        return v["stringValue"]
    if v.get("intValue") is not None:
        return int(v["intValue"])
    if v.get("doubleValue") is not None:
        return float(v["doubleValue"])
    if v.get("boolValue") is not None:
        return v["boolValue"]
    if v.get("arrayValue") is not None:
        return [any_value(x) for x in v["arrayValue"].get("values") or []]
    if v.get("kvlistValue") is not None:
        return {kv["key"]: any_value(kv.get("value")) for kv in v["kvlistValue"].get("values") or []}
    if v.get("bytesValue") is not None:
        return v["bytesValue"]
    return None


def _parsed(v: Any) -> Any:
    """An ``AnyValue`` as DuckDB hands it back (members of type JSON as text) as plain JSON data."""
    if isinstance(v, str):
        v = json.loads(v)
    if not isinstance(v, dict):
        return v
    v = {**v, **{m: json.loads(v[m]) for m in ("arrayValue", "kvlistValue") if isinstance(v.get(m), str)}}
    if isinstance(v.get("arrayValue"), dict):
        v["arrayValue"] = {"values": [_parsed(x) for x in v["arrayValue"].get("values") or []]}
    return v


def fields(attrs_json: str, json_fields: set[str]) -> dict[str, Any]:
    """An event's fields from its attributes (JSON text of the ``_attrs`` column): what quarantine and late
    records keep. ``event_name`` and ``shadow`` are the runtime's, not fields; objects arrive as JSON text."""
    out = {kv["key"]: any_value(_parsed(kv.get("value"))) for kv in json.loads(attrs_json)}
    out.pop(EVENT_NAME, None)
    out.pop(SHADOW, None)
    for name in json_fields & out.keys():
        out[name] = object_value(out[name])
    return out


def object_value(value: Any) -> Any:
    """An ``object`` field's value: JSON text (spans carry objects so, and the runtime sends them so) decoded."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            pass  # left as it is: validation reports it
    return value
