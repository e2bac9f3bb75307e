"""Prometheus recording rules, the spec's alerts and SLO burn-rate alerts (``alerting/*.yml``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal
from importlib import resources
from typing import Any

import yaml
from obsgen.emit.prometheus import promql as q
from obsgen.emit.render import yaml_text
from obsgen.model import SLO, Alert, Duration, Indicator, Model

RECORDING_FILE = "alerting/recording_rules.yml"
ALERTS_FILE = "alerting/alerts.yml"
SLO_ALERTS_FILE = "alerting/slo_alerts.yml"
RULE_FILES = (RECORDING_FILE, ALERTS_FILE, SLO_ALERTS_FILE)
DEFAULT_WINDOW = "5m"
"""Every indicator is also recorded over this window, the one dashboards read."""
BURN_DIGITS = Context(prec=4)
"""Significant digits of burn-rate factors and thresholds: a 28-day period gives 9.333x, not 28 digits."""


@dataclass(frozen=True)
class BurnWindow:
    long: Duration
    short: Duration
    budget_fraction: Decimal
    for_: Duration
    severity: str

    def factor(self, period: Duration) -> Decimal:
        """Burn-rate factor: 14.4 for the 1h window of a 30-day period."""
        return self._factor(period).normalize(BURN_DIGITS)

    def threshold(self, period: Duration, error_budget: Decimal) -> Decimal:
        """The bad-event ratio above which this window pair fires: 0.0144 for a 0.1% budget over 30 days."""
        return (self._factor(period) * error_budget).normalize(BURN_DIGITS)

    def _factor(self, period: Duration) -> Decimal:
        return self.budget_fraction * period.seconds / self.long.seconds


def _duration(text: str) -> Duration:
    from obsgen.spec.reader import _UNIT_SECONDS, DURATION_RE

    match = DURATION_RE.match(text)
    assert match, text
    return Duration(text, int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def burn_windows() -> tuple[BurnWindow, ...]:
    """The multi-window table, read from package data so it stays data, not code."""
    raw = yaml.safe_load(resources.files("obsgen").joinpath("data/burn_rate_windows.yaml").read_text())
    return tuple(BurnWindow(_duration(r["long"]), _duration(r["short"]), Decimal(str(r["budget_fraction"])),
                            _duration(r["for"]), r["severity"]) for r in raw)


def indicator_windows(model: Model, indicator: Indicator) -> list[str]:
    """Windows an indicator is recorded over: the dashboards' default plus what alerts and SLOs read."""
    windows = {DEFAULT_WINDOW: _duration(DEFAULT_WINDOW)}
    for target in (*model.alerts, *model.slos):
        if target.indicator is indicator:
            windows[target.window.text] = target.window
    return [w for w, d in sorted(windows.items(), key=lambda item: (item[1].seconds, item[0]))]


def _rate(series: str, where: Any, window: str, extra: tuple[str, ...] = ()) -> str:
    return f"rate({q.selector(series, where, extra)}[{window}])"


def _rate_ratio(by: tuple[str, ...], numerator: tuple[str, Any], denominator: tuple[str, Any], window: str) -> str:
    """``sum(rate(numerator)) / sum(rate(denominator))``, each a (series, label filter) pair."""
    return (f"{q.sum_by(by, _rate(numerator[0], numerator[1], window))}\n/\n"
            f"{q.sum_by(by, _rate(denominator[0], denominator[1], window))}")


def indicator_rules(model: Model, indicator: Indicator) -> list[dict[str, Any]]:
    """Recording rules for one indicator over each window it is read at."""
    labels = {"service": model.service.name}
    rules: list[dict[str, Any]] = []
    for window in indicator_windows(model, indicator):
        record = q.indicator_record(model, indicator, window)
        by = indicator.by
        if indicator.kind == "ratio":
            num, den = indicator.numerator, indicator.denominator
            assert num and den
            expr = _rate_ratio(by, (num.metric.count_series, num.where), (den.metric.count_series, den.where),
                               window)
            rules.append({"record": record, "expr": expr, "labels": labels})
        elif indicator.kind == "quantile":
            ref = indicator.metric
            assert ref
            buckets = _rate(f"{ref.metric.prom_name}_bucket", ref.where, window)
            for quantile in indicator.quantiles:
                expr = f"histogram_quantile({q.number(quantile)}, {q.sum_by(('le',) + by, buckets)})"
                rules.append({"record": record, "expr": expr,
                              "labels": {**labels, "quantile": q.number(quantile)}})
        elif indicator.kind == "mean":
            ref = indicator.metric
            assert ref
            expr = _rate_ratio(by, (f"{ref.metric.prom_name}_sum", ref.where),
                               (f"{ref.metric.prom_name}_count", ref.where), window)
            rules.append({"record": record, "expr": expr, "labels": labels})
        elif indicator.kind == "gauge":
            ref = indicator.metric
            assert ref
            inner = f"max_over_time({q.selector(ref.metric.prom_name, ref.where)}[{window}])"
            expr = f"max by ({', '.join(by)}) ({inner})" if by else f"max({inner})"
            rules.append({"record": record, "expr": expr, "labels": labels})
        else:
            rules.extend(_share_rules(model, indicator, window, record, labels))
    return _unique(rules)


