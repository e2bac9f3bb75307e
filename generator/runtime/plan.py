"""What each event must do, worked out once from the model when the runtime starts.

The hot path then only walks precomputed tuples: which fields to pseudonymise, scrub, inherit and
check, which of the spec's join rules (``model.joins``) apply to the event and what it must leave in its
context for later events' references, and for each metric its instrument, labels, value field and
once-per key.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from keyword import iskeyword
from typing import Any, Literal

from obsgen.model import Attribute, Event, Metric, Model
from obsgen.model.joins import Context, ElementOf, OneOf
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
class Memory:
    """What an event leaves in its context for the references that point at it: one slot per target."""

    slot: int
    field: str
    same: str | None
    """``OneOf.same``: the values are kept per value of this field of the target event."""
    array: bool
    """``ElementOf`` target: the slot holds the latest array, not a set of values."""


@dataclass(frozen=True)
class ReferenceCheck:
    """A declared reference, checked when its event is emitted in a known context."""

    kind: str
    """The reference's name: the data-quality kind counted when it breaks."""
    field: str
    slot: int
    target: str
    """``event.field`` of the target, for the reason."""
    same: str | None = None
    index: str | None = None
    """Set for ``ElementOf``: the 1-based position field; ``None`` for ``OneOf``."""


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
    """``trusted`` plus the context key, for an event whose context the join state knows."""
    free_text: tuple[tuple[str, int | None], ...]
    timestamp_field: str | None
    metrics: tuple[MetricPlan, ...]
    span_name: str | None
    span_kind: SpanKind
    span_duration_field: str | None
    log_severity: tuple[int, str] | None
    array_fields: tuple[str, ...]
    """Array fields: a tuple passed for one becomes a list (JSON Schema arrays are lists)."""
    json_fields: frozenset[str]
    """Object fields: span attributes cannot hold maps, so spans get them as JSON text."""
    renames: tuple[tuple[str, str], ...] = ()
    """(keyword, attribute) for fields whose names are not Python identifiers (``http_route`` -> ``http.route``)."""
    context: str | None = None
    """The join context this event opens (``is_root``) or joins; ``None``: the event joins nothing."""
    key: str | None = None
    """The context's join key field."""
    is_root: bool = False
    generates_key: bool = False
    """Root of a context whose key is a UUID v4: the runtime generates the key when it is not passed."""
    slots: int = 0
    """Root: how many memory slots the context's references need."""
    requires_known: bool = False
    unknown_kind: str = ""
    inherit: tuple[str, ...] = ()
    consistent: frozenset[str] = frozenset()
    """Inherited fields that, when given, must equal the root's value (a subset of ``inherit``)."""
    references: tuple[ReferenceCheck, ...] = ()
    memories: tuple[Memory, ...] = ()

    @property
    def opens_scope(self) -> bool:
        """A span without a duration field lasts as long as a ``with`` block: the request span."""
        return self.span_name is not None and self.span_duration_field is None


def keyword(field: str) -> str:
    """The Python keyword argument of a field: dots become underscores, a Python keyword gets a trailing ``_``."""
    name = field.replace(".", "_")
    return f"{name}_" if iskeyword(name) else name


def build_plans(model: Model, pseudonym_sample: str) -> dict[str, EventPlan]:
    plans: dict[str, EventPlan] = {}
    joins = {e: ctx for ctx in model.joins for e in (ctx.root, *ctx.members)}
    for event in model.events:
        schema = EventSchema(model, event)
        attrs = {f: model.attributes[f] for f in event.fields}
        for metric in event.metrics:
            for label in metric.labels:  # the model enforces this; a hand-built model must not slip past
                if not model.attributes[label].may_be_label:
                    raise ValueError(f"metric {metric.name}: label {label} is high-PII or high-cardinality")
        pii = tuple(f for f, a in attrs.items() if a.pii == "high")
        pii_valid = all(schema.checks[f](pseudonym_sample) is None for f in pii)
        trusted = frozenset(pii if pii_valid else ())
        span = event.span
        ctx = joins.get(event.name)
        plans[event.name] = EventPlan(
            name=event.name, event=event, schema=schema, checks=schema.checks, required=schema.required,
            pii=pii, trusted=trusted, trusted_known=trusted | ({ctx.key} if ctx else set()),
            free_text=tuple((f, a.max_length) for f, a in attrs.items() if a.free_text),
            timestamp_field=next((f for f, a in attrs.items() if a.format == "unix_ms"), None),
            metrics=tuple(_metric_plan(m, model) for m in event.metrics),
            span_name=span.name if span else None,
            span_kind=SPAN_KINDS[span.kind] if span else SpanKind.INTERNAL,
            span_duration_field=span.duration_field if span else None,
            log_severity=LOG_SEVERITIES[event.log_severity] if event.log_severity else None,
            array_fields=tuple(f for f, a in attrs.items() if a.type == "array"),
            json_fields=frozenset(f for f, a in attrs.items() if a.type == "object"),
            renames=_renames(event),
            **(_join_plan(ctx, event, model) if ctx else {}),
        )
    return plans


