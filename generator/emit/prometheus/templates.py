"""Prometheus alert-template functions, as in prometheus/template/template.go.

Generated promtool tests must state the exact rendered annotations, so obsgen renders its own
description templates the way Prometheus does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

_SMALL_PREFIXES = ("m", "u", "n", "p", "f", "a", "z", "y")
_LARGE_PREFIXES = ("k", "M", "G", "T", "P", "E", "Z", "Y")


def _go_g(value: float) -> str:
    """Go's ``%.4g``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def _scale_small(value: float) -> tuple[float, str]:
    """Multiply a value below 1 by 1000 until it is at least 1, collecting the SI prefix."""
    prefix = ""
    for p in _SMALL_PREFIXES:
        if abs(value) >= 1:
            break
        prefix, value = p, value * 1000
    return value, prefix


def humanize(value: float) -> str:
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _go_g(value)
    if abs(value) >= 1:
        prefix = ""
        for p in _LARGE_PREFIXES:
            if abs(value) < 1000:
                break
            prefix, value = p, value / 1000
        return f"{_go_g(value)}{prefix}"
    value, prefix = _scale_small(value)
    return f"{_go_g(value)}{prefix}"


def humanize_percentage(value: float) -> str:
    return f"{_go_g(value * 100)}%"


def humanize_duration(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return _go_g(value)
    if value == 0:
        return f"{_go_g(value)}s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        days, rem = divmod(int(abs(value)), 86400)
        hours, rem = divmod(rem, 3600)
        minutes, seconds = divmod(rem, 60)
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_go_g(abs(value))}s"
    value, prefix = _scale_small(value)
    return f"{_go_g(value)}{prefix}s"


_FUNCS = {"humanize": humanize, "humanizePercentage": humanize_percentage, "humanizeDuration": humanize_duration}
_OPEN = '{{ "{{" }}'
"""A literal ``{{`` in a Go template: the action prints the string."""
_TEMPLATE = re.compile(r"\{\{ \$value \| (" + "|".join(_FUNCS) + r") \}\}|\{\{ \$labels\.(\w+) \}\}|("
                       + re.escape(_OPEN) + ")")
SUPPORTED = "{{ $value | humanize }} (or humanizePercentage, humanizeDuration), {{ $labels.<label> }}, " + _OPEN
"""The templates ``render_template`` renders, as a message lists them."""


def literal(text: str) -> str:
    """``text`` as a Prometheus annotation template that renders to ``text`` itself (spec prose may hold ``{{``)."""
    return text.replace("{{", _OPEN)


def unsupported_action(text: str) -> str | None:
    """The first ``{{`` action in ``text`` that ``render_template`` cannot render (so no test could expect it)."""
    start = 0
    while (at := text.find("{{", start)) != -1:
        match = _TEMPLATE.match(text, at)
        if match is None:
            end = text.find("}}", at)
            return text[at:end + 2] if end != -1 else text[at:at + 40]
        start = match.end()
    return None


def render_template(text: str, labels: Mapping[str, str], value: float) -> str:
    """The subset of Prometheus alert templating obsgen writes: ``$value | fn``, ``$labels.x`` and a literal ``{{``."""
    def substitute(match: re.Match[str]) -> str:
        if match.group(1):
            return _FUNCS[match.group(1)](value)
        if match.group(3):
            return "{{"
        return labels.get(match.group(2), "")
    return _TEMPLATE.sub(substitute, text)
