"""Generated ``promtool test rules`` files (``alerting/<service>/tests/``), next to the rules they test.

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
    rule_path,
    slo_alert_name,
    slo_alert_rules,
)
from obsgen.emit.prometheus.templates import render_template
from obsgen.emit.render import yaml_text
from obsgen.model import SLO, Alert, Gauge, Indicator, Mean, Metric, MetricRef, Model, Quantile, Rate, Ratio, Share

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
    """``name{label="v"}``; ``labels`` are keyed by attribute name and written as Prometheus labels."""
    inner = ", ".join(f'{q.label(k)}="{labels[k]}"' for k in sorted(labels, key=q.label))
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


def _matches(ref: MetricRef, metric: Metric, labels: Mapping[str, str]) -> bool:
    """Whether a series of ``metric`` with ``labels`` counts in the term ``ref``."""
    return ref.metric is metric and all(labels.get(label) in values for label, values in ref.where.items())


def _good_in_denominator(ratio: Ratio, labels: Mapping[str, str]) -> bool:
    """Whether the synthetic "good" series (the first numerator's) is also counted by the denominator: then
    the ratio is a fraction of a whole and cannot exceed 1."""
    num = ratio.numerators[0]
    good = {**labels, **_first_values(num)}
    return any(_matches(den, num.metric, good) for den in ratio.denominators)


def _denominator_only(model: Model, ratio: Ratio, labels: Mapping[str, str]) -> tuple[Metric, dict[str, str]]:
    """A series counted by a denominator term and by no numerator term: a denominator metric of its own,
    or the numerator's metric with a label value outside the numerator's ``where``."""
    for den in ratio.denominators:
        series = {**labels, **_first_values(den)}
        for num in ratio.numerators:
            if num.metric is den.metric:
                for label, values in num.where.items():
                    allowed = den.where.get(label) or model.attributes[label].enum or ()
                    series[label] = next((v for v in allowed if v not in values), series.get(label, ""))
        if _matches(den, den.metric, series) and not any(_matches(n, den.metric, series) for n in ratio.numerators):
            return den.metric, series
    raise ValueError(f"indicator `{ratio.name}`: every denominator series is also a numerator series")


def _ratio_inputs(model: Model, ratio: Ratio, labels: dict[str, str], value: Decimal,
                  steps: int) -> list[dict[str, str]]:
    """Counters whose summed rates divide to ``value``: a "good" series in the first numerator term, and a
    series only the denominator counts, carrying the rest of the whole (or the whole, if the good series
    is not part of it)."""
    num = ratio.numerators[0]
    metric, rest = _denominator_only(model, ratio, labels)
    whole = (1 - value) if _good_in_denominator(ratio, labels) else Decimal(1)
    return [_counter(num.metric.count_series, {**labels, **_first_values(num)}, value * BASE_RATE, steps),
            _counter(metric.count_series, rest, whole * BASE_RATE, steps)]


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
    """A value just past (fire) or just short of (silent) the threshold, kept within [0, 1] for ratios.

    A threshold of 0 has no "10% past": ``<= 0`` fires at 0 and stays silent at ``MARGIN``, ``> 0`` fires at
    ``MARGIN`` and stays silent at 0 (``< 0`` and ``>= 0`` are rejected by the spec reader)."""
    upward = (op in (">", ">=")) == fire
    if threshold == 0:
        return MARGIN if upward else Decimal(0)
    step = abs(threshold) * (MARGIN if fire else MARGIN / 2)  # a gauge's threshold may be negative
    if upward:
        value = threshold + step
        if bounded and value >= 1:
            value = (threshold + 1) / 2
        return value
    return threshold - step


Results = list[tuple[dict[str, str], float]]
"""Each alerting series' labels (keyed by attribute name) and the signal's value."""


def _alert_inputs(model: Model, alert: Alert, fire: bool, steps: int,
                  step: int) -> tuple[list[dict[str, str]], Results]:
    """Input series making ``alert``'s signal fire (or stay silent), and each resulting (labels, value)."""
    ind = alert.indicator
    labels = _by_labels(model, ind, alert.match)
    match ind:
        case Quantile():
            return _quantile_inputs(ind, alert, labels, fire, steps)
        case Share():
            return _share_inputs(ind, alert, fire, steps)
    value = _target_value(alert.op, alert.threshold, fire,
                          bounded=isinstance(ind, Ratio) and _good_in_denominator(ind, labels))
    return _value_inputs(model, ind, labels, value, steps, step), [(labels, float(value))]


def _value_inputs(model: Model, ind: Indicator, labels: dict[str, str], value: Decimal, steps: int,
                  step: int) -> list[dict[str, str]]:
    """Input series on which ``ind`` (split into ``labels``) evaluates to ``value``."""
    match ind:
        case Ratio():
            return _ratio_inputs(model, ind, labels, value, steps)
        case Mean(metric=ref):
            where = {**labels, **_first_values(ref)}
            return [_counter(f"{ref.metric.prom_name}_sum", where, value * BASE_RATE, steps),
                    _counter(f"{ref.metric.prom_name}_count", where, BASE_RATE, steps)]
        case Gauge(metric=ref):
            return [_gauge(ref.metric.prom_name, {**labels, **_first_values(ref)}, value, steps)]
        case Rate(metric=ref):  # ``value`` events per second, sampled every ``step`` minutes
            return [_counter(ref.metric.count_series, {**labels, **_first_values(ref)}, value * 60 * step, steps)]
    raise ValueError(f"a {ind.kind} indicator's value is not set by one number")


def _quantile_inputs(ind: Quantile, alert: Alert, labels: dict[str, str], fire: bool,
                     steps: int) -> tuple[list[dict[str, str]], Results]:
    """Every observation in the bucket just above (fire, for ``>``) or at the threshold."""
    assert alert.quantile is not None
    upper, lower = _quantile_mass(ind.metric.metric, alert.threshold, above=(alert.op in (">", ">=")) == fire)
    value = lower + (upper - lower) * alert.quantile
    series = _histogram(ind.metric.metric, {**labels, **_first_values(ind.metric)}, {upper: BASE_RATE}, steps)
    return series, [({**labels, "quantile": q.number(alert.quantile)}, float(value))]


def _share_inputs(ind: Share, alert: Alert, fire: bool, steps: int) -> tuple[list[dict[str, str]], Results]:
    """Shift the first label value's share by the target deviation, the rest proportionally."""
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


def _compare(op: str, value: float, threshold: Decimal) -> bool:
    t = float(threshold)
    return {"<": value < t, "<=": value <= t, ">": value > t, ">=": value >= t}[op]


def _expected(rule: dict[str, Any], labels: Mapping[str, str], value: float) -> dict[str, Any]:
    all_labels = {**{q.label(k): v for k, v in labels.items()}, **rule["labels"]}
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
        series, results = _alert_inputs(model, alert, fire, steps, step)
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
        absent = dict(alert.match) | ({"quantile": q.number(alert.quantile)} if alert.quantile is not None else {})
        cases.append(Case(f"{alert.name}: fires when the series is missing for {alert.for_}", [], alert.name,
                          step, [(for_min - step, []), (absent_at, [_expected(rule, absent, 1.0)])]))
    return cases


def alert_step(alert: Alert) -> int:
    return SLOW_STEP_MINUTES if alert.window.seconds >= 3600 else STEP_MINUTES


def _slo_inputs(model: Model, slo: SLO, bad: Decimal, steps: int) -> list[dict[str, str]]:
    """Input series whose bad-event ratio is ``bad``."""
    labels = dict(slo.match)
    match slo.indicator:
        case Ratio() as ratio:
            return _ratio_inputs(model, ratio, labels, 1 - bad if slo.counts_good else bad, steps)
        case Quantile(metric=ref):
            slow_upper = _quantile_mass(ref.metric, slo.objective.value, above=True)[0]
            mass = {slow_upper: bad * BASE_RATE, slo.objective.value: (1 - bad) * BASE_RATE}
            return _histogram(ref.metric, {**labels, **_first_values(ref)}, mass, steps)
    raise ValueError(f"a {slo.indicator.kind} indicator has no error budget")


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
    order = [g["name"] for name in rule_files for g in groups[name]]
    return yaml_text(model, {
        "rule_files": [f"../{name}" for name in rule_files],
        "evaluation_interval": f"{step}m",
        "group_eval_order": order,
        "tests": [case.render() for case in cases],
    })


def emit(model: Model) -> dict[str, str]:
    """One test file per evaluation step (promtool sets it per file), plus one for SLO burn rates."""
    out = {}
    cases = [c for a in model.alerts for c in alert_cases(model, a)]
    for step, name in ((STEP_MINUTES, "alerts_test.yml"), (SLOW_STEP_MINUTES, "daily_alerts_test.yml")):
        selected = [c for c in cases if c.step == step]
        if selected:
            out[rule_path(model, f"tests/{name}")] = _test_file(model, [RECORDING_FILE, ALERTS_FILE], selected, step)
    slos = budgeted_slos(model)
    if slos:
        out[rule_path(model, "tests/slo_alerts_test.yml")] = _test_file(
            model, [RECORDING_FILE, SLO_ALERTS_FILE], [c for s in slos for c in slo_cases(model, s)], STEP_MINUTES)
    return out
