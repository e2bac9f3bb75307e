"""PII: keyed pseudonyms for high-PII ids, scrubbed free text, and nothing raw in any exported signal."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from obsgen.model import SHADOW_LABEL, Model
from obsgen.runtime import PiiKeyError, Pseudonymizer, RuntimeConfig, Telemetry, sanitize_text
from obsgen.runtime.pii import DEV_KEY, load_key

from tests.test_runtime_harness import PII_KEY, RAW_SESSION, RAW_USER, Harness, journey


@pytest.fixture
def harness(model: Model) -> Iterator[Harness]:
    h = Harness(model)
    yield h
    h.close()


def keyed(value: str, key: bytes = PII_KEY) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def test_high_pii_ids_are_exported_as_keyed_hmac_sha256(harness: Harness) -> None:
    journey(harness.rt)
    request = next(s for s in harness.spans() if s.name == "recommend.request")
    assert request.attributes["user_id"] == keyed(RAW_USER) == harness.rt.pseudonymize(RAW_USER)
    assert request.attributes["session_id"] == keyed(RAW_SESSION)
    for record in harness.logs():
        assert record.log_record.attributes["user_id"] == keyed(RAW_USER)


def test_a_value_that_already_looks_hashed_is_hashed_again() -> None:
    plain = hashlib.sha256(RAW_USER.encode()).hexdigest()
    pseudonym = Pseudonymizer(PII_KEY)(plain)
    assert pseudonym != plain and pseudonym == keyed(plain)
    assert len(pseudonym) == 64 and pseudonym == pseudonym.lower()
    assert Pseudonymizer(PII_KEY)(12345) == keyed("12345")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, dict) or hasattr(value, "items"):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)
    elif value is not None:
        yield str(value)


def exported_text(h: Harness) -> list[str]:
    """Every string in every exported span, log record and metric point, resource and exemplar included."""
    out: list[str] = []
    for span in h.spans():
        out += [span.name, *_strings(dict(span.attributes or {})), *_strings(dict(span.resource.attributes))]
        for event in span.events:
            out += [event.name, *_strings(dict(event.attributes or {}))]
        out.append(span.status.description or "")
    for record in h.logs():
        lr = record.log_record
        out += [*_strings(lr.body), *_strings(dict(lr.attributes or {})), *_strings(dict(record.resource.attributes)),
                str(lr.event_name)]
    data = h.reader.get_metrics_data()
    assert data is not None
    for rm in data.resource_metrics:
        out += list(_strings(dict(rm.resource.attributes)))
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                out.append(metric.name)
                for point in metric.data.data_points:
                    out += list(_strings(dict(point.attributes)))
                    for exemplar in getattr(point, "exemplars", None) or []:
                        out += list(_strings(dict(exemplar.filtered_attributes or {})))
    return out


def test_no_raw_user_or_session_id_appears_anywhere_in_exported_data(harness: Harness) -> None:
    rt = harness.rt
    rid = journey(rt)
    rt.error(request_id=rid, user_id=RAW_USER, component="api", severity="error", error_code="PROFILE_MISSING",
             message=f"no profile for {RAW_USER}@example.com (session token={RAW_SESSION})")
    with pytest.raises(RuntimeError):
        with rt.request(user_id=RAW_USER, session_id=RAW_SESSION, experiment_id="ranker-v2", bucket="control", k=1):
            raise RuntimeError(f"upstream said: bearer {RAW_SESSION} for {RAW_USER}@corp.example")
    text = exported_text(harness)
    assert len(text) > 500
    forbidden = [RAW_USER, RAW_SESSION, hashlib.sha256(RAW_USER.encode()).hexdigest(),
                 hashlib.sha256(RAW_SESSION.encode()).hexdigest()]
    leaks = [(raw, s) for s in text for raw in forbidden if raw in s]
    assert not leaks


def test_no_metric_point_carries_a_pii_or_high_cardinality_attribute(harness: Harness, model: Model) -> None:
    journey(harness.rt)
    journey(harness.rt, session="other", clicks=(1, 20))
    harness.rt.impression(request_id="not-a-request", canonical_id="x", position=1, surface="home")  # violations
    allowed_runtime_labels = {"kind", "event", "signal", SHADOW_LABEL}
    for name, metric in harness.metrics().items():
        for point in metric.data.data_points:
            for key in point.attributes:
                attr = model.attributes.get(key)
                if attr is None:
                    assert name.startswith("obsgen.") and key in allowed_runtime_labels, (name, key)
                else:
                    assert attr.pii != "high" and attr.cardinality == "low", (name, key)


def test_the_key_comes_from_the_environment_or_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("OBSGEN_PII_KEY", "OBSGEN_PII_KEY_FILE", "OBSGEN_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OBSGEN_PII_KEY", "9f1c2e7a5b3d4c6e8f0a1b2c3d4e5f6a")
    assert load_key() == (b"9f1c2e7a5b3d4c6e8f0a1b2c3d4e5f6a", False)
    monkeypatch.delenv("OBSGEN_PII_KEY")
    key_file = tmp_path / "pii.key"
    key_file.write_text("Zq8vR2mK7xW4pL9nT3bY6cH1jF5dG0sA\n")
    monkeypatch.setenv("OBSGEN_PII_KEY_FILE", str(key_file))
    assert load_key() == (b"Zq8vR2mK7xW4pL9nT3bY6cH1jF5dG0sA", False)
    assert load_key(explicit="e3Rt9Wq2Lp7Zx5Vb") == (b"e3Rt9Wq2Lp7Zx5Vb", False)


def test_without_a_key_the_runtime_refuses_to_start(model: Model, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    for name in ("OBSGEN_PII_KEY", "OBSGEN_PII_KEY_FILE", "OBSGEN_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(PiiKeyError, match="OBSGEN_PII_KEY"):
        Telemetry(model, RuntimeConfig(metric_readers=[]))
    with pytest.raises(PiiKeyError, match="at least 16"):
        load_key(explicit="short")
    monkeypatch.setenv("OBSGEN_PII_KEY_FILE", str(tmp_path / "missing.key"))
    with pytest.raises(PiiKeyError, match="cannot read"):
        load_key()


def test_dev_mode_uses_a_fixed_key_and_says_so_loudly(model: Model, monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    for name in ("OBSGEN_PII_KEY", "OBSGEN_PII_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OBSGEN_DEV_MODE", "1")
    with caplog.at_level("WARNING", logger="obsgen.runtime"):
        h = Harness(model, pii_key=None)
    try:
        assert h.rt.dev_mode
        assert "DEV MODE" in caplog.text
        assert h.rt.pseudonymize("x") == keyed("x", DEV_KEY)
        assert h.rt.resource.attributes["obsgen.dev_mode"] is True
    finally:
        h.close()


@pytest.mark.parametrize(("text", "expected"), [
    ("mail bob.smith+tag@example.co.uk now", "mail <email> now"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-part_x", "Authorization: Bearer <token>"),
    ("got token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", "got token <token>"),
    ("call?api_key=AbC123xyz&x=1", "call?api_key=<redacted>&x=1"),
    ('{"password": "hunter2"}', '{"password": "<redacted>"}'),
    ("key sk-live-AbCdEfGhIjKlMnOpQrStUv used", "key <token> used"),
    ("github ghp_abcdefghijklmnopqrstuvwxyz0123456789 leaked", "github <token> leaked"),
    ("aws AKIAIOSFODNN7EXAMPLE here", "aws <token> here"),
    ("from 192.168.10.254:8080 and 10.0.0.1", "from <ip> and <ip>"),
    ("peer 2001:db8:85a3::8a2e:370:7334 down", "peer <ip> down"),
    ("peer fe80::1%eth0 and ::1 and ::ffff:10.0.0.1", "peer <ip> and <ip> and <ip>"),
    ("full 2001:0db8:0000:0000:0000:ff00:0042:8329", "full <ip>"),
    ("at 12:30:45 in std::vector of v1.2.3 code 500", "at 12:30:45 in std::vector of v1.2.3 code 500"),
    ("feature store read timed out after 30 ms", "feature store read timed out after 30 ms"),
])
def test_free_text_is_scrubbed_of_emails_tokens_and_ips(text: str, expected: str) -> None:
    assert sanitize_text(text) == expected


def test_a_cut_never_leaves_half_an_email() -> None:
    out = sanitize_text("x" * 1020 + " a@b.io", max_length=1024)
    assert len(out) <= 1024 and "a@b" not in out


def test_error_messages_are_scrubbed_in_every_signal(harness: Harness) -> None:
    harness.rt.error(component="api", severity="critical", error_code="UPSTREAM_DOWN",
                     message="upstream 10.2.3.4 rejected jane@example.org with Bearer abc.def.ghi")
    (record,) = harness.logs()
    assert record.log_record.attributes["message"] == "upstream <ip> rejected <email> with Bearer <token>"
