"""No raw high-PII value (nor its plain SHA-256 or MD5) in any exported byte: spans, span events, log
records, metric points, exemplars and resources, serialized the way they leave the process (OTLP
protobuf, and JSON: protobuf's JSON mapping and the SDK's own ``to_json``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from google.protobuf.json_format import MessageToJson
from obsgen.model import Model
from obsgen.runtime import Telemetry
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from tests.test_runtime_harness import Harness, journey

RAW_USER = "uid_884213377"
RAW_SESSION = "sess-ALICE"
RAW_OTHER = "dave-userid-55555"
RAW_VALUES = (RAW_USER, RAW_SESSION, RAW_OTHER)


def forbidden() -> list[bytes]:
    """Each raw value, its plain SHA-256 and MD5 (hex, both cases), as the bytes searched for."""
    out = []
    for raw in RAW_VALUES:
        data = raw.encode()
        for text in (raw, hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()):
            out += [text.encode(), text.lower().encode(), text.upper().encode()]
    return out


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError(f"cannot print {RAW_USER}")


def leaky_traffic(rt: Telemetry) -> None:
    """An application that puts raw ids everywhere it can: free text, exception messages, patterned strings,
    arrays and object attributes, in and outside the request's ``with`` block."""
    with pytest.raises(RuntimeError):
        with rt.request(user_id=RAW_USER, session_id=RAW_SESSION, experiment_id="ranker-v2", bucket="control",
                        k=5, filters={"genres": [RAW_USER], "maturity_rating": f"for {RAW_SESSION.upper()}"}) as req:
            rt.error(component="api", severity="error", error_code="PROFILE_MISSING",
                     message=f"user {RAW_USER} session={RAW_SESSION} hash "
                             f"{hashlib.sha256(RAW_USER.encode()).hexdigest()}")
            rt.ranking(latency_ms=4.0, coverage=0.9, algorithm="hybrid", alpha=0.5, items=["tt0000001", RAW_USER],
                       cache_result="hit", fallback="none", data_age_s=1.0)
            raise RuntimeError(f"upstream said no to {RAW_SESSION} (md5 "
                               f"{hashlib.md5(RAW_SESSION.encode(), usedforsecurity=False).hexdigest()})")
    # Outside the block, by key: the context still knows its raw values.
    rt.error(request_id=req.request_id, component="ranker", severity="critical", error_code="RANKER_DOWN",
             message=f"no profile for {RAW_USER}, experiment {RAW_SESSION}")
    rt.impression(request_id=req.request_id, canonical_id="tt0000001", position=1, surface="home")
    # Another request: an undeclared object key, a patterned field holding a raw id, an unprintable exception.
    with pytest.raises(Unprintable):
        with rt.request(user_id=RAW_OTHER, experiment_id=RAW_OTHER, bucket="treatment", k=3,
                        filters={"owner_email": f"{RAW_OTHER}@corp.example"}):
            rt.error(component="api", severity="warning", error_code="NO_PROFILE",
                     message=f"no profile for {RAW_OTHER}")
            raise Unprintable()
    # A free-text field given an id the runtime saw in the same call.
    rt.error(user_id=RAW_OTHER, component="api", severity="error", error_code="LOOKUP",
             message=f"lookup of {RAW_OTHER.upper()} failed")
    journey(rt, user=RAW_USER, session=RAW_SESSION)


@pytest.fixture
def harness(model: Model) -> Iterator[Harness]:
    h = Harness(model)
    yield h
    h.close()


def exported_bytes(h: Harness) -> dict[str, bytes]:
    spans = h.spans()
    logs = h.logs()
    metrics = h.reader.get_metrics_data()
    assert spans and logs and metrics is not None
    requests = {"traces": encode_spans(spans), "logs": encode_logs(logs), "metrics": encode_metrics(metrics)}
    out = {f"{signal} protobuf": message.SerializeToString() for signal, message in requests.items()}
    out |= {f"{signal} json": MessageToJson(message).encode() for signal, message in requests.items()}
    out["sdk json"] = "\n".join([*(s.to_json() for s in spans), *(r.to_json() for r in logs),
                                 metrics.to_json()]).encode()
    return out


def test_no_raw_value_or_plain_hash_of_one_in_any_exported_byte(harness: Harness) -> None:
    leaky_traffic(harness.rt)
    exported = exported_bytes(harness)
    assert all(len(data) > 2000 for data in exported.values())
    leaks = [(where, needle) for where, data in exported.items() for needle in forbidden() if needle in data]
    assert not leaks


def test_the_scan_finds_a_raw_value_that_does_leak(harness: Harness) -> None:
    """The scan can fail: a raw id in a field the runtime does not scrub (an enum-free resource attribute the
    application configured itself) is found."""
    h = Harness(harness.rt.model, resource_attributes={"deployment.note": f"owner {RAW_USER}"})
    try:
        journey(h.rt)
        exported = exported_bytes(h)
        assert all(RAW_USER.encode() in data for data in exported.values())
    finally:
        h.close()


def test_free_text_keeps_its_meaning_with_placeholders(harness: Harness) -> None:
    leaky_traffic(harness.rt)
    messages = [r.log_record.attributes["message"] for r in harness.logs() if r.log_record.event_name == "error"]
    assert "user <user_id> session=<session_id> hash <user_id>" in messages
    assert "no profile for <user_id>, experiment <session_id>" in messages  # outside the block, by key
    assert "lookup of <user_id> failed" in messages
    request = next(s for s in harness.spans() if s.name == "recommend.request" and s.events)
    (event,) = request.events
    assert event.attributes["exception.message"].startswith("upstream said no to <session_id> (md5 <session_id>)")


def test_an_object_with_an_undeclared_key_is_removed_and_counted(harness: Harness) -> None:
    leaky_traffic(harness.rt)
    requests = [s for s in harness.spans() if s.name == "recommend.request"]
    filters = [s.attributes.get("filters") for s in requests]
    assert filters.count(None) >= 1 and '{"genres": ["<user_id>"], "maturity_rating": "for <session_id>"}' in filters
    assert harness.violations()[("validity", "request")] >= 1


def test_an_unprintable_exception_is_the_one_the_app_sees_and_the_scope_is_left(harness: Harness) -> None:
    rt = harness.rt
    with pytest.raises(Unprintable):
        with rt.request(user_id=RAW_OTHER, experiment_id="x1", bucket="treatment", k=3):
            raise Unprintable()
    assert Telemetry.current_request() is None
    from opentelemetry import trace

    assert not trace.get_current_span().get_span_context().is_valid  # the request span is detached
    (span,) = [s for s in harness.spans() if s.name == "recommend.request"]
    assert span.end_time is not None and span.status.status_code.name == "ERROR"
    assert span.events[0].attributes["exception.message"] == "<unprintable exception>"
