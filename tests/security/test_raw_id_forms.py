"""Text in the forms an application really holds it. Raw ids: with characters whose lower case is longer
(``İ``) or depends on context (``Σ``), and as bytes (from Redis, a socket). Each is cut out of free text, and
a bytes id has the pseudonym of its text.

``str.lower("İ")`` is two characters, which the ``re.IGNORECASE`` pattern built from it never matched against
``İ``: the id was found in the text and left in it. ``str(b"u-1")`` is ``"b'u-1'"``: a bytes id was hashed and
looked for as that repr.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from obsgen.model import Model
from obsgen.runtime.otlp_encode import SpanEncoder
from obsgen.runtime.pii import RawValues
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

from tests.test_runtime_harness import RAW_SESSION, Harness

ERROR = {"component": "ranker", "severity": "error", "error_code": "RANKER_TIMEOUT"}


@pytest.fixture
def harness(model: Model) -> Iterator[Harness]:
    h = Harness(model, validation="production")
    yield h
    h.close()


def _message(h: Harness, user_id: object, message: str) -> str:
    with h.rt.request(user_id=user_id, session_id=RAW_SESSION, experiment_id="ranker-v2", bucket="control", k=20):
        h.rt.error(**ERROR, message=message)
    (record,) = [r.log_record.attributes for r in h.logs() if r.log_record.event_name == "error"]
    return str(record["message"])  # type: ignore[index]


@pytest.mark.parametrize(("raw", "text", "scrubbed"), [
    ("İlker-42", "İlker-42 and İLKER-42", "<user_id> and <user_id>"),
    ("νικοσ-1234", "ΝΙΚΟΣ-1234 and νικος-1234", "<user_id> and <user_id>"),  # "ΝΙΚΟΣ".lower() ends in final ς
], ids=["dotted-capital-i", "sigma"])
def test_an_id_whose_lower_case_is_special_is_cut_out_of_free_text(harness: Harness, raw: str, text: str,
                                                                    scrubbed: str) -> None:
    assert RawValues.of([("user_id", raw)]).replace(text) == scrubbed
    assert _message(harness, raw, f"no ranking for {text}") == f"no ranking for {scrubbed}"


def test_a_bytes_id_has_the_pseudonym_of_its_text_and_is_cut_out_of_free_text(harness: Harness) -> None:
    assert harness.rt.pseudonymize(b"user-8675309") == harness.rt.pseudonymize("user-8675309")
    assert _message(harness, b"user-8675309", "no ranking for user-8675309") == "no ranking for <user_id>"
    (request,) = [s.attributes for s in harness.spans() if s.name == "recommend.request"]
    assert request["user_id"] == harness.rt.pseudonymize("user-8675309")  # type: ignore[index]


def test_a_lone_surrogate_in_text_becomes_a_replacement_character_and_the_field_is_exported(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    """``json.loads('"\\ud800"')`` gives a lone surrogate, which UTF-8 cannot carry: the exporters left the
    whole field out of every record holding one, logging an error each time."""
    rt = harness.rt
    with pytest.raises(RuntimeError), rt.request(user_id="u-1", session_id=RAW_SESSION, experiment_id="ranker-v2",
                                                 bucket="control", k=20):
        rt.ranking(latency_ms=30.0, coverage=0.95, algorithm="hybrid", items=["tt1", "tt\ud800"], cache_result="hit",
                   fallback="none", user_state="warm", data_age_s=1.0)
        rt.error(**ERROR, message="bad byte \udc80 in the name")
        raise RuntimeError("upstream sent \ud83d")
    with caplog.at_level("ERROR"):
        logs = encode_logs(harness.logs()).SerializeToString()
        spans = b"".join(SpanEncoder().chunks(harness.spans()))
    assert "bad byte \ufffd in the name".encode() in logs
    assert "upstream sent \ufffd".encode() in spans and "tt\ufffd".encode() in spans
    assert not caplog.records
