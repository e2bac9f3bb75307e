"""Raw ids in the forms an application really holds them: with characters whose lower case is longer
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
from obsgen.runtime.pii import RawValues

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
