"""Values of a ``str`` subclass — ``markupsafe.Markup`` (Jinja, Flask), a ``StrEnum`` member, ``numpy.str_`` —
and list subclasses: judged, bounded and scrubbed as the characters they hold, exported as plain values.

They used to slip past the runtime's ``type(v) is str`` / ``type(v) is list`` tests: a ``Markup`` item of a
string array left the process unscrubbed and unbounded, a ``Markup`` error message and a ``StrEnum`` member
of an enum were refused as invalid ("must match None", "must be one of control, treatment") and the event
dropped in production.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator

import pytest
from markupsafe import Markup
from obsgen.model import Model
from obsgen.runtime import EventValidationError

from tests.test_runtime_harness import ITEMS, RAW_SESSION, RAW_USER, Harness

EMAIL = "carol@example.com"
TOKEN = "Bearer abcdefghijklmnop"
REQUEST = {"user_id": RAW_USER, "session_id": RAW_SESSION, "experiment_id": "ranker-v2", "k": 20, "surface": "home"}
RANKING = {"latency_ms": 30.0, "coverage": 0.95, "algorithm": "hybrid", "cache_result": "miss", "fallback": "none",
           "user_state": "cold", "data_age_s": 60.0}
ERROR = {"component": "ranker", "severity": "error", "error_code": "RANKER_TIMEOUT"}


class Bucket(enum.StrEnum):
    CONTROL = "control"
    TREATMENT = "treatment"


class Items(list[str]):
    """An application's own list type."""


@pytest.fixture(params=["production", "strict"])
def harness(model: Model, request: pytest.FixtureRequest) -> Iterator[Harness]:
    h = Harness(model, validation=request.param)
    yield h
    h.close()


def _exported(h: Harness) -> list[dict[str, object]]:
    return [dict(s.attributes or {}) for s in h.spans()] + [dict(r.log_record.attributes or {}) for r in h.logs()]


def test_a_str_subclass_item_of_a_string_array_is_scrubbed(harness: Harness) -> None:
    rt = harness.rt
    with rt.request(**REQUEST, bucket="control"):
        rt.ranking(**RANKING, items=Items([*ITEMS[:3], Markup(f"{EMAIL} {RAW_USER} {TOKEN}")]))
    text = json.dumps(_exported(harness), default=str)
    assert EMAIL not in text and RAW_USER not in text and "abcdefghijklmnop" not in text
    (ranking,) = [a for a in _exported(harness) if a.get("items")]
    assert list(ranking["items"]) == [*ITEMS[:3], "<email> <user_id> Bearer <token>"]  # type: ignore[call-overload]
    assert {type(i) for i in ranking["items"]} == {str}  # type: ignore[attr-defined]
    assert harness.violations() == {}


def test_a_long_str_subclass_item_is_cut_and_counted(model: Model) -> None:
    h = Harness(model, validation="production")
    try:
        with h.rt.request(**REQUEST, bucket="control"):
            h.rt.ranking(**RANKING, items=[*ITEMS[:3], Markup("x " * 50_000)])
        (ranking,) = [a for a in _exported(h) if a.get("items")]
        assert len(ranking["items"][3]) <= 1024  # type: ignore[index]
        assert h.violations() == {("validity", "ranking"): 1}
    finally:
        h.close()


def test_a_str_subclass_message_is_scrubbed_not_dropped(harness: Harness) -> None:
    rt = harness.rt
    with rt.request(**REQUEST, bucket="control"):
        rt.error(**ERROR, message=Markup(f"no ranking for {RAW_USER} <{EMAIL}>"))
    (error,) = [r.log_record.attributes for r in harness.logs() if r.log_record.event_name == "error"]
    assert error["message"] == "no ranking for <user_id> <<email>>" and type(error["message"]) is str  # type: ignore[index]
    assert harness.violations() == {}


def test_str_enum_members_are_valid_values_and_leave_as_plain_strings(harness: Harness) -> None:
    rt = harness.rt
    with rt.request(**REQUEST, bucket=Bucket.TREATMENT):
        rt.error(**ERROR, message="ranker timed out")
    assert harness.violations() == {}
    (request,) = [s.attributes for s in harness.spans() if s.name == "recommend.request"]
    assert request["bucket"] == "treatment" and type(request["bucket"]) is str  # type: ignore[index]
    (error,) = [r.log_record.attributes for r in harness.logs() if r.log_record.event_name == "error"]
    assert type(error["bucket"]) is str  # type: ignore[index]


class Unreadable:
    """A high-PII value that cannot be turned into text (an ORM object whose ``__str__`` needs a closed session)."""

    def __str__(self) -> str:
        raise RuntimeError(f"session closed for {RAW_USER}")

    __repr__ = __str__


@pytest.mark.parametrize("mode", ["production", "strict"])
def test_a_high_pii_value_whose_str_raises_is_counted_and_never_exported(
        model: Model, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    """It has no pseudonym: strict raises naming the field; production counts it and drops the request (the field
    is required) without logging a traceback. It used to be lost as an internal failure, counted nowhere."""
    h = Harness(model, validation=mode)
    request = {**REQUEST, "user_id": Unreadable(), "bucket": "control"}
    try:
        if mode == "strict":
            with pytest.raises(EventValidationError, match="`user_id` cannot be read as text"):
                h.rt.request(**request)
            assert h.violations() == {("validity", "request"): 1}
            return
        with h.rt.request(**request):
            pass
        assert h.spans() == [] and RAW_USER not in caplog.text and "Traceback" not in caplog.text
        assert h.violations() == {("validity", "request"): 1, ("completeness", "request"): 1}
    finally:
        h.close()
