"""OTLP protobuf of the runtime's log records and spans, written straight to the wire format.

The SDK's path for a log record (``ReadWriteLogRecord`` with its ``BoundedAttributes``, then
``encode_logs`` building one protobuf object per record, attribute and value) cost 60–65 µs a record on
the export thread, ``encode_spans`` 65–70 µs a span; writing the wire format directly costs about 10 µs a
record (encoded from the fields the hot path queued) and 24 µs a span (from the SDK's span). The bytes are
the SDK's, byte for byte: the same resource and scope, timestamps, severity, body, event name, trace
context and flags, attribute limits (``OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT``/``..._VALUE_LENGTH_LIMIT``: the
oldest attributes go first, the count is reported), ``AnyValue`` types, events, links and status, in
protobuf's field order (``tests/test_otlp_encode.py`` compares bytes and parsed messages).

A batch is encoded in steps of about ``STEP_S`` of work with ``pause()`` between them, so an export thread
hands the GIL back to an application thread instead of holding it for a whole batch (CPython makes a
waiting thread wait up to its switch interval, 5 ms, for a thread that never releases it). A request comes
out as pieces of about ``CHUNK`` bytes, joined as the items come, with the message lengths added up: the
sender writes them one after the other, so no step copies a whole request.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk._logs import LogRecordLimits
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import get_current_span

_log = logging.getLogger("obsgen.runtime")

STEP_S = 0.0005
"""Work between two pauses (seconds, by the clock): well under a millisecond of GIL an app thread may wait."""
CHUNK = 64 << 10
"""Bytes of encoded items joined into one piece of a request body."""

_SMALL = 1 << 14
_VARINTS = [bytes((n,)) for n in range(128)] + [bytes((n & 0x7F | 0x80, n >> 7)) for n in range(128, _SMALL)]
_UINT64 = (1 << 64) - 1
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_fixed64 = struct.Struct("<Q").pack
_double = struct.Struct("<d").pack
_fixed32 = struct.Struct("<I").pack
_CACHE_LIMIT = 8192
"""Encoded (key, value) attributes remembered per encoder; the cache is emptied when full."""
_CACHED_STR_LEN = 96
"""Longer string values are not cached (free text rarely repeats; a 64-hex pseudonym often does)."""


def varint(n: int) -> bytes:
    if n < _SMALL:
        return _VARINTS[n]
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field: its tag byte (field number << 3 | 2), the length, the payload."""
    n = len(payload)
    return bytes((tag,)) + (_VARINTS[n] if n < _SMALL else varint(n)) + payload


def _plain_str(value: Any) -> bool:
    """What the SDK's attribute cleaning turns into ``str(value)`` (anything else becomes ``None``)."""
    kind = type(value)
    return kind.__str__ is not object.__str__ or kind.__repr__ is not object.__repr__


def any_value(value: Any, max_len: int | None) -> bytes:
    """The body of an ``AnyValue`` message, as the SDK's cleaning + ``_encode_value`` make it.

    Raises ``ValueError`` for an integer outside int64 (the SDK's encoder fails on it too, and drops the
    attribute).
    """
    if value is None:
        return b""
    if value is True:
        return b"\x10\x01"
    if value is False:
        return b"\x10\x00"
    if isinstance(value, str):
        if max_len is not None and len(value) > max_len:
            value = value[:max_len]
        data = value.encode()
        return b"\x0a" + varint(len(data)) + data
    if isinstance(value, bool):  # a bool subclass instance (True/False themselves are above)
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError(f"{value} does not fit an int64")
        return b"\x18" + varint(value & _UINT64)
    if isinstance(value, float):
        return b"\x21" + _double(value)
    if isinstance(value, bytes):
        return b"\x3a" + varint(len(value)) + value
    if isinstance(value, Sequence):
        return field(0x2A, b"".join([field(0x0A, any_value(v, max_len)) for v in value]))
    if isinstance(value, Mapping):
        return field(0x32, b"".join([field(0x0A, key_value(k, v, max_len)) for k, v in _clean_keys(value)]))
    return any_value(str(value), None) if _plain_str(value) else b""  # the SDK does not cut this string


