"""Typed field readers that collect errors instead of stopping at the first one."""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from obsgen.model.durations import Duration, parse_duration
from obsgen.spec.source import Document, Path_, SpecError, dotted

NAME = r"[a-z][a-z0-9_]*"
METRIC_NAME = r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*"
ATTRIBUTE_NAME = METRIC_NAME
"""Attribute names may be dotted like OpenTelemetry semantic conventions (``http.route``)."""
ALERT_NAME = r"[A-Z][A-Za-z0-9]*"
SLUG = r"[a-z][a-z0-9-]*"
UNIT = r"(\{[A-Za-z0-9_ .]+\}|[A-Za-z0-9/]+)"
_URL_CHARS = r"(?:[A-Za-z0-9._~:/?#\[\]!$&'()*+,;=-]|%[0-9A-Fa-f]{2})"
URL = rf"https?://(?:{_URL_CHARS}|@)+"
"""An http(s) URL of the characters RFC 3986 allows; others (spaces, quotes, braces: `{{` starts a Prometheus
template in an annotation) must be percent-encoded, and a ``%`` starts an escape."""
SERVICE_URL = rf"https?://(?:[A-Za-z0-9._~!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?(?:[/?#]{_URL_CHARS}*)?"
"""A URL Alertmanager sends to: a host (no ``user:password@``), an optional port, as Go's ``url.Parse`` reads it."""
UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
"""Characters that would break an error's one line or hide its text in a terminal (controls, bidi overrides)."""
MISSING = object()
QUOTE_FIX = ("quote it: YAML reads unquoted yes, no, on, off as booleans, ~ and null as nothing, and 010, 0x10, "
             "1_000, 12:30 as numbers")


