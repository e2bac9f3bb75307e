"""Generated ``promtool test rules`` files (``alerting/tests/``), next to the rules they test.

For every alert: a case where it fires once its ``for`` has passed (and not before), and a case just
on the silent side of the threshold. For every SLO burn-rate window: the same, where "fires" names
exactly the windows whose burn-rate factor the injected bad-event ratio exceeds. Input series are
synthesised from the indicator definition, so the tests follow the spec; expected annotations are
rendered here with the same formatting functions Prometheus templates use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from obsgen.emit.prometheus import promql as q
from obsgen.emit.prometheus.rules import (
    ALERTS_FILE,
    RECORDING_FILE,
    SLO_ALERTS_FILE,
    alert_rule,
    budgeted_slos,
    burn_windows,
    rule_groups,
    slo_alert_name,
    slo_alert_rules,
)
from obsgen.emit.prometheus.templates import render_template
from obsgen.emit.render import yaml_text
from obsgen.model import SLO, Alert, Indicator, Metric, MetricRef, Model

STEP_MINUTES = 1
SLOW_STEP_MINUTES = 15
"""Alerts over windows of an hour or more (daily business metrics, ``for: 2d``) are tested at a
coarser step: evaluating every minute for two simulated days costs minutes of CI for nothing."""
BASE_RATE = Decimal(1000)
"""Events per sample step in synthetic counters: large enough that small ratios stay exact."""
MARGIN = Decimal("0.1")
"""Firing inputs sit 10% past the threshold; silent inputs 5% short of it ("just below")."""


@dataclass
class Case:
    name: str
    series: list[dict[str, str]]
    alert: str
    step: int
    checks: list[tuple[int, list[dict[str, Any]]]]

    def render(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "interval": f"{self.step}m",
            "input_series": self.series,
            "alert_rule_test": [{"eval_time": f"{t}m", "alertname": self.alert, "exp_alerts": exp}
                                for t, exp in self.checks],
        }


def _series_name(name: str, labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{k}="{labels[k]}"' for k in sorted(labels))
    return f"{name}{{{inner}}}" if inner else name


def _counter(name: str, labels: Mapping[str, str], per_step: Decimal, steps: int) -> dict[str, str]:
    return {"series": _series_name(name, labels), "values": f"0+{q.number(per_step)}x{steps}"}


def _gauge(name: str, labels: Mapping[str, str], value: Decimal, steps: int) -> dict[str, str]:
    return {"series": _series_name(name, labels), "values": f"{q.number(value)}+0x{steps}"}


def _first_values(ref: MetricRef) -> dict[str, str]:
    return {label: values[0] for label, values in ref.where.items()}


def _histogram(metric: Metric, labels: Mapping[str, str], mass: Mapping[Decimal, Decimal],
               steps: int) -> list[dict[str, str]]:
    """Bucket, count and sum series for per-step observation counts keyed by bucket upper bound."""
    assert metric.buckets
    base = metric.prom_name
    out = []
    for boundary in metric.buckets:
        below = sum((n for upper, n in mass.items() if upper <= boundary), Decimal(0))
        out.append(_counter(f"{base}_bucket", {**labels, "le": q.number(boundary)}, below, steps))
    total = sum(mass.values(), Decimal(0))
    out.append(_counter(f"{base}_bucket", {**labels, "le": "+Inf"}, total, steps))
    out.append(_counter(f"{base}_count", labels, total, steps))
    out.append(_counter(f"{base}_sum", labels, sum((u * n for u, n in mass.items()), Decimal(0)), steps))
    return out


def _ratio_inputs(model: Model, num: MetricRef, den: MetricRef, labels: dict[str, str], ratio: Decimal,
                  steps: int) -> list[dict[str, str]]:
    """Counters whose rates divide to ``ratio``; when numerator and denominator share a metric, the
    denominator's remainder goes to a series outside the numerator's ``where``."""
    num_labels = {**labels, **_first_values(num)}
    if num.metric is not den.metric:
        return [_counter(num.metric.count_series, num_labels, ratio * BASE_RATE, steps),
                _counter(den.metric.count_series, {**labels, **_first_values(den)}, BASE_RATE, steps)]
    label, values = next(iter(num.where.items()))
    other = next(v for v in model.attributes[label].enum or () if v not in values)
    return [_counter(num.metric.count_series, num_labels, ratio * BASE_RATE, steps),
            _counter(num.metric.count_series, {**num_labels, label: other}, (1 - ratio) * BASE_RATE, steps)]


def _by_labels(model: Model, indicator: Indicator, match: Mapping[str, str]) -> dict[str, str]:
    """One concrete value per split label: the matched one, else the first the attribute allows."""
    labels = {}
    for label in indicator.by:
        enum = model.attributes[label].enum or ("x",)
        labels[label] = match.get(label, enum[0])
    return labels


def _quantile_mass(metric: Metric, threshold: Decimal, above: bool) -> tuple[Decimal, Decimal]:
    """(bucket upper bound to put all observations in, lower bound), just above or below ``threshold``."""
    assert metric.buckets
    bounds = list(metric.buckets)
    i = bounds.index(threshold)
    if above:
        return bounds[i + 1], threshold
    return threshold, (bounds[i - 1] if i > 0 else Decimal(0))


def _target_value(op: str, threshold: Decimal, fire: bool, bounded: bool) -> Decimal:
    """A value just past (fire) or just short of (silent) the threshold, kept within [0, 1] for ratios."""
    upward = (op in (">", ">=")) == fire
    if upward:
        value = threshold * (1 + (MARGIN if fire else MARGIN / 2))
        if bounded and value >= 1:
            value = (threshold + 1) / 2
        return value
    return threshold * (1 - (MARGIN if fire else MARGIN / 2))


def _alert_inputs(model: Model, alert: Alert, fire: bool, steps: int) -> tuple[list[dict[str, str]],
                                                                              list[tuple[dict[str, str], float]]]:
    """Input series making ``alert``'s signal fire (or stay silent), and each resulting (labels, value)."""
    ind = alert.indicator
    labels = _by_labels(model, ind, alert.match)
    record_labels = dict(labels)
    if ind.kind == "quantile":
        assert ind.metric and alert.quantile is not None
        upper, lower = _quantile_mass(ind.metric.metric, alert.threshold, above=(alert.op in (">", ">=")) == fire)
        value = lower + (upper - lower) * alert.quantile
        series = _histogram(ind.metric.metric, {**labels, **_first_values(ind.metric)}, {upper: BASE_RATE}, steps)
        record_labels["quantile"] = q.number(alert.quantile)
        return series, [(record_labels, float(value))]
    if ind.kind == "share":
        return _share_inputs(ind, alert, fire, steps)
    value = _target_value(alert.op, alert.threshold, fire, bounded=_is_fraction(ind))
    if ind.kind == "ratio":
        assert ind.numerator and ind.denominator
        series = _ratio_inputs(model, ind.numerator, ind.denominator, labels, value, steps)
    elif ind.kind == "mean":
        assert ind.metric
        metric, where = ind.metric.metric, {**labels, **_first_values(ind.metric)}
        series = [_counter(f"{metric.prom_name}_sum", where, value * BASE_RATE, steps),
                  _counter(f"{metric.prom_name}_count", where, BASE_RATE, steps)]
    else:
        assert ind.metric
        series = [_gauge(ind.metric.metric.prom_name, {**labels, **_first_values(ind.metric)}, value, steps)]
    return series, [(record_labels, float(value))]


