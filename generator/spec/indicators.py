"""The ``indicators`` section: signals computed from the events' metrics."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from obsgen import model as m
from obsgen.spec.reader import NAME, Checker


def _metric_ref(c: Checker, raw: Any, p: tuple, metrics: dict[str, m.Metric],
                attributes: dict[str, m.Attribute]) -> m.MetricRef | None:
    d = c.mapping(raw, p, required=("metric",), optional=("where",))
    if d is None:
        return None
    metric_name = c.reference(d.get("metric"), p + ("metric",), metrics, "metrics (declared under events)")
    if metric_name is None:
        return None
    metric = metrics[metric_name]
    where: dict[str, tuple[str, ...]] = {}
    if "where" in d and c.mapping(d["where"], p + ("where",)) is not None:
        for label, values in d["where"].items():
            wp = p + ("where", label)
            if label not in metric.labels:
                c.error(wp, f"`{label}` is not a label of metric `{metric_name}`",
                        f"use one of: {', '.join(metric.labels) or '(none)'}")
                continue
            vals = c.string_list(values, wp, allow_empty=False)
            enum = attributes[label].enum
            for i, v in enumerate(vals):
                if enum is not None and v not in enum:
                    c.error(wp + (i,), f"`{v}` is not a value of `{label}`", f"use one of {', '.join(enum)}")
            where[label] = tuple(vals)
    return m.MetricRef(metric, m.frozen_map(where))


def parse_indicators(c: Checker, raw: Any, metrics: dict[str, m.Metric],
                attributes: dict[str, m.Attribute]) -> dict[str, m.Indicator]:
    out: dict[str, m.Indicator] = {}
    if c.mapping(raw, ("indicators",)) is None:
        return out
    kind_keys = {"ratio": ("numerator", "denominator"), "quantile": ("metric", "quantiles"),
                 "mean": ("metric",), "gauge": ("metric",), "share": ("metric", "label", "planned")}
    for name, spec in raw.items():
        p = ("indicators", name)
        if c.string(name, p, NAME, "indicator name") is None or not isinstance(spec, dict):
            c.mapping(spec, p)
            continue
        kind = c.choice(spec.get("kind"), p + ("kind",), m.INDICATOR_KINDS)
        if kind is None:
            continue
        d = c.mapping(spec, p, required=("kind", "description") + kind_keys[kind], optional=("by",))
        if d is None:
            continue
        refs = {k: _metric_ref(c, d[k] if k != "metric" else {"metric": d[k]}, p + (k,), metrics, attributes)
                for k in ("metric", "numerator", "denominator") if k in d}
        if any(r is None for r in refs.values()):
            continue
        for key, ref in refs.items():
            assert ref is not None
            inst = ref.metric.instrument
            wanted = {"quantile": ("histogram",), "mean": ("histogram",), "gauge": ("gauge", "updowncounter"),
                      "share": ("counter",), "ratio": ("counter", "histogram")}[kind]
            if inst not in wanted:
                c.error(p + (key,), f"a {kind} indicator cannot use {inst} `{ref.metric.name}`",
                        f"use a {' or '.join(wanted)} metric")
        by = c.string_list(d.get("by", []), p + ("by",))
        for i, label in enumerate(by):
            for ref in refs.values():
                assert ref is not None
                if label not in ref.metric.labels:
                    c.error(p + ("by", i), f"`{label}` is not a label of metric `{ref.metric.name}`",
                            f"use labels the metric has: {', '.join(ref.metric.labels) or '(none)'}")
        quantiles: list[Decimal] = []
        if kind == "quantile":
            qs = d.get("quantiles")
            if not isinstance(qs, list) or not qs:
                c.error(p + ("quantiles",), "expected a non-empty list of quantiles", "write e.g. [0.5, 0.95]")
            else:
                for i, q in enumerate(qs):
                    num = c.number(q, p + ("quantiles", i))
                    if num is not None and not Decimal(0) < num < Decimal(1):
                        c.error(p + ("quantiles", i), f"quantile {q} is not between 0 and 1",
                                "use a value such as 0.95")
                    elif num is not None:
                        quantiles.append(num)
        label = None
        planned: dict[str, Decimal] = {}
        if kind == "share":
            ref = refs["metric"]
            assert ref is not None
            label = d.get("label")
            if label not in ref.metric.labels:
                c.error(p + ("label",), f"`{label}` is not a label of metric `{ref.metric.name}`",
                        f"use one of: {', '.join(ref.metric.labels)}")
            elif c.mapping(d.get("planned"), p + ("planned",)) is not None:
                enum = attributes[label].enum or ()
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
        out[name] = m.Indicator(
            name=name, kind=kind, description=str(d.get("description", "")), by=tuple(by),
            metric=refs.get("metric"), numerator=refs.get("numerator"), denominator=refs.get("denominator"),
            quantiles=tuple(quantiles), label=label, planned=m.frozen_map(planned))
    return out
