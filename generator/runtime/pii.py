"""PII handling inside the process: keyed pseudonyms for identifiers, scrubbing for free text.

Identifiers the spec marks ``pii: high`` (user and session ids) leave the process only as
HMAC-SHA256 under a secret key, as 64 lowercase hex characters. A plain SHA-256 of an id is *not* a
pseudonym: ids come from a small, guessable space (sequential numbers, emails, UUIDs seen in logs),
so anyone holding the hashes can hash every candidate and look the results up, a dictionary attack
that takes seconds. Without the key that lookup is impossible, and rotating the key unlinks old data.

The key comes from ``OBSGEN_PII_KEY`` (the key itself) or ``OBSGEN_PII_KEY_FILE`` (a file holding it,
e.g. a mounted secret). With neither, the runtime refuses to start, unless dev mode is on
(``OBSGEN_DEV_MODE=1`` or ``RuntimeConfig(dev_mode=True)``), which uses a fixed, public key and says
so loudly: pseudonyms made with it are as weak as plain hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from pathlib import Path

ENV_KEY = "OBSGEN_PII_KEY"
ENV_KEY_FILE = "OBSGEN_PII_KEY_FILE"
ENV_DEV_MODE = "OBSGEN_DEV_MODE"
MIN_KEY_BYTES = 16
DEV_KEY = b"obsgen-dev-mode-pii-key--NOT-A-SECRET--never-use-in-production"
"""The dev-mode key. It is public (it is in this file), so dev-mode pseudonyms protect nothing."""

_log = logging.getLogger("obsgen.runtime")


class PiiKeyError(RuntimeError):
    """No usable pseudonymisation key: the runtime will not start and leak raw or weakly hashed ids."""


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def load_key(explicit: bytes | str | None = None, dev_mode: bool | None = None) -> tuple[bytes, bool]:
    """The HMAC key and whether it is the dev key.

    Order: an explicit key, then ``OBSGEN_PII_KEY``, then the file named by ``OBSGEN_PII_KEY_FILE``,
    then (dev mode only) ``DEV_KEY``. Raises ``PiiKeyError`` naming the fix otherwise.
    """
    source = "RuntimeConfig.pii_key"
    key: bytes | None
    if explicit is not None:
        key = explicit.encode() if isinstance(explicit, str) else bytes(explicit)
    elif os.environ.get(ENV_KEY):
        key, source = os.environ[ENV_KEY].encode(), ENV_KEY
    elif os.environ.get(ENV_KEY_FILE):
        path = Path(os.environ[ENV_KEY_FILE])
        source = f"{ENV_KEY_FILE}={path}"
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise PiiKeyError(f"cannot read the PII key file {path} ({ENV_KEY_FILE}): {exc.strerror}; "
                              "mount the secret there or set OBSGEN_PII_KEY") from None
    else:
        key = None
    if key is None:
        if dev_mode if dev_mode is not None else env_flag(ENV_DEV_MODE):
            _log.warning("obsgen runtime in DEV MODE: user and session ids are pseudonymised with a fixed, public "
                         "key and can be reversed by dictionary. Never run dev mode with real users; set %s or "
                         "%s instead.", ENV_KEY, ENV_KEY_FILE)
            return DEV_KEY, True
        raise PiiKeyError(f"no PII pseudonymisation key: set {ENV_KEY} (a random secret of at least 32 bytes) "
                          f"or {ENV_KEY_FILE} (a file holding it); for local development only, set "
                          f"{ENV_DEV_MODE}=1 to use a fixed, public dev key")
    if len(key) < MIN_KEY_BYTES:
        raise PiiKeyError(f"the PII key from {source} is {len(key)} bytes; use at least {MIN_KEY_BYTES} "
                          "(32 random bytes recommended, e.g. `openssl rand -hex 32`)")
    return key, False


class Pseudonymizer:
    """Keyed HMAC-SHA256 of an identifier, as 64 lowercase hex characters.

    Every value is hashed, including one that already looks like 64 hex characters: the application
    passes raw ids, and a pre-hashed (plain SHA-256) id would otherwise slip through reversible.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, value: object) -> str:
        raw = value if isinstance(value, str) else str(value)
        return hmac.new(self._key, raw.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


# Free-text scrubbing. Order matters: tokens and emails before IPs, so an IP inside a URL token is gone
# with the token. Each pattern is deliberately generous; a false positive costs a word of a message.
_SCRUBBERS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers: "Bearer abc.def", "Basic dXNlcjpwYXNz", "token abc".
    (re.compile(r"\b(Bearer|Basic|Token|Digest)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE), r"\1 <token>"),
    # JSON Web Tokens anywhere.
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)?"), "<token>"),
    # key=value / key: value credentials (api_key=..., "password": "...", secret=..., access_token=...).
    (re.compile(r"""(?ix)\b((?:api[_-]?key|apikey|access[_-]?token|refresh[_-]?token|auth[_-]?token|token|secret|
                    client[_-]?secret|password|passwd|pwd|session[_-]?id|sessionid|signature|sig)
                    ["']?\s*[:=]\s*["']?)[^\s"'&,;]+"""), r"\1<redacted>"),
    # Well-known key shapes: sk-..., ghp_..., xoxb-..., AKIA..., AIza....
    (re.compile(r"\b(?:sk|pk|rk)[-_](?:live[-_]|test[-_])?[A-Za-z0-9]{16,}\b"), "<token>"),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9-]{10,})\b"),
     "<token>"),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "<token>"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "<token>"),
    # Emails.
    (re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"), "<email>"),
    # IPv6 (full, compressed, with embedded IPv4), before IPv4 so "::ffff:10.0.0.1" goes as one.
    (re.compile(r"(?<![0-9A-Za-z:.])(?:"
                r"(?:[0-9A-Fa-f]{0,4}:){2,6}(?:\d{1,3}\.){3}\d{1,3}"
                r"|(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
                r"|(?:[0-9A-Fa-f]{1,4}:){1,7}:"
                r"|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}"
                r"|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}"
                r"|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}"
                r"|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}"
                r"|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}"
                r"|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}"
                r"|:(?::[0-9A-Fa-f]{1,4}){1,7}"
                r")(?:%[0-9A-Za-z]+)?(?![0-9A-Za-z:]|\.\d)"), "<ip>"),
    # IPv4, optionally with a port.
    (re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?::\d{1,5})?(?![\d.])"),
     "<ip>"),
)


def sanitize_text(text: str, max_length: int | None = None) -> str:
    """``text`` with emails, credentials/tokens and IPv4/IPv6 addresses replaced by placeholders.

    Placeholders: ``<email>``, ``<token>``, ``<redacted>`` (the value of a ``key=value`` credential),
    ``<ip>``. The result is cut to ``max_length`` characters after scrubbing, so a secret cannot survive
    by being cut in half.
    """
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    if max_length is not None and len(text) > max_length:
        text = text[: max_length - 1] + "…"
    return text
