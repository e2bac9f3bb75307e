"""Never hurt the host: no blocking on the network, bounded queues and state, bounded shutdown."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

from obsgen.model import Model
from obsgen.runtime import DROPPED_METRIC, RuntimeConfig, Telemetry
from obsgen.runtime.processors import BoundedExportQueue
from obsgen.runtime.state import ExpiringLRU
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.test_runtime_harness import ITEMS, PII_KEY, Harness, journey

PEAK_BOUND_MB = 16
"""Bound on allocations traced over the last 400 of 10k journeys, with queues of 256 and context and once-per
caches of 200 (measured: peak 1.9 MB). Everything the runtime keeps is replaced within the first 200 traced journeys,
so the second 200 must not grow it (measured: 0.07 MB; an export batch in flight can add a few hundred KB);
a leak of 10 KB a journey would show."""


def closed_endpoint() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens: every export is refused
    return f"http://127.0.0.1:{port}"


def test_with_the_collector_down_ten_thousand_journeys_complete_drop_and_stay_bounded(model: Model) -> None:
    reader = InMemoryMetricReader()
    rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, endpoint=closed_endpoint(), protocol="http/protobuf",
                                        max_queue_size=256, max_export_batch_size=128, context_cache_size=200,
                                        once_per_cache_size=200, metric_readers=[reader]))
    try:
        for i in range(9_600):
            journey(rt, user=f"user-{i % 5000}", session=f"session-{i}")
        tracemalloc.start()
        try:
            for i in range(9_600, 9_800):
                journey(rt, user=f"user-{i % 5000}", session=f"session-{i}")
            turned_over = tracemalloc.get_traced_memory()[0]
            for i in range(9_800, 10_000):
                journey(rt, user=f"user-{i % 5000}", session=f"session-{i}")
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < PEAK_BOUND_MB * 1e6, f"peak {peak / 1e6:.1f} MB"
        assert current - turned_over < 2e6, f"grew {(current - turned_over) / 1e6:.2f} MB in 200 journeys"
        assert rt.dropped["traces"] > 0 and rt.dropped["logs"] > 0
        exported = {p.attributes["signal"]: p.value for m in reader.get_metrics_data().resource_metrics
                    for sm in m.scope_metrics for metric in sm.metrics if metric.name == DROPPED_METRIC
                    for p in metric.data.data_points}
        assert exported["traces"] > 0 and exported["logs"] > 0
        assert len(rt._joined["request"]) <= 200 and all(len(q) <= 256 for q in rt._pipeline.queues)
    finally:
        start = time.monotonic()
        rt.shutdown(timeout_s=1.0)
        assert time.monotonic() - start < 2.5, "shutdown overran its timeout"


class BlockingExporter:
    """Holds every export until released: a collector that hangs."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.batches: list[list[Any]] = []

    def export(self, batch: Sequence[Any]) -> SpanExportResult:
        self.entered.set()
        self.release.wait(10)
        self.batches.append(list(batch))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def test_a_full_queue_drops_its_oldest_items_and_counts_them() -> None:
    exporter = BlockingExporter()
    queue: BoundedExportQueue[int] = BoundedExportQueue(exporter, "traces", max_queue_size=10,
                                                        max_export_batch_size=10, schedule_delay_s=60)
    for i in range(10):
        queue.put(i)  # the 10th fills a batch: the worker takes it and hangs in export
    assert exporter.entered.wait(5)
    for i in range(10, 110):
        queue.put(i)
    assert len(queue) == 10 and queue.dropped == 90
    exporter.release.set()
    assert queue.force_flush(5)
    exported = [i for batch in exporter.batches for i in batch]
    assert exported == list(range(10)) + list(range(100, 110))  # the newest survive, oldest first
    queue.shutdown(1)


