"""Reading the landing zone: OTLP JSON as the collector's file exporter writes it, back into spec events.

The exporter writes each export request either as one JSON line, or (with ``compression``) as a 4-byte
big-endian length followed by that many bytes of a zstd frame holding the JSON. Log records name their
event (``event_name``, set by the runtime); spans are matched to the event whose ``span.name`` they carry,
for events that have no log record (an event with both lands once, as its log record).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from obsgen.model import Model

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
EVENT_NAME = "event_name"
"""Log attribute the runtime sets to the event's name (also the record's ``eventName``)."""
SHADOW = "shadow"
"""Attribute the runtime adds in shadow mode (``obsgen.model.SHADOW_LABEL``)."""
SERVICE_NAME = "service.name"


@dataclass
class Landed:
    """One event read back from a landing file (``event`` None: not an event of the spec)."""

    event: str | None
    fields: dict[str, Any]
    time_ms: int | None
    """The signal's own time (log record time, span end), used when the event has no time field."""
    shadow: bool


def messages(data: bytes) -> Iterator[dict[str, Any]]:
    """The export requests of one landing file, compressed or not."""
    if data[:1] == b"{":
        for line in data.splitlines():
            if line.strip():
                yield json.loads(line)
        return
    offset = 0
    while offset + 4 <= len(data):
        (size,) = struct.unpack_from(">I", data, offset)
        frame = data[offset + 4:offset + 4 + size]
        offset += 4 + size
        if frame[:4] == ZSTD_MAGIC:
            frame = pa.CompressedInputStream(pa.BufferReader(frame), "zstd").read()
        yield json.loads(frame)


def any_value(v: dict[str, Any]) -> Any:
    """An OTLP JSON ``AnyValue`` as a Python value (64-bit integers arrive as strings)."""
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return v["boolValue"]
    if "arrayValue" in v:
        return [any_value(x) for x in v["arrayValue"].get("values", [])]
    if "kvlistValue" in v:
        return {kv["key"]: any_value(kv.get("value", {})) for kv in v["kvlistValue"].get("values", [])}
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def _attributes(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {kv["key"]: any_value(kv.get("value", {})) for kv in items}


class Decoder:
    """Turns export requests into ``Landed`` events of one spec's service."""

    def __init__(self, model: Model) -> None:
        self.service = model.service.name
        self.span_events = {e.span.name: e.name for e in model.events if e.span is not None and not e.log_severity}
        self.log_events = {e.name for e in model.events if e.log_severity}
        self.json_fields = {name for name, a in model.attributes.items() if a.type == "object"}

    def _ours(self, resource: dict[str, Any]) -> bool:
        attrs = _attributes(resource.get("attributes", []))
        return attrs.get(SERVICE_NAME) == self.service

    def _landed(self, event: str | None, attrs: dict[str, Any], time_ns: Any) -> Landed:
        attrs.pop(EVENT_NAME, None)
        shadow = str(attrs.pop(SHADOW, "")).lower() == "true"
        for name in self.json_fields & attrs.keys():
            if isinstance(attrs[name], str):  # spans carry objects as JSON text
                try:
                    attrs[name] = json.loads(attrs[name])
                except ValueError:
                    pass  # left as it is: validation reports it
        time_ms = int(time_ns) // 1_000_000 if time_ns not in (None, "0", 0) else None
        return Landed(event, attrs, time_ms, shadow)

    def events(self, message: dict[str, Any]) -> Iterator[Landed]:
        for rl in message.get("resourceLogs", ()):
            if not self._ours(rl.get("resource", {})):
                continue
            for sl in rl.get("scopeLogs", ()):
                for record in sl.get("logRecords", ()):
                    attrs = _attributes(record.get("attributes", []))
                    name = record.get("eventName") or attrs.get(EVENT_NAME)
                    yield self._landed(name if name in self.log_events else None, attrs,
                                       record.get("timeUnixNano") or record.get("observedTimeUnixNano"))
        for rs in message.get("resourceSpans", ()):
            if not self._ours(rs.get("resource", {})):
                continue
            for ss in rs.get("scopeSpans", ()):
                for span in ss.get("spans", ()):
                    event = self.span_events.get(span.get("name", ""))
                    if event is not None:
                        yield self._landed(event, _attributes(span.get("attributes", [])), span.get("endTimeUnixNano"))
