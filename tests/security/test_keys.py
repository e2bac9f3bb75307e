"""PII keys: weak ones refused with a clear error, a key id beside every pseudonym, previous keys for a rotation."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from obsgen.model import Model
from obsgen.runtime import PiiKeyError
from obsgen.runtime.pii import KEY_ID_ATTRIBUTE, key_id, load_keys

from tests.test_runtime_harness import Harness, journey

CURRENT = "b7Qm2Xz9Lk4Rt8Vw1Np6Hs3Jd5Fg0Ce7"
PREVIOUS = "Yh3Ks8Pq1Wm6Zr9Tb4Vn2Lx7Cd5Gf0Ja"
KEY_ENV = ("OBSGEN_PII_KEY", "OBSGEN_PII_KEY_FILE", "OBSGEN_PII_PREVIOUS_KEYS", "OBSGEN_DEV_MODE")


@pytest.fixture(autouse=True)
def no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("key", "reason"), [
    (" " * 16, "whitespace only"),
    ("\t \n" * 8, "whitespace only"),
    (f"  {CURRENT}  ", "padded"),
    (f"{CURRENT}\n", "padded"),
    ("k" * 32, "bits of entropy"),
    ("abababababababababababab", "bits of entropy"),
    ("0123456789abcdef0123456789abcdef", "sequence"),
    ("short-key", "at least 16"),
])
def test_weak_keys_are_refused_with_the_reason_and_the_fix(key: str, reason: str) -> None:
    with pytest.raises(PiiKeyError, match=reason) as info:
        load_keys(key)
    assert "openssl rand -hex 32" in str(info.value)


def test_a_weak_previous_key_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSGEN_PII_PREVIOUS_KEYS", " " * 20)
    with pytest.raises(PiiKeyError, match="OBSGEN_PII_PREVIOUS_KEYS .*whitespace only"):
        load_keys(CURRENT)


def test_random_keys_are_accepted() -> None:
    import secrets

    for _ in range(50):
        assert load_keys(secrets.token_hex(32)).current
        assert load_keys(secrets.token_hex(8)).current  # 16 hex characters, the minimum length


def test_the_key_file_holds_the_current_key_then_previous_ones(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "pii.key"
    key_file.write_text(f"{CURRENT}\r\n{PREVIOUS}\n")
    monkeypatch.setenv("OBSGEN_PII_KEY_FILE", str(key_file))
    ring = load_keys()
    assert ring.current == CURRENT.encode() and ring.previous == (PREVIOUS.encode(),)
    assert ring.ids == (key_id(CURRENT.encode()), key_id(PREVIOUS.encode()))
    key_file.write_text(" " * 16 + "\n")
    with pytest.raises(PiiKeyError, match="whitespace only"):
        load_keys()


def test_pseudonyms_keep_the_64_hex_format_and_the_resource_names_the_key(model: Model) -> None:
    h = Harness(model, pii_key=CURRENT, pii_previous_keys=[PREVIOUS])
    try:
        journey(h.rt, user="user-0042")
        (request,) = [s for s in h.spans() if s.name == "recommend.request"]
        pseudonym = request.attributes["user_id"]
        assert pseudonym == hmac.new(CURRENT.encode(), b"user-0042", hashlib.sha256).hexdigest()
        assert request.resource.attributes[KEY_ID_ATTRIBUTE] == h.rt.key_id == key_id(CURRENT.encode())
        assert all(r.resource.attributes[KEY_ID_ATTRIBUTE] == h.rt.key_id for r in h.logs())
        assert h.rt.pseudonyms("user-0042") == {
            key_id(CURRENT.encode()): pseudonym,
            key_id(PREVIOUS.encode()): hmac.new(PREVIOUS.encode(), b"user-0042", hashlib.sha256).hexdigest()}
        assert len(h.rt.key_id) == 16 and CURRENT not in h.rt.key_id
    finally:
        h.close()
