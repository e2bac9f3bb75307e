"""One attribute's JSON Schema (``obsgen.model.eventschema``) compiled to a plain function.

The runtime's production mode checks every field with these (well under a microsecond a field); the spec
reader uses them to pass an event's example, or a data-quality constant, without loading ``jsonschema``
(a twentieth of a second to import), which it asks only for the message of a value they reject. They
agree with JSON Schema on every schema ``attribute_schema`` builds, except that they also reject what
OpenTelemetry cannot carry: NaN, infinities and integers outside 64 bits (``judges`` says whether a schema is
one of those).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], "str | None"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "array": (list,),
    "object": (dict,),
}
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
"""An integer outside these is no OTLP value: the encoders leave the attribute out, a metric fails to record."""
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
        low, high = max(schema.get("minimum", -math.inf), _INT64_MIN), min(schema.get("maximum", math.inf), _INT64_MAX)
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
    if type_ in ("integer", "number"):
        rules.append(lambda v: None if type(v) is float or _INT64_MIN <= v <= _INT64_MAX else "must fit in 64 bits")
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


_JUDGED_KEYS = frozenset({"type", "description", "format", "enum", "pattern", "maxLength", "minimum", "maximum",
                          "maxItems", "items", "propertyNames"})


def judges(schema: Mapping[str, Any]) -> bool:
    """Whether ``compile_check(schema)`` passes only what JSON Schema passes: the keywords it implements, with
    ``format`` an annotation (as ``jsonschema`` treats it without a format checker) and ``items`` a bare type."""
    return (schema.keys() <= _JUDGED_KEYS and schema.get("type") in _TYPES
            and ("items" not in schema or schema["items"].keys() == {"type"})
            and ("propertyNames" not in schema or schema["propertyNames"].keys() == {"enum"}))


def passes(schema: Mapping[str, Any], value: Any) -> bool:
    """True when ``value`` certainly satisfies ``schema``; False means: ask ``jsonschema`` (the value may still
    pass: NaN, infinities, a keyword these checks do not implement, or one JSON Schema ignores for the value's
    type, such as ``minimum`` on a string)."""
    try:
        return judges(schema) and compile_check(schema)(value) is None
    except TypeError:
        return False
