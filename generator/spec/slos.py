"""The ``slos`` section, and the ``quantile``/``match`` selection SLOs and alerts share."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from obsgen import model as m
from obsgen.spec.reader import NAME, Checker


def parse_selection(c: Checker, d: dict, p: tuple, indicator: m.Indicator,
               attributes: dict[str, m.Attribute]) -> tuple[Decimal | None, dict[str, str]]:
    """The `quantile` and `match` keys shared by SLOs and alerts."""
    quantile = None
    if isinstance(indicator, m.Quantile):
        if "quantile" not in d:
            c.error(p, "a quantile indicator needs `quantile`",
                    f"add one of {', '.join(str(q) for q in indicator.quantiles)}")
        else:
            quantile = c.number(d["quantile"], p + ("quantile",))
            if quantile is not None and quantile not in indicator.quantiles:
                c.error(p + ("quantile",), f"indicator `{indicator.name}` does not compute quantile {quantile}",
                        f"use one of {', '.join(str(q) for q in indicator.quantiles)} or add it there")
                quantile = None
    elif "quantile" in d:
        c.error(p + ("quantile",), f"indicator `{indicator.name}` is not a quantile", "remove `quantile`")
    match: dict[str, str] = {}
    if "match" in d and c.mapping(d["match"], p + ("match",)) is not None:
        for label, value in d["match"].items():
            mp = p + ("match", label)
            if label not in indicator.by:
                c.error(mp, f"indicator `{indicator.name}` is not split by `{label}`",
                        f"add `{label}` to the indicator's `by` or remove it here")
            elif c.string(value, mp) is not None:
                enum = attributes[label].enum if label in attributes else None
                if enum and value not in enum:
                    c.error(mp, f"`{value}` is not a value of `{label}`", f"use one of {', '.join(enum)}")
                match[label] = value
    return quantile, match


def parse_slos(c: Checker, raw: Any, indicators: dict[str, m.Indicator],
          attributes: dict[str, m.Attribute]) -> list[m.SLO]:
    out: list[m.SLO] = []
    if c.mapping(raw, ("slos",)) is None:
        return out
    for name, spec in raw.items():
        p = ("slos", name)
        d = c.mapping(spec, p, required=("description", "indicator", "objective", "window"),
                      optional=("quantile", "match", "error_budget"))
        if d is None or c.string(name, p, NAME, "SLO name") is None:
            continue
        ind_name = c.reference(d.get("indicator"), p + ("indicator",), indicators, "indicators", "an indicator")
        window = c.duration(d.get("window"), p + ("window",))
        objective = _objective(c, d.get("objective"), p + ("objective",))
        if ind_name is None:
            continue
        indicator = indicators[ind_name]
        quantile, match = parse_selection(c, d, p, indicator, attributes)
        period = delay = None
        if "error_budget" in d:
            bd = c.mapping(d["error_budget"], p + ("error_budget",), required=("period",), optional=("alert_delay",))
            period = c.duration(bd.get("period"), p + ("error_budget", "period")) if bd else None
            if bd and "alert_delay" in bd:
                delay = _alert_delay(c, bd["alert_delay"], p + ("error_budget", "alert_delay"))
            _check_budget(c, p, indicator, objective)
        if window is None or objective is None:
            continue
        out.append(m.SLO(name=name, description=c.text(d.get("description"), p + ("description",)), indicator=indicator,
                         objective=objective, window=window, quantile=quantile, match=m.frozen_map(match),
                         budget_period=period, alert_delay=delay))
    return out


def _check_budget(c: Checker, p: tuple, indicator: m.Indicator, objective: m.Objective | None) -> None:
    """An error budget needs good and bad events: a ratio (of bad events with `<`, of good ones with `>=`),
    or a latency quantile whose objective is a bucket boundary."""
    match indicator:
        case m.Ratio() if objective is not None and not 0 < objective.value < 1:
            c.error(p + ("objective", "value"), "an error budget's objective must be between 0 and 1",
                    "write the bad-event ratio with `<` (e.g. 0.001) or the good-event ratio with `>=` (e.g. 0.999)")
        case m.Quantile() if objective is not None and objective.op not in ("<", "<="):
            c.error(p + ("objective", "op"), "an error budget needs an upper bound on latency",
                    "use `<` (for example p95 < 50)")
        case m.Quantile() if objective is not None and objective.value not in (indicator.metric.metric.buckets or ()):
            c.error(p + ("objective", "value"), f"{objective.value} is not a bucket boundary of "
                    f"`{indicator.metric.metric.name}`, so slow requests cannot be counted exactly",
                    "add it to the histogram's buckets or pick an existing boundary")
        case m.Ratio() | m.Quantile():
            pass
        case _:
            c.error(p + ("error_budget",), f"a {indicator.kind} indicator has no good/bad events to budget",
                    "remove `error_budget`, or use a ratio or quantile indicator")


MAX_ALERT_DELAY = 3600
"""An ``alert_delay`` must stay below the fastest pair's long window (1h): beyond it a fast burn could
spend its 2% of budget and reset before the alert fires."""


def _alert_delay(c: Checker, raw: Any, p: tuple) -> m.Duration | None:
    delay = c.duration(raw, p)
    if delay is not None and delay.seconds >= MAX_ALERT_DELAY:
        c.error(p, f"alert_delay {delay} is not shorter than the fastest burn window (1h)",
                "use a delay of minutes (it postpones every burn-rate alert by that much), or none")
        return None
    return delay


def _objective(c: Checker, raw: Any, p: tuple) -> m.Objective | None:
    d = c.mapping(raw, p, required=("op", "value"))
    if d is None:
        return None
    op = c.choice(d.get("op"), p + ("op",), m.COMPARISONS)
    value = c.number(d.get("value"), p + ("value",))
    return m.Objective(op, value) if op is not None and value is not None else None
