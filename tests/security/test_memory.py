"""Memory bounded in bytes: object attributes have a size limit, the join cache keeps only what the spec's
contracts need (the fields members inherit) within a byte budget."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest
from obsgen.model import Model
from obsgen.runtime import RuntimeConfig, Telemetry
from obsgen.runtime.state import ExpiringLRU

from tests.test_runtime_harness import PII_KEY, Harness

BIG_FILTERS = {"genres": ["drama " * 8_000]}  # ~50 kB
REQUEST = {"experiment_id": "ranker-v2", "bucket": "control", "k": 3}


@pytest.fixture
def harness(model: Model) -> Iterator[Harness]:
    h = Harness(model, context_cache_bytes=200_000)
    yield h
    h.close()


def test_an_object_over_its_byte_budget_is_removed_and_counted(harness: Harness) -> None:
    harness.rt.request(user_id="user-1", filters=BIG_FILTERS, **REQUEST).end()
    (span,) = harness.spans()
    assert "filters" not in span.attributes
    assert harness.violations() == {("validity", "request"): 1}


def test_the_join_cache_keeps_only_inherited_fields(harness: Harness, model: Model) -> None:
    scope = harness.rt.request(user_id="user-1", filters={"genres": ["drama"]}, locale="en-GB", **REQUEST)
    scope.end()
    kept = harness.rt._joined["request"].get(scope.request_id)
    assert kept is not None
    assert set(kept.payload) <= set(next(c for c in model.joins if c.name == "request").inherit)
    assert "filters" not in kept.payload and "locale" not in kept.payload


def test_the_join_cache_stays_within_its_byte_budget(harness: Harness) -> None:
    cache = harness.rt._joined["request"]
    for i in range(2_000):
        harness.rt.request(user_id=f"user-{i:06d}", session_id=f"session-{i:06d}", filters={"genres": ["drama"]},
                           **REQUEST).end()
    assert 0 < cache.bytes <= 200_000
    assert 50 < len(cache) < 2_000  # the oldest contexts went first


def test_a_byte_budget_evicts_the_oldest_entries() -> None:
    cache: ExpiringLRU[str] = ExpiringLRU(100, 60.0, max_bytes=300, sizeof=len)
    for key in "abcde":
        cache.put(key, key * 30)  # charged 30 + 50 for its key
    assert [k for k in "abcde" if k in cache] == ["c", "d", "e"] and cache.bytes == 240
    cache.put("d", "x")  # a rewrite is charged at its new size
    assert cache.bytes == 211


def test_large_payloads_do_not_grow_memory(model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    """The review's finding: 50 kB ``filters`` per request grew RSS by 100 MB per 1,000 requests (the join
    cache kept whole payloads). What the runtime itself keeps is measured here, without export queues."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, metric_readers=[]))
    try:
        rt.request(user_id="warm-up", filters=BIG_FILTERS, **REQUEST).end()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1_000):
            rt.request(user_id=f"user-{i}", filters=BIG_FILTERS, **REQUEST).end()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert grown < 5_000_000, f"{grown} bytes kept for 1,000 requests"
    finally:
        rt.shutdown(1.0)


def test_a_byte_budget_charges_the_keys_a_client_chose() -> None:
    cache: ExpiringLRU[bool] = ExpiringLRU(10_000, 60.0, max_bytes=1_000_000, sizeof=lambda _: 0)
    for i in range(200):
        cache.add(f"{i:06d}" + "k" * 100_000, True)  # 20 MB of distinct keys
    assert 0 < cache.bytes <= 1_000_000 and len(cache) < 10


def test_growth_in_place_is_charged() -> None:
    cache: ExpiringLRU[list[int]] = ExpiringLRU(100, 60.0, max_bytes=1_000, sizeof=lambda _: 100)
    for key in "abc":
        cache.put(key, [])
    cache.charge("a", 800)  # "a" grew past the budget: the oldest entries go, "a" among them
    assert cache.bytes <= 1_000 and "a" not in cache
    cache.charge("gone", 10_000)  # nothing to charge
    assert cache.bytes <= 1_000


def test_huge_distinct_ids_do_not_grow_memory(model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids are the client's: 100 kB user and session ids, each new, must not stay in the pseudonym cache or
    the once-per-session cache (what the runtime keeps is measured, without export queues)."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, metric_readers=[]))
    try:
        rt.request(user_id="warm-up", session_id="warm-up", **REQUEST).end()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(300):
            huge = f"{i:06d}" + "u" * 100_000
            rt.request(user_id=huge, session_id=huge + "s", **REQUEST).end()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert grown < 3_000_000, f"{grown} bytes kept for 60 MB of distinct ids"
    finally:
        rt.shutdown(1.0)


def test_a_context_stops_remembering_at_its_share_of_the_budget(harness: Harness) -> None:
    """One request with thousands of distinct impressions: what the context remembers for its references is
    charged as it grows and capped at its share of ``context_cache_bytes``."""
    rt = harness.rt
    cache = rt._joined["request"]
    with rt.request(user_id="user-1", session_id="session-1", surface="home", device_type="web", **REQUEST) as req:
        for i in range(3_000):
            rt.impression(request_id=req.request_id, canonical_id=f"tt{i:07d}" + "x" * 50, position=1 + i % 3,
                          visible_ms=1.0, genre="drama", provider="other")
    joined = cache.get(req.request_id)
    assert joined is not None
    assert 16_384 <= joined.held < 16_384 + 1_000  # the cap, overshot by at most one event's values
    assert cache.bytes <= 200_000