def _clean_keys(mapping: Mapping[Any, Any]) -> Iterable[tuple[str, Any]]:
    """A nested map's entries as the SDK's cleaning keeps them: no empty key, other keys as ``str``."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if not key:
            continue
        if not isinstance(key, str):
            if not _plain_str(key):
                continue
            key = str(key)
        out[key] = value
    return out.items()


def key_value(key: str, value: Any, max_len: int | None) -> bytes:
    """The body of a ``KeyValue`` message."""
    return field(0x0A, key.encode()) + field(0x12, any_value(value, max_len))


def attributes(attrs: Mapping[Any, Any] | None, tag: int, max_len: int | None = None) -> list[bytes]:
    """Repeated ``KeyValue`` fields (with tag byte ``tag``) of attributes that need no limits (resources)."""
    return [field(tag, key_value(k, v, max_len)) for k, v in _clean_keys(attrs or {})]


class _AttributeFields:
    """Writes attributes as repeated ``KeyValue`` fields with one tag, remembering the encodings of short
    string and integer values (event names, enums, pseudonyms: most attributes repeat)."""

    def __init__(self, tag: int, max_len: int | None) -> None:
        self._tag = tag
        self._max_len = max_len
        self._strings: dict[tuple[str, str], bytes] = {}
        self._ints: dict[tuple[str, int], bytes] = {}

    def write(self, items: Iterable[tuple[str, Any]], out: list[bytes]) -> None:
        tag, max_len, strings, ints = self._tag, self._max_len, self._strings, self._ints
        for key, value in items:
            kind = type(value)
            try:
                if kind is str and len(value) <= _CACHED_STR_LEN:
                    cached = strings.get((key, value))
                    if cached is None:
                        if len(strings) >= _CACHE_LIMIT:
                            strings.clear()
                        cached = strings[key, value] = field(tag, key_value(key, value, max_len))
                elif kind is int:
                    cached = ints.get((key, value))
                    if cached is None:
                        if len(ints) >= _CACHE_LIMIT:
                            ints.clear()
                        cached = ints[key, value] = field(tag, key_value(key, value, max_len))
                else:
                    cached = field(tag, key_value(key, value, max_len))
            except ValueError as exc:  # as the SDK's encoder: this attribute is left out, the others go
                _log.error("obsgen: attribute %s not exported: %s", key, exc)
                continue
            out.append(cached)


def _scope(scope: InstrumentationScope | None) -> bytes:
    """An ``InstrumentationScope`` field (tag 1) of a ``ScopeLogs``/``ScopeSpans``; always present."""
    if scope is None:
        return b"\x0a\x00"
    body = (field(0x0A, scope.name.encode()) if scope.name else b"") + (
        field(0x12, scope.version.encode()) if scope.version else b"") + b"".join(attributes(scope.attributes, 0x1A))
    return field(0x0A, body)


def _resource(resource: Resource) -> bytes:
    """A ``Resource`` field (tag 1) of a ``ResourceLogs``/``ResourceSpans``."""
    return field(0x0A, b"".join(attributes(resource.attributes, 0x0A)))


def _schema(url: str | None) -> bytes:
    return field(0x1A, url.encode()) if url else b""


def _framed(tag: int, parts: list[bytes]) -> list[bytes]:
    """A length-delimited field whose payload is ``parts`` joined, as a list still to join."""
    return [bytes((tag,)) + varint(sum(map(len, parts))), *parts]


def _scoped(scope: InstrumentationScope | None, items: list[bytes]) -> list[bytes]:
    """A ``ScopeLogs``/``ScopeSpans`` field (tag 2): scope, the items, schema_url (same numbers for both)."""
    return _framed(0x12, [_scope(scope), *items, _schema(scope.schema_url if scope else None)])


def _resource_block(resource: Resource, scoped: list[bytes]) -> list[bytes]:
    """A ``ResourceLogs``/``ResourceSpans`` field (tag 1) of an ``Export*ServiceRequest``."""
    return _framed(0x0A, [_resource(resource), *scoped, _schema(resource.schema_url)])


class _Chunks(list[bytes]):
    """Encoded items, joined into chunks of about ``CHUNK`` bytes as they come (each join a short hold of
    the GIL, between the encoder's pauses): a request is sent as its chunks, never joined whole (a join of
    2 MB holds the GIL for 1.5 ms)."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[bytes] = []
        self._size = 0

    def add(self, data: bytes) -> None:
        self._pending.append(data)
        self._size += len(data)
        if self._size >= CHUNK:
            self.flush()

    def flush(self) -> _Chunks:
        if self._pending:
            self.append(b"".join(self._pending))
            self._pending, self._size = [], 0
        return self