def _renames(event: Event) -> tuple[tuple[str, str], ...]:
    seen: dict[str, str] = {}
    for field in event.fields:
        kw = keyword(field)
        if seen.setdefault(kw, field) != field:
            raise ValueError(f"event {event.name}: fields {seen[kw]} and {field} both become the keyword {kw}")
    return tuple((kw, field) for kw, field in seen.items() if kw != field)


def _join_plan(ctx: Context, event: Event, model: Model) -> dict[str, Any]:
    """The context's rules as they apply to ``event``: what it fills, checks and leaves for later events."""
    slots: dict[tuple[str, str, str | None, bool], int] = {}
    checks, memories = [], []
    for ref in ctx.references:
        same = ref.same if isinstance(ref, OneOf) else None
        array = isinstance(ref, ElementOf)
        slot = slots.setdefault((ref.target_event, ref.target_field, same, array), len(slots))
        if ref.event == event.name and event.name != ctx.root:
            checks.append(ReferenceCheck(ref.name, ref.field, slot, f"{ref.target_event}.{ref.target_field}", same,
                                         ref.index if isinstance(ref, ElementOf) else None))
        if ref.target_event == event.name:
            memory = Memory(slot, ref.target_field, same, array)
            if memory not in memories:
                memories.append(memory)
    is_root = event.name == ctx.root
    inherit = () if is_root else tuple(f for f in ctx.inherit if f in event.fields)
    return {
        "context": ctx.name, "key": ctx.key, "is_root": is_root,
        "generates_key": is_root and model.attributes[ctx.key].format == "uuid4",
        "slots": len(slots) if is_root else 0,
        "requires_known": event.name in ctx.require_known, "unknown_kind": ctx.unknown_kind,
        "inherit": inherit, "consistent": frozenset(ctx.consistent) & set(inherit),
        "references": tuple(checks), "memories": tuple(memories),
    }


def _metric_plan(metric: Metric, model: Model) -> MetricPlan:
    value_is_array = metric.value is not None and model.attributes[metric.value].type == "array"
    return MetricPlan(metric=metric, labels=metric.labels, value=metric.value, value_is_array=value_is_array,
                      once_per=metric.once_per, exemplars=is_latency_histogram(metric))


def signature(plan: EventPlan, model: Model, returns: Any) -> inspect.Signature:
    """Keyword-only parameters, one per field (``keyword(field)``), typed from the attribute dictionary.

    A field without a default must be passed; fields the runtime can fill (a generated context key, the
    current time, values inherited from the context's root event) default to ``None``.
    """
    params = []
    for name in plan.event.fields:
        annotation = annotation_of(model.attributes[name])
        if must_pass(plan, name):
            params.append(inspect.Parameter(keyword(name), inspect.Parameter.KEYWORD_ONLY, annotation=annotation))
        else:
            params.append(inspect.Parameter(keyword(name), inspect.Parameter.KEYWORD_ONLY, default=None,
                                            annotation=annotation | None))
    return inspect.Signature(params, return_annotation=returns)


def must_pass(plan: EventPlan, field: str) -> bool:
    """Required and not something the runtime fills (a generated or current context key, the time, inherited)."""
    fills_key = plan.key is not None and (plan.generates_key or not plan.is_root)
    fillable = {*plan.inherit, plan.timestamp_field, *((plan.key,) if fills_key else ())}
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
