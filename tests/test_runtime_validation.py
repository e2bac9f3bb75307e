"""Validation modes: strict raises naming the field; production never raises, repairs or drops, counts, reports."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from obsgen.model import Model
from obsgen.model.eventschema import attribute_schema
from obsgen.runtime import EventValidationError, Telemetry
from obsgen.runtime.validation import compile_check

from tests.test_runtime_harness import ITEMS, Harness

REQUEST = {"user_id": "u-1", "session_id": "s-1", "experiment_id": "ranker-v2", "bucket": "control", "k": 20,
           "surface": "home"}
RANKING = {"latency_ms": 30.0, "coverage": 0.95, "algorithm": "hybrid", "items": ITEMS, "cache_result": "miss",
           "fallback": "none", "user_state": "cold", "data_age_s": 60.0}
IMPRESSION = {"canonical_id": ITEMS[0], "position": 1, "surface": "home"}
CLICK = {"canonical_id": ITEMS[0], "position": 1, "engagement_type": "play"}
ERROR = {"component": "ranker", "severity": "error", "error_code": "RANKER_TIMEOUT", "message": "ranker timed out"}

# (case id, event, changes to a valid payload (None = remove the field), field named, kind)
BAD: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("request-missing-user", "request", {"user_id": None}, "user_id", "completeness"),
    ("request-bucket-not-in-enum", "request", {"bucket": "beta"}, "bucket", "validity"),
    ("request-k-below-minimum", "request", {"k": 0}, "k", "validity"),
    ("request-k-above-maximum", "request", {"k": 101}, "k", "validity"),
    ("request-k-is-a-string", "request", {"k": "20"}, "k", "validity"),
    ("request-k-is-a-bool", "request", {"k": True}, "k", "validity"),
    ("request-experiment-pattern", "request", {"experiment_id": "Ranker V2"}, "experiment_id", "validity"),
    ("request-locale-pattern", "request", {"locale": "english"}, "locale", "validity"),
    ("request-unknown-field", "request", {"email": "bob@example.com"}, "email", "validity"),
    ("request-id-not-a-uuid", "request", {"request_id": "req-42"}, "request_id", "validity"),
    ("request-id-uuid1", "request", {"request_id": str(uuid.uuid1())}, "request_id", "validity"),
    ("request-timestamp-in-seconds", "request", {"timestamp_ms": 1_757_203_200}, "timestamp_ms", "validity"),
    ("request-filters-not-an-object", "request", {"filters": "genre=drama"}, "filters", "validity"),
    ("ranking-coverage-above-one", "ranking", {"coverage": 1.5}, "coverage", "validity"),
    ("ranking-negative-latency", "ranking", {"latency_ms": -1.0}, "latency_ms", "validity"),
    ("ranking-infinite-latency", "ranking", {"latency_ms": math.inf}, "latency_ms", "validity"),
    ("ranking-item-not-a-string", "ranking", {"items": ["tt1", 3]}, "items", "validity"),
    ("ranking-too-many-items", "ranking", {"items": [f"tt{i}" for i in range(101)]}, "items", "validity"),
    ("ranking-unknown-algorithm", "ranking", {"algorithm": "deep"}, "algorithm", "validity"),
    ("ranking-alpha-is-a-bool", "ranking", {"alpha": True}, "alpha", "validity"),
    ("ranking-missing-items", "ranking", {"items": None}, "items", "completeness"),
    ("impression-position-zero", "impression", {"position": 0}, "position", "validity"),
    ("impression-canonical-id-pattern", "impression", {"canonical_id": "TT 123!"}, "canonical_id", "validity"),
    ("impression-missing-canonical-id", "impression", {"canonical_id": None}, "canonical_id", "completeness"),
    ("click-unknown-engagement", "click", {"engagement_type": "like"}, "engagement_type", "validity"),
    ("click-nan-dwell", "click", {"dwell_ms": math.nan}, "dwell_ms", "validity"),
    # No OTLP value carries an integer outside 64 bits: the metric failed to record (the event was lost, with a
    # traceback) or the exporters left the attribute out.
    ("ranking-latency-beyond-64-bits", "ranking", {"latency_ms": 10**400}, "latency_ms", "validity"),
    ("click-dwell-beyond-64-bits", "click", {"dwell_ms": 1 << 64}, "dwell_ms", "validity"),
    ("error-code-pattern", "error", {"error_code": "timeout"}, "error_code", "validity"),
    ("error-unknown-severity", "error", {"severity": "fatal"}, "severity", "validity"),
    ("error-missing-component", "error", {"component": None}, "component", "completeness"),
    ("error-message-not-a-string", "error", {"message": 42}, "message", "validity"),
]
SECRETS = ("Ranker V2", "english", "bob@example.com", "req-42", "genre=drama", "TT 123!", "like", "fatal")


def apply(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def run_case(rt: Telemetry, event: str, changes: dict[str, Any]) -> None:
    """A valid journey up to ``event``, whose payload gets ``changes``."""
    if event == "request":
        rt.request(**apply(REQUEST, changes)).end()
        return
    with rt.request(**REQUEST):
        payloads: dict[str, tuple[dict[str, Any], Callable[..., Any]]] = {
            "ranking": (RANKING, rt.ranking), "impression": (IMPRESSION, rt.impression),
            "click": (CLICK, rt.click), "error": (ERROR, rt.error)}
        if event != "ranking":
            rt.ranking(**RANKING)
        if event == "click":
            rt.impression(**IMPRESSION)
        base, method = payloads[event]
        method(**apply(base, changes))


@pytest.fixture
def strict(model: Model) -> Iterator[Harness]:
    h = Harness(model, validation="strict")
    yield h
    h.close()


@pytest.fixture
def production(model: Model) -> Iterator[Harness]:
    h = Harness(model, validation="production")
    yield h
    h.close()


def test_there_are_at_least_fifteen_distinct_bad_payloads() -> None:
    assert len({case[0] for case in BAD}) == len(BAD) >= 15


@pytest.mark.parametrize(("event", "changes", "field", "kind"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_strict_mode_rejects_a_bad_payload_naming_the_field(strict: Harness, event: str, changes: dict[str, Any],
                                                            field: str, kind: str) -> None:
    with pytest.raises(EventValidationError) as info:
        run_case(strict.rt, event, changes)
    assert isinstance(info.value, ValueError)
    assert (info.value.event, info.value.field, info.value.kind) == (event, field, kind)
    assert f"`{field}`" in str(info.value)
    assert not any(secret in str(info.value) for secret in SECRETS)  # reasons never quote the value
    assert strict.violations() == {(kind, event): 1}


@pytest.mark.parametrize(("event", "changes", "field", "kind"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_production_mode_counts_a_bad_payload_and_never_raises(production: Harness, model: Model, event: str,
                                                               changes: dict[str, Any], field: str,
                                                               kind: str) -> None:
    run_case(production.rt, event, changes)  # must not raise
    assert production.violations() == {(kind, event): 1}
    optional = field not in next(e for e in model.events if e.name == event).required
    if event == "request":
        # dropped: no request span; repaired (an optional field removed): the span is there without it
        spans = [s for s in production.spans() if s.name == "recommend.request"]
        assert len(spans) == (1 if optional else 0)
        if spans:
            assert field not in spans[0].attributes
    if event == "error":
        logged = [r.log_record.attributes for r in production.logs() if r.log_record.event_name == "error"]
        assert all(a["component"] != "telemetry" for a in logged)  # trouble with an error event is not re-reported
    else:
        reports = [r.log_record.attributes for r in production.logs()
                   if r.log_record.event_name == "error" and r.log_record.attributes["component"] == "telemetry"]
        assert len(reports) == 1
        report = reports[0]
        assert report["severity"] == "warning"
        assert report["error_code"] == ("INCOMPLETE_EVENT" if kind == "completeness" else "INVALID_EVENT")
        assert field in report["message"] and event in report["message"]
        assert not any(secret in report["message"] for secret in SECRETS)


def test_production_repairs_an_invalid_optional_field_and_keeps_the_event(production: Harness) -> None:
    rt = production.rt
    with rt.request(**REQUEST):
        rt.ranking(**RANKING, alpha=7.0)  # alpha must be in [0, 1]; it is optional
    ranking = next(s for s in production.spans() if s.name == "recommend.ranking")
    assert "alpha" not in ranking.attributes and ranking.attributes["coverage"] == 0.95
    assert production.violations() == {("validity", "ranking"): 1}
    assert len(production.points("recsys.ranking.duration")) == 1


def test_production_drops_an_event_with_an_invalid_required_field(production: Harness) -> None:
    rt = production.rt
    with rt.request(**REQUEST):
        rt.ranking(**{**RANKING, "coverage": 2.0})
    assert [s.name for s in production.spans()] == ["recommend.request"]
    assert production.points("recsys.ranking.duration") == []


def test_production_survives_arbitrary_garbage(production: Harness) -> None:
    rt = production.rt
    rt.request(user_id=object(), experiment_id=["x"], bucket={"a": 1}, k=float("nan")).end()
    rt.impression(request_id=["not", "hashable"], canonical_id=None, position="1")
    rt.click()
    rt.error(message="x " * 2500, component="api", severity="error", error_code="BIG_MESSAGE")
    (record,) = [r for r in production.logs() if r.log_record.attributes.get("error_code") == "BIG_MESSAGE"]
    message = record.log_record.attributes["message"]
    assert 1000 < len(message) <= 1024 and message.endswith("…")  # cut to the attribute's max_length


def test_strict_mode_accepts_the_spec_examples(strict: Harness, model: Model) -> None:
    """Each event's example (from the spec) passes strict mode, join contracts included."""
    examples = {e.name: dict(e.example) for e in model.events}
    rt = strict.rt
    with rt.request(**examples["request"]):
        rt.ranking(**examples["ranking"])
    rt.impression(**examples["impression"])
    rt.click(**examples["click"])
    rt.error(**examples["error"])
    assert strict.violations() == {}
    assert len(strict.spans()) == 2 and len(strict.logs()) == 3


