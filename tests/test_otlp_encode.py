"""The runtime's own OTLP encoding and sender against the SDK's: the same bytes for the same records.

``otlp_encode.LogEncoder`` replaces the SDK's record building + ``encode_logs`` on the export thread; every
test compares with what the SDK makes of the same queued records (``processors.sdk_log_records`` then
``encode_logs``), both as bytes and parsed with the OTLP protobuf classes (a difference in bytes alone
would be a field-order change, a parsed difference is a real one). The HTTP tests run the whole path
(queue → encoder → sender → a loopback server) and check headers, compression, retries and drop counts.
"""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from obsgen import __version__
from obsgen.model import Model
from obsgen.runtime import RuntimeConfig, Telemetry, otlp_encode, otlp_http
from obsgen.runtime.pipeline import SCOPE
from obsgen.runtime.processors import sdk_log_records
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tests.test_runtime_harness import PII_KEY, journey

RESOURCE = Resource.create({"service.name": "svc", "service.namespace": "ns", "service.instance.id": "i-1",
                            "obsgen.dev_mode": True, "count": 3, "ratio": 0.5, "tags": ("a", "b")})
SCOPE_ = InstrumentationScope(SCOPE, __version__)
NOW = 1_764_400_000_123_456_789
TRACED = trace.set_span_in_context(NonRecordingSpan(SpanContext(
    0x0123456789ABCDEF0123456789ABCDEF, 0xFEDCBA9876543210, False, TraceFlags(TraceFlags.SAMPLED))))
UNSAMPLED = trace.set_span_in_context(NonRecordingSpan(SpanContext(0xABC, 0xDEF, False, TraceFlags(0))))


class Custom:
    """Not an attribute type: the SDK exports its ``str()``."""

    def __str__(self) -> str:
        return "custom!"


SHAPES: dict[str, Sequence[tuple[Any, ...]]] = {
    "scalars": [(NOW, NOW + 5, TRACED, SeverityNumber.INFO, "INFO", "ranking",
                 {"user_id": "a" * 64, "k": 20, "negative": -(1 << 40), "big": (1 << 63) - 1, "ratio": 0.25,
                  "nan": float("nan"), "zero": 0, "zero_f": 0.0, "no": False, "yes": True, "empty": "",
                  "none": None, "raw": b"\x00\xff"})],
    "unicode": [(NOW, NOW, TRACED, SeverityNumber.WARN, "WARN", "wärning ☃",
                 {"message": "héllo wörld 😀 ÿ€ — \u2028 \x00 tab\t", "ключ": "значение", "emoji 🔑": "🙂" * 200})],
    "nested": [(NOW, NOW, UNSAMPLED, SeverityNumber.ERROR, "ERROR", "error",
                {"items": ["x", "ÿ€😀", ""], "numbers": [1, 2.5, True, None], "empty_list": [], "tuple": ("a",),
                 "obj": {"a": 1, "b": {"c": [1, 2.5, True], "d": {}}, "": 3, 5: "five", "e": None},
                 "deep": [[1, [2, {"x": ["y"]}]], {"k": "v"}], "custom": Custom()})],
    "no trace context, no timestamp": [
        (None, NOW, Context(), SeverityNumber.INFO, "INFO", "impression", {"position": 3}),
        (NOW, NOW, Context(), SeverityNumber.UNSPECIFIED, "", "bare", {}),
        (NOW, NOW, Context(), SeverityNumber.FATAL4, None, "", None)],
    "bad keys and values": [
        (NOW, NOW, TRACED, SeverityNumber.INFO, "INFO", "odd",
         {"": "dropped", 7: "seven", "ok": 1, "too_big": 1 << 64, "nested_too_big": [1, -(1 << 70)], "last": "x"})],
}


def sdk_bytes(batch: Sequence[tuple[Any, ...]]) -> bytes:
    return encode_logs(sdk_log_records(RESOURCE, SCOPE_)(list(batch))).SerializeToString()


def assert_same(own: bytes, sdk: bytes) -> None:
    assert ExportLogsServiceRequest.FromString(own) == ExportLogsServiceRequest.FromString(sdk)
    assert own == sdk


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_the_encoding_equals_the_sdks(shape: str) -> None:
    batch = SHAPES[shape]
    own = b"".join(otlp_encode.LogEncoder(RESOURCE, SCOPE_).chunks(batch))
    assert_same(own, sdk_bytes(batch))
    parsed = ExportLogsServiceRequest.FromString(own).resource_logs[0].scope_logs[0]
    assert len(parsed.log_records) == len(batch)  # a bad attribute drops itself, never its record


def test_every_shape_in_one_batch_encoded_in_steps_with_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otlp_encode, "STEP_S", 0.0)  # a pause after every record
    batch = [record for shape in SHAPES.values() for record in shape] * 30
    pauses = []
    own = b"".join(otlp_encode.LogEncoder(RESOURCE, SCOPE_).chunks(batch, lambda: pauses.append(1)))
    assert_same(own, sdk_bytes(batch))
    assert len(pauses) == len(batch)
    assert len(otlp_encode.LogEncoder(RESOURCE, SCOPE_).chunks(batch)) > 3  # sent in pieces, not joined