def _share_inputs(ind: Indicator, alert: Alert, fire: bool, steps: int) -> tuple[list[dict[str, str]],
                                                                                list[tuple[dict[str, str], float]]]:
    """Shift the first label value's share by the target deviation, the rest proportionally."""
    assert ind.metric and ind.label
    planned = sorted(ind.planned.items())
    deviation = _target_value(alert.op, alert.threshold, fire, bounded=False)
    first_value, first_share = planned[0]
    moved = first_share * deviation
    actual = {first_value: first_share + moved}
    rest = 1 - first_share
    for value, share in planned[1:]:
        actual[value] = share - moved * share / rest
    series, results = [], []
    total = sum(actual.values(), Decimal(0))
    for value, share in planned:
        series.append(_counter(ind.metric.metric.prom_name, {ind.label: value}, actual[value] * BASE_RATE, steps))
        observed = float(actual[value] * BASE_RATE) / float(total * BASE_RATE)
        results.append(({ind.label: value}, abs(observed - float(share)) / float(share)))
    return series, results


def _is_fraction(indicator: Indicator) -> bool:
    """A ratio of a metric to itself (a subset over the whole) cannot exceed 1."""
    return (indicator.kind == "ratio" and indicator.numerator is not None and indicator.denominator is not None
            and indicator.numerator.metric is indicator.denominator.metric)


def _compare(op: str, value: float, threshold: Decimal) -> bool:
    t = float(threshold)
    return {"<": value < t, "<=": value <= t, ">": value > t, ">=": value >= t}[op]


def _expected(rule: dict[str, Any], labels: Mapping[str, str], value: float) -> dict[str, Any]:
    all_labels = {**labels, **rule["labels"]}
    return {"exp_labels": dict(sorted(all_labels.items())),
            "exp_annotations": {k: render_template(v, all_labels, value) for k, v in rule["annotations"].items()}}