def _unique(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeats of a window-independent rule (a share's planned split) recorded per window."""
    seen: list[dict[str, Any]] = []
    return [r for r in rules if not (r in seen or seen.append(r))]


def _share_rules(model: Model, indicator: Indicator, window: str, record: str,
                 labels: dict[str, str]) -> list[dict[str, Any]]:
    ref, label = indicator.metric, indicator.label
    assert ref and label
    share, planned = q.share_records(model, indicator, window)
    rate = _rate(ref.metric.prom_name, ref.where, window)
    planned_expr = "\nor\n".join(f'label_replace(vector({q.number(v)}), "{label}", "{k}", "", "")'
                                 for k, v in sorted(indicator.planned.items()))
    return [
        {"record": share, "expr": f"{q.sum_by((label,), rate)}\n/ ignoring ({label}) group_left\nsum({rate})",
         "labels": labels},
        {"record": planned, "expr": planned_expr, "labels": labels},
        {"record": record, "expr": f"abs({share} - on ({label}) {planned})\n/ on ({label})\n{planned}",
         "labels": labels},
    ]


def slo_rules(model: Model, slo: SLO) -> list[dict[str, Any]]:
    """Bad-event ratio of a budgeted SLO over every burn-rate window."""
    windows = sorted({w.text: w for bw in burn_windows() for w in (bw.long, bw.short)}.values(),
                     key=lambda d: d.seconds)
    labels = {"service": model.service.name, "slo": slo.name}
    rules = []
    for window in windows:
        rules.append({"record": q.slo_record(model, window.text), "expr": slo_error_ratio(slo, window.text),
                      "labels": labels})
    return rules


def slo_error_ratio(slo: SLO, window: str) -> str:
    """Share of bad events: the ratio indicator itself, or requests slower than the objective."""
    indicator = slo.indicator
    if indicator.kind == "ratio":
        num, den = indicator.numerator, indicator.denominator
        assert num and den
        return _rate_ratio((), (num.metric.count_series, {**num.where, **slo.match}),
                           (den.metric.count_series, {**den.where, **slo.match}), window)
    ref = indicator.metric
    assert ref
    where = {**ref.where, **slo.match}
    good = f"sum({_rate(ref.metric.prom_name + '_bucket', where, window, (q.le_matcher(slo.objective.value),))})"
    total = f"sum({_rate(ref.metric.prom_name + '_count', where, window)})"
    return f"1 - (\n{good}\n/\n{total}\n)"


def _value_template(indicator: Indicator) -> str:
    unit = indicator.unit
    if unit == "1":
        return "{{ $value | humanizePercentage }}"
    if unit == "s":
        return "{{ $value | humanizeDuration }}"
    return "{{ $value | humanize }} " + unit.strip("{}")


def human_threshold(indicator: Indicator, value: Decimal) -> str:
    if indicator.unit == "1":
        return f"{q.number(value * 100)}%"
    return f"{q.number(value)} {indicator.unit.strip('{}')}"


def alert_expr(model: Model, alert: Alert) -> str:
    value = q.signal_selector(model, alert, alert.window.text)
    expr = f"{value} {alert.op} {q.number(alert.threshold)}"
    if alert.when_absent:
        expr += f"\nor\nabsent({value})"
    return expr


def alert_rule(model: Model, alert: Alert) -> dict[str, Any]:
    route = model.routing.route(alert.severity)
    where = "".join(f" for {{{{ $labels.{label} }}}}" for label in alert.indicator.by if label not in alert.match)
    if alert.indicator.kind == "share":
        where = f" for {alert.indicator.label} {{{{ $labels.{alert.indicator.label} }}}}"
    description = alert.description or (
        f"{alert.indicator.description.rstrip('.')}{where} is {_value_template(alert.indicator)} over "
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


def slo_alert_rules(model: Model, slo: SLO) -> list[dict[str, Any]]:
    """One alert per burn-rate window pair, all sharing a name and told apart by ``burn_window``."""
    assert slo.budget_period is not None
    rules = []
    for bw in burn_windows():
        factor = bw.factor(slo.budget_period)
        threshold = q.number(bw.threshold(slo.budget_period, slo.error_budget))
        long_sel = q.match_selector(q.slo_record(model, bw.long.text), {"slo": slo.name})
        short_sel = q.match_selector(q.slo_record(model, bw.short.text), {"slo": slo.name})
        route = model.routing.route(bw.severity)
        budget = f"{q.number((1 - slo.error_budget) * 100)}%"
        rules.append({
            "alert": slo_alert_name(model, slo),
            "expr": f"{long_sel} > {threshold}\nand\n{short_sel} > {threshold}",
            "for": bw.for_.text,
            "labels": {"severity": bw.severity, "severity_class": route.severity_class,
                       "service": model.service.name, "family": f"slo_{slo.name}", "slo": slo.name,
                       "burn_window": bw.long.text},
            "annotations": {
                "summary": f"SLO {slo.name} is burning its error budget too fast.",
                "description": (f"{slo.description.rstrip('.')} ({budget} over {slo.budget_period}): the "
                                f"bad-event ratio over {bw.long} and {bw.short} is above {threshold} "
                                f"({q.number(factor)}x the budget); at this rate "
                                f"{q.number(bw.budget_fraction * 100)}% of the budget is gone in {bw.long}. "
                                "Current {{ $value | humanizePercentage }}."),
                "runbook_url": f"{model.service.runbook_url}#slo-{slo.name.replace('_', '-')}",
            },
        })
    return rules


def budgeted_slos(model: Model) -> list[SLO]:
    return [slo for slo in model.slos if slo.budget_period is not None]


def rule_groups(model: Model) -> dict[str, list[dict[str, Any]]]:
    """Rule groups per file; recording groups come first so evaluation order is obvious."""
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
    return {path: yaml_text(model, {"groups": groups}) for path, groups in rule_groups(model).items()}
