"""Event payload checks: the JSON Schema for strict mode, a compiled equivalent for the hot path.

Both read the very schema ``obsgen.model.eventschema`` builds for ``schemas/<service>/events/<event>.json``, so the
runtime, the published schemas and the spec's own example check cannot disagree. Strict mode asks
``jsonschema`` itself; production mode runs per-field checks compiled from the same schema, which
cost well under a microsecond a field. Failure reasons never quote the value: a rejected payload may
hold a raw identifier, and the reason ends up in exceptions, logs and error events.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from obsgen.model import Event, Model
from obsgen.model.eventschema import event_schema
from obsgen.model.quality import COMPLETENESS, VALIDITY

Check = Callable[[Any], "str | None"]


class EventValidationError(ValueError):
    """A payload breaks its event's schema or contract; ``field`` names the culprit, ``kind`` the rule."""

    def __init__(self, event: str, field: str, reason: str, kind: str = VALIDITY) -> None:
        super().__init__(f"{event} event: field `{field}` {reason}")
        self.event = event
        self.field = field
        self.reason = reason
        self.kind = kind


class ContractViolation(EventValidationError):
    """A rule of the spec's ``joins`` broke: a consistent field that differs from the root's, an unknown
    context, a broken reference (``kind`` is the reference's name). Raised in strict mode only;
    production mode counts it."""


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "array": (list,),
    "object": (dict,),
}
_ARTICLE = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
            "array": "an array", "object": "an object"}


def _type_check(type_: str) -> Callable[[Any], bool]:
    """JSON Schema type semantics: booleans are not numbers, 3.0 is an integer, NaN/inf are rejected."""
    if type_ == "integer":
        return lambda v: ((isinstance(v, int) and not isinstance(v, bool))
                          or (isinstance(v, float) and math.isfinite(v) and v.is_integer()))
    if type_ == "number":
        return lambda v: ((isinstance(v, int) and not isinstance(v, bool))
                          or (isinstance(v, float) and math.isfinite(v)))
    if type_ == "boolean":
        return lambda v: isinstance(v, bool)
    types = _TYPES[type_]
    return lambda v: isinstance(v, types)


def compile_check(schema: Mapping[str, Any]) -> Check:
    """One field's schema as a function returning ``None`` or the reason the value fails.

    The shapes the hot path meets most (a string enum, a pattern, a bounded number) get a one-expression
    check; anything else is checked rule by rule.
    """
    fast = _fast_check(schema)
    return fast if fast is not None else _general_check(schema)


def _fast_check(schema: Mapping[str, Any]) -> Check | None:
    type_, keys = schema["type"], set(schema) - {"type", "description", "format"}
    type_reason = f"must be {_ARTICLE[type_]}"
    if type_ == "string" and keys == {"enum"} and all(isinstance(v, str) for v in schema["enum"]):
        allowed = frozenset(schema["enum"])
        reason = f"must be one of {', '.join(schema['enum'])}"

        def check_enum(v: Any) -> str | None:
            if type(v) is str and v in allowed:  # membership alone would accept a str subclass: fine, also a str
                return None
            return reason if isinstance(v, str) else type_reason
        return check_enum
    if type_ == "string" and keys <= {"pattern", "maxLength"}:
        search = re.compile(schema.get("pattern", "")).search
        limit = schema.get("maxLength", math.inf)
        reason_p = f"must match {schema.get('pattern')}"

        def check_string(v: Any) -> str | None:
            if type(v) is str and len(v) <= limit and search(v):
                return None
            if not isinstance(v, str):
                return type_reason
            return f"must be at most {limit} characters" if len(v) > limit else reason_p
        return check_string
    if type_ in ("number", "integer") and keys <= {"minimum", "maximum"}:
        low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
        floats_ok, inf = type_ == "number", math.inf
        general = _general_check(schema)

        def check_number(v: Any) -> str | None:
            cls = type(v)
            if (cls is int or (floats_ok and cls is float and -inf < v < inf)) and low <= v <= high:
                return None  # the common case; everything else (bool, 3.0 as an integer, NaN) is judged in full
            return general(v)
        return check_number
    return None


