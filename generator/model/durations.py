"""Prometheus durations (``30s``, ``5m``, ``2d``): the one parser the spec reader and every emitter use."""

from __future__ import annotations

import re

from obsgen.model.record import record

DURATION_RE = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
"""Seconds per Prometheus duration unit (``ms`` is handled apart: it is a fraction of a second)."""


@record
class Duration:
    """A Prometheus duration such as ``5m`` or ``1d``, kept as written and in whole seconds."""

    text: str
    seconds: int

    def __str__(self) -> str:
        return self.text


def parse_duration(text: object) -> Duration:
    """``5m`` → ``Duration("5m", 300)``; ``ValueError`` for anything that is not a positive duration.

    Only single-unit durations are accepted (``90m``, not ``1h30m``), so every generated file spells a
    duration the way the spec does.
    """
    match = DURATION_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"`{text}` is not a duration")
    amount, unit = int(match.group(1)), match.group(2)
    seconds = amount // 1000 if unit == "ms" else amount * UNIT_SECONDS[unit]
    if seconds <= 0:
        raise ValueError("duration must be positive")
    return Duration(str(text), seconds)


def duration_of(seconds: int) -> Duration:
    """The duration of ``seconds`` in the largest single unit that divides it: 19800 → ``330m``."""
    unit = next(u for u, s in sorted(UNIT_SECONDS.items(), key=lambda item: -item[1]) if seconds % s == 0)
    return Duration(f"{seconds // UNIT_SECONDS[unit]}{unit}", seconds)
