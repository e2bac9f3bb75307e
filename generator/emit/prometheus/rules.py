"""Prometheus recording rules, the spec's alerts and SLO burn-rate alerts (``alerting/<service>/*.yml``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from functools import cache
from importlib import resources
from typing import Any

import yaml
from obsgen.emit.memo import per_model
from obsgen.emit.prometheus import promql as q
from obsgen.emit.prometheus.templates import literal
from obsgen.emit.render import SafeLoader, yaml_text
from obsgen.model import (
    SLO,
    Alert,
    Duration,
    Gauge,
    Indicator,
    Mean,
    MetricRef,
    Model,
    Quantile,
    Rate,
    Ratio,
    Share,
    parse_duration,
    units,
)
from obsgen.model.durations import duration_of

RULES_DIR = "alerting"
RECORDING_FILE = "recording_rules.yml"
ALERTS_FILE = "alerts.yml"
SLO_ALERTS_FILE = "slo_alerts.yml"
RULE_FILES = (RECORDING_FILE, ALERTS_FILE, SLO_ALERTS_FILE)
"""Rule file names, each in the folder of its service (``rule_path``)."""
DEFAULT_WINDOW = "5m"
"""Every indicator is also recorded over this window, the one dashboards read."""
BURN_DIGITS = Context(prec=4)
"""Significant digits of burn-rate factors and thresholds: a 28-day period gives 9.333x, not 28 digits."""


@dataclass(frozen=True)
class BurnWindow:
    long: Duration
    short: Duration
    budget_fraction: Decimal
    severity: str

    def factor(self, period: Duration) -> Decimal:
        """Burn-rate factor: 14.4 for the 1h window of a 30-day period."""
        return self._factor(period).normalize(BURN_DIGITS)

    def threshold(self, period: Duration, error_budget: Decimal) -> Decimal:
        """The bad-event ratio above which this window pair fires: 0.0144 for a 0.1% budget over 30 days."""
        return (self._factor(period) * error_budget).normalize(BURN_DIGITS)

    def _factor(self, period: Duration) -> Decimal:
        return self.budget_fraction * period.seconds / self.long.seconds


@cache
def burn_windows() -> tuple[BurnWindow, ...]:
    """The multi-window table, read (once) from package data so it stays data, not code."""
    raw = yaml.load(resources.files("obsgen").joinpath("data/burn_rate_windows.yaml").read_text(), Loader=SafeLoader)
    return tuple(BurnWindow(parse_duration(r["long"]), parse_duration(r["short"]), Decimal(str(r["budget_fraction"])),
                            r["severity"]) for r in raw)


def burn_severities() -> dict[str, tuple[BurnWindow, ...]]:
    """The window pairs of each severity, fastest first: one alert each."""
    out: dict[str, tuple[BurnWindow, ...]] = {}
    for bw in burn_windows():
        out[bw.severity] = out.get(bw.severity, ()) + (bw,)
    return out


def indicator_windows(model: Model, indicator: Indicator) -> list[str]:
    """Windows an indicator is recorded over: the dashboards' default plus what alerts and SLOs read."""
    windows = {DEFAULT_WINDOW: parse_duration(DEFAULT_WINDOW)}
    for target in (*model.alerts, *model.slos):
        if target.indicator is indicator:
            windows[target.window.text] = target.window
    return [w for w, d in sorted(windows.items(), key=lambda item: (item[1].seconds, item[0]))]


TERM_LABEL = "__obsgen_term"
"""Tells the terms of a multi-metric sum apart (two counters may carry the same labels); no attribute can
produce it (attribute names start with a letter), and the sum drops it again."""
Term = tuple[str, Mapping[str, Any]]
"""A (series, label filter) pair: one term of a sum of rates."""


def _rate(series: str, where: Any, window: str, extra: tuple[str, ...] = ()) -> str:
    return f"rate({q.selector(series, where, extra)}[{window}])"