def _minutes(seconds: int) -> int:
    return -(-seconds // 60)


def alert_cases(model: Model, alert: Alert) -> list[Case]:
    rule = alert_rule(model, alert)
    step = alert_step(alert)
    for_min = _minutes(alert.for_.seconds)
    fire_at = for_min + 3 * step  # the signal exists from the second sample, then `for` must pass
    steps = fire_at // step + 1
    cases = []
    for fire in (True, False):
        series, results = _alert_inputs(model, alert, fire, steps)
        expected = [_expected(rule, labels, value) for labels, value in results
                    if _compare(alert.op, value, alert.threshold)]
        assert bool(expected) == fire, (alert.name, fire, results)
        side = "past" if fire else "just short of"
        checks = [(fire_at, expected)]
        if fire:
            checks.insert(0, (for_min - step, []))
        cases.append(Case(f"{alert.name}: signal {side} {alert.op} {q.number(alert.threshold)}"
                          + (f" fires after {alert.for_}, not before" if fire else " stays silent"),
                          series, alert.name, step, checks))
    if alert.when_absent:
        absent_at = for_min + step
        cases.append(Case(f"{alert.name}: fires when the series is missing for {alert.for_}", [], alert.name,
                          step, [(for_min - step, []), (absent_at, [_expected(rule, {}, 1.0)])]))
    return cases


def alert_step(alert: Alert) -> int:
    return SLOW_STEP_MINUTES if alert.window.seconds >= 3600 else STEP_MINUTES


def _slo_inputs(model: Model, slo: SLO, ratio: Decimal, steps: int) -> list[dict[str, str]]:
    indicator = slo.indicator
    labels = dict(slo.match)
    if indicator.kind == "ratio":
        assert indicator.numerator and indicator.denominator
        return _ratio_inputs(model, indicator.numerator, indicator.denominator, labels, ratio, steps)
    assert indicator.metric
    slow_upper, good_upper = _quantile_mass(indicator.metric.metric, slo.objective.value, above=True)[0], \
        slo.objective.value
    mass = {slow_upper: ratio * BASE_RATE, good_upper: (1 - ratio) * BASE_RATE}
    return _histogram(indicator.metric.metric, {**labels, **_first_values(indicator.metric)}, mass, steps)


def slo_cases(model: Model, slo: SLO) -> list[Case]:
    """Per window pair, evaluated once its ``for`` has passed: just past its threshold it fires (with every
    faster pair whose ``for`` has also passed); just short of it, only slower-threshold pairs fire."""
    assert slo.budget_period is not None
    name = slo_alert_name(model, slo)
    rules = slo_alert_rules(model, slo)
    windows = burn_windows()
    labels = {"service": model.service.name, "slo": slo.name}
    cases = []
    for bw in windows:
        threshold = bw.threshold(slo.budget_period, slo.error_budget)
        eval_at = _minutes(bw.for_.seconds) + 3 * STEP_MINUTES
        steps = eval_at // STEP_MINUTES + 1
        for fire in (True, False):
            ratio = _target_value(">", threshold, fire, bounded=True)
            expected = [_expected(rule, labels, float(ratio)) for rule, other in zip(rules, windows, strict=True)
                        if ratio > other.threshold(slo.budget_period, slo.error_budget)
                        and _minutes(other.for_.seconds) + STEP_MINUTES <= eval_at]
            side = "past" if fire else "just short of"
            cases.append(Case(f"{name}: bad-event ratio {side} the {bw.long}/{bw.short} burn threshold "
                              f"{q.number(threshold)}", _slo_inputs(model, slo, ratio, steps), name,
                              STEP_MINUTES, [(eval_at, expected)]))
    return cases


def _test_file(model: Model, rule_files: list[str], cases: list[Case], step: int) -> str:
    """A promtool test file; ``group_eval_order`` puts recording groups before the alerts reading them,
    as promtool otherwise orders groups by name and an alert would read the previous step's record."""
    groups = rule_groups(model)
    order = [g["name"] for path in rule_files for g in groups[path]]
    return yaml_text(model, {
        "rule_files": [f"../{path.split('/')[-1]}" for path in rule_files],
        "evaluation_interval": f"{step}m",
        "group_eval_order": order,
        "tests": [case.render() for case in cases],
    })


def emit(model: Model) -> dict[str, str]:
    """One test file per evaluation step (promtool sets it per file), plus one for SLO burn rates."""
    out = {}
    cases = [c for a in model.alerts for c in alert_cases(model, a)]
    for step, path in ((STEP_MINUTES, "alerting/tests/alerts_test.yml"),
                       (SLOW_STEP_MINUTES, "alerting/tests/daily_alerts_test.yml")):
        selected = [c for c in cases if c.step == step]
        if selected:
            out[path] = _test_file(model, [RECORDING_FILE, ALERTS_FILE], selected, step)
    slos = budgeted_slos(model)
    if slos:
        out["alerting/tests/slo_alerts_test.yml"] = _test_file(
            model, [RECORDING_FILE, SLO_ALERTS_FILE], [c for s in slos for c in slo_cases(model, s)], STEP_MINUTES)
    return out
