"""What each event must do, worked out once from the model when the runtime starts.

The hot path then only walks precomputed tuples: which fields to pseudonymise, scrub, inherit and
check, and for each metric its instrument, labels, value field and once-per key.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Literal

from obsgen.model import Attribute, Event, Metric, Model
from obsgen.runtime.config import JoinContract
from obsgen.runtime.pipeline import is_latency_histogram
from obsgen.runtime.validation import Check, EventSchema
from opentelemetry.trace import SpanKind

SPAN_KINDS = {"server": SpanKind.SERVER, "client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL,
              "producer": SpanKind.PRODUCER, "consumer": SpanKind.CONSUMER}
LOG_SEVERITIES = {"debug": (5, "DEBUG"), "info": (9, "INFO"), "warn": (13, "WARN"), "error": (17, "ERROR")}
_PY_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool, "object": dict}


@dataclass(frozen=True)
class MetricPlan:
    metric: Metric
    labels: tuple[str, ...]
    value: str | None
    value_is_array: bool
    once_per: str | None
    exemplars: bool
    """Record with the span's context, so the point keeps an exemplar linking to the trace."""


@dataclass(frozen=True)
class EventPlan:
    name: str
    event: Event
    schema: EventSchema
    checks: dict[str, Check]
    required: frozenset[str]
    pii: tuple[str, ...]
    trusted: frozenset[str]
    """Fields not checked in production: the pseudonymised ones, when a pseudonym satisfies their schema."""
    trusted_known: frozenset[str]
    """``trusted`` plus the join key, for an event whose request the join state knows."""
    free_text: tuple[tuple[str, int | None], ...]
    timestamp_field: str | None
    metrics: tuple[MetricPlan, ...]
    span_name: str | None
    span_kind: SpanKind
    span_duration_field: str | None
    is_root: bool
    has_join_key: bool
    requires_known_request: bool
    inherit: tuple[str, ...]
    consistent: frozenset[str]
    """Inherited fields that, when given, must equal the request's value (a subset of ``inherit``)."""
    log_severity: tuple[int, str] | None
    array_fields: tuple[str, ...]
    """Array fields: a tuple passed for one becomes a list (JSON Schema arrays are lists)."""
    json_fields: frozenset[str]
    """Object fields: span attributes cannot hold maps, so spans get them as JSON text."""

    @property
    def opens_scope(self) -> bool:
        """A span without a duration field lasts as long as a ``with`` block: the request span."""
        return self.span_name is not None and self.span_duration_field is None


def is_free_text(attr: Attribute) -> bool:
    """A string nothing constrains (no enum, pattern or format), such as an error message: it is scrubbed."""
    return attr.type == "string" and attr.enum is None and attr.pattern is None and attr.format is None


def build_plans(model: Model, contract: JoinContract, pseudonym_sample: str) -> dict[str, EventPlan]:
    by_name = {e.name: e for e in model.events}
    root = by_name.get(contract.root_event)
    plans: dict[str, EventPlan] = {}
    for event in model.events:
        schema = EventSchema(model, event)
        attrs = {f: model.attributes[f] for f in event.fields}
        for metric in event.metrics:
            for label in metric.labels:  # the model enforces this; a hand-built model must not slip past
                if not model.attributes[label].may_be_label:
                    raise ValueError(f"metric {metric.name}: label {label} is high-PII or high-cardinality")
        pii = tuple(f for f, a in attrs.items() if a.pii == "high")
        is_root = root is not None and event.name == root.name
        has_join_key = contract.join_key in attrs
        inherit: tuple[str, ...] = ()
        if root is not None and not is_root and has_join_key:
            inherit = tuple(f for f in event.fields if f in root.fields and f != contract.join_key
                            and attrs[f].format != "unix_ms")
        pii_valid = all(schema.checks[f](pseudonym_sample) is None for f in pii)
        trusted = frozenset(pii if pii_valid else ())
        span = event.span
        plans[event.name] = EventPlan(
            name=event.name, event=event, schema=schema, checks=schema.checks, required=schema.required,
            pii=pii, trusted=trusted, trusted_known=trusted | {contract.join_key},
            free_text=tuple((f, a.max_length) for f, a in attrs.items() if is_free_text(a)),
            timestamp_field=next((f for f, a in attrs.items() if a.format == "unix_ms"), None),
            metrics=tuple(_metric_plan(m, model) for m in event.metrics),
            span_name=span.name if span else None,
            span_kind=SPAN_KINDS[span.kind] if span else SpanKind.INTERNAL,
            span_duration_field=span.duration_field if span else None,
            is_root=is_root, has_join_key=has_join_key,
            requires_known_request=(has_join_key and not is_root and contract.join_key in event.required
                                    and event.name in (contract.ranking_event, contract.impression_event,
                                                       contract.click_event)),
            inherit=inherit,
            consistent=frozenset(contract.consistent_fields) & set(inherit),
            log_severity=LOG_SEVERITIES[event.log_severity] if event.log_severity else None,
            array_fields=tuple(f for f, a in attrs.items() if a.type == "array"),
            json_fields=frozenset(f for f, a in attrs.items() if a.type == "object"),
        )
    return plans


def _metric_plan(metric: Metric, model: Model) -> MetricPlan:
    value_is_array = metric.value is not None and model.attributes[metric.value].type == "array"
    return MetricPlan(metric=metric, labels=metric.labels, value=metric.value, value_is_array=value_is_array,
                      once_per=metric.once_per, exemplars=is_latency_histogram(metric))


def signature(plan: EventPlan, model: Model, join_key: str, returns: Any) -> inspect.Signature:
    """Keyword-only parameters, one per field, typed from the attribute dictionary.

    A field without a default must be passed; fields the runtime can fill (a generated request id, the
    current time, values inherited from the request) default to ``None``.
    """
    params = []
    for name in plan.event.fields:
        annotation = annotation_of(model.attributes[name])
        if must_pass(plan, name, join_key):
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation))
        else:
            params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                            annotation=annotation | None))
    return inspect.Signature(params, return_annotation=returns)


def must_pass(plan: EventPlan, field: str, join_key: str) -> bool:
    """Required and not something the runtime fills (request id, current time, inherited from the request)."""
    fillable = {*plan.inherit, plan.timestamp_field, *((join_key,) if plan.has_join_key else ())}
    return field in plan.required and field not in fillable


def annotation_of(attr: Attribute) -> Any:
    """The Python type of an attribute's values: enums as ``Literal``, arrays as ``list[item type]``."""
    if attr.enum is not None:
        return Literal[attr.enum]  # type: ignore[valid-type]
    if attr.type == "array":
        return list[_PY_TYPES.get(attr.items or "", Any)]  # type: ignore[misc]
    if attr.type == "object":
        return dict[str, Any]
    return _PY_TYPES[attr.type]