def _rate_sum(by: tuple[str, ...], terms: tuple[Term, ...], window: str) -> str:
    """``sum(rate(a))``; several terms are joined with ``or`` inside one sum, so a counter that has not
    been written yet (an OTel SDK exports a series only once it is incremented) does not empty the sum,
    as ``sum(rate(a)) + sum(rate(b))`` would."""
    rates = [_rate(series, where, window) for series, where in terms]
    tagged = rates[:1] + [f'label_replace({r}, "{TERM_LABEL}", "{i}", "", "")' for i, r in enumerate(rates[1:], 1)]
    return q.sum_by(by, "\nor\n".join(tagged))


def _rate_ratio(by: tuple[str, ...], numerator: tuple[Term, ...], denominator: tuple[Term, ...], window: str) -> str:
    """``sum(rate(numerator)) / sum(rate(denominator))``, each a sum of terms."""
    return f"{_rate_sum(by, numerator, window)}\n/\n{_rate_sum(by, denominator, window)}"


def _terms(refs: tuple[MetricRef, ...], match: Mapping[str, str] = {}) -> tuple[Term, ...]:
    """The event-count series of each metric, narrowed by its ``where`` and an SLO's or alert's ``match``."""
    return tuple((ref.metric.count_series, {**ref.where, **match}) for ref in refs)


def indicator_rules(model: Model, indicator: Indicator) -> list[dict[str, Any]]:
    """Recording rules for one indicator over each window it is read at."""
    labels = {"service": model.service.name}
    rules: list[dict[str, Any]] = []
    for window in indicator_windows(model, indicator):
        rules.extend(_window_rules(model, indicator, window, labels))
    return _unique(rules)


