"""Reading the landing zone: OTLP JSON as the collector's file exporter writes it, flattened into events by SQL.

The exporter writes each export request either as one JSON line, or (with ``compression``) as a 4-byte
big-endian length followed by that many bytes of a zstd frame holding the JSON. ``ndjson`` turns the
second form into a zstd stream of JSON lines without decompressing (the length prefixes dropped, a
compressed newline between frames), so DuckDB's JSON reader (``read_ndjson``) parses every file, on all
cores. ``events_sql`` unnests resourceLogs → scopeLogs → logRecords (and resourceSpans → scopeSpans →
spans) into one row per event: log records name their event (``eventName`` or the ``event_name``
attribute, set by the runtime); spans are matched to the event whose ``span.name`` they carry, for
events that have no log record (an event with both lands once, as its log record).
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
MAX_MESSAGE_BYTES = 1 << 30
"""Largest export request the JSON reader accepts (the collector rotates files at 64 MB compressed)."""

_ITEM = ("STRUCT(stringValue VARCHAR, intValue VARCHAR, doubleValue DOUBLE, boolValue BOOLEAN, arrayValue JSON, "
         "kvlistValue JSON, bytesValue VARCHAR)")
ANY_VALUE = (f'STRUCT(stringValue VARCHAR, intValue VARCHAR, doubleValue DOUBLE, boolValue BOOLEAN, '
             f'arrayValue STRUCT("values" {_ITEM}[]), kvlistValue JSON, bytesValue VARCHAR)')
"""OTLP ``AnyValue`` as DuckDB reads it (64-bit integers arrive as strings; NaN as the string "NaN")."""
_ATTRS = f"STRUCT(key VARCHAR, value {ANY_VALUE})[]"
_RESOURCE = f"resource STRUCT(attributes {_ATTRS})"
COLUMNS = {
    "resourceLogs": f"STRUCT({_RESOURCE}, scopeLogs STRUCT(logRecords STRUCT(timeUnixNano VARCHAR, "
                    f"observedTimeUnixNano VARCHAR, eventName VARCHAR, attributes {_ATTRS})[])[])[]",
    "resourceSpans": f"STRUCT({_RESOURCE}, scopeSpans STRUCT(spans STRUCT(name VARCHAR, endTimeUnixNano VARCHAR, "
                     f"attributes {_ATTRS})[])[])[]",
}


def ndjson(data: bytes) -> tuple[bytes, str]:
    """A landing file as DuckDB reads it: ``(bytes, file suffix)``, plain JSON lines or a zstd stream of them."""
    if data[:1] == b"{":
        return data, ".jsonl"
    newline = pa.compress(b"\n", codec="zstd", asbytes=True)
    out, offset = bytearray(), 0
    while offset + 4 <= len(data):
        (size,) = struct.unpack_from(">I", data, offset)
        frame = data[offset + 4:offset + 4 + size]
        offset += 4 + size
        out += frame if frame[:4] == ZSTD_MAGIC else pa.compress(frame, codec="zstd", asbytes=True)
        out += newline
    return bytes(out), ".jsonl.zst"


def _last(keys: str, name: str) -> str:
    """SQL: 1-based position of the last attribute called ``name`` (a later one wins, as in a dict); NULL if none."""
    return f"(len({keys}) + 1 - list_position(list_reverse({keys}), {literal(name)}))"


def attribute(attrs: str, keys: str, name: str) -> str:
    """SQL: the ``AnyValue`` of the attribute ``name`` (NULL when the record has none)."""
    return f"{attrs}[{_last(keys, name)}].value"


def events_sql(model: Model, files: list[str]) -> str:
    """One row per landed event of the spec's service, in file order: ``_file``, ``_event`` (NULL: a log record
    that names no event of the spec), ``_signal_ms`` (log time, span end), ``_shadow``, ``_keys``,
    ``_attrs``."""
    log_events = [e.name for e in model.events if e.log_severity]
    span_events = {e.span.name: e.name for e in model.events if e.span is not None and not e.log_severity}
    read = (f"read_ndjson([{', '.join(map(literal, files))}], columns={{"
            + ", ".join(f"{name}: {literal(kind)}" for name, kind in COLUMNS.items())
            + f"}}, filename = true, maximum_object_size = {MAX_MESSAGE_BYTES})")
    ours = (f"coalesce({attribute('r.resource.attributes', '[a.key FOR a IN r.resource.attributes]', SERVICE_NAME)}"
            f".stringValue = {literal(model.service.name)}, false)")
    named = f"coalesce(nullif(x.eventName, ''), {attribute('x.attributes', '_keys', EVENT_NAME)}.stringValue)"
    log_event = (f"CASE WHEN {named} IN ({', '.join(map(literal, log_events))}) THEN {named} END"
                 if log_events else "NULL")
    span_event = ("CASE x.name " + " ".join(f"WHEN {literal(s)} THEN {literal(e)}" for s, e in span_events.items())
                  + " END") if span_events else "NULL"
    log_time = "CASE WHEN coalesce(x.timeUnixNano, '') <> '' THEN x.timeUnixNano ELSE x.observedTimeUnixNano END"
    shadow = attribute("_attrs", "_keys", SHADOW)
    return f"""
WITH m AS (SELECT filename AS _file, resourceLogs, resourceSpans FROM {read}),
rl AS (SELECT _file, unnest(resourceLogs) AS r FROM m),
sl AS (SELECT _file, unnest(r.scopeLogs) AS s FROM rl WHERE {ours}),
lr AS (SELECT _file, unnest(s.logRecords) AS x FROM sl),
rs AS (SELECT _file, unnest(resourceSpans) AS r FROM m),
ss AS (SELECT _file, unnest(r.scopeSpans) AS s FROM rs WHERE {ours}),
sp AS (SELECT _file, unnest(s.spans) AS x FROM ss),
logs AS (SELECT _file, x, [a.key FOR a IN x.attributes] AS _keys FROM lr),
events AS (
  SELECT _file, {log_event} AS _event, {log_time} AS _time_ns, x.attributes AS _attrs, _keys
  FROM logs
  UNION ALL
  SELECT _file, {span_event} AS _event, x.endTimeUnixNano AS _time_ns, x.attributes AS _attrs,
         [a.key FOR a IN x.attributes] AS _keys
  FROM sp WHERE ({span_event}) IS NOT NULL)
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