def _general_check(schema: Mapping[str, Any]) -> Check:
    type_ = schema["type"]
    is_type = _type_check(type_)
    type_reason = f"must be {_ARTICLE[type_]}"
    rules: list[Callable[[Any], str | None]] = []
    if "enum" in schema:
        allowed = frozenset(schema["enum"])
        reason = f"must be one of {', '.join(map(str, schema['enum']))}"
        rules.append(lambda v: None if v in allowed else reason)
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search  # JSON Schema patterns are not implicitly anchored
        reason_p = f"must match {schema['pattern']}"
        rules.append(lambda v: None if search(v) else reason_p)
    if "maxLength" in schema:
        limit = schema["maxLength"]
        rules.append(lambda v: None if len(v) <= limit else f"must be at most {limit} characters")
    if "minimum" in schema:
        low = schema["minimum"]
        rules.append(lambda v: None if v >= low else f"must be >= {low}")
    if "maximum" in schema:
        high = schema["maximum"]
        rules.append(lambda v: None if v <= high else f"must be <= {high}")
    if "maxItems" in schema:
        most = schema["maxItems"]
        rules.append(lambda v: None if len(v) <= most else f"must have at most {most} items")
    if "propertyNames" in schema:
        names = frozenset(schema["propertyNames"]["enum"])
        reason_k = f"may only have the keys {', '.join(schema['propertyNames']['enum'])}"
        rules.append(lambda v: None if names.issuperset(v) else reason_k)
    if "items" in schema:
        item_type = schema["items"]["type"]
        is_item = _type_check(item_type)
        item_reason = f"items must each be {_ARTICLE[item_type]}"
        rules.append(lambda v: None if all(map(is_item, v)) else item_reason)

    if not rules:
        return lambda v: None if is_type(v) else type_reason
    if len(rules) == 1:
        (only,) = rules

        def check_one(v: Any) -> str | None:
            return only(v) if is_type(v) else type_reason
        return check_one

    def check(v: Any) -> str | None:
        if not is_type(v):
            return type_reason
        for rule in rules:
            reason = rule(v)
            if reason is not None:
                return reason
        return None
    return check


class EventSchema:
    """An event's JSON Schema with its compiled field checks and a lazily built ``jsonschema`` validator."""

    def __init__(self, model: Model, event: Event) -> None:
        self.event = event
        self.schema = event_schema(event, model.attributes, f"urn:obsgen:{model.service.name}:events:{event.name}")
        self.checks: dict[str, Check] = {name: compile_check(s) for name, s in self.schema["properties"].items()}
        self.required = frozenset(event.required)
        self._validator: Any = None

    def first_error(self, payload: Mapping[str, Any]) -> tuple[str, str, str] | None:
        """``(field, kind, reason)`` of the first problem ``jsonschema`` finds, in field order; else None.

        The compiled checks run too, for what JSON Schema lets through but OpenTelemetry cannot carry
        (NaN and infinities).
        """
        if self._validator is None:
            from jsonschema import Draft202012Validator

            self._validator = Draft202012Validator(self.schema)
        problems: list[tuple[int, str, str, str]] = []
        order = {name: i for i, name in enumerate(self.event.fields)}
        for error in self._validator.iter_errors(dict(payload)):
            if error.validator == "required":
                for name in sorted(self.required - payload.keys(), key=order.__getitem__):
                    problems.append((order[name], name, COMPLETENESS, "is required"))
            elif error.validator == "additionalProperties":
                for name in sorted(set(payload) - set(order)):
                    problems.append((len(order), name, VALIDITY, "is not a field of this event"))
            else:
                name = str(error.absolute_path[0]) if error.absolute_path else "?"
                reason = self.checks[name](payload[name]) if name in self.checks else None
                problems.append((order.get(name, len(order)), name, VALIDITY, reason or f"fails `{error.validator}`"))
        for name, value in payload.items():
            check = self.checks.get(name)
            reason = check(value) if check is not None else None
            if reason is not None:
                problems.append((order[name], name, VALIDITY, reason))
        if not problems:
            return None
        _, name, kind, reason = min(problems)
        return name, kind, reason
