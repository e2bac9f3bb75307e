"""Raw spec document → validated immutable ``Model``, with every error reported at once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from jsonschema import Draft202012Validator

from generator import model as m
from generator.checks import MISSING, Checker
from generator.eventschema import event_schema
from generator.loader import Document, SpecInvalid
from generator.names import INSTRUMENTS

NAME = r"[a-z][a-z0-9_]*"
METRIC_NAME = r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*"
ALERT_NAME = r"[A-Z][A-Za-z0-9]*"
SLUG = r"[a-z][a-z0-9-]*"
UNIT = r"(\{[A-Za-z0-9_ .]+\}|[A-Za-z0-9/]+)"


def build_model(doc: Document, source: str) -> m.Model:
    """Validate ``doc``; raise ``SpecInvalid`` with every problem found, or return the model."""
    c = Checker(doc)
    top = c.mapping(doc.data, (), required=("version", "service", "attributes", "events", "indicators",
                                             "alerts", "routing"),
                    optional=("slos", "kill_switches", "retention", "dashboards"))
    if top is None:
        raise SpecInvalid(c.errors)
    if "version" in top and top["version"] != 1:
        c.error(("version",), f"unsupported spec version {top['version']!r}", "set `version: 1`")
    service = _service(c, top.get("service", MISSING))
    attributes = _attributes(c, top.get("attributes", {}))
    events = _events(c, top.get("events", {}), attributes)
    metrics = {metric.name: metric for event in events for metric in event.metrics}
    indicators = _indicators(c, top.get("indicators", {}), metrics, attributes)
    kill_switches = _kill_switches(c, top.get("kill_switches", {}))
    dashboards = _dashboards(c, top.get("dashboards", {}))
    slos = _slos(c, top.get("slos", {}), indicators, attributes)
    routing = _routing(c, top.get("routing", MISSING))
    alerts = _alerts(c, top.get("alerts", {}), indicators, attributes, kill_switches, dashboards,
                     service, routing)
    retention = _retention(c, top.get("retention", {}))
    if c.errors or service is None or routing is None:
        raise SpecInvalid(sorted(c.errors, key=lambda e: e.line))
    return m.Model(source=source, service=service, attributes=m.frozen_map(attributes),
                   events=tuple(events), indicators=tuple(indicators.values()), slos=tuple(slos),
                   alerts=tuple(alerts), kill_switches=m.frozen_map(kill_switches), routing=routing,
                   retention=m.frozen_map(retention), dashboards=tuple(dashboards))


def _service(c: Checker, raw: Any) -> m.Service | None:
    p = ("service",)
    if raw is MISSING:
        return None  # already reported as a missing key
    d = c.mapping(raw, p, required=("name", "namespace", "runbook_url", "grafana_url"),
                  optional=("description",))
    if d is None:
        return None
    name = c.string(d.get("name"), p + ("name",), r"[a-z][a-z0-9-]*", "service name")
    namespace = c.string(d.get("namespace"), p + ("namespace",), NAME, "namespace")
    runbook = c.string(d.get("runbook_url"), p + ("runbook_url",), r"https?://\S+", "URL")
    grafana = c.string(d.get("grafana_url"), p + ("grafana_url",), r"https?://\S+[^/]", "URL")
    description = d.get("description", "")
    if None in (name, namespace, runbook, grafana):
        return None
    return m.Service(str(name), str(namespace), str(description), str(runbook).rstrip("/"), str(grafana))


def _attributes(c: Checker, raw: Any) -> dict[str, m.Attribute]:
    out: dict[str, m.Attribute] = {}
    if c.mapping(raw, ("attributes",)) is None:
        return out
    for name, spec in raw.items():
        p = ("attributes", name)
        if c.string(name, p, NAME, "attribute name") is None:
            continue
        d = c.mapping(spec, p, required=("type", "pii", "cardinality", "description"),
                      optional=("enum", "format", "pattern", "minimum", "maximum", "max_length",
                                "max_items", "items"))
        if d is None:
            continue
        type_ = c.choice(d.get("type"), p + ("type",), m.ATTRIBUTE_TYPES)
        pii = c.choice(d.get("pii"), p + ("pii",), m.PII_CLASSES)
        cardinality = c.choice(d.get("cardinality"), p + ("cardinality",), m.CARDINALITIES)
        enum = tuple(c.string_list(d["enum"], p + ("enum",), allow_empty=False)) if "enum" in d else None
        fmt = c.choice(d["format"], p + ("format",), m.FORMATS) if "format" in d else None
        bounds = {k: c.number(d[k], p + (k,)) for k in ("minimum", "maximum") if k in d}
        if enum is not None and cardinality == "high":
            c.error(p + ("cardinality",), "an enum attribute has bounded cardinality",
                    "set `cardinality: low`")
        items = c.choice(d["items"], p + ("items",), m.ATTRIBUTE_TYPES[:3]) if "items" in d else None
        if type_ == "array" and items is None and "items" not in d:
            c.error(p, "an array attribute needs `items`", "add `items: string` (or integer, number)")
        # An attribute with a bad field is still declared (with neutral stand-ins), so references to it
        # do not cascade into more errors; the model is never built while errors exist.
        out[name] = m.Attribute(
            name=name, type=str(type_ or "string"), description=str(d.get("description", "")),
            pii=str(pii or "none"), cardinality=str(cardinality or "low"), enum=enum, format=fmt,
            pattern=d.get("pattern"),
            minimum=_float(bounds.get("minimum")), maximum=_float(bounds.get("maximum")),
            max_length=d.get("max_length"), max_items=d.get("max_items"), items=items)
    return out


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _events(c: Checker, raw: Any, attributes: dict[str, m.Attribute]) -> list[m.Event]:
    out: list[m.Event] = []
    if c.mapping(raw, ("events",)) is None:
        return out
    seen_metrics: dict[str, str] = {}
    for name, spec in raw.items():
        p = ("events", name)
        if c.string(name, p, NAME, "event name") is None:
            continue
        d = c.mapping(spec, p, required=("description", "required", "metrics", "example"),
                      optional=("optional", "span", "log"))
        if d is None:
            continue
        required = c.string_list(d.get("required", []), p + ("required",), allow_empty=False)
        optional = c.string_list(d.get("optional", []), p + ("optional",))
        for key, names in (("required", required), ("optional", optional)):
            for i, field in enumerate(names):
                c.reference(field, p + (key, i), attributes, "attributes")
        for i, field in enumerate(optional):
            if field in required:
                c.error(p + ("optional", i), f"`{field}` is also required", "list it in one place only")
        fields = set(required) | set(optional)
        span = _span(c, d["span"], p + ("span",), fields, raw) if "span" in d else None
        log = None
        if "log" in d:
            log_d = c.mapping(d["log"], p + ("log",), required=("severity",))
            log = c.choice(log_d.get("severity"), p + ("log", "severity"), m.LOG_SEVERITIES) if log_d else None
        metrics = []
        if isinstance(d.get("metrics"), list):
            for i, metric_raw in enumerate(d["metrics"]):
                metric = _metric(c, metric_raw, p + ("metrics", i), name, fields, attributes)
                if metric is None:
                    continue
                if metric.name in seen_metrics:
                    c.error(p + ("metrics", i, "name"), f"metric `{metric.name}` is already declared by "
                            f"event `{seen_metrics[metric.name]}`", "give each metric a unique name")
                    continue
                seen_metrics[metric.name] = name
                metrics.append(metric)
        else:
            c.error(p + ("metrics",), "expected a list of metrics", "write `metrics: []` if it emits none")
        example = d.get("example")
        if c.mapping(example, p + ("example",)) is not None:
            for field in required:
                if field not in example:
                    c.error(p + ("example",), f"the example lacks required field `{field}`", f"add `{field}:`")
            for field in example:
                if field not in fields:
                    c.error(p + ("example", field), "field is not declared by the event",
                            "add it to `required`/`optional` or remove it from the example")
        event = m.Event(name=name, description=str(d.get("description", "")), required=tuple(required),
                        optional=tuple(optional), metrics=tuple(metrics),
                        example=m.frozen_map(example if isinstance(example, dict) else {}),
                        span=span, log_severity=log)
        if isinstance(example, dict) and all(f in attributes for f in event.fields):
            _check_example(c, event, attributes, p + ("example",))
        out.append(event)
    return out


def _check_example(c: Checker, event: m.Event, attributes: dict[str, m.Attribute], p: tuple) -> None:
    """The example must pass the very schema the runtime and consumers validate against."""
    schema = event_schema(event, attributes, f"urn:obsgen:check:{event.name}")
    for err in sorted(Draft202012Validator(schema).iter_errors(dict(event.example)), key=lambda e: list(e.path)):
        if err.validator in ("required", "additionalProperties"):
            continue  # reported above with a clearer message
        c.error(p + tuple(err.path), f"example value is invalid: {err.message}",
                "make the example satisfy the attribute's type, enum, pattern and bounds")


def _span(c: Checker, raw: Any, p: tuple, fields: set[str], events: dict) -> m.Span | None:
    d = c.mapping(raw, p, required=("name", "kind"), optional=("parent", "duration_field"))
    if d is None:
        return None
    name = c.string(d.get("name"), p + ("name",), METRIC_NAME, "span name")
    kind = c.choice(d.get("kind"), p + ("kind",), m.SPAN_KINDS)
    parent = d.get("parent")
    if parent is not None:
        parent = c.reference(parent, p + ("parent",), events, "events")
    duration = d.get("duration_field")
    if duration is not None and duration not in fields:
        c.error(p + ("duration_field",), f"`{duration}` is not a field of this event",
                "name a numeric field listed in `required`")
        duration = None
    if name is None or kind is None:
        return None
    return m.Span(name, kind, parent, duration)


def _metric(c: Checker, raw: Any, p: tuple, event: str, fields: set[str],
            attributes: dict[str, m.Attribute]) -> m.Metric | None:
    d = c.mapping(raw, p, required=("name", "instrument", "unit", "description", "labels"),
                  optional=("value", "buckets", "once_per"))
    if d is None:
        return None
    name = c.string(d.get("name"), p + ("name",), METRIC_NAME, "OTel metric name (dot-separated, lower case)")
    instrument = c.choice(d.get("instrument"), p + ("instrument",), INSTRUMENTS)
    unit = c.string(d.get("unit"), p + ("unit",), UNIT, "UCUM unit such as ms, s, 1 or {request}")
    labels = c.string_list(d.get("labels", []), p + ("labels",))
    for i, label in enumerate(labels):
        lp = p + ("labels", i)
        if label not in attributes:
            c.reference(label, lp, attributes, "attributes")
        elif label not in fields:
            c.error(lp, f"`{label}` is not a field of event `{event}`",
                    "add it to the event's fields or drop the label")
        elif attributes[label].pii == "high":
            c.error(lp, f"`{label}` is high-PII and can never be a metric label",
                    "drop the label; query it in logs instead")
        elif attributes[label].cardinality == "high":
            c.error(lp, f"`{label}` is high-cardinality and can never be a metric label",
                    "drop the label or bucket it into a low-cardinality attribute")
        elif label == m.SHADOW_LABEL:
            c.error(lp, "`shadow` is added by the runtime in shadow mode", "drop it from `labels`")
    value = d.get("value")
    if value is not None and value not in fields:
        c.error(p + ("value",), f"`{value}` is not a field of event `{event}`",
                "name a numeric field of the event (or an array field, counted by length)")
        value = None
    elif value is not None and attributes[value].type not in ("integer", "number", "array"):
        c.error(p + ("value",), f"`{value}` is a {attributes[value].type}, not a number",
                "name an integer, number or array field")
        value = None
    if instrument in ("histogram", "gauge") and value is None and "value" not in d:
        c.error(p, f"a {instrument} needs `value`", "name the event field it measures")
    buckets = None
    if instrument == "histogram":
        if "buckets" not in d:
            c.error(p, "a histogram needs `buckets`", "add explicit bucket boundaries, e.g. [5, 10, 25, 50]")
        else:
            raw_b = d["buckets"]
            if not isinstance(raw_b, list) or not raw_b:
                c.error(p + ("buckets",), "expected a non-empty list of numbers", "write e.g. [5, 10, 25, 50]")
            else:
                nums = [c.number(b, p + ("buckets", i)) for i, b in enumerate(raw_b)]
                if None not in nums:
                    if any(a >= b for a, b in zip(nums, nums[1:], strict=False)):  # type: ignore[operator]
                        c.error(p + ("buckets",), "bucket boundaries must be strictly increasing",
                                "sort them and remove duplicates")
                    buckets = tuple(n for n in nums if n is not None)
    elif "buckets" in d:
        c.error(p + ("buckets",), f"a {instrument} has no buckets", "remove `buckets` or use a histogram")
    once_per = d.get("once_per")
    if once_per is not None and once_per not in fields:
        c.error(p + ("once_per",), f"`{once_per}` is not a field of event `{event}`",
                "name the join key to count once per, such as request_id")
        once_per = None
    if None in (name, instrument, unit):
        return None
    return m.Metric(name=str(name), instrument=str(instrument), unit=str(unit),
                    description=str(d.get("description", "")), labels=tuple(labels), event=event,
                    value=value, buckets=buckets, once_per=once_per)


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


def _indicators(c: Checker, raw: Any, metrics: dict[str, m.Metric],
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


def _selection(c: Checker, d: dict, p: tuple, indicator: m.Indicator,
               attributes: dict[str, m.Attribute]) -> tuple[Decimal | None, dict[str, str]]:
    """The `quantile` and `match` keys shared by SLOs and alerts."""
    quantile = None
    if indicator.kind == "quantile":
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
                enum = attributes[label].enum
                if enum and value not in enum:
                    c.error(mp, f"`{value}` is not a value of `{label}`", f"use one of {', '.join(enum)}")
                match[label] = value
    return quantile, match


def _slos(c: Checker, raw: Any, indicators: dict[str, m.Indicator],
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
        ind_name = c.reference(d.get("indicator"), p + ("indicator",), indicators, "indicators")
        window = c.duration(d.get("window"), p + ("window",))
        objective = _objective(c, d.get("objective"), p + ("objective",))
        if ind_name is None:
            continue
        indicator = indicators[ind_name]
        quantile, match = _selection(c, d, p, indicator, attributes)
        period = None
        if "error_budget" in d:
            bd = c.mapping(d["error_budget"], p + ("error_budget",), required=("period",))
            period = c.duration(bd.get("period"), p + ("error_budget", "period")) if bd else None
            if indicator.kind not in ("ratio", "quantile"):
                c.error(p + ("error_budget",), f"a {indicator.kind} indicator has no good/bad events to "
                        "budget", "remove `error_budget`, or use a ratio or quantile indicator")
            elif objective is not None and objective.op not in ("<", "<="):
                c.error(p + ("objective", "op"), "an error budget needs an upper bound on bad events",
                        "use `<` (for example error ratio < 0.001, or p95 < 50)")
            elif indicator.kind == "quantile" and objective is not None and indicator.metric is not None:
                buckets = indicator.metric.metric.buckets or ()
                if objective.value not in buckets:
                    c.error(p + ("objective", "value"), f"{objective.value} is not a bucket boundary of "
                            f"`{indicator.metric.metric.name}`, so slow requests cannot be counted exactly",
                            "add it to the histogram's buckets or pick an existing boundary")
            elif indicator.kind == "ratio" and objective is not None and not 0 < objective.value < 1:
                c.error(p + ("objective", "value"), "an error budget must be between 0 and 1",
                        "write the allowed bad-event ratio, e.g. 0.001 for 99.9%")
        if window is None or objective is None:
            continue
        out.append(m.SLO(name=name, description=str(d.get("description", "")), indicator=indicator,
                         objective=objective, window=window, quantile=quantile, match=m.frozen_map(match),
                         budget_period=period))
    return out


def _objective(c: Checker, raw: Any, p: tuple) -> m.Objective | None:
    d = c.mapping(raw, p, required=("op", "value"))
    if d is None:
        return None
    op = c.choice(d.get("op"), p + ("op",), m.COMPARISONS)
    value = c.number(d.get("value"), p + ("value",))
    return m.Objective(op, value) if op is not None and value is not None else None


def _kill_switches(c: Checker, raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if c.mapping(raw, ("kill_switches",)) is None:
        return out
    for name, description in raw.items():
        p = ("kill_switches", name)
        if c.string(name, p, NAME, "kill-switch name") and c.string(description, p):
            out[name] = description
    return out


def _dashboards(c: Checker, raw: Any) -> list[m.Dashboard]:
    """The ``dashboards`` section; its tiles, queries and slices are read by ``generator.dashboards.spec``."""
    from generator.dashboards.spec import parse_dashboards  # imported here: that module imports this one

    return parse_dashboards(c, raw)


def _alerts(c: Checker, raw: Any, indicators: dict[str, m.Indicator], attributes: dict[str, m.Attribute],
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
        ind_name = c.reference(d.get("indicator"), p + ("indicator",), indicators, "indicators")
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
            kill_switch = c.reference(kill_switch, p + ("kill_switch",), kill_switches, "kill_switches")
        when_absent = c.boolean(d.get("when_absent", False), p + ("when_absent",))
        tile = d.get("dashboard_tile")
        if tile is not None and tile not in tiles:
            c.reference(tile, p + ("dashboard_tile",), tiles, "dashboards tiles (as dashboard/tile-id)")
            tile = None
        runbook = d.get("runbook_url")
        if runbook is not None:
            runbook = c.string(runbook, p + ("runbook_url",), r"https?://\S+", "URL")
        if ind_name is None:
            continue
        indicator = indicators[ind_name]
        quantile, match = _selection(c, d, p, indicator, attributes)
        if indicator.kind == "quantile" and threshold is not None and indicator.metric is not None:
            buckets = indicator.metric.metric.buckets or ()
            if threshold not in buckets[:-1]:
                c.error(p + ("threshold",), f"{threshold} is not an inner bucket boundary of "
                        f"`{indicator.metric.metric.name}`, so the quantile is only interpolated there",
                        "alert on a bucket boundary (not the last one) or add the boundary to the buckets")
        if None in (summary, op, threshold, for_, window, severity, service, when_absent):
            continue
        assert service is not None
        out.append(m.Alert(
            name=name, summary=str(summary), description=str(d.get("description", "")), indicator=indicator,
            op=str(op), threshold=threshold, for_=for_, window=window, severity=str(severity),  # type: ignore[arg-type]
            runbook_url=runbook or f"{service.runbook_url}#{name.lower()}", quantile=quantile,
            match=m.frozen_map(match), kill_switch=kill_switch, when_absent=bool(when_absent),
            dashboard_tile=tile))
    return out


def _routing(c: Checker, raw: Any) -> m.Routing | None:
    p = ("routing",)
    if raw is MISSING:
        return None  # already reported as a missing key
    d = c.mapping(raw, p, required=("group_by", "severities", "receivers", "kill_switch_webhook"))
    if d is None:
        return None
    group_by = c.string_list(d.get("group_by", []), p + ("group_by",), allow_empty=False)
    receivers: list[m.Receiver] = []
    if c.mapping(d.get("receivers"), p + ("receivers",)) is not None:
        for name, spec in d["receivers"].items():
            rp = p + ("receivers", name)
            if c.string(name, rp, r"[a-z][a-z0-9-]*", "receiver name"):
                receiver = _receiver(c, name, spec, rp, token_required=False)
                if receiver:
                    receivers.append(receiver)
    routes: list[m.SeverityRoute] = []
    sev = d.get("severities")
    if c.mapping(sev, p + ("severities",)) is not None:
        for severity in m.SEVERITIES:
            if severity not in sev:
                c.error(p + ("severities",), f"no route for {severity}", f"add `{severity}:` with its timings")
        for severity, spec in sev.items():
            sp = p + ("severities", severity)
            if c.choice(severity, sp, m.SEVERITIES) is None:
                continue
            sd = c.mapping(spec, sp, required=("class", "response", "receiver", "group_wait", "group_interval",
                                               "repeat_interval"), optional=("escalation",))
            if sd is None:
                continue
            klass = c.choice(sd.get("class"), sp + ("class",), m.SEVERITY_CLASSES)
            times = {k: c.duration(sd.get(k), sp + (k,)) for k in ("response", "group_wait", "group_interval",
                                                                   "repeat_interval")}
            escalation = c.duration(sd["escalation"], sp + ("escalation",)) if "escalation" in sd else None
            receiver = c.reference(sd.get("receiver"), sp + ("receiver",), [r.name for r in receivers],
                                   "routing.receivers")
            gw, gi, ri = times["group_wait"], times["group_interval"], times["repeat_interval"]
            if escalation and ri and ri.seconds > escalation.seconds:
                c.error(sp + ("repeat_interval",), f"repeat_interval {ri} is longer than the escalation time "
                        f"{escalation}", "re-notify at or before the escalation deadline")
            if gw and times["response"] and gw.seconds >= times["response"].seconds:
                c.error(sp + ("group_wait",), f"group_wait {gw} uses up the response time",
                        "use a group_wait well below the response time")
            if None in (klass, receiver, gw, gi, ri, times["response"]):
                continue
            routes.append(m.SeverityRoute(severity=severity, severity_class=str(klass),
                                          response=times["response"], receiver=str(receiver),  # type: ignore[arg-type]
                                          group_wait=gw, group_interval=gi, repeat_interval=ri,  # type: ignore[arg-type]
                                          escalation=escalation))
    webhook = _receiver(c, "kill-switch", d.get("kill_switch_webhook"), p + ("kill_switch_webhook",),
                        token_required=True)
    if webhook is None or len(routes) != len(m.SEVERITIES):
        return None
    routes.sort(key=lambda r: r.severity)
    return m.Routing(tuple(group_by), tuple(routes), tuple(receivers), webhook)


def _receiver(c: Checker, name: str, raw: Any, p: tuple, token_required: bool) -> m.Receiver | None:
    d = c.mapping(raw, p, required=("url",) + (("bearer_token_file",) if token_required else ()),
                  optional=() if token_required else ("bearer_token_file",))
    if d is None:
        return None
    url = c.string(d.get("url"), p + ("url",), r"https?://[^\s@]+", "URL without credentials")
    token = None
    if "bearer_token_file" in d:
        token = c.string(d["bearer_token_file"], p + ("bearer_token_file",), r"/\S+", "absolute path")
        if token is None:
            return None
    return m.Receiver(name, url, token) if url else None


def _retention(c: Checker, raw: Any) -> dict[str, m.Duration]:
    out: dict[str, m.Duration] = {}
    if c.mapping(raw, ("retention",)) is None:
        return out
    for name, value in raw.items():
        duration = c.duration(value, ("retention", name))
        if duration is not None:
            out[name] = duration
    return out
