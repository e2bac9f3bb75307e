"""The ``events`` section: fields, span, log record, metrics and example of each event."""

from __future__ import annotations

from typing import Any

from obsgen import model as m
from obsgen.model.eventschema import event_schema
from obsgen.model.fieldchecks import passes
from obsgen.model.naming import INSTRUMENTS
from obsgen.model.reserved import RESERVED_EVENT_NAMES
from obsgen.spec.reader import METRIC_NAME, NAME, UNIT, Checker


def parse_events(c: Checker, raw: Any, attributes: dict[str, m.Attribute]) -> list[m.Event]:
    out: list[m.Event] = []
    if c.mapping(raw, ("events",)) is None:
        return out
    seen_metrics: dict[str, str] = {}
    for name, spec in raw.items():
        p = ("events", name)
        if c.string(name, p, NAME, "event name") is None:
            continue
        if name in RESERVED_EVENT_NAMES or name.startswith("_"):
            c.error(p, f"event name `{name}` clashes with the runtime's API (`Telemetry.{name}`)",
                    "rename the event (the runtime makes a method `rt.<event>` per event)")
        d = c.mapping(spec, p, required=("description", "required", "metrics"),
                      optional=("optional", "span", "log", "example"))
        if d is None:
            continue
        listed = {key: c.string_list(d.get(key, []), p + (key,), allow_empty=key == "optional")
                  for key in ("required", "optional")}
        for key, names in listed.items():
            for i, field in enumerate(names):
                c.reference(field, p + (key, i), attributes, "attributes", "an attribute")
        for i, field in enumerate(listed["optional"]):
            if field in listed["required"]:
                c.error(p + ("optional", i), f"`{field}` is also required", "list it in one place only")
        # An undeclared field is reported once, above, and left out of the event, so nothing downstream
        # looks up an attribute that does not exist; the example may still name it.
        required = [f for f in listed["required"] if f in attributes]
        optional = [f for f in listed["optional"] if f in attributes and f not in required]
        named = set(listed["required"]) | set(listed["optional"])
        fields = set(required) | set(optional)
        span = _span(c, d["span"], p + ("span",), name, fields, raw) if "span" in d else None
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
        example = d.get("example", {})  # optional; checked against the event's schema when present
        if "example" in d and c.mapping(example, p + ("example",)) is not None:
            for field in required:
                if field not in example:
                    c.error(p + ("example",), f"the example lacks required field `{field}`", f"add `{field}:`")
            for field in example:
                if field not in named:
                    c.error(p + ("example", field), "field is not declared by the event",
                            "add it to `required`/`optional` or remove it from the example")
        event = m.Event(name=name, description=c.text(d.get("description"), p + ("description",)),
                        required=tuple(required),
                        optional=tuple(optional), metrics=tuple(metrics),
                        example=m.frozen_map(example if isinstance(example, dict) else {}),
                        span=span, log_severity=log)
        if example and isinstance(example, dict):
            _check_example(c, event, attributes, p + ("example",))
        out.append(event)
    return out


def _check_example(c: Checker, event: m.Event, attributes: dict[str, m.Attribute], p: tuple) -> None:
    """The example must pass the very schema the runtime and consumers validate against."""
    schema = event_schema(event, attributes, f"urn:obsgen:check:{event.name}")
    fields = schema["properties"]
    if all(name not in fields or passes(fields[name], value) for name, value in event.example.items()):
        return  # an unknown field is reported above; `jsonschema` is loaded only to explain a rejected value
    from jsonschema import Draft202012Validator

    for err in sorted(Draft202012Validator(schema).iter_errors(dict(event.example)), key=lambda e: list(e.path)):
        if err.validator in ("required", "additionalProperties"):
            continue  # reported above with a clearer message
        c.error(p + tuple(err.path), f"example value is invalid: {err.message}",
                "make the example satisfy the attribute's type, enum, pattern and bounds")


def _span(c: Checker, raw: Any, p: tuple, event: str, fields: set[str], events: dict) -> m.Span | None:
    d = c.mapping(raw, p, required=("name", "kind"), optional=("parent", "duration_field"))
    if d is None:
        return None
    name = c.string(d.get("name"), p + ("name",), METRIC_NAME, "span name")
    kind = c.choice(d.get("kind"), p + ("kind",), m.SPAN_KINDS)
    parent = d.get("parent")
    if parent is not None:
        parent = c.reference(parent, p + ("parent",), events, "events", "an event")
    duration = d.get("duration_field")
    if duration is not None:
        duration = c.field(duration, p + ("duration_field",), fields, event, "name a numeric field it declares")
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
            c.reference(label, lp, attributes, "attributes", "an attribute")
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
    if value is not None:
        value = c.field(value, p + ("value",), fields, event,
                        "name a numeric field of the event (or an array field, counted by length)")
    if value is not None and attributes[value].type not in ("integer", "number", "array"):
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
    if once_per is not None:
        once_per = c.field(once_per, p + ("once_per",), fields, event,
                           "name the join key to count once per, such as request_id")
    if None in (name, instrument, unit):
        return None
    labels = [label for label in labels if label in attributes]  # an undeclared one is reported above
    return m.Metric(name=str(name), instrument=str(instrument), unit=str(unit),
                    description=c.text(d.get("description"), p + ("description",)), labels=tuple(labels), event=event,
                    value=value, buckets=buckets, once_per=once_per)
