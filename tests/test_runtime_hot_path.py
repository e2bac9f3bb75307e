"""What the hot path no longer does per call keeps its meaning: counters summed in process, pseudonyms from a
bounded cache, log records built on the export thread from what the application passed at the call."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from obsgen.model import Model
from obsgen.runtime.pii import Pseudonymizer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from tests.test_runtime_harness import PII_KEY, Harness, journey


@pytest.fixture
def harness(model: Model) -> Iterator[Harness]:
    h = Harness(model)
    yield h
    h.close()


def test_counters_added_from_many_threads_at_once_sum_exactly(harness: Harness) -> None:
    threads, per_thread = 8, 50

    def work(n: int) -> None:
        for _ in range(per_thread):
            journey(harness.rt, session=f"s-{n}", clicks=(1, 2))

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    metrics = harness.metrics()
    total = {name: sum(p.value for p in metrics[name].data.data_points)
             for name in ("recsys.requests", "recsys.impressions", "recsys.clicks", "recsys.sessions",
                          "recsys.ranking.slots.requested")}
    journeys = threads * per_thread
    assert total == {"recsys.requests": journeys, "recsys.impressions": journeys * 20, "recsys.clicks": journeys * 2,
                     "recsys.sessions": threads, "recsys.ranking.slots.requested": journeys * 20}
    for point in metrics["recsys.impressions"].data.data_points:
        assert set(point.attributes) == {"bucket", "surface", "genre", "provider", "device_type"}


def test_a_counters_series_keeps_counting_across_collections(harness: Harness) -> None:
    journey(harness.rt)
    first = sum(p.value for p in harness.points("recsys.impressions"))
    journey(harness.rt)
    assert (first, sum(p.value for p in harness.points("recsys.impressions"))) == (20, 40)


@pytest.mark.parametrize("size", [0, 2, 16_384])
def test_cached_pseudonyms_equal_the_keyed_hmac_whatever_the_cache_holds(model: Model, size: int) -> None:
    h = Harness(model, pseudonym_cache_size=size)
    try:
        direct = Pseudonymizer(PII_KEY)
        values: list[object] = [f"user-{i % 5}" for i in range(20)] + [7, 7, True, 1, "1"]
        assert [h.rt.pseudonymize(v) for v in values] == [direct(v) for v in values]
        assert h.rt.pseudonymize(1) == h.rt.pseudonymize("1") != h.rt.pseudonymize(True)
    finally:
        h.close()


def test_another_key_never_sees_the_first_keys_cached_pseudonyms(model: Model) -> None:
    first, second = Harness(model), Harness(model, pii_key=b"another-key-0123456789abcdef")
    try:
        assert first.rt.pseudonymize("user-1") != second.rt.pseudonymize("user-1")
        assert second.rt.pseudonymize("user-1") == Pseudonymizer(b"another-key-0123456789abcdef")("user-1")
    finally:
        first.close()
        second.close()


def test_a_log_record_holds_the_values_of_the_call_and_the_trace_current_at_it(harness: Harness) -> None:
    """Records are built on the export thread: one with no request joins the trace that was current on the
    application's thread when it emitted the event, not whatever is current on the export thread."""
    rid = journey(harness.rt)
    app_tracer = TracerProvider().get_tracer("app")
    with app_tracer.start_as_current_span("app-handler") as app_span:
        harness.rt.error(component="feature_store", severity="error", error_code="FEATURE_TIMEOUT",
                         message="read timed out")
    logs = harness.logs()
    error = next(r.log_record for r in logs if r.log_record.event_name == "error")
    assert error.trace_id == app_span.get_span_context().trace_id
    assert error.span_id == app_span.get_span_context().span_id
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert all(r.log_record.attributes["request_id"] == rid for r in logs if r.log_record.event_name != "error")
