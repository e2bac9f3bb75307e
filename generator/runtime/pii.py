"""PII handling inside the process: keyed pseudonyms for identifiers, scrubbing for everything else.

Identifiers the spec marks ``pii: high`` (user and session ids) leave the process only as
HMAC-SHA256 under a secret key, as 64 lowercase hex characters. A plain SHA-256 of an id is *not* a
pseudonym: ids come from a small, guessable space (sequential numbers, emails, UUIDs seen in logs),
so anyone holding the hashes can hash every candidate and look the results up, a dictionary attack
that takes seconds. Without the key that lookup is impossible, and rotating the key unlinks old data.

Keys: ``OBSGEN_PII_KEY`` (the current key) or ``OBSGEN_PII_KEY_FILE`` (a file holding it, one key a
line: the first is current, any further lines are previous keys), plus ``OBSGEN_PII_PREVIOUS_KEYS``
(comma-separated previous keys). Each key has a *key id*, derived from the key by HMAC (it reveals
nothing about the key); the runtime exports the current one as the resource attribute
``obsgen.pii.key_id`` so a pseudonym's key is known while the pseudonym keeps the 64-hex format, and
``Telemetry.pseudonyms(raw)`` gives a raw value's pseudonym under every key for lookups across a
rotation. Weak keys (short, low entropy, a repeated or running sequence, whitespace-only or padded)
are refused. With no key, the runtime refuses to start, unless dev mode is on (``OBSGEN_DEV_MODE=1``
or ``RuntimeConfig(dev_mode=True)``), which uses a fixed, public key and says so loudly.

Free text is scrubbed in time linear in its length: the text is cut to its limit *first* (at a word
boundary, so no secret survives cut in half), the raw values of the high-PII fields seen in the same
context (and their plain SHA-256 and MD5) are replaced in one pass, and the patterns below have no
backtracking: every unbounded repetition is possessive and every pattern can only start where a run
of its characters starts.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsgen.model import Attribute, Event

ENV_KEY = "OBSGEN_PII_KEY"
ENV_KEY_FILE = "OBSGEN_PII_KEY_FILE"
ENV_PREVIOUS_KEYS = "OBSGEN_PII_PREVIOUS_KEYS"
ENV_DEV_MODE = "OBSGEN_DEV_MODE"
KEY_ID_ATTRIBUTE = "obsgen.pii.key_id"
MIN_KEY_BYTES = 16
MIN_KEY_BITS = 32.0
"""Lower bound of the key's estimated entropy (Shannon, per byte, times its length)."""
DEV_KEY = b"obsgen-dev-mode-pii-key--NOT-A-SECRET--never-use-in-production"
"""The dev-mode key. It is public (it is in this file), so dev-mode pseudonyms protect nothing."""

DEFAULT_MAX_TEXT = 1024
"""Characters kept of a free-text field without a ``max_length`` (``RuntimeConfig.max_text_length``)."""
MIN_RAW_LENGTH = 4
"""Raw values shorter than this are not replaced in free text: they would wreck it and carry little."""
MAX_RAW_LENGTH = 256
MAX_RAW_VALUES = 16
"""Raw values remembered per context (each with its SHA-256 and MD5 hex)."""

_log = logging.getLogger("obsgen.runtime")


class PiiKeyError(RuntimeError):
    """No usable pseudonymisation key: the runtime will not start and leak raw or weakly hashed ids."""


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


# -- keys ----------------------------------------------------------------------------------------------


def key_id(key: bytes) -> str:
    """16 hex characters naming ``key`` without revealing it (an HMAC under the key of a fixed label)."""
    return hmac.new(key, b"obsgen pii key id", hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class KeyRing:
    """The current key (pseudonyms are made with it) and previous keys (for lookups across a rotation)."""

    current: bytes
    previous: tuple[bytes, ...] = ()
    dev: bool = False

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id(k) for k in (self.current, *self.previous))