def test_a_steady_trickle_leaves_once_per_schedule_delay_not_item_by_item() -> None:
    """On the schedule delay the queue sends what it holds then, not "until empty" while the application
    keeps adding: that made the many tiny span requests of issue 13. Counted, not timed: whatever the
    machine's speed, the exporter cannot be called more than once per delay (plus the final flush)."""

    class Counting:
        batches: list[int] = []

        def export(self, batch: Sequence[Any]) -> SpanExportResult:
            Counting.batches.append(len(batch))
            time.sleep(0.01)  # a request takes a while; items keep arriving meanwhile
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

    delay = 0.25
    queue: BoundedExportQueue[int] = BoundedExportQueue(Counting(), "traces", max_queue_size=100_000,
                                                        max_export_batch_size=100_000, schedule_delay_s=delay)
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < 1.5:
        queue.put(sent)
        sent += 1
        time.sleep(0.001)
    elapsed = time.monotonic() - start
    assert queue.force_flush(5)
    queue.shutdown(1)
    assert sum(Counting.batches) == sent
    assert len(Counting.batches) <= elapsed / delay + 2, Counting.batches


def test_failed_or_raising_exports_count_as_dropped() -> None:
    class Failing:
        calls = 0

        def export(self, batch: Sequence[Any]) -> SpanExportResult:
            Failing.calls += 1
            if Failing.calls == 1:
                raise ConnectionError("collector went away")
            return SpanExportResult.FAILURE

        def shutdown(self) -> None:
            pass

    queue: BoundedExportQueue[int] = BoundedExportQueue(Failing(), "logs", max_queue_size=100,
                                                        max_export_batch_size=5, schedule_delay_s=60)
    for i in range(10):
        queue.put(i)
    queue.force_flush(5)
    assert queue.dropped == 10
    queue.shutdown(1)


def test_a_hanging_collector_never_blocks_the_application(model: Model) -> None:
    exporter = BlockingExporter()
    rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, span_exporter=exporter, log_exporter=exporter,
                                        metric_readers=[], max_queue_size=64, max_export_batch_size=16))
    try:
        start = time.monotonic()
        for i in range(200):
            journey(rt, user=f"u{i}")
        assert time.monotonic() - start < 30
        assert rt.dropped["traces"] > 0 and rt.dropped["logs"] > 0
    finally:
        start = time.monotonic()
        rt.shutdown(timeout_s=0.5)  # releases the exporter, which then finishes its batch
        assert time.monotonic() - start < 2


def test_emitting_after_shutdown_is_a_harmless_no_op(model: Model) -> None:
    h = Harness(model)
    h.rt.shutdown(1)
    with h.rt.request(user_id="u", experiment_id="ranker-v2", bucket="control", k=1) as req:
        assert h.rt.ranking(latency_ms=1, coverage=1, algorithm="hybrid", items=ITEMS, cache_result="hit",
                            fallback="none", user_state="warm", data_age_s=1) is None
    assert req.request_id is None
    h.rt.shutdown(1)  # idempotent


def test_join_state_is_bounded_by_its_configured_size(model: Model) -> None:
    h = Harness(model, context_cache_size=50, once_per_cache_size=20)
    try:
        for i in range(300):
            h.rt.request(user_id=f"u{i}", session_id=f"s{i}", experiment_id="ranker-v2", bucket="control",
                         k=1).end()
        assert len(h.rt._joined["request"]) == 50
        assert all(len(s) <= 50 for s in h.rt._once.values())
        assert len(h.rt._once["recsys.sessions"]) == 20
    finally:
        h.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_expiring_lru_evicts_least_recently_written_and_expired_entries() -> None:
    clock = FakeClock()
    lru: ExpiringLRU[int] = ExpiringLRU(3, ttl_s=10, clock=clock)
    for i in range(4):
        lru.put(i, i)
    assert len(lru) == 3 and lru.get(0) is None and lru.get(3) == 3
    lru.put(1, 11)  # rewriting moves it to the young end
    lru.put(4, 4)
    assert lru.get(2) is None and lru.get(1) == 11
    clock.now += 10.5
    assert lru.get(1) is None
    lru.put(5, 5)  # a write sweeps expired entries from the old end
    assert len(lru) == 1


def test_expiring_lru_add_reports_the_first_sighting_only() -> None:
    clock = FakeClock()
    seen: ExpiringLRU[bool] = ExpiringLRU(100, ttl_s=60, clock=clock)
    assert seen.add("session-a", True)
    assert not seen.add("session-a", True)
    clock.now += 61
    assert seen.add("session-a", True)  # forgotten after its TTL: a new session as far as we can tell
