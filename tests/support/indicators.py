"""Indicators, SLOs and alerts evaluated on what a simulation exported (the runtime's in-memory metrics).

The generated rules compute each indicator from Prometheus series over a window; this computes the same
quantity over a whole in-memory run, per ``by`` group, so a test can say "the default traffic keeps this
alert quiet" or "this incident moves its indicator past the threshold" without the real stack
(tests/test_e2e_stack.py checks the real rules). Metric point attributes are the spec's attribute names.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from obsgen.model import SLO, Alert, Gauge, Indicator, Mean, MetricRef, Quantile, Rate, Ratio, Share

from tests.support.simulation import Run

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
Group = tuple[tuple[str, Any], ...]


def _points(run: Run, name: str) -> list[Any]:
    data = run.reader.get_metrics_data()
    return [p for rm in (data.resource_metrics if data else ()) for sm in rm.scope_metrics
            for metric in sm.metrics if metric.name == name for p in metric.data.data_points]


def _selected(attrs: Mapping[str, Any], where: Mapping[str, Any], match: Mapping[str, str]) -> bool:
    return all(attrs.get(k) in v for k, v in where.items()) and all(str(attrs.get(k)) == v for k, v in match.items())


def _group(attrs: Mapping[str, Any], by: tuple[str, ...]) -> Group:
    return tuple((b, attrs.get(b)) for b in by)


def _count(point: Any) -> float:
    return float(point.count if hasattr(point, "bucket_counts") else point.value)


def _sums(run: Run, refs: tuple[MetricRef, ...], by: tuple[str, ...], match: Mapping[str, str]) -> dict[Group, float]:
    out: dict[Group, float] = defaultdict(float)
    for ref in refs:
        for p in _points(run, ref.metric.name):
            attrs = dict(p.attributes or {})
            if _selected(attrs, ref.where, match):
                out[_group(attrs, by)] += _count(p)
    return out


def _histogram_quantile(q: float, bounds: list[float], counts: list[float]) -> float:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket holding rank q·total."""
    total = sum(counts)
    rank, seen = q * total, 0.0
    for i, c in enumerate(counts):
        if seen + c >= rank and c > 0:
            if i == len(bounds):
                return bounds[-1]  # the +Inf bucket: the highest finite bound, as Prometheus does
            low = bounds[i - 1] if i > 0 else 0.0
            return low + (bounds[i] - low) * (rank - seen) / c
        seen += c
    return math.nan


def evaluate(run: Run, indicator: Indicator, wall_seconds: float, match: Mapping[str, str] | None = None,
             quantile: float | None = None) -> dict[Group, float]:
    """The indicator's value per ``by`` group over the whole run (no group: no data)."""
    match = {k: v for k, v in (match or {}).items() if k != "quantile"}
    return _evaluate(run, indicator, wall_seconds, match, indicator.by, quantile)


def _evaluate(run: Run, indicator: Indicator, wall_seconds: float, match: Mapping[str, str], by: tuple[str, ...],
              quantile: float | None) -> dict[Group, float]:
    match indicator:
        case Ratio(numerators=nums, denominators=dens):
            num, den = _sums(run, nums, by, match), _sums(run, dens, by, match)
            return {g: num.get(g, 0.0) / d for g, d in den.items() if d > 0}
        case Rate(metric=ref):
            return {g: n / wall_seconds for g, n in _sums(run, (ref,), by, match).items()}
        case Quantile(metric=ref) | Mean(metric=ref):
            counts: dict[Group, list[float]] = {}
            sums: dict[Group, float] = defaultdict(float)
            bounds: list[float] = []
            for p in _points(run, ref.metric.name):
                attrs = dict(p.attributes or {})
                if _selected(attrs, ref.where, match):
                    g = _group(attrs, by)
                    bounds = list(p.explicit_bounds)
                    acc = counts.setdefault(g, [0.0] * len(p.bucket_counts))
                    for i, c in enumerate(p.bucket_counts):
                        acc[i] += c
                    sums[g] += p.sum
            if isinstance(indicator, Mean):
                return {g: sums[g] / sum(c) for g, c in counts.items() if sum(c)}
            assert quantile is not None, f"{indicator.name}: a quantile indicator needs the quantile"
            return {g: _histogram_quantile(quantile, bounds, c) for g, c in counts.items() if sum(c)}
        case Gauge(metric=ref):
            out: dict[Group, float] = {}
            for p in _points(run, ref.metric.name):
                attrs = dict(p.attributes or {})
                if _selected(attrs, ref.where, match):
                    g = _group(attrs, by)
                    out[g] = max(out.get(g, -math.inf), float(p.value))
            return out
        case Share(metric=ref, label=label, planned=planned):
            counts_by = _sums(run, (ref,), (*by, label), match)
            totals: dict[Group, float] = defaultdict(float)
            for g, n in counts_by.items():
                totals[g[:-1]] += n
            return {g: abs(n / totals[g[:-1]] / float(planned[g[-1][1]]) - 1) for g, n in counts_by.items()
                    if g[-1][1] in planned and totals[g[:-1]]}
    raise AssertionError(f"unknown indicator kind {indicator!r}")


def alert_values(run: Run, alert: Alert, wall_seconds: float) -> dict[Group, float]:
    quantile = float(alert.quantile) if alert.quantile is not None else None
    return evaluate(run, alert.indicator, wall_seconds, alert.match, quantile)


def firing(run: Run, alert: Alert, wall_seconds: float) -> list[Group]:
    """The groups whose value is past the alert's threshold; ``[()]`` for a ``when_absent`` alert without data."""
    values = alert_values(run, alert, wall_seconds)
    if not values:
        return [()] if alert.when_absent else []
    return [g for g, v in values.items() if OPS[alert.op](v, float(alert.threshold))]


def slo_values(run: Run, slo: SLO, wall_seconds: float) -> dict[Group, float]:
    quantile = float(slo.quantile) if slo.quantile is not None else None
    return evaluate(run, slo.indicator, wall_seconds, slo.match, quantile)


def slo_holds(run: Run, slo: SLO, wall_seconds: float) -> bool:
    values = slo_values(run, slo, wall_seconds)
    return bool(values) and all(OPS[slo.objective.op](v, float(slo.objective.value)) for v in values.values())
