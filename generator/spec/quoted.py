"""Prose that quotes a number must agree with it: an SLO description saying "99.9%" while the objective
is 0.005 (99.5%), or an alert summary saying "above 100 ms" while the threshold is 150, is an error.

Quoted numbers are percentages (checked when the value is a fraction, or a quantile's share) and
durations (checked when the indicator's unit is a time unit, converted to it). A text passes when it
quotes no number of a kind, or when at least one it quotes equals one of the values the number may
be written as (a ratio ``0.001`` as ``0.1%`` or as ``99.9%``): prose may name other figures too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

from obsgen import model as m
from obsgen.spec.reader import Checker

PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%")
DURATION = re.compile(r"(\d+(?:\.\d+)?)\s?(ms|milliseconds?|s|secs?|seconds?|min|minutes?|h|hours?)\b")
SECONDS = {"ms": Decimal("0.001"), "millisecond": Decimal("0.001"), "milliseconds": Decimal("0.001"), "s": 1,
           "sec": 1, "secs": 1, "second": 1, "seconds": 1, "min": 60, "minute": 60, "minutes": 60, "h": 3600,
           "hour": 3600, "hours": 3600}
TIME_UNITS = {"ns": Decimal("1e-9"), "us": Decimal("1e-6"), "ms": Decimal("0.001"), "s": Decimal(1),
              "min": Decimal(60), "h": Decimal(3600)}


def _wrong(text: str, value: Decimal, unit: str, shares: Iterable[Decimal]) -> str | None:
    """The numbers ``text`` quotes of a kind none of which agrees with ``value``, or None."""
    allowed = {(s * 100).normalize() for s in shares}
    quoted = [Decimal(n) for n in PERCENT.findall(text)]
    if allowed and quoted and not any(q.normalize() in allowed for q in quoted):
        return ", ".join(f"{q}%" for q in quoted)
    if unit in TIME_UNITS:
        durations = [(Decimal(n), word) for n, word in DURATION.findall(text)]
        in_unit = [n * Decimal(SECONDS[word]) / TIME_UNITS[unit] for n, word in durations]
        if durations and value.normalize() not in {d.normalize() for d in in_unit}:
            return ", ".join(f"{n} {word}" for n, word in durations)
    return None


def _slo_shares(slo: m.SLO) -> list[Decimal]:
    if isinstance(slo.indicator, m.Quantile) and slo.quantile is not None:
        return [slo.quantile, *([1 - slo.error_budget] if slo.budget_period else [])]
    if slo.indicator.unit != "1":
        return []
    return [slo.objective.value, 1 - slo.objective.value]


def check_quoted_numbers(c: Checker, slos: Sequence[m.SLO], alerts: Sequence[m.Alert]) -> None:
    for slo in slos:
        if wrong := _wrong(slo.description, slo.objective.value, slo.indicator.unit, _slo_shares(slo)):
            c.error(("slos", slo.name, "description"), f"quotes {wrong}, but the objective is "
                    f"{slo.objective.op} {slo.objective.value} ({_shown(slo.objective.value, slo.indicator.unit)})",
                    "make the description quote the objective, or drop the number from it")
    for alert in alerts:
        shares = [alert.threshold, 1 - alert.threshold] if alert.indicator.unit == "1" else []
        for key in ("summary", "description"):
            text = getattr(alert, key)
            if text and (wrong := _wrong(text, alert.threshold, alert.indicator.unit, shares)):
                c.error(("alerts", alert.name, key), f"quotes {wrong}, but the threshold is {alert.op} "
                        f"{alert.threshold} ({_shown(alert.threshold, alert.indicator.unit)})",
                        "make the text quote the threshold, or drop the number from it")


def _shown(value: Decimal, unit: str) -> str:
    return f"{(value * 100).normalize():f}%" if unit == "1" else f"{value.normalize():f} {unit}"
