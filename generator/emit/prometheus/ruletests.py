"""Generated ``promtool test rules`` files (``alerting/<service>/tests/``), next to the rules they test.

For every alert: a case where it fires once its ``for`` has passed (and not before), and a case just
on the silent side of the threshold. For every SLO burn-rate window: the same, where "fires" names
exactly the windows whose burn-rate factor the injected bad-event ratio exceeds. Input series are
synthesised from the indicator definition, so the tests follow the spec; expected annotations are
rendered here with the same formatting functions Prometheus templates use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from obsgen.emit.memo import per_model
from obsgen.emit.prometheus import burnrate
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
    inner = ", ".join(q.matcher(q.label(k), (labels[k],)) for k in sorted(labels, key=q.label))
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


@per_model
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


SLO_COUNTER_START = Decimal(1_000_000)
"""SLO test counters start here (an exporter that ran before Prometheus did): ``rate()`` then extrapolates
numerator and denominator alike, never clamping one at zero, so a window's ratio is exact."""
PROOF_BURNS = ((Fraction(8), 8 * 60), (Fraction(7, 2), 2 * 1440), (Fraction(6, 5), 4 * 1440))
"""(burn rate as a multiple of the budget, minutes): the detection scenarios of the README."""
COLD_SPIKE = (Fraction(1, 10), 5, 10)
"""A 5-minute 10 % spike starting 10 minutes after Prometheus starts."""
QUIET_SHARE = Fraction(1, 2)
"""The quiet baseline of the silence cases, as a share of the budget: 0.05 % for a 0.1 % budget."""


def slo_pairs(slo: SLO) -> list[burnrate.Pair]:
    assert slo.budget_period is not None
    return [burnrate.Pair(bw.long.seconds // 60, bw.short.seconds // 60,
                          Fraction(bw.threshold(slo.budget_period, slo.error_budget)), bw.severity)
            for bw in burn_windows()]


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _increment(series: dict[str, str]) -> Decimal:
    """The per-step increment of a ``0+Nx…`` counter the single-ratio builders write."""
    return Decimal(series["values"].split("+", 1)[1].rsplit("x", 1)[0])


def _slo_series(model: Model, slo: SLO, runs: Sequence[burnrate.Run]) -> list[dict[str, str]]:
    """Input counters whose bad-event ratio follows ``runs``: the series of each constant run, joined."""
    per_run = [_slo_inputs(model, slo, _decimal(ratio), minutes) for ratio, minutes in runs]
    out = []
    for i, first in enumerate(per_run[0]):
        value, tokens = SLO_COUNTER_START, []
        for run, (_, minutes) in zip(per_run, runs, strict=True):
            step = _increment(run[i])
            start = value if not tokens else value + step
            tokens.append(f"{q.number(start)}+{q.number(step)}x{minutes if not tokens else minutes - 1}")
            value += step * minutes
        out.append({"series": first["series"], "values": " ".join(tokens)})
    return out


def _fires_at(model: Model, slo: SLO, rules: Sequence[dict[str, Any]], found: burnrate.Scenario,
              t: int) -> list[dict[str, Any]]:
    """The alerts of ``rules`` (the SLO's) expected at step ``t``."""
    if not found.agree(t):
        raise ValueError(f"{found.name}: Prometheus 2 and 3 disagree at step {t}; check another step")
    labels = {"service": model.service.name, "slo": slo.name}
    return [_expected(rule, labels, 0.0) for rule in rules if found.states[rule["labels"]["severity"]][t]]


Shape = Sequence[tuple[Fraction | None, int]]
"""(bad ratio or None for the baseline, minutes) runs of a scenario."""