def weak_key_reason(key: bytes) -> str | None:
    """Why ``key`` is too weak to pseudonymise with, or ``None``."""
    if not key.strip():
        return "is empty or whitespace only"
    if key != key.strip():
        return "starts or ends with whitespace (a padded or pasted key); remove it"
    if len(key) < MIN_KEY_BYTES:
        return f"is {len(key)} bytes; use at least {MIN_KEY_BYTES}"
    counts = Counter(key)
    bits = max(0.0, -sum(c * math.log2(c / len(key)) for c in counts.values()))
    if bits < MIN_KEY_BITS:
        return f"has about {bits:.0f} bits of entropy (too few distinct characters); use at least {MIN_KEY_BITS:.0f}"
    steps = Counter(b - a for a, b in zip(key, key[1:], strict=False))
    if steps.most_common(1)[0][1] * 4 >= (len(key) - 1) * 3:
        return "is mostly a repeated or running sequence"
    return None


def _checked(key: bytes, source: str) -> bytes:
    reason = weak_key_reason(key)
    if reason is not None:
        raise PiiKeyError(f"the PII key from {source} {reason} — use 32 random bytes, e.g. `openssl rand -hex 32`")
    return key


def _file_keys(path: Path) -> list[bytes]:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise PiiKeyError(f"cannot read the PII key file {path} ({ENV_KEY_FILE}): {exc.strerror}; "
                          "mount the secret there or set OBSGEN_PII_KEY") from None
    # Only line ends are removed: other whitespace is part of what the weak-key check judges.
    lines = [line.removesuffix(b"\r") for line in text.split(b"\n")]
    while lines and lines[-1] == b"":
        lines.pop()
    return lines


def load_keys(explicit: bytes | str | None = None, previous: Sequence[bytes | str] = (),
              dev_mode: bool | None = None) -> KeyRing:
    """The key ring: an explicit key, else ``OBSGEN_PII_KEY``, else the file ``OBSGEN_PII_KEY_FILE`` names,
    else (dev mode only) ``DEV_KEY``; previous keys from ``previous``, the key file's later lines and
    ``OBSGEN_PII_PREVIOUS_KEYS``. Raises ``PiiKeyError`` naming the fix for a missing or weak key."""
    env = os.environ
    olds: list[tuple[bytes, str]] = [(_bytes(k), "RuntimeConfig.pii_previous_keys") for k in previous]
    key: bytes | None
    source = "RuntimeConfig.pii_key"
    if explicit is not None:
        key = _bytes(explicit)
    elif env.get(ENV_KEY):
        key, source = env[ENV_KEY].encode(), ENV_KEY
    elif env.get(ENV_KEY_FILE):
        path = Path(env[ENV_KEY_FILE])
        source = f"{ENV_KEY_FILE}={path}"
        lines = _file_keys(path)
        key = lines[0] if lines else b""
        olds += [(k, f"{source} (line {i})") for i, k in enumerate(lines[1:], 2)]
    else:
        key = None
    if env.get(ENV_PREVIOUS_KEYS):
        olds += [(k.encode(), ENV_PREVIOUS_KEYS) for k in env[ENV_PREVIOUS_KEYS].split(",")]
    if key is None:
        if dev_mode if dev_mode is not None else env_flag(ENV_DEV_MODE):
            _log.warning("obsgen runtime in DEV MODE: user and session ids are pseudonymised with a fixed, public "
                         "key and can be reversed by dictionary. Never run dev mode with real users; set %s or "
                         "%s instead.", ENV_KEY, ENV_KEY_FILE)
            return KeyRing(DEV_KEY, dev=True)
        raise PiiKeyError(f"no PII pseudonymisation key: set {ENV_KEY} (a random secret of at least 32 bytes) "
                          f"or {ENV_KEY_FILE} (a file holding it); for local development only, set "
                          f"{ENV_DEV_MODE}=1 to use a fixed, public dev key")
    current = _checked(key, source)
    kept: list[bytes] = []
    for old, where in olds:
        if old != current and old not in kept:
            kept.append(_checked(old, f"{where} (a previous key)"))
    return KeyRing(current, tuple(kept))