@pytest.mark.parametrize("limits", [{"OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT": "2"},
                                    {"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "3"},
                                    {"OTEL_ATTRIBUTE_COUNT_LIMIT": "0"}], ids=str)
def test_attribute_limits_drop_the_oldest_and_cut_strings_as_the_sdk(limits: dict[str, str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [record for shape in SHAPES.values() for record in shape]
    unlimited = b"".join(otlp_encode.LogEncoder(RESOURCE, SCOPE_).chunks(batch))
    for name, value in limits.items():
        monkeypatch.setenv(name, value)
    own = b"".join(otlp_encode.LogEncoder(RESOURCE, SCOPE_).chunks(batch))
    assert_same(own, sdk_bytes(batch))
    assert own != unlimited


def test_the_runtimes_own_records_equal_the_sdks(model: Model) -> None:
    """Real records of the built-in spec (pseudonyms, arrays, enums, a request's trace context)."""
    queued: list[tuple[Any, ...]] = []
    encoder = otlp_encode.LogEncoder(RESOURCE, SCOPE_)

    def encode(batch: Sequence[tuple[Any, ...]], pause: Any) -> list[bytes]:
        queued.extend(batch)
        return encoder.chunks(batch, pause)

    sink = Sink()
    try:
        sender = otlp_http.HttpSender(otlp_http.HttpSettings.resolve("logs", sink.url, 5.0), "logs")
        rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, log_exporter=otlp_http.OtlpHttpExporter(
            sender, encode, otlp_http.pause), span_exporter=Discard(), metric_readers=[]))
        try:
            for i in range(3):
                journey(rt, user=f"user-{i}", clicks=(1, 20))
            rt.error(component="feature_store", severity="error", error_code="FEATURE_TIMEOUT",
                     message="bad thing for user-0 ☃")
            assert rt.force_flush(metrics=False)
        finally:
            rt.shutdown(2.0)
        assert len(queued) == 3 * 22 + 1  # 20 impressions and 2 clicks a journey; the error
        received = b"".join(ExportLogsServiceRequest.FromString(body).resource_logs[0].scope_logs[0].SerializeToString()
                            for body in sink.bodies)
        assert received, "nothing reached the sink"
        expected = ExportLogsServiceRequest.FromString(sdk_bytes(queued)).resource_logs[0].scope_logs[0]
        from opentelemetry.proto.logs.v1.logs_pb2 import ScopeLogs

        got = ScopeLogs.FromString(received)  # concatenated ScopeLogs merge: their records append
        assert list(got.log_records) == list(expected.log_records)
        assert rt.dropped == {"traces": 0, "logs": 0}
    finally:
        sink.close()


def sdk_spans() -> list[Any]:
    """Spans of every shape the SDK makes: kinds, attributes of each type, events, links, statuses, a remote
    parent, a trace state, unicode, an unnamed span, attribute and event limits."""
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode, TraceState

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=RESOURCE, span_limits=SpanLimits(max_span_attributes=8, max_events=2,
                                                                         max_attribute_length=40))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer(SCOPE, __version__)
    remote = trace.set_span_in_context(NonRecordingSpan(SpanContext(5, 6, True, TraceFlags(1),
                                                                    TraceState([("vendor", "v1"), ("x", "y")]))))
    with tracer.start_as_current_span("request ☃", kind=SpanKind.SERVER,
                                      attributes={"user_id": "a" * 64, "k": 20, "ratio": 0.5, "ok": True,
                                                  "items": ["x", "ÿ€😀"], "long": "z" * 100}) as root:
        root.add_event("exception", {"exception.message": "bad thing ☃", "exception.type": "ValueError"})
        root.add_event("second")
        root.add_event("third, over the limit")
        root.set_status(Status(StatusCode.ERROR, "failed"))
        with tracer.start_as_current_span("child", kind=SpanKind.CLIENT,
                                          links=[Link(SpanContext(7, 8, True, TraceFlags(1)), {"q": 1}),
                                                 Link(SpanContext(9, 10, False, TraceFlags(0)))]) as child:
            for i in range(10):
                child.set_attribute(f"a{i}", i)
    span = tracer.start_span("remote child", context=remote, kind=SpanKind.CONSUMER)
    span.set_status(Status(StatusCode.OK))
    span.end()
    provider.get_tracer("another.scope").start_span("", kind=SpanKind.PRODUCER).end()
    return list(exporter.get_finished_spans())


