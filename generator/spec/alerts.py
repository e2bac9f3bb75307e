"""The ``alerts`` section."""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import Any

from obsgen import model as m
from obsgen.emit.prometheus.templates import SUPPORTED, unsupported_action
from obsgen.spec.reader import ALERT_NAME, Checker, shown
from obsgen.spec.slos import parse_selection


def parse_alerts(c: Checker, raw: Any, indicators: dict[str, m.Indicator], attributes: dict[str, m.Attribute],
            kill_switches: dict[str, str], dashboards: list[m.Dashboard], service: m.Service | None,
            routing: m.Routing | None) -> list[m.Alert]:
    out: list[m.Alert] = []
    if c.mapping(raw, ("alerts",)) is None:
        return out
    tiles = {f"{d.name}/{t.id}" for d in dashboards for t in d.tiles}
    for name, spec in raw.items():
        p = ("alerts", name)
        d = c.mapping(spec, p, required=("summary", "indicator", "op", "threshold", "for", "severity"),
                      optional=("description", "quantile", "match", "window", "kill_switch", "when_absent",
                                "runbook_url", "dashboard_tile"))
        if d is None or c.string(name, p, ALERT_NAME, "alert name (UpperCamelCase)") is None:
            continue
        ind_name = c.reference(d.get("indicator"), p + ("indicator",), indicators, "indicators", "an indicator")
        summary = c.string(d.get("summary"), p + ("summary",))
        if summary and "{{" in summary:
            c.error(p + ("summary",), "the summary is templated", "keep `summary` static so alerts group; "
                    "put values in `description`")
        op = c.choice(d.get("op"), p + ("op",), m.COMPARISONS)
        threshold = c.number(d.get("threshold"), p + ("threshold",))
        for_ = c.duration(d.get("for"), p + ("for",))
        window = c.duration(d.get("window", "5m"), p + ("window",))
        severity = c.choice(d.get("severity"), p + ("severity",), m.SEVERITIES)
        kill_switch = d.get("kill_switch")
        if kill_switch is not None:
            kill_switch = c.reference(kill_switch, p + ("kill_switch",), kill_switches, "kill_switches",
                                      "a kill-switch")
        when_absent = c.boolean(d.get("when_absent", False), p + ("when_absent",))
        tile = d.get("dashboard_tile")
        if tile is not None and (not isinstance(tile, str) or tile not in tiles):
            close = difflib.get_close_matches(str(tile), sorted(tiles), n=1)
            c.error(p + ("dashboard_tile",), f"{shown(tile)} is not a tile of the spec's dashboards",
                    "write `dashboard/tile-id` with ids declared under `dashboards`"
                    + (f" (did you mean `{close[0]}`?)" if close else ""))
            tile = None
        runbook = d.get("runbook_url")
        if runbook is not None:
            runbook = c.url(runbook, p + ("runbook_url",))
        if ind_name is None:
            continue
        indicator = indicators[ind_name]
        quantile, match = parse_selection(c, d, p, indicator, attributes)
        if isinstance(indicator, m.Quantile) and threshold is not None:
            buckets = indicator.metric.metric.buckets or ()
            if threshold not in buckets[:-1]:
                c.error(p + ("threshold",), f"{threshold} is not an inner bucket boundary of "
                        f"`{indicator.metric.metric.name}`, so the quantile is only interpolated there",
                        "alert on a bucket boundary (not the last one) or add the boundary to the buckets")
        if threshold is not None and op is not None:
            _check_reachable(c, p, indicator, op, threshold)
        if None in (summary, op, threshold, for_, window, severity, service, when_absent):
            continue
        assert service is not None
        out.append(m.Alert(
            name=name, summary=str(summary), description=_description(c, d.get("description", ""), p),
            indicator=indicator,
            op=str(op), threshold=threshold, for_=for_, window=window, severity=str(severity),  # type: ignore[arg-type]
            runbook_url=runbook or f"{service.runbook_url}#{name.lower()}", quantile=quantile,
            match=m.frozen_map(match), kill_switch=kill_switch, when_absent=bool(when_absent),
            dashboard_tile=tile))
    return out


def _description(c: Checker, raw: Any, p: tuple) -> str:
    """The annotation Prometheus renders as a template: only the templates its promtool tests can expect."""
    text = c.text(raw, p + ("description",))
    if (action := unsupported_action(text)) is not None:
        c.error(p + ("description",), f"`{action}` is not a template obsgen can render in the alert's promtool test",
                f"use only {SUPPORTED} (the last writes a literal `{{{{`)")
    return text


def _check_reachable(c: Checker, p: tuple, indicator: m.Indicator, op: str, threshold: Decimal) -> None:
    """The alert's signal can be on both sides of the threshold (else it never fires, or never stops)."""
    never = op in ("<", "<=")
    if not isinstance(indicator, m.Gauge) and (threshold < 0 or (threshold == 0 and op in ("<", ">="))):
        holds = "never" if never else "always"
        c.error(p + ("threshold",), f"`{op} {threshold}` {holds} holds: a {indicator.kind} is never negative",
                "write `op: \"<=\"` with threshold 0 to alert on no events at all (add `when_absent: true` for no "
                "data), or use a positive threshold")
    elif isinstance(indicator, m.Ratio) and _within_denominator(indicator) and (
            threshold > 1 or (threshold == 1 and op in (">", "<="))):
        holds = "always" if never else "never"
        c.error(p + ("threshold",), f"`{op} {threshold}` {holds} holds: the numerator counts events of the "
                "denominator, so the ratio is at most 1", "use a threshold between 0 and 1 (0.05 is 5%)")


def _within_denominator(ratio: m.Ratio) -> bool:
    """Whether every numerator term counts only events some denominator term counts too (a fraction)."""
    return all(any(num.metric is den.metric and all(set(num.where.get(label, ())) <= set(values) and label in num.where
                                                    for label, values in den.where.items())
                   for den in ratio.denominators)
               for num in ratio.numerators)