class Checker:
    """Reads raw spec values at a path, recording a SpecError for anything wrong."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.errors: list[SpecError] = list(doc.errors)
        self.broken: dict[str, set[str]] = {}
        """Names declared with errors of their own, by noun ("an event"): references to them are not reported."""

    def mark_broken(self, noun: str, declared: Any, valid: Iterable[str]) -> None:
        """Names in ``declared`` (a raw mapping or list of names) that did not make it into ``valid``."""
        names = {n for n in declared if isinstance(n, str)} if isinstance(declared, (dict, list, set)) else set()
        self.broken[noun] = names - set(valid)

    def error(self, path: Path_, problem: str, fix: str, token: str = "") -> None:
        """Record a problem at ``path``; ``token`` (a word inside a multi-line text) moves the line to it.

        Paths the loader already reported (an ``.inf``, a duplicate key, …) are skipped: one error per problem.
        """
        if self.doc.was_reported(path):
            return
        where = dotted(path)
        line = self.doc.line_of(path)
        if token:
            line = self.doc.token_line(where, token, line)
        self.errors.append(SpecError(self.doc.source, line, printable(where), printable(problem), printable(fix)))

    def has_errors(self, section: str) -> bool:
        """Whether an error was recorded in ``section`` (so a later check can skip its follow-on errors)."""
        return any(e.path == section or e.path.startswith((section + ".", section + "[")) for e in self.errors)

    def mapping(self, value: Any, path: Path_, required: Iterable[str] = (),
                optional: Iterable[str] = ()) -> dict[str, Any] | None:
        """A mapping with exactly the known keys; ``None`` (after an error) if it is not one."""
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {kind_of(value)}", "write it as `key: value` lines")
            return None
        known = list(required) + list(optional)
        if known:
            for key in value:
                if key not in known:
                    close = difflib.get_close_matches(key, known, n=1)
                    hint = f" (did you mean `{close[0]}`?)" if close else ""
                    self.error(path + (key,), "unknown key",
                               f"remove it or fix the name{hint}; allowed keys: {', '.join(known)}")
            for key in required:
                if key not in value:
                    self.error(path, f"missing required key `{key}`", f"add `{key}:`")
        return value

    def string(self, value: Any, path: Path_, pattern: str | None = None, what: str = "") -> str | None:
        if not isinstance(value, str) or not value:
            self.error(path, f"expected a non-empty string, got {kind_of(value)}", "write a text value")
            return None
        if pattern and not re.fullmatch(pattern, value):
            self.error(path, f"`{value}` is not a valid {what or 'value'}", f"use a value matching {pattern}")
            return None
        return value

    def url(self, value: Any, path: Path_, pattern: str = URL, what: str = "URL", shape: str = "an http(s) URL"
            ) -> str | None:
        """An http(s) URL matching ``pattern`` (``URL``, ``SERVICE_URL``); ``what`` and ``shape`` name it."""
        if self.string(value, path) is None:
            return None
        if not re.fullmatch(pattern, value):
            self.error(path, f"`{value}` is not a valid {what}", f"write {shape}; percent-encode spaces, quotes, "
                       "braces, a lone % and other characters a URL does not allow (`{` is %7B)")
            return None
        return value

    def text(self, value: Any, path: Path_) -> str:
        """Free text (a description): a string, possibly empty; anything else is reported and read as ``""``."""
        if not isinstance(value, str):
            self.error(path, f"expected text, got {kind_of(value)}", "write the text as a (quoted) string")
            return ""
        return value

    def integer(self, value: Any, path: Path_, minimum: int = 0) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"expected a whole number, got {kind_of(value)}", f"write a whole number >= {minimum}")
            return None
        if value < minimum:
            self.error(path, f"{value} is below the minimum {minimum}", f"use a value >= {minimum}")
            return None
        return value

    def field(self, value: Any, path: Path_, fields: Iterable[str], event: str, fix: str) -> str | None:
        """The name of one of ``event``'s ``fields``."""
        names = sorted(fields)
        if not isinstance(value, str) or value not in names:
            self.error(path, f"{shown(value)} is not a field of event `{event}`",
                       f"{fix} (one of: {', '.join(names) or 'none'})")
            return None
        return value

    def choice(self, value: Any, path: Path_, choices: Iterable[str]) -> str | None:
        options = list(choices)
        if not isinstance(value, str) or value not in options:
            self.error(path, f"{shown(value)} is not one of {', '.join(options)}", f"use one of {', '.join(options)}")
            return None
        return str(value)

    def boolean(self, value: Any, path: Path_) -> bool | None:
        if not isinstance(value, bool):
            self.error(path, f"expected true or false, got {kind_of(value)}", "write true or false")
            return None
        return value

    def number(self, value: Any, path: Path_, minimum: Decimal | None = None,
               maximum: Decimal | None = None) -> Decimal | None:
        """A number kept as Decimal from its written form, so thresholds stay float-clean."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.error(path, f"expected a number, got {kind_of(value)}", "write a number such as 0.95")
            return None
        try:
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:
            self.error(path, "not a finite number", "write a finite number")
            return None
        if not number.is_finite():
            self.error(path, "not a finite number", "write a finite number")
            return None
        if minimum is not None and number < minimum:
            self.error(path, f"{value} is below the minimum {minimum}", f"use a value >= {minimum}")
            return None
        if maximum is not None and number > maximum:
            self.error(path, f"{value} is above the maximum {maximum}", f"use a value <= {maximum}")
            return None
        return number

    def duration(self, value: Any, path: Path_) -> Duration | None:
        fix = "write a Prometheus duration of at least 1s, such as 30s, 5m, 1h, 2d"
        if not isinstance(value, str):
            self.error(path, f"expected a duration, got {kind_of(value)}", fix)
            return None
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.error(path, str(exc), fix)
            return None

    def string_list(self, value: Any, path: Path_, allow_empty: bool = True) -> list[str]:
        """The list's names; an item that is not a string is reported at its index and left out."""
        if not isinstance(value, list):
            self.error(path, f"expected a list of names, got {kind_of(value)}", "write a list such as [a, b]")
            return []
        if not value and not allow_empty:
            self.error(path, "the list is empty", "name at least one entry")
        seen: set[str] = set()
        for i, item in enumerate(value):
            if not isinstance(item, str):
                self.error(path + (i,), f"expected a name, got {kind_of(item)}",
                           "write each entry as a name" if isinstance(item, (list, dict)) else QUOTE_FIX)
            elif item in seen:
                self.error(path + (i,), f"`{item}` is listed twice", "remove the duplicate")
            else:
                seen.add(item)
        return [item for item in value if isinstance(item, str)]

    def reference(self, value: Any, path: Path_, known: Iterable[str], section: str, noun: str) -> str | None:
        """A name that must exist among ``known``, the names declared under ``section`` (``noun``: "an attribute")."""
        names = sorted(known)
        if not isinstance(value, str) or value not in names:
            if isinstance(value, str) and value in self.broken.get(noun, ()):
                return None  # declared, with errors reported where it is declared
            if not isinstance(value, str):
                self.error(path, f"expected the name of {noun}, got {kind_of(value)}", f"write a name from `{section}`")
                return None
            close = difflib.get_close_matches(value, names, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"declare it under `{section}` first"
            self.error(path, f"`{value}` is not {noun} declared under `{section}`", f"use one of those names ({hint})")
            return None
        return value


MAX_WIDTH = 64
"""The widest field a ``str.format`` template of the spec may format: identifiers and messages, not padding."""


def too_wide(template: str) -> str | None:
    """The first format spec of ``template`` wider than ``MAX_WIDTH`` or taking its width from another field
    (``{n:0999999999d}`` formats a gigabyte every time); ``ValueError`` if the template does not parse."""
    return next((spec for _, field, spec, _ in string.Formatter().parse(template) if field is not None and spec
                 and ("{" in spec or any(int(n) > MAX_WIDTH for n in re.findall(r"\d+", spec)))), None)


def wide_problem(spec: str) -> tuple[str, str]:
    """The problem and fix of a ``too_wide`` format spec."""
    return (f"the format spec `{spec}` is too wide",
            f"use widths and precisions up to {MAX_WIDTH} and no nested fields, e.g. {{n:07d}}")


def printable(text: str) -> str:
    """``text`` with the characters of ``UNPRINTABLE`` written as escapes (``\\n``, ``\\u202e``)."""
    return UNPRINTABLE.sub(lambda match: match[0].encode("unicode_escape").decode("ascii"), text)


def shown(value: Any) -> str:
    """A value as a message names it: a string in backticks, anything else by its kind."""
    return f"`{value}`" if isinstance(value, str) else kind_of(value)


def kind_of(value: Any) -> str:
    """How a value is named in messages: `the string `x``, `a number (3)`, `a mapping`, …"""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"the string `{value}`"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