def load_key(explicit: bytes | str | None = None, dev_mode: bool | None = None) -> tuple[bytes, bool]:
    """The current HMAC key and whether it is the dev key (see ``load_keys``)."""
    ring = load_keys(explicit, dev_mode=dev_mode)
    return ring.current, ring.dev


def _bytes(key: bytes | str) -> bytes:
    return key.encode() if isinstance(key, str) else bytes(key)


def id_text(value: object) -> str:
    """The text of a raw id: a str as it is, bytes (from Redis, a socket) decoded as UTF-8, else ``str(value)``.

    ``str(b"u-1")`` is ``"b'u-1'"``: a bytes id would get another pseudonym than the same id as text, and the id
    would not be found in free text.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "surrogateescape")
    return str(value)


def fold(text: str) -> str:
    """``text`` lower-cased for finding raw values, as long as ``text`` (positions match) and matched by the
    ``re.IGNORECASE`` pattern of what it finds: ``str.lower`` turns ``İ`` into two characters (``i`` and a
    combining dot), which that pattern does not match against ``İ``, and gives ``Σ`` two lower cases."""
    return text.replace("\u0130", "I").lower().replace("\u03c2", "\u03c3")


class Pseudonymizer:
    """Keyed HMAC-SHA256 of an identifier, as 64 lowercase hex characters.

    Every value is hashed, including one that already looks like 64 hex characters: the application
    passes raw ids, and a pre-hashed (plain SHA-256) id would otherwise slip through reversible.
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, value: object) -> str:
        raw = id_text(value)
        return hmac.new(self._key, raw.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


# -- raw values seen in a context --------------------------------------------------------------------


class RawValues:
    """The raw high-PII values seen in one context, ready to be cut out of free text.

    Each value is matched case-insensitively, as is its plain SHA-256 and MD5 hex (an application that
    "anonymised" an id by hashing it exports a reversible value), and replaced by ``<field>``.
    Immutable: a context extends its parent's with ``plus``.
    """

    __slots__ = ("_needles",)

    def __init__(self, needles: Mapping[str, str] | None = None) -> None:
        self._needles: dict[str, str] = dict(needles or {})
        """lower-cased needle -> placeholder."""

    @classmethod
    def of(cls, values: Iterable[tuple[str, object]]) -> RawValues:
        return EMPTY.plus(values)

    def plus(self, values: Iterable[tuple[str, object]]) -> RawValues:
        """A copy that also knows ``values`` (``(field, raw value)`` pairs); ``self`` when nothing is new."""
        needles = None
        for field, value in values:
            raw = id_text(value)[:MAX_RAW_LENGTH]
            low = fold(raw)
            if len(raw) < MIN_RAW_LENGTH or low in self._needles or (needles is not None and low in needles):
                continue
            if needles is None:
                needles = dict(self._needles)
            if len(needles) >= MAX_RAW_VALUES * 3:
                break
            placeholder = f"<{field}>"
            data = raw.encode("utf-8", "surrogatepass")
            needles[low] = placeholder
            needles[hashlib.sha256(data).hexdigest()] = placeholder
            needles[hashlib.md5(data, usedforsecurity=False).hexdigest()] = placeholder
        return self if needles is None else RawValues(needles)

    def merged(self, other: RawValues) -> RawValues:
        """The values of both (``self``'s first when the bound on values is reached)."""
        if not other._needles or other is self:
            return self
        if not self._needles:
            return other
        needles = dict(self._needles)
        for needle, placeholder in other._needles.items():
            if len(needles) >= MAX_RAW_VALUES * 3:
                break
            needles.setdefault(needle, placeholder)
        return RawValues(needles)

    def __bool__(self) -> bool:
        return bool(self._needles)

    def __len__(self) -> int:
        return len(self._needles)

    @property
    def size(self) -> int:
        """Approximate bytes held (for the join cache's byte budget)."""
        return sum(len(n) + len(p) + 120 for n, p in self._needles.items())

    def found(self, low: str) -> bool:
        """Whether ``low`` (``fold``-ed) holds any known value."""
        return any(n in low for n in self._needles)

    def replace(self, text: str) -> str:
        """``text`` with every known value replaced: one substring test per value, one regex pass on a hit."""
        if not self._needles:
            return text
        low = fold(text)
        hits = [n for n in self._needles if n in low]
        if not hits:
            return text
        hits.sort(key=len, reverse=True)  # the longest first: a value containing another goes whole
        needles = self._needles
        pattern = re.compile("|".join(map(re.escape, hits)), re.IGNORECASE)
        return pattern.sub(lambda m: needles.get(fold(m.group()), "<redacted>"), text)


EMPTY = RawValues()


# -- patterns ------------------------------------------------------------------------------------------
# Linear by construction (tests/security/test_scrub.py checks the shape): every unbounded repetition is
# possessive (`++`, `*+`), so nothing is ever re-tried, and every pattern is anchored where a run of its
# characters starts (a literal after `\b`, or a negative look-behind on its own class), so a run is
# scanned from one start, not from each of its characters. Order matters: tokens and emails before IPs.

_LOCAL = r"A-Za-z0-9.!#$%&'*+/=?^_`{|}~-"
_ANY = ("",)
PATTERNS: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    # (pattern, replacement, triggers): a pattern runs only on a text holding one of its triggers
    # (lower-cased), a substring test at a few nanoseconds a character.
    # Authorization headers: "Bearer abc.def", "Basic dXNlcjpwYXNz", "token abc".
    (re.compile(r"\b(Bearer|Basic|Token|Digest)\s++[A-Za-z0-9\-._~+/]++=*+", re.IGNORECASE), r"\1 <token>",
     ("bearer", "basic", "token", "digest")),
    # JSON Web Tokens anywhere.
    (re.compile(r"\beyJ[A-Za-z0-9_-]++\.[A-Za-z0-9_-]++(?:\.[A-Za-z0-9_-]++)?+"), "<token>", ("eyj",)),
    # key=value / key: value credentials (api_key=..., "password": "...", secret=..., access_token=...).
    (re.compile(r"""(?ix)\b((?:api[_-]?key|apikey|access[_-]?token|refresh[_-]?token|auth[_-]?token|token|secret|
                    client[_-]?secret|password|passwd|pwd|session[_-]?id|sessionid|signature|sig)
                    ["']?\s*+[:=]\s*+["']?)[^\s"'&,;]++"""), r"\1<redacted>",
     ("key", "token", "secret", "passw", "pwd", "session", "sig")),
    # Well-known key shapes: sk-..., ghp_..., xoxb-..., AKIA..., AIza....
    (re.compile(r"\b(?:sk|pk|rk)[-_](?:live[-_]|test[-_])?+[A-Za-z0-9]{16,}+(?![A-Za-z0-9_])"), "<token>",
     ("sk-", "sk_", "pk-", "pk_", "rk-", "rk_")),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}+|github_pat_[A-Za-z0-9_]{20,}+|xox[abprs]-[A-Za-z0-9-]{10,}+)"
                r"(?![A-Za-z0-9_])"), "<token>", ("gh", "xox")),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "<token>", ("akia", "asia")),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "<token>", ("aiza",)),
    # Emails: the local part from the start of its run only, then dot-separated labels.
    (re.compile(rf"(?<![{_LOCAL}])[{_LOCAL}]++@[A-Za-z0-9-]{{1,63}}+(?:\.[A-Za-z0-9-]{{1,63}}+)++"), "<email>",
     ("@",)),
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
                r")(?:%[0-9A-Za-z]++)?+(?![0-9A-Za-z:]|\.\d)"), "<ip>", (":",)),
    # IPv4, optionally with a port.
    (re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?::\d{1,5})?"
                r"(?![\d.])"), "<ip>", (".",)),
    # Opaque tokens: a run of 40+ base64/url-safe characters holding both letters and digits.
    (re.compile(r"(?<![A-Za-z0-9+/_=-])(?=[A-Za-z+/_-]*+[0-9])(?=[0-9+/_-]*+[A-Za-z])[A-Za-z0-9+/_-]{40,}+=*+"),
     "<token>", _ANY),
)
SENSITIVE_PATTERNS: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    # Only in fields the spec marks `pii: low` or `high`: hex digests, card-like numbers, long digit runs.
    (re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{32,}+(?![0-9A-Za-z])"), "<hex>", _ANY),
    (re.compile(r"(?<![0-9])[0-9](?:[ -]?+[0-9]){12,18}+(?![0-9])"), "<number>", _ANY),
    (re.compile(r"(?<![0-9])[0-9]{9,}+(?![0-9])"), "<number>", _ANY),
)
_has_digit = re.compile(r"[0-9]").search
_SURROGATE = re.compile("[\ud800-\udfff]")
_TRIGGERED = re.compile("|".join(map(re.escape, sorted({t for _, _, ts in PATTERNS for t in ts if t})))).search
"""Finds any trigger but the empty one (the opaque-token pattern's, which needs a run of 40+ characters)."""
_TOKEN_RUN = 40
_BOUNDARIES = " \t\n\r\f\v,;|\"'<>()[]{}&"
"""Where a text may be cut: a secret, an email or a raw id never contains these, so it is cut whole."""


