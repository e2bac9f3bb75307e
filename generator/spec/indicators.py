"""The ``indicators`` section: signals computed from the events' metrics, one model class per ``kind``."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from obsgen import model as m
from obsgen.spec.reader import NAME, Checker

EVENT_COUNTS = ("counter", "histogram")
"""Instruments whose series count events: a counter, or a histogram's ``_count``."""
KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required keys, optional keys) besides kind, description and by
    "ratio": (("numerator", "denominator"), ()),
    "quantile": (("metric", "quantiles"), ()),
    "mean": (("metric",), ()),
    "gauge": (("metric",), ()),
    "share": (("metric", "label", "planned"), ()),
    "rate": (("metric",), ("where",)),
}


class _Reader:
    """Reads one indicator's fields; ``metrics`` and ``attributes`` are what its references resolve to."""

    def __init__(self, c: Checker, metrics: dict[str, m.Metric], attributes: dict[str, m.Attribute]):
        self.c, self.metrics, self.attributes = c, metrics, attributes

    def ref(self, name: Any, where: Any, p_metric: tuple, p_where: tuple, field: str, kind: str,
            instruments: tuple[str, ...]) -> m.MetricRef | None:
        """A metric by name, of one of ``instruments``, narrowed by ``where`` (``None``: not narrowed)."""
        c = self.c
        metric_name = c.reference(name, p_metric, self.metrics, "events", "a metric")
        if metric_name is None:
            return None
        metric = self.metrics[metric_name]
        if metric.instrument not in instruments:
            c.error(p_metric, f"a {kind} indicator cannot use {metric.instrument} `{metric.name}` as its {field}",
                    f"use a {' or '.join(instruments)} metric")
            return None
        narrowed: dict[str, tuple[str, ...]] = {}
        if where is not None and c.mapping(where, p_where) is not None:
            for label, values in where.items():
                wp = p_where + (label,)
                if label not in metric.labels:
                    c.error(wp, f"`{label}` is not a label of metric `{metric_name}`",
                            f"use one of: {', '.join(metric.labels) or '(none)'}")
                    continue
                vals = c.string_list(values, wp, allow_empty=False)
                enum = self.attributes[label].enum
                for i, v in enumerate(vals):
                    if enum is not None and v not in enum:
                        c.error(wp + (i,), f"`{v}` is not a value of `{label}`", f"use one of {', '.join(enum)}")
                narrowed[label] = tuple(vals)
        return m.MetricRef(metric, m.frozen_map(narrowed))

    def terms(self, raw: Any, p: tuple, field: str) -> tuple[m.MetricRef, ...] | None:
        """A ratio's ``numerator``/``denominator``: one ``{metric, where}`` or a list of them, summed."""
        if isinstance(raw, dict):
            items = [(raw, p)]
        elif isinstance(raw, list) and raw:
            items = [(item, p + (i,)) for i, item in enumerate(raw)]
        else:
            self.c.error(p, "expected one `{metric: ..., where: ...}` or a non-empty list of them",
                         f"write e.g. `{field}: {{metric: my.requests}}` or `{field}: [{{metric: a}}, {{metric: b}}]`")
            return None
        refs = []
        for item, ip in items:
            d = self.c.mapping(item, ip, required=("metric",), optional=("where",))
            ref = None if d is None else self.ref(d.get("metric"), d.get("where"), ip + ("metric",),
                                                  ip + ("where",), field, "ratio", EVENT_COUNTS)
            refs.append(ref)
        return tuple(r for r in refs if r is not None) if None not in refs else None

    def single(self, d: dict, p: tuple, kind: str, instruments: tuple[str, ...]) -> m.MetricRef | None:
        return self.ref(d.get("metric"), d.get("where"), p + ("metric",), p + ("where",), "metric", kind, instruments)

    def quantiles(self, raw: Any, p: tuple) -> tuple[Decimal, ...] | None:
        if not isinstance(raw, list) or not raw:
            self.c.error(p, "expected a non-empty list of quantiles", "write e.g. [0.5, 0.95]")
            return None
        out = []
        for i, q in enumerate(raw):
            num = self.c.number(q, p + (i,))
            if num is not None and not Decimal(0) < num < Decimal(1):
                self.c.error(p + (i,), f"quantile {q} is not between 0 and 1", "use a value such as 0.95")
            elif num is not None:
                out.append(num)
        return tuple(out) if len(out) == len(raw) else None

    def planned(self, d: dict, p: tuple, ref: m.MetricRef) -> tuple[str, dict[str, Decimal]] | None:
        """A share's ``label`` and its ``planned`` split over the label's values."""
        c, label = self.c, d.get("label")
        if label not in ref.metric.labels:
            c.error(p + ("label",), f"`{label}` is not a label of metric `{ref.metric.name}`",
                    f"use one of: {', '.join(ref.metric.labels)}")
            return None
        planned: dict[str, Decimal] = {}
        if c.mapping(d.get("planned"), p + ("planned",)) is None:
            return None
        enum = self.attributes[label].enum or ()
        for value, share in d["planned"].items():
            if enum and value not in enum:
                c.error(p + ("planned", value), f"`{value}` is not a value of `{label}`",
                        f"use one of {', '.join(enum)}")
            num = c.number(share, p + ("planned", value), Decimal(0), Decimal(1))
            if num is not None:
                planned[value] = num
        if planned and sum(planned.values()) != 1:
            c.error(p + ("planned",), f"planned shares add up to {sum(planned.values())}",
                    "make the shares add up to 1")
        return str(label), planned


