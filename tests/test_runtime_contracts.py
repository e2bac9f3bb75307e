"""The recommender's join rules, as its spec declares them: one request id, consistent ids across a request,
impression positions, orphan clicks; each broken rule counted under the kind the spec names."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from obsgen.model import Model
from obsgen.runtime import ContractViolation

from tests.test_runtime_harness import ITEMS, RAW_SESSION, RAW_USER, Harness, journey

RANKING = {"latency_ms": 10.0, "coverage": 1.0, "algorithm": "hybrid", "items": ITEMS, "cache_result": "hit",
           "fallback": "none", "user_state": "warm", "data_age_s": 5.0}


@pytest.fixture
def harness(model: Model) -> Iterator[Harness]:
    h = Harness(model)
    yield h
    h.close()


@pytest.fixture
def strict(model: Model) -> Iterator[Harness]:
    h = Harness(model, validation="strict")
    yield h
    h.close()


def ranked_request(h: Harness, **request: object) -> str:
    with h.rt.request(user_id=RAW_USER, session_id=RAW_SESSION, experiment_id="ranker-v2", bucket="treatment",
                      k=20, surface="home", **request) as req:
        h.rt.ranking(**RANKING)
    assert req.request_id is not None
    return req.request_id


def test_a_well_formed_journey_breaks_no_contract(strict: Harness) -> None:
    journey(strict.rt, clicks=(1, 7, 20))
    assert strict.violations() == {}


def test_events_of_a_request_share_its_user_experiment_and_bucket(harness: Harness) -> None:
    rid = journey(harness.rt)
    user = harness.rt.pseudonymize(RAW_USER)
    records = [s.attributes for s in harness.spans()] + [r.log_record.attributes for r in harness.logs()]
    assert len(records) == 2 + 21
    for attrs in records:
        assert (attrs["request_id"], attrs["user_id"], attrs["experiment_id"], attrs["bucket"]) == \
               (rid, user, "ranker-v2", "treatment")
    for record in harness.logs():
        assert record.log_record.attributes["session_id"] == harness.rt.pseudonymize(RAW_SESSION)


def test_inside_the_block_events_take_the_current_request(harness: Harness) -> None:
    with harness.rt.request(user_id="u", experiment_id="ranker-v2", bucket="control", k=20) as req:
        harness.rt.ranking(**RANKING)
        harness.rt.impression(canonical_id=ITEMS[0], position=1, surface="home", session_id="s")
    assert {r.log_record.attributes["request_id"] for r in harness.logs()} == {req.request_id}
    assert harness.violations() == {}


def test_a_different_bucket_within_a_request_is_a_consistency_violation(harness: Harness, strict: Harness) -> None:
    rid = ranked_request(harness)
    harness.rt.impression(request_id=rid, canonical_id=ITEMS[0], position=1, bucket="control")
    assert harness.violations() == {("consistency", "impression"): 1}
    assert len(harness.logs()) == 1  # counted, not dropped: the data is what it is
    rid = ranked_request(strict)
    with pytest.raises(ContractViolation) as info:
        strict.rt.impression(request_id=rid, canonical_id=ITEMS[0], position=1, bucket="control")
    assert (info.value.field, info.value.kind) == ("bucket", "consistency")


def test_a_different_user_within_a_request_is_a_consistency_violation(harness: Harness) -> None:
    rid = ranked_request(harness)
    harness.rt.click(request_id=rid, canonical_id=ITEMS[0], position=1, engagement_type="play", user_id="mallory")
    assert harness.violations()[("consistency", "click")] == 1


def test_an_impression_position_must_show_the_ranked_item(harness: Harness, strict: Harness) -> None:
    rid = ranked_request(harness)
    harness.rt.impression(request_id=rid, canonical_id=ITEMS[4], position=5)  # p <-> items[p-1]: fine
    harness.rt.impression(request_id=rid, canonical_id=ITEMS[4], position=4)  # wrong slot
    harness.rt.impression(request_id=rid, canonical_id=ITEMS[0], position=21)  # past the list
    assert harness.violations() == {("impression_position", "impression"): 2}
    rid = ranked_request(strict)
    with pytest.raises(ContractViolation) as info:
        strict.rt.impression(request_id=rid, canonical_id=ITEMS[1], position=1)
    assert (info.value.field, info.value.kind) == ("canonical_id", "impression_position")


def test_an_impression_before_any_ranking_breaks_the_position_reference(harness: Harness) -> None:
    with harness.rt.request(user_id="u", experiment_id="ranker-v2", bucket="control", k=20, session_id="s") as req:
        pass
    harness.rt.impression(request_id=req.request_id, canonical_id=ITEMS[0], position=1, surface="home")
    assert harness.violations() == {("impression_position", "impression"): 1}


def test_a_click_on_an_item_that_was_not_impressed_is_an_orphan_click(harness: Harness, strict: Harness) -> None:
    rid = ranked_request(harness)
    harness.rt.impression(request_id=rid, canonical_id=ITEMS[0], position=1)
    harness.rt.click(request_id=rid, canonical_id=ITEMS[0], position=1, engagement_type="play")
    harness.rt.click(request_id=rid, canonical_id=ITEMS[1], position=2, engagement_type="play")
    assert harness.violations() == {("orphan_click", "click"): 1}
    assert len([r for r in harness.logs() if r.log_record.event_name == "click"]) == 2
    rid = ranked_request(strict)
    with pytest.raises(ContractViolation) as info:
        strict.rt.click(request_id=rid, canonical_id=ITEMS[3], position=4, engagement_type="play")
    assert (info.value.field, info.value.kind) == ("canonical_id", "orphan_click")


def test_a_click_at_another_position_than_its_impression_breaks_the_click_position(harness: Harness) -> None:
    rid = ranked_request(harness)
    harness.rt.impression(request_id=rid, canonical_id=ITEMS[2], position=3)
    harness.rt.click(request_id=rid, canonical_id=ITEMS[2], position=2, engagement_type="save")
    harness.rt.click(request_id=rid, canonical_id=ITEMS[2], position=3, engagement_type="play")
    assert harness.violations() == {("click_position", "click"): 1}


def test_events_naming_an_unknown_request_are_violations_unless_turned_off(harness: Harness, model: Model) -> None:
    stranger = str(uuid.uuid4())
    common = {"request_id": stranger, "user_id": "u", "session_id": "s", "experiment_id": "ranker-v2",
              "bucket": "control"}
    harness.rt.click(**common, canonical_id=ITEMS[0], position=1, engagement_type="play")
    harness.rt.impression(**common, canonical_id=ITEMS[0], position=1, surface="home")
    harness.rt.error(request_id=stranger, component="api", severity="warning", error_code="SLOW_CLIENT",
                     message="client slow")  # an error may name any request
    assert harness.violations() == {("unknown_request", "click"): 1, ("unknown_request", "impression"): 1}
    relaxed = Harness(model, check_unknown_contexts=False)
    try:
        relaxed.rt.click(**common, canonical_id=ITEMS[0], position=1, engagement_type="play")
        assert relaxed.violations() == {}
        assert len(relaxed.logs()) == 1
    finally:
        relaxed.close()


def test_an_error_event_inherits_the_request_bucket(harness: Harness) -> None:
    rid = ranked_request(harness)
    harness.rt.error(request_id=rid, component="cache", severity="error", error_code="CACHE_DOWN", message="down")
    (point,) = harness.points("recsys.errors")
    assert dict(point.attributes) == {"component": "cache", "severity": "error", "error_code": "CACHE_DOWN",
                                      "bucket": "treatment"}