SAMPLES: list[Any] = ["", "x", "control", "ranker-v2", "en-US", "tt0111161", "FEATURE_TIMEOUT",
                      str(uuid.uuid4()), "a" * 64, "A" * 64, "x" * 2000, 0, 1, -1, 3, 100, 101, 1.5, 0.97, 2.0,
                      1_757_203_200_000, 1_757_203_200, True, False, None, [], ["a"], [1], ["a"] * 101, {}, {"a": 1},
                      3.0, -0.0]


def test_compiled_checks_agree_with_the_json_schema_on_every_attribute(model: Model) -> None:
    for name, attr in model.attributes.items():
        schema = attribute_schema(attr)
        validator = Draft202012Validator(schema)
        check = compile_check(schema)
        for value in SAMPLES:
            assert (check(value) is None) == validator.is_valid(value), (name, value, check(value))


def test_a_tuple_is_accepted_for_an_array_field(strict: Harness) -> None:
    rt = strict.rt
    with rt.request(**REQUEST):
        rt.ranking(**{**RANKING, "items": tuple(ITEMS)})
    ranking = next(s for s in strict.spans() if s.name == "recommend.ranking")
    assert list(ranking.attributes["items"]) == ITEMS


def test_positional_arguments_raise_in_strict_and_are_ignored_in_production(strict: Harness,
                                                                             production: Harness) -> None:
    with pytest.raises(EventValidationError, match="by name"):
        strict.rt.request("u-1", **REQUEST)
    production.rt.request("u-1", **REQUEST).end()  # must not raise
    assert production.violations() == {("validity", "request"): 1}
    assert [s.name for s in production.spans()] == ["recommend.request"]
