"""The scrubber is linear by construction: text bounded before any pattern runs, patterns that cannot
backtrack. (Timings, 1 kB to 1 MB and the emit latency on 60 kB, are in benchmarks/scrub_bench.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import pytest
from obsgen.model import Model
from obsgen.runtime import pii
from obsgen.runtime.pii import PATTERNS, SENSITIVE_PATTERNS, RawValues, bound, sanitize_text

from tests.test_runtime_harness import Harness

ALL = [(p, r) for p, r, _ in (*PATTERNS, *SENSITIVE_PATTERNS)]
REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT}
MAX_BOUNDED = 64


def _walk(items: Any, inside_unbounded: bool, out: list[str]) -> None:
    """Collect shape problems: an unbounded greedy/lazy repeat, or an unbounded repeat inside another."""
    for op, arg in items:
        if op in REPEATS:
            low, high, body = arg
            unbounded = high == sre.MAXREPEAT
            if unbounded and op is not sre.POSSESSIVE_REPEAT:
                out.append(f"unbounded {op} (not possessive)")
            if not unbounded and high > MAX_BOUNDED:
                out.append(f"repeat up to {high}")
            if unbounded and inside_unbounded:
                out.append("unbounded repeat nested in an unbounded repeat")
            _walk(body, inside_unbounded or unbounded, out)
        elif op is sre.SUBPATTERN:
            _walk(arg[-1], inside_unbounded, out)
        elif op is sre.BRANCH:
            for branch in arg[1]:
                _walk(branch, inside_unbounded, out)
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            _walk(arg[1], inside_unbounded, out)
        elif op is sre.ATOMIC_GROUP:
            _walk(arg, inside_unbounded, out)


@pytest.mark.parametrize("pattern", [p for p, _ in ALL], ids=lambda p: p.pattern[:30])
def test_patterns_have_no_backtracking_repetition(pattern: re.Pattern[str]) -> None:
    problems: list[str] = []
    _walk(sre_parse.parse(pattern.pattern, pattern.flags), False, problems)
    assert not problems


@pytest.mark.parametrize("pattern", [p for p, _ in ALL], ids=lambda p: p.pattern[:30])
def test_patterns_start_only_where_a_run_starts(pattern: re.Pattern[str]) -> None:
    """A word boundary or a look-behind first: a run is scanned from its start, not from each character."""
    first_op, first_arg = sre_parse.parse(pattern.pattern, pattern.flags)[0]
    assert first_op is sre.AT and first_arg is sre.AT_BOUNDARY or first_op is sre.ASSERT_NOT and first_arg[0] == -1


def test_the_shape_check_catches_a_quadratic_pattern() -> None:
    problems: list[str] = []
    _walk(sre_parse.parse(r"(a+)+b"), False, problems)
    assert problems


class Spy:
    """A pattern that records the length of every text it is given."""

    def __init__(self, pattern: re.Pattern[str], seen: list[int]) -> None:
        self.pattern, self.seen = pattern, seen

    def sub(self, replacement: str, text: str) -> str:
        self.seen.append(len(text))
        return self.pattern.sub(replacement, text)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    lengths: list[int] = []
    monkeypatch.setattr(pii, "PATTERNS", tuple((Spy(p, lengths), r, ("",)) for p, r, _ in PATTERNS))
    monkeypatch.setattr(pii, "SENSITIVE_PATTERNS", tuple((Spy(p, lengths), r, t) for p, r, t in SENSITIVE_PATTERNS))
    yield lengths


def test_text_is_bounded_before_any_pattern_runs(seen: list[int]) -> None:
    sanitize_text("a@b-" * 250_000 + " 10.0.0.1 1234567890", 1024, sensitive=True)
    assert seen and max(seen) <= 1024
    seen.clear()
    sanitize_text("a@b-" * 250_000)  # no max_length: the default bound
    assert seen and max(seen) <= pii.DEFAULT_MAX_TEXT


def test_an_emit_with_60_kb_of_text_scans_at_most_the_field_limit(seen: list[int], model: Model) -> None:
    h = Harness(model)
    try:
        h.rt.error(component="api", severity="error", error_code="BLOB", message="QUJD" * 15_000)
        h.rt.request(user_id="u-1234", experiment_id="x1", bucket="control", k=3,
                     filters={"genres": ["a@b-" * 15_000]}).end()
        assert seen and max(seen) <= 4096  # the message's max_length, the object budget
        (record,) = [r for r in h.logs() if r.log_record.attributes.get("error_code") == "BLOB"]
        assert record.log_record.attributes["message"] == "…"  # an unbroken 60 kB run goes whole
    finally:
        h.close()


def test_raw_values_are_found_by_substring_tests_and_replaced_in_one_pass() -> None:
    raw = RawValues.of([("user_id", "uid_884213377"), ("session_id", "sess-ALICE")])
    assert len(raw) == 6  # each value with its SHA-256 and MD5
    assert raw.replace("nothing here") == "nothing here"
    assert raw.replace("UID_884213377 / Sess-Alice") == "<user_id> / <session_id>"
    assert RawValues.of([("user_id", "abc")]).replace("abc") == "abc"  # too short to replace safely


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("short", 10, "short"),
    ("alpha beta gamma", 12, "alpha beta …"),
    ("contact alice@example.com now", 18, "contact …"),  # never half an email
    ("x" * 100, 10, "…"),  # one unbroken run over the limit goes whole
    ("id=uid_884213377,x", 12, "…"),
])
def test_bound_cuts_at_a_boundary(text: str, limit: int, expected: str) -> None:
    assert bound(text, limit) == expected
    assert len(bound(text, limit)) <= limit


@pytest.mark.parametrize(("text", "expected"), [
    ("card 4111 1111 1111 1111 ok", "card <number> ok"),
    ("uid_884213377 failed", "uid_<number> failed"),
    ("md5 d41d8cd98f00b204e9800998ecf8427e", "md5 <hex>"),
    ("code 500 after 30 ms at 12:30:45", "code 500 after 30 ms at 12:30:45"),
])
def test_fields_marked_sensitive_lose_long_numbers_and_digests(text: str, expected: str) -> None:
    assert sanitize_text(text, sensitive=True) == expected
    assert sanitize_text(text) == text or "<" not in sanitize_text(text)


def test_long_opaque_tokens_go_in_every_free_text_field() -> None:
    blob = "dGhpcyBpcyBhIHNlY3JldCB0b2tlbiAxMjM0NTY3ODkw" * 2
    assert sanitize_text(f"token {blob} end", 4096) == "token <token> end"
    assert sanitize_text("the candidate-generation-service-is-unavailable-now", 4096) == \
        "the candidate-generation-service-is-unavailable-now"
