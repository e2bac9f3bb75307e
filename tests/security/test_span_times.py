"""Span times from valid but unusual values: an integral float time (``timestamp_ms=1.7e12``, valid for an
``integer`` field) and a duration longer than since 1970 (``latency_ms=1e300``, valid for a ``number`` with
no maximum). Either made a span whose time the OTLP encoders (the runtime's and the SDK's) cannot write, and
the whole export batch — up to 512 spans of other requests — was lost."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from obsgen.model import Model
from obsgen.runtime.otlp_encode import SpanEncoder
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.test_runtime_harness import ITEMS, RAW_SESSION, RAW_USER, Harness

REQUEST = {"user_id": RAW_USER, "session_id": RAW_SESSION, "experiment_id": "ranker-v2", "bucket": "control", "k": 20}
RANKING = {"coverage": 0.95, "algorithm": "hybrid", "items": ITEMS, "cache_result": "miss", "fallback": "none",
           "user_state": "cold", "data_age_s": 60.0}


@pytest.fixture
def harness(model: Model) -> Iterator[Harness]:
    h = Harness(model, validation="production")
    yield h
    h.close()


def test_spans_with_a_float_time_or_an_absurd_duration_encode_with_their_batch(harness: Harness) -> None:
    rt = harness.rt
    ms = int(time.time() * 1000)
    with rt.request(**REQUEST, timestamp_ms=float(ms)):
        rt.ranking(**RANKING, latency_ms=30.0, timestamp_ms=float(ms + 50))
        rt.ranking(**RANKING, latency_ms=1e300)
    spans = harness.spans()
    assert harness.violations() == {} and len(spans) == 3
    request = ExportTraceServiceRequest()
    request.ParseFromString(b"".join(SpanEncoder().chunks(spans)))  # raised struct.error: the batch was lost
    assert request.SerializeToString() == encode_spans(spans).SerializeToString()
    absurd, ranking, root = sorted((s.name, s.start_time_unix_nano, s.end_time_unix_nano)
                                   for s in request.resource_spans[0].scope_spans[0].spans)
    assert absurd[:2] == ("recommend.ranking", 0)  # began "before 1970": starts at 0
    assert ranking == ("recommend.ranking", (ms + 20) * 1_000_000, (ms + 50) * 1_000_000)
    assert root[:2] == ("recommend.request", ms * 1_000_000)