def _scenario_case(model: Model, slo: SLO, title: str, shape: Shape, step: int, watch: Sequence[str],
                   extra: Sequence[int] = ()) -> Case | None:
    """A case evaluated every ``step`` minutes pinning the first firing evaluation of the ``watch``ed
    severities (silent the evaluation before) and silence at the ``extra`` minutes; None when the shape's
    ratios do not fit (100 % or more) or nothing is to be checked."""
    budget = Fraction(slo.error_budget)
    if any(r is not None and r >= 1 for r, _ in shape):
        return None
    delay = slo.alert_delay.seconds // 60 // step if slo.alert_delay else 0
    found = burnrate.scenario(title, budget, burnrate.in_steps(slo_pairs(slo), step),
                              tuple((r, m // step) for r, m in shape), delay)
    firsts = {sev: burnrate.first_start(found.states[sev]) for sev in watch}
    checks = sorted({*(t for first in firsts.values() for s in first for t in (s - 1, s)),
                     *(m // step for m in extra)})
    if not checks:
        return None  # a watched severity that never fires: nothing to pin
    runs, left = [], checks[-1] + 1
    for ratio, steps in found.runs:
        if left > 0:
            runs.append((ratio, min(steps, left)))
            left -= steps
    name, rules = slo_alert_name(model, slo), slo_alert_rules(model, slo)
    burn_start = shape[0][1] if shape[0][0] is None else 0
    fired = ", ".join(f"{sev} at +{burnrate.minutes_text(f[0] * step - burn_start)}"
                      for sev, f in firsts.items() if f)
    baseline = f", baseline {float(found.runs[0][0] / budget):.3g}x" if shape[0][0] is None else ""
    when = "evaluation" if step == 1 else f"{step}-minute evaluation"
    return Case(f"{name}: {title}{baseline}: "
                + (f"fires {fired} from the burn's start, not an {when} earlier" if fired else "stays silent"),
                _slo_series(model, slo, runs), name, step,
                [(t * step, _fires_at(model, slo, rules, found, t)) for t in checks])


PAIR_BURNS = (Fraction(2), Fraction(9, 4), Fraction(7, 4), Fraction(5, 2), Fraction(3, 2))
"""Burn rates tried for a pair's detection case, as multiples of its threshold, when no README burn fits:
the first whose detection Prometheus 2 and 3 agree on (the boundary sample of a range decides otherwise)."""


def pair_step(pair: burnrate.Pair) -> int:
    """Ticket pairs (a short window of 2h or more) are tested every 15 minutes: evaluating days of
    1-minute samples over a 3-day window costs minutes of CI; the pages' pairs every minute."""
    return SLOW_STEP_MINUTES if pair.short >= 8 * SLOW_STEP_MINUTES else STEP_MINUTES


def _pair_burn_case(model: Model, slo: SLO, pair: burnrate.Pair) -> Case | None:
    """A burn after exactly the pair's long window of history (so slower pairs of the severity, whose
    history guard is not met yet, cannot fire first): a README burn between 1 and 2.5 times the pair's
    threshold (8x for 6h/30m, 3.5x for 1d/2h, 1.2x for 3d/6h), else a multiple of the threshold."""
    budget = Fraction(slo.error_budget)
    readme = [rate * budget for rate, _ in sorted(PROOF_BURNS) if pair.threshold < rate * budget
              < pair.threshold * Fraction(5, 2)]
    for rate in [*readme, *(min(pair.threshold * m, (pair.threshold + 1) / 2) for m in PAIR_BURNS)]:
        try:
            return _scenario_case(model, slo, f"{pair.label} pair, {burnrate.minutes_text(pair.long)} of history, "
                                  f"then {q.number(_decimal(rate / budget))}x the budget",
                                  [(None, pair.long), (rate, pair.long)], pair_step(pair), [pair.severity])
        except burnrate.NoAgreement:
            continue
    raise ValueError(f"SLO {slo.name}: no burn rate for the {pair.label} pair that Prometheus 2 and 3 agree on")


def _spike_case(model: Model, slo: SLO, pair: burnrate.Pair) -> Case | None:
    budget = Fraction(slo.error_budget)
    spike = min(pair.threshold * Fraction(3, 2), (pair.threshold + 1) / 2)
    return _scenario_case(model, slo, f"{pair.label} pair, a spike of {q.number(_decimal(spike / budget))}x for "
                          f"{burnrate.minutes_text(pair.short)} only the short window sees",
                          [(None, pair.long), (spike, pair.short), (None, pair.short)], pair_step(pair), [],
                          extra=(pair.long + pair.short, pair.long + pair.short * 2))


@per_model
def slo_cases(model: Model, slo: SLO, proofs: bool) -> list[Case]:
    """Detection to the evaluation and silence for a spike only the short window sees: for the fastest
    pair of every SLO and, with ``proofs``, for every pair, plus the README's burns (8x for 8h, 3.5x for
    2d, 1.2x for 4d) with full history and on a cold start, and a 10% spike on a cold start. Each case
    costs promtool a second or more, so the full set runs for one SLO per spec."""
    budget = Fraction(slo.error_budget)
    pairs = slo_pairs(slo) if proofs else slo_pairs(slo)[:1]
    cases: list[Case | None] = []
    for pair in pairs:
        cases += [_pair_burn_case(model, slo, pair), _spike_case(model, slo, pair)]
    if proofs:
        ratio, minutes, start = COLD_SPIKE
        cases.append(_scenario_case(model, slo, f"cold start, a {minutes}m spike of "
                                    f"{q.number(_decimal(ratio * 100))}%", [(None, start), (ratio, minutes),
                                                                             (None, 120)], STEP_MINUTES, [],
                                    extra=(start + minutes, start + minutes + 5, 60, 120)))
        cases += _quiet_cases(model, slo, pairs)
        for rate, minutes in PROOF_BURNS:
            # The first severity that fires; full history for the pairs without a case of their own.
            severity = next(p.severity for p in pairs if p.threshold < rate * budget)
            mine = [p for p in pairs if p.severity == severity]
            step = max(pair_step(p) for p in mine)
            burn = (rate * budget, min(minutes, max(m.long for m in mine) + step))
            shapes = [("cold start", [burn])]
            longest = max(m.long for m in mine)
            if not any(p.threshold < rate * budget < p.threshold * Fraction(5, 2) and p.long == longest
                       for p in mine):  # else the pair's own case is this burn with full history
                shapes.append(("full history", [(None, longest), burn]))
            for kind, shape in shapes:
                title = f"{kind}, {q.number(_decimal(rate))}x the budget for {burnrate.minutes_text(minutes)}"
                cases.append(_scenario_case(model, slo, title, shape, step, [severity]))
    return [c for c in cases if c is not None]


def _quiet_cases(model: Model, slo: SLO, pairs: Sequence[burnrate.Pair]) -> list[Case | None]:
    """Per severity, silence for the quiet baseline (``QUIET_SHARE`` of the budget) from a cold start until
    every window is full (checked at each pair's first evaluation with history and when its long window
    fills), then for the 10 % spike of ``COLD_SPIKE`` on that baseline with full windows (checked when it
    ends, when each short window lets go of it and after). Pages every minute; tickets every 15 minutes,
    where the spike is one 15-minute sample holding its bad events plus a full budget's worth for the rest
    of the sample, more than the baseline adds."""
    budget = Fraction(slo.error_budget)
    quiet = QUIET_SHARE * budget
    ratio, minutes, _ = COLD_SPIKE
    cases: list[Case | None] = []
    for severity in sorted({p.severity for p in pairs}):
        mine = [p for p in pairs if p.severity == severity]
        step = max(pair_step(p) for p in mine)
        longest, shortest = max(p.long for p in mine), max(p.short for p in mine)
        spike = ratio if step == STEP_MINUTES else (ratio * minutes + budget * (step - minutes)) / step
        width = max(minutes, step)
        sample = "" if step == STEP_MINUTES else f" (a {step}m sample at {q.number(_decimal(spike * 100))}%)"
        end = longest + width
        cases.append(_scenario_case(
            model, slo, f"{severity} windows, cold start at {q.number(_decimal(quiet * 100))}% for "
            f"{burnrate.minutes_text(longest)}, then a {minutes}m spike of {q.number(_decimal(ratio * 100))}%{sample}",
            [(quiet, longest), (spike, width), (quiet, shortest)], step, [],
            extra=(step, *(p.long - p.short + step for p in mine), *(p.long for p in mine),
                   end, *(end + p.short - step for p in mine), end + shortest)))
    return cases


def detection_table(model: Model) -> str:
    """The README's table: per SLO and window pair, the threshold, the detection time at 100 % bad events
    and at twice the threshold, and the reset time once such a burn stops (Prometheus 3, 1-minute
    evaluations, from the same arithmetic the tests use)."""
    rows = ["| SLO | severity | pair | fires above | detected at 100 % bad | at 2x the threshold | reset after |",
            "|---|---|---|---|---|---|---|"]
    for slo in budgeted_slos(model):
        for pair in slo_pairs(slo):
            times = [burnrate.pair_timing(pair, rate) for rate in (Fraction(1), min(pair.threshold * 2, Fraction(1)))]
            text = [burnrate.minutes_text(t) if t is not None else "never" for t in
                    (times[0][0], times[1][0], times[1][1])]
            rows.append(f"| {slo.name} | {pair.severity} | {pair.label} | {q.number(_decimal(pair.threshold))} | "
                        + " | ".join(text) + " |")
    return "\n".join(rows) + "\n"


BUDGET_RUNS = ((Fraction(1, 4), 48), (Fraction(17, 8), 12))
"""Bad events as multiples of the budget for 48 then 12 minutes: the hand-computed case of
``budget_case``. Bad share (48 x 0.25 + 12 x 2.125) / 60 = 0.625 of the budget, so 0.375 is left."""


@dataclass
class BudgetCase:
    """A ``promql_expr_test`` of an SLO's records after an hour of traffic: budget left 0.375 (computed
    by hand in ``BUDGET_RUNS``), burn rate 2.125 over the last 5 minutes, the objective."""

    model: Model
    slo: SLO
    step: int = STEP_MINUTES

    def render(self) -> dict[str, Any]:
        model, slo = self.model, self.slo
        assert slo.budget_period is not None
        budget = Fraction(slo.error_budget)
        runs = [(share * budget, minutes) for share, minutes in BUDGET_RUNS]
        labels = f'{{service="{model.service.name}", slo="{slo.name}"}}'
        sel = {"slo": slo.name}

        def check(record: str, value: float, rounded: bool = True) -> dict[str, Any]:
            """``record``'s value at 60m; rounded to 1e-6 where float division leaves 0.37499999999999911."""
            expr = q.match_selector(record, sel)
            return {"expr": f"round({expr}, 0.000001)" if rounded else expr, "eval_time": "60m",
                    "exp_samples": [{"labels": labels if rounded else record + labels, "value": value}]}

        return {"name": f"{slo.name}: after 48m at 0.25x and 12m at 2.125x the budget, 0.375 of it is left",
                "interval": f"{self.step}m", "input_series": _slo_series(model, slo, runs),
                "promql_expr_test": [
                    check(q.slo_meta_record(model, "error_budget_remaining", f"ratio_rate{slo.budget_period}"),
                          0.375),
                    check(q.slo_meta_record(model, "burn_rate", "ratio_rate5m"), 2.125),
                    check(q.slo_meta_record(model, "objective", "ratio"), float(1 - slo.error_budget),
                          rounded=False)]}


def proof_slo(model: Model) -> SLO | None:
    """The SLO the README's burn scenarios run for: the first budgeted ratio SLO (fewest input series)."""
    slos = budgeted_slos(model)
    return next((s for s in slos if isinstance(s.indicator, Ratio)), slos[0] if slos else None)


def _test_file(model: Model, rule_files: list[str], cases: Sequence[Case | BudgetCase], step: int) -> str:
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
    """One test file per evaluation step (promtool sets it per file), for the spec's alerts and for the
    SLO burn rates."""
    out = {}
    cases = [c for a in model.alerts for c in alert_cases(model, a)]
    slos = budgeted_slos(model)
    slo_cases_: list[Case | BudgetCase] = [c for s in slos for c in slo_cases(model, s, proofs=s is proof_slo(model))]
    if (budgeted := proof_slo(model)) is not None:
        slo_cases_.append(BudgetCase(model, budgeted))
    for step, name, slo_name in ((STEP_MINUTES, "alerts_test.yml", "slo_alerts_test.yml"),
                                 (SLOW_STEP_MINUTES, "daily_alerts_test.yml", "slo_slow_alerts_test.yml")):
        selected = [c for c in cases if c.step == step]
        if selected:
            out[rule_path(model, f"tests/{name}")] = _test_file(model, [RECORDING_FILE, ALERTS_FILE], selected, step)
        selected = [c for c in slo_cases_ if c.step == step]
        if selected:
            out[rule_path(model, f"tests/{slo_name}")] = _test_file(
                model, [RECORDING_FILE, SLO_ALERTS_FILE], selected, step)
    return out