def _in_steps(items: Sequence[Any], encode: Callable[[Any], None], pause: Callable[[], None] | None) -> None:
    """``encode(item)`` for each item, with ``pause()`` after each ``STEP_S`` of (wall-clock) time."""
    if pause is None:
        for item in items:
            encode(item)
        return
    clock = time.perf_counter
    due = clock() + STEP_S
    for item in items:
        encode(item)
        if clock() >= due:
            pause()
            due = clock() + STEP_S


class LogEncoder:
    """``ExportLogsServiceRequest`` of a batch of the runtime's queued log records.

    A queued record is ``(timestamp, observed_timestamp, context, severity, severity_text, body,
    attributes)`` (``BoundedBatchLogRecordProcessor.emit_later``); ``body`` is also the event name.
    """

    def __init__(self, resource: Resource, scope: InstrumentationScope, limits: LogRecordLimits | None = None) -> None:
        limits = limits or LogRecordLimits()
        self._max_attributes = limits.max_log_record_attributes
        self._resource = resource
        self._scope = scope
        self._attributes = _AttributeFields(0x32, limits.max_log_record_attribute_length)

    def chunks(self, batch: Sequence[tuple[Any, ...]], pause: Callable[[], None] | None = None) -> list[bytes]:
        """The request's bytes, in pieces to send one after the other; ``pause()`` runs between steps."""
        record = self.record
        parts = _Chunks()
        add = parts.add
        _in_steps(batch, lambda item: add(field(0x12, record(*item))), pause)
        return _resource_block(self._resource, _scoped(self._scope, parts.flush()))

    def record(self, timestamp: int | None, observed: int, context: Any, severity: Any, severity_text: str | None,
               body: Any, attrs: Mapping[Any, Any] | None) -> bytes:
        """The body of one ``LogRecord`` message, fields in number order (as protobuf serializes them)."""
        out = [b"\x09" + _fixed64(timestamp)] if timestamp else []
        number = getattr(severity, "value", None)
        if number:
            out.append(b"\x10" + varint(number & _UINT64))
        if severity_text:
            out.append(field(0x1A, severity_text.encode()))
        out.append(field(0x2A, any_value(body, None)))
        if attrs:
            dropped = self._limited(attrs, out)
            if dropped:
                out.append(b"\x38" + varint(dropped))
        span_context = get_current_span(context or None).get_span_context()
        if span_context.trace_flags:
            out.append(b"\x45" + _fixed32(int(span_context.trace_flags)))
        if span_context.trace_id:
            out.append(b"\x4a\x10" + span_context.trace_id.to_bytes(16, "big"))
        if span_context.span_id:
            out.append(b"\x52\x08" + span_context.span_id.to_bytes(8, "big"))
        if observed:
            out.append(b"\x59" + _fixed64(observed))
        if isinstance(body, str) and body:
            out.append(field(0x62, body.encode()))
        return b"".join(out)

    def _limited(self, attrs: Mapping[Any, Any], out: list[bytes]) -> int:
        """Append the record's attribute fields as the SDK's ``BoundedAttributes`` keeps them (no empty or
        unprintable keys; over the count limit the oldest go); the number dropped."""
        limit = self._max_attributes
        if limit is not None and len(attrs) > limit or not all(type(k) is str and k for k in attrs):
            cleaned = dict(_clean_keys(attrs))
            dropped = len(attrs) - len(cleaned)
            kept = list(cleaned.items())
            if limit is not None and len(kept) > limit:
                dropped += len(kept) - limit
                kept = kept[len(kept) - limit:] if limit else []
            self._attributes.write(kept, out)
            return dropped
        self._attributes.write(attrs.items(), out)
        return 0