def test_the_span_encoding_equals_the_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans = sdk_spans() * 20
    monkeypatch.setattr(otlp_encode, "STEP_S", 0.0)
    pauses = []
    own = b"".join(otlp_encode.SpanEncoder().chunks(spans, lambda: pauses.append(1)))
    sdk = encode_spans(spans).SerializeToString()
    assert ExportTraceServiceRequest.FromString(own) == ExportTraceServiceRequest.FromString(sdk)
    assert own == sdk
    assert len(pauses) == len(spans)
    assert b"".join(otlp_encode.SpanEncoder().chunks(spans)) == sdk


def test_settings_come_from_the_same_variables_as_the_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ENDPOINT", "TRACES_ENDPOINT", "HEADERS", "TIMEOUT", "COMPRESSION", "CERTIFICATE",
                 "CLIENT_CERTIFICATE", "CLIENT_KEY"):
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_{name}", raising=False)
    default = otlp_http.HttpSettings.resolve("traces", None, None)
    assert (default.endpoint, default.timeout_s, default.compression, default.verify, default.cert) == (
        "http://localhost:4318/v1/traces", 10.0, "none", True, None)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318/")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/client.pem")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/client.key")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2.5")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "deflate")
    s = otlp_http.HttpSettings.resolve("traces", None, None)
    assert (s.endpoint, s.timeout_s, s.compression, s.verify, s.cert) == (
        "https://collector:4318/v1/traces", 2.5, "deflate", "/ca.pem", ("/client.pem", "/client.key"))
    assert s.headers["content-encoding"] == "deflate"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://traces:4318/custom")
    assert otlp_http.HttpSettings.resolve("traces", None, None).endpoint == "https://traces:4318/custom"
    # RuntimeConfig.endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT through it) wins, as it did with the SDK's exporter
    assert otlp_http.HttpSettings.resolve("traces", "http://given:1", 1.0).endpoint == "http://given:1/v1/traces"
    assert not otlp_http.wants_sdk_exporter("traces")
    monkeypatch.setenv("OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER", "vault")
    assert otlp_http.wants_sdk_exporter("traces") and not otlp_http.wants_sdk_exporter("logs")


class Discard:
    def export(self, batch: object) -> bool:
        return True

    def shutdown(self) -> None:
        pass


class Sink:
    """A loopback OTLP/HTTP endpoint: records each request; ``script`` gives the first answers' statuses."""

    def __init__(self, script: Sequence[tuple[int, dict[str, str]]] = ()) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.script = list(script)
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.headers.append({k.lower(): v for k, v in self.headers.items()})
                status, extra = sink.script.pop(0) if sink.script else (200, {})
                if status == 200:
                    sink.bodies.append(gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip"
                                       else body)
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


def test_headers_and_gzip_come_from_the_otel_variables(model: Model, sink: Sink,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme,authorization=Bearer%20t0k")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip")
    rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, endpoint=sink.url, span_exporter=Discard(),
                                        metric_readers=[]))
    try:
        journey(rt)
        assert rt.force_flush(metrics=False)
    finally:
        rt.shutdown(2.0)
    assert sink.headers and all(h["x-tenant"] == "acme" and h["authorization"] == "Bearer t0k"
                                and h["content-encoding"] == "gzip" and h["content-type"] == "application/x-protobuf"
                                for h in sink.headers)
    records = [r for body in sink.bodies for r in ExportLogsServiceRequest.FromString(body).resource_logs[0]
               .scope_logs[0].log_records]
    assert [r.event_name for r in records] == ["impression"] * 20 + ["click"]


def test_retryable_answers_are_retried_and_permanent_ones_drop_the_batch_counted(sink: Sink) -> None:
    sender = otlp_http.HttpSender(otlp_http.HttpSettings.resolve("logs", sink.url, 10.0), "logs")
    sink.script = [(503, {"Retry-After": "0"}), (429, {"Retry-After": "0"})]
    assert sender.send([b"\x0a", b"\x00"])  # third attempt answered 200
    assert len(sink.headers) == 3 and sink.bodies == [b"\x0a\x00"]
    sink.script = [(400, {})]
    assert not sender.send([b"\x0a", b"\x00"])  # not retryable
    assert len(sink.headers) == 4
    sender.shutdown()


def test_shutdown_aborts_the_back_off_and_counts_the_batch(model: Model, sink: Sink) -> None:
    sink.script = [(503, {"Retry-After": "30"})] * 10
    rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, endpoint=sink.url, span_exporter=Discard(),
                                        metric_readers=[], export_timeout_s=60))
    journey(rt)
    flush = threading.Thread(target=rt.force_flush, kwargs={"metrics": False}, daemon=True)
    flush.start()
    deadline = time.monotonic() + 10
    while not sink.headers and time.monotonic() < deadline:  # the first attempt reached the endpoint
        time.sleep(0.01)
    rt.shutdown(0.5)
    flush.join(10)
    assert not flush.is_alive()  # the 30 s back-off was cut short
    assert len(sink.headers) == 1
    assert rt.dropped["logs"] == 21  # the journey's 20 impressions and its click