def bound(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at the last boundary before the limit, marked ``…``.

    A single unbroken run longer than the limit (a base64 blob) goes entirely. Costs O(limit).
    """
    if len(text) <= limit:
        return text
    head = text[: max(limit - 1, 0)]
    cut = max(head.rfind(c) for c in _BOUNDARIES)
    return head[: cut + 1] + "…"


def sanitize_text(text: str, max_length: int | None = None, raw: RawValues = EMPTY, sensitive: bool = False) -> str:
    """``text`` bounded, then with raw values, credentials/tokens, emails and IPs replaced by placeholders.

    ``max_length`` (default ``DEFAULT_MAX_TEXT``) bounds the text *before* any pattern runs, at a word
    boundary (see ``bound``); placeholders: ``<field>`` (a raw value of that high-PII field, or its plain
    hash), ``<token>``, ``<redacted>`` (the value of a ``key=value`` credential), ``<email>``, ``<ip>``;
    with ``sensitive`` also ``<hex>`` (32+ hex digits) and ``<number>`` (card-like numbers, 9+ digits).
    """
    limit = DEFAULT_MAX_TEXT if max_length is None else max_length
    text = bound(text, limit)
    if raw:
        text = raw.replace(text)
    low = text.lower()
    for pattern, replacement, triggers in PATTERNS:
        if any(t in low for t in triggers):
            text = pattern.sub(replacement, text)
    if sensitive and _has_digit(text):
        for pattern, replacement, _ in SENSITIVE_PATTERNS:
            text = pattern.sub(replacement, text)
    if not text.isascii():  # (a flag: free to read) a lone surrogate, as JSON's "\ud800" makes, is no UTF-8: the
        text = _SURROGATE.sub("\ufffd", text)  # exporters would leave the whole field out, an error each time
    return bound(text, limit)  # placeholders may be longer than what they replace


def sanitize_items(items: list[Any], limit: int, raw: RawValues = EMPTY, sensitive: bool = False) -> list[Any]:
    """A string array's items, each bounded to ``limit`` and scrubbed like free text (see ``sanitize_text``).

    Arrays are mostly short ids that nothing matches, so one probe over the joined, bounded items decides
    whether any item needs the full scrub: no raw value, no pattern trigger, no digit in a sensitive field,
    no item long enough to be an opaque token and nothing but ASCII means every item is left as it is.
    """
    strings = [x for x in items if type(x) is str]
    longest = max(map(len, strings), default=0)
    out = [bound(x, limit) if type(x) is str else x for x in items] if longest > limit else list(items)
    probe = fold("\n".join(x for x in out if type(x) is str))
    if (longest >= _TOKEN_RUN or _TRIGGERED(probe) or (raw and raw.found(probe)) or (sensitive and _has_digit(probe))
            or not probe.isascii()):
        return [sanitize_text(x, limit, raw, sensitive) if type(x) is str else x for x in out]
    return out


# -- objects -----------------------------------------------------------------------------------------

MAX_OBJECT_DEPTH = 4
_SCALARS = (int, float, bool)
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


class TooLarge(ValueError):
    """An object attribute over its byte budget or nesting depth, or holding a non-JSON value."""


def scrub_object(value: Any, budget: int, raw: RawValues, sensitive: bool) -> Any:
    """A scrubbed copy of a JSON-like value (keys and strings scrubbed), at most ``budget`` bytes of text.

    Raises ``TooLarge`` (the caller drops the field) rather than cut a structure in two. Work is bounded
    by the budget: the walk stops as soon as it is spent.
    """
    left = [budget]

    def spend(n: int) -> None:
        left[0] -= n
        if left[0] < 0:
            raise TooLarge(f"is larger than {budget} bytes")

    def text(s: str) -> str:
        spend(len(s) + 2)
        return sanitize_text(s, budget, raw, sensitive)

    def walk(v: Any, depth: int) -> Any:
        if depth > MAX_OBJECT_DEPTH:
            raise TooLarge(f"nests deeper than {MAX_OBJECT_DEPTH} levels")
        if isinstance(v, str):
            return text(v)
        if v is None or isinstance(v, _SCALARS):
            spend(8)
            if isinstance(v, float) and not math.isfinite(v):  # json.dumps writes NaN: the span's JSON is invalid
                raise TooLarge("holds NaN or an infinity, which JSON cannot carry")
            if isinstance(v, int) and not _INT64_MIN <= v <= _INT64_MAX:  # OTLP drops the log record's attribute
                raise TooLarge("holds an integer outside 64 bits, which OpenTelemetry cannot carry")
            return v
        if isinstance(v, Mapping):
            spend(2)
            return {text(str(k)): walk(x, depth + 1) for k, x in v.items()}
        if isinstance(v, list | tuple):
            spend(2)
            return [walk(x, depth + 1) for x in v]
        raise TooLarge("holds a value that is not JSON (string, number, boolean, null, list or object)")

    return walk(value, 0)


# -- per event: which fields hold text ----------------------------------------------------------------


@dataclass(frozen=True)
class TextPlan:
    """Which fields of an event can carry a raw value, and how each is scrubbed."""

    free_text: tuple[tuple[str, int | None, bool], ...]
    """(field, max_length, sensitive): strings nothing constrains; bounded, raw values and patterns."""
    strings: tuple[str, ...]
    """Other strings that could hold any value (patterned ones): raw values replaced."""
    string_arrays: tuple[tuple[str, int | None, int | None, bool], ...]
    """(field, max_length, max_items, sensitive): arrays of strings, each item bounded and scrubbed like free
    text (``max_length`` bounds an item), the array bounded at ``max_items``."""
    objects: tuple[tuple[str, bool], ...]
    """(field, sensitive): object attributes, scrubbed whole and bounded in bytes."""


def text_plan(event: Event, attributes: Mapping[str, Attribute]) -> TextPlan:
    attrs = [attributes[f] for f in event.fields]
    return TextPlan(
        free_text=tuple((a.name, a.max_length, a.pii != "none") for a in attrs if a.free_text and a.pii != "high"),
        strings=tuple(a.name for a in attrs if a.type == "string" and a.pattern is not None and a.enum is None
                      and a.pii != "high"),
        string_arrays=tuple((a.name, a.max_length, a.max_items, a.pii != "none") for a in attrs
                            if a.type == "array" and a.items == "string" and a.enum is None and a.pii != "high"),
        objects=tuple((a.name, a.pii != "none") for a in attrs if a.type == "object"),
    )