_SPAN_FLAGS = (b"\x85\x01" + _fixed32(0x100), b"\x85\x01" + _fixed32(0x300))
"""``flags`` (field 16, fixed32): "has is_remote", plus "is remote" for a remote parent or link."""


class SpanEncoder:
    """``ExportTraceServiceRequest`` of SDK spans, as the SDK's ``encode_spans`` makes them."""

    def __init__(self) -> None:
        self._attributes = _AttributeFields(0x4A, None)  # span attributes were cleaned and cut by the SDK
        self._event_attributes = _AttributeFields(0x1A, None)

    def chunks(self, spans: Sequence[Any], pause: Callable[[], None] | None = None) -> list[bytes]:
        """The request's bytes, in pieces to send one after the other; ``pause()`` runs between steps."""
        groups: dict[Resource, dict[InstrumentationScope | None, _Chunks]] = {}
        span = self.span

        last: list[Any] = [None, None, None]  # resource, scope, their chunks: hashing a Resource is slow (JSON)

        def encode(item: Any) -> None:
            resource, scope = item.resource, item.instrumentation_scope or None
            if resource is not last[0] or scope is not last[1]:
                by_scope = groups.setdefault(resource, {})
                last[:] = resource, scope, by_scope.get(scope)
                if last[2] is None:
                    last[2] = by_scope[scope] = _Chunks()
            last[2].add(field(0x12, span(item)))

        _in_steps(spans, encode, pause)
        return [part for resource, scopes in groups.items() for part in _resource_block(
            resource, [part for scope, items in scopes.items() for part in _scoped(scope, items.flush())])]

    def span(self, span: Any) -> bytes:
        """The body of one ``Span`` message, fields in number order (as protobuf serializes them)."""
        context = span.get_span_context()
        parent = span.parent
        out = [b"\x0a\x10" + context.trace_id.to_bytes(16, "big"), b"\x12\x08" + context.span_id.to_bytes(8, "big")]
        if context.trace_state:
            out.append(field(0x1A, ",".join(f"{k}={v}" for k, v in context.trace_state.items()).encode()))
        if parent:
            out.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
        if span.name:
            out.append(field(0x2A, span.name.encode()))
        out.append(b"\x30" + _VARINTS[span.kind.value + 1])
        if span.start_time:
            out.append(b"\x39" + _fixed64(span.start_time))
        if span.end_time:
            out.append(b"\x41" + _fixed64(span.end_time))
        if span.attributes:
            self._attributes.write(span.attributes.items(), out)
        if span.dropped_attributes:
            out.append(b"\x50" + varint(span.dropped_attributes))
        for event in span.events:
            out.append(field(0x5A, self._event(event)))
        if span.dropped_events:
            out.append(b"\x60" + varint(span.dropped_events))
        for link in span.links:
            out.append(field(0x6A, self._link(link)))
        if span.dropped_links:
            out.append(b"\x70" + varint(span.dropped_links))
        status = span.status
        if status is not None:
            code = status.status_code.value
            out.append(field(0x7A, (field(0x12, status.description.encode()) if status.description else b"")
                             + (b"\x18" + varint(code) if code else b"")))
        out.append(_SPAN_FLAGS[bool(parent and parent.is_remote)])
        return b"".join(out)

    def _event(self, event: Any) -> bytes:
        out = [b"\x09" + _fixed64(event.timestamp)] if event.timestamp else []
        if event.name:
            out.append(field(0x12, event.name.encode()))
        if event.attributes:
            self._event_attributes.write(event.attributes.items(), out)
        if event.dropped_attributes:
            out.append(b"\x20" + varint(event.dropped_attributes))
        return b"".join(out)

    def _link(self, link: Any) -> bytes:
        context = link.context
        out = [b"\x0a\x10" + context.trace_id.to_bytes(16, "big"), b"\x12\x08" + context.span_id.to_bytes(8, "big")]
        if link.attributes:
            out.extend(attributes(link.attributes, 0x22))
        if link.dropped_attributes:
            out.append(b"\x28" + varint(link.dropped_attributes))
        out.append(b"\x35" + _fixed32(0x300 if context.is_remote else 0x100))
        return b"".join(out)