def _ratio(r: _Reader, d: dict, p: tuple, common: dict[str, Any]) -> m.Indicator | None:
    numerators = r.terms(d.get("numerator"), p + ("numerator",), "numerator")
    denominators = r.terms(d.get("denominator"), p + ("denominator",), "denominator")
    if numerators is None or denominators is None:
        return None
    return m.Ratio(**common, numerators=numerators, denominators=denominators)


def _quantile(r: _Reader, d: dict, p: tuple, common: dict[str, Any]) -> m.Indicator | None:
    ref, quantiles = r.single(d, p, "quantile", ("histogram",)), r.quantiles(d.get("quantiles"), p + ("quantiles",))
    return None if ref is None or quantiles is None else m.Quantile(**common, metric=ref, quantiles=quantiles)


def _mean(r: _Reader, d: dict, p: tuple, common: dict[str, Any]) -> m.Indicator | None:
    ref = r.single(d, p, "mean", ("histogram",))
    return None if ref is None else m.Mean(**common, metric=ref)


def _gauge(r: _Reader, d: dict, p: tuple, common: dict[str, Any]) -> m.Indicator | None:
    ref = r.single(d, p, "gauge", ("gauge", "updowncounter"))
    return None if ref is None else m.Gauge(**common, metric=ref)


def _share(r: _Reader, d: dict, p: tuple, common: dict[str, Any]) -> m.Indicator | None:
    ref = r.single(d, p, "share", ("counter",))
    split = r.planned(d, p, ref) if ref is not None else None
    if ref is None or split is None:
        return None
    return m.Share(**common, metric=ref, label=split[0], planned=m.frozen_map(split[1]))


def _rate(r: _Reader, d: dict, p: tuple, common: dict[str, Any]) -> m.Indicator | None:
    ref = r.single(d, p, "rate", EVENT_COUNTS)
    return None if ref is None else m.Rate(**common, metric=ref)


PARSERS: dict[str, Callable[[_Reader, dict, tuple, dict[str, Any]], m.Indicator | None]] = {
    "ratio": _ratio, "quantile": _quantile, "mean": _mean, "gauge": _gauge, "share": _share, "rate": _rate,
}


def parse_indicators(c: Checker, raw: Any, metrics: dict[str, m.Metric],
                     attributes: dict[str, m.Attribute]) -> dict[str, m.Indicator]:
    out: dict[str, m.Indicator] = {}
    if c.mapping(raw, ("indicators",)) is None:
        return out
    reader = _Reader(c, metrics, attributes)
    for name, spec in raw.items():
        p = ("indicators", name)
        if c.string(name, p, NAME, "indicator name") is None or not isinstance(spec, dict):
            c.mapping(spec, p)
            continue
        kind = c.choice(spec.get("kind"), p + ("kind",), m.INDICATOR_KINDS)
        if kind is None:
            continue
        required, optional = KEYS[kind]
        d = c.mapping(spec, p, required=("kind", "description") + required, optional=("by",) + optional)
        if d is None:
            continue
        by = tuple(c.string_list(d.get("by", []), p + ("by",)))
        description = c.text(d.get("description"), p + ("description",))
        indicator = PARSERS[kind](reader, d, p, {"name": name, "description": description, "by": by})
        if indicator is not None:
            _check_split_labels(c, indicator, p)
            out[name] = indicator
    return out


def _check_split_labels(c: Checker, indicator: m.Indicator, p: tuple) -> None:
    """Every ``by`` label is carried by every metric the indicator reads (else a term would be dropped)."""
    common = [label for label in indicator.refs[0].metric.labels
              if all(label in ref.metric.labels for ref in indicator.refs)]
    for i, label in enumerate(indicator.by):
        for ref in indicator.refs:
            if label not in ref.metric.labels:
                c.error(p + ("by", i), f"`{label}` is not a label of metric `{ref.metric.name}`",
                        f"split by labels every metric of the indicator carries: {', '.join(common) or '(none)'}")
                break