def _window_rules(model: Model, indicator: Indicator, window: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    record = q.indicator_record(model, indicator, window)
    by = indicator.by

    def rule(expr: str, **extra: str) -> dict[str, Any]:
        return {"record": record, "expr": expr, "labels": {**labels, **extra}}

    match indicator:
        case Ratio():
            return [rule(_rate_ratio(by, _terms(indicator.numerators), _terms(indicator.denominators), window))]
        case Quantile():
            ref = indicator.metric
            buckets = _rate(f"{ref.metric.prom_name}_bucket", ref.where, window)
            return [rule(f"histogram_quantile({q.number(quantile)}, {q.sum_by(('le',) + by, buckets)})",
                         quantile=q.number(quantile)) for quantile in indicator.quantiles]
        case Mean():
            ref = indicator.metric
            return [rule(_rate_ratio(by, ((f"{ref.metric.prom_name}_sum", ref.where),),
                                     ((f"{ref.metric.prom_name}_count", ref.where),), window))]
        case Gauge():
            inner = f"max_over_time({q.selector(indicator.metric.metric.prom_name, indicator.metric.where)}[{window}])"
            return [rule(f"max by ({', '.join(map(q.label, by))}) ({inner})" if by else f"max({inner})")]
        case Share():
            return _share_rules(model, indicator, window, record, labels)
        case Rate():
            return [rule(_rate_sum(by, _terms((indicator.metric,)), window))]


def _unique(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeats of a window-independent rule (a share's planned split) recorded per window."""
    seen: list[dict[str, Any]] = []
    return [r for r in rules if not (r in seen or seen.append(r))]


def _share_rules(model: Model, indicator: Share, window: str, record: str,
                 labels: dict[str, str]) -> list[dict[str, Any]]:
    ref, label = indicator.metric, q.label(indicator.label)
    share, planned = q.share_records(model, indicator, window)
    rate = _rate(ref.metric.prom_name, ref.where, window)
    planned_expr = "\nor\n".join(f'label_replace(vector({q.number(v)}), "{label}", "{k}", "", "")'
                                 for k, v in sorted(indicator.planned.items()))
    return [
        {"record": share, "expr": f"{q.sum_by((indicator.label,), rate)}\n/ ignoring ({label}) group_left\nsum({rate})",
         "labels": labels},
        {"record": planned, "expr": planned_expr, "labels": labels},
        {"record": record, "expr": f"abs({share} - on ({label}) {planned})\n/ on ({label})\n{planned}",
         "labels": labels},
    ]


def slo_windows() -> list[Duration]:
    """Every window of the burn-rate table, shortest first."""
    return sorted({w.text: w for bw in burn_windows() for w in (bw.long, bw.short)}.values(),
                  key=lambda d: d.seconds)


def slo_rules(model: Model, slo: SLO) -> list[dict[str, Any]]:
    """Bad-event ratio of a budgeted SLO over every burn-rate window and over its period; the burn rate
    per window (bad ratio / budget: 1 spends the budget exactly over the period); the objective and
    the share of the period's error budget left (1 untouched, 0 spent, negative overspent).

    The period's ratio is a rate over the raw counters (traffic-weighted, exact), evaluated like the
    others: over 30 days that reads every sample of the period each evaluation, which a dashboard's
    budget panel needs anyway."""
    assert slo.budget_period is not None
    labels = {"service": model.service.name, "slo": slo.name}
    budget = q.number(slo.error_budget)
    period = slo.budget_period.text
    windows = [w.text for w in slo_windows()]
    rules = [{"record": q.slo_record(model, w), "expr": slo_error_ratio(slo, w), "labels": labels}
             for w in (*windows, *([period] if period not in windows else []))]
    for w in windows:
        rules.append({"record": q.slo_meta_record(model, "burn_rate", f"ratio_rate{w}"),
                      "expr": f"{q.match_selector(q.slo_record(model, w), {'slo': slo.name})} / {budget}",
                      "labels": labels})
    rules.append({"record": q.slo_meta_record(model, "objective", "ratio"),
                  "expr": f"vector({q.number(1 - slo.error_budget)})", "labels": labels})
    rules.append({"record": q.slo_meta_record(model, "error_budget_remaining", f"ratio_rate{period}"),
                  "expr": f"1 - {q.match_selector(q.slo_record(model, period), {'slo': slo.name})} / {budget}",
                  "labels": labels})
    return rules


def slo_error_ratio(slo: SLO, window: str) -> str:
    """Share of bad events: the ratio (or 1 - a success ratio), or requests slower than the objective."""
    match slo.indicator:
        case Ratio() as ratio:
            expr = _rate_ratio((), _terms(ratio.numerators, slo.match), _terms(ratio.denominators, slo.match), window)
            return f"1 - (\n{expr}\n)" if slo.counts_good else expr
        case Quantile(metric=ref):
            where = {**ref.where, **slo.match}
            le = (q.le_matcher(slo.objective.value),)
            good = f"sum({_rate(ref.metric.prom_name + '_bucket', where, window, le)})"
            total = f"sum({_rate(ref.metric.prom_name + '_count', where, window)})"
            return f"1 - (\n{good}\n/\n{total}\n)"
        case _:
            raise ValueError(f"a {slo.indicator.kind} indicator has no error budget")  # rejected by the spec reader


def _value_template(indicator: Indicator) -> str:
    function = units.humanize_function(indicator.unit)
    suffix = "" if function != "humanize" else f" {units.display(indicator.unit)}"
    return f"{{{{ $value | {function} }}}}{suffix}"


def human_threshold(indicator: Indicator, value: Decimal) -> str:
    if indicator.unit == "1":
        return f"{q.number(value * 100)}%"
    return f"{q.number(value)} {units.display(indicator.unit)}"


def alert_expr(model: Model, alert: Alert) -> str:
    value = q.signal_selector(model, alert, alert.window.text)
    expr = f"{value} {alert.op} {q.number(alert.threshold)}"
    if alert.when_absent:
        expr += f"\nor\nabsent({value})"
    return expr


def alert_rule(model: Model, alert: Alert) -> dict[str, Any]:
    route = model.routing.route(alert.severity)
    where = "".join(f" for {{{{ $labels.{q.label(label)} }}}}" for label in alert.indicator.by
                    if label not in alert.match)
    if isinstance(alert.indicator, Share):
        where = f" for {alert.indicator.label} {{{{ $labels.{q.label(alert.indicator.label)} }}}}"
    description = alert.description or (
        f"{literal(alert.indicator.description.rstrip('.'))}{where} is {_value_template(alert.indicator)} over "
        f"{alert.window} (alert when {alert.op} {human_threshold(alert.indicator, alert.threshold)} "
        f"for {alert.for_})."
        + (" It is also raised when the series is missing." if alert.when_absent else ""))
    labels = {"severity": alert.severity, "severity_class": route.severity_class,
              "service": model.service.name, "family": alert.indicator.name}
    if alert.kill_switch:
        labels["kill_switch"] = alert.kill_switch
    annotations = {"summary": alert.summary, "description": description, "runbook_url": alert.runbook_url}
    if alert.dashboard_tile:
        annotations["dashboard_url"] = model.tile_url(alert.dashboard_tile)
    return {"alert": alert.name, "expr": alert_expr(model, alert), "for": alert.for_.text,
            "labels": labels, "annotations": annotations}


def slo_alert_name(model: Model, slo: SLO) -> str:
    words = [model.service.namespace, *slo.name.split("_"), "error", "budget", "burn"]
    return "".join(w[:1].upper() + w[1:] for w in words)


def history_guard(model: Model, slo: SLO, bw: BurnWindow) -> str:
    """True once the long window holds history: the short-window record existed ``long - short`` ago.

    Without it a new Prometheus (or a new service) computes a "6h" ratio over the one hour it has, and a
    short spike pages. ``present_over_time`` of an offset record works alike on Prometheus 2 and 3 (whose
    ranges differ on the left edge), needs no knowledge of the scrape interval, and costs one lookup."""
    short_sel = q.match_selector(q.slo_record(model, bw.short.text), {"slo": slo.name})
    offset = duration_of(bw.long.seconds - bw.short.seconds)
    return f"present_over_time({short_sel}[{bw.short.text}] offset {offset.text})"


def burn_condition(model: Model, slo: SLO, bw: BurnWindow) -> str:
    assert slo.budget_period is not None
    threshold = q.number(bw.threshold(slo.budget_period, slo.error_budget))
    long_sel = q.match_selector(q.slo_record(model, bw.long.text), {"slo": slo.name})
    short_sel = q.match_selector(q.slo_record(model, bw.short.text), {"slo": slo.name})
    guard = history_guard(model, slo, bw)
    return f"(\n  {long_sel} > {threshold}\n  and\n  {short_sel} > {threshold}\n  and\n  {guard}\n)"


def carrier(model: Model, alert: Alert) -> SLO | None:
    """The SLO whose burn-rate alert of ``alert``'s severity also fires for ``alert`` and pages for it: the
    first budgeted SLO on the same indicator, if that severity has burn-rate alerts.

    Two alerts watching one signal are two Alertmanager alerts, and whichever starts second (or outlasts
    the other while unmuted) makes Alertmanager notify the group again; no inhibition rule avoids that when
    either may come first. One alert that fires while either condition holds is one notification."""
    if alert.severity not in burn_severities():
        return None
    return next((slo for slo in budgeted_slos(model) if slo.indicator is alert.indicator), None)


def carried_alerts(model: Model, slo: SLO, severity: str) -> list[Alert]:
    """The spec's alerts the SLO's alert of ``severity`` carries (fires for, pages for)."""
    return [a for a in model.alerts if a.severity == severity and carrier(model, a) is slo]


def carried_condition(model: Model, slo: SLO, alerts: list[Alert]) -> str:
    """True while one of the carried spec ``alerts`` fires (after its ``for``), with the labels of the burn
    conditions (``service``, ``slo``) so either side of the ``or`` is the same alert (``> 0`` keeps the
    series, which are 1, and states a condition as pint asks). Rule groups evaluate apart, so in Prometheus
    this follows the spec alert by up to one evaluation interval."""
    names = [a.name for a in alerts]
    name = f'alertname="{names[0]}"' if len(names) == 1 else f'alertname=~"{"|".join(names)}"'
    firing = f'ALERTS{{{name}, alertstate="firing", service="{model.service.name}"}}'
    return f'label_replace(\n  max by (service) ({firing}) > 0,\n  "slo", "{slo.name}", "", ""\n)'


def slo_alert_rules(model: Model, slo: SLO) -> list[dict[str, Any]]:
    """One alert per severity; its expression ``or``s that severity's window pairs, so one incident is one
    alert (label set) while the fast pair hands over to the slow one, and the spec alerts it carries
    (``carrier``). No ``for`` unless the SLO asks for an ``alert_delay``. ``family`` is the indicator's, as
    on the spec's own alerts, so Alertmanager can tell they watch the same signal."""
    assert slo.budget_period is not None
    period, budget = slo.budget_period, slo.error_budget
    rules = []
    for severity, pairs in burn_severities().items():
        route = model.routing.route(severity)
        conditions = "; ".join(
            f"over {bw.long} and {bw.short} above {q.number(bw.threshold(period, budget))} "
            f"({q.number(bw.factor(period))}x the budget: {q.number(bw.budget_fraction * 100)}% of it gone in "
            f"{bw.long})" for bw in pairs)
        carried = carried_alerts(model, slo, severity)
        also = (f" It also fires while {' or '.join(a.name for a in carried)} fires, and pages for it."
                if carried else "")
        rule: dict[str, Any] = {
            "alert": slo_alert_name(model, slo),
            "expr": "\nor\n".join([*(burn_condition(model, slo, bw) for bw in pairs),
                                    *([carried_condition(model, slo, carried)] if carried else [])]),
            "labels": {"severity": severity, "severity_class": route.severity_class,
                       "service": model.service.name, "family": slo.indicator.name, "slo": slo.name},
            "annotations": {
                "summary": f"SLO {slo.name} is burning its error budget too fast.",
                "description": (f"{literal(slo.description.rstrip('.'))} ({q.number((1 - budget) * 100)}% over "
                                f"{period}): the bad-event ratio is {conditions}.{also}"),
                "runbook_url": f"{model.service.runbook_url}#slo-{slo.name.replace('_', '-')}",
                "burn_windows": ", ".join(f"{bw.long}/{bw.short}" for bw in pairs),
            },
        }
        if carried:
            rule["annotations"]["carries"] = ", ".join(a.name for a in carried)
        if slo.alert_delay is not None:
            rule["for"] = slo.alert_delay.text
        rules.append(rule)
    return rules


def budgeted_slos(model: Model) -> list[SLO]:
    return [slo for slo in model.slos if slo.budget_period is not None]


def rule_path(model: Model, name: str) -> str:
    """Where rule file ``name`` of a service goes: its own folder, so services never share a rule file."""
    return f"{RULES_DIR}/{model.service.name}/{name}"


@per_model
def rule_groups(model: Model) -> dict[str, list[dict[str, Any]]]:
    """Rule groups per file name; recording groups come first so evaluation order is obvious."""
    ns = model.service.namespace
    recording = [{"name": f"{ns}-indicator-{ind.name}", "rules": indicator_rules(model, ind)}
                 for ind in model.indicators]
    recording += [{"name": f"{ns}-slo-{slo.name}", "rules": slo_rules(model, slo)} for slo in budgeted_slos(model)]
    return {
        RECORDING_FILE: recording,
        ALERTS_FILE: [{"name": f"{ns}-alerts", "rules": [alert_rule(model, a) for a in model.alerts]}],
        SLO_ALERTS_FILE: [{"name": f"{ns}-slo-alerts-{slo.name}", "rules": slo_alert_rules(model, slo)}
                          for slo in budgeted_slos(model)],
    }


def emit(model: Model) -> dict[str, str]:
    return {rule_path(model, name): yaml_text(model, {"groups": groups}) for name, groups in rule_groups(model).items()}
