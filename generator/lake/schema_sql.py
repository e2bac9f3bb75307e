"""The spec's event JSON Schemas as SQL (DuckDB): per field, its typed value and the reason it fails.

Ingest validates millions of events a minute, so the per-field checks the runtime compiles from
``schemas/<service>/events/<event>.json`` (``obsgen.runtime.validation.compile_check``) are generated
here as SQL over an OTLP ``AnyValue`` column instead: the type (JSON Schema semantics: a boolean is no
number, 3.0 is an integer, NaN and infinities are rejected), then the rules in the order the compiled
check tries them, each with the compiled check's words, so a quarantined event carries the reason the
runtime's strict mode gives for it (tests/test_lake_validity.py holds the two to the same verdicts).

Integers are typed as HUGEINT while judged, so a bound is checked on the value itself (1e20 is an integer that
breaks ``maximum``, as in JSON Schema); the lake keeps 64 bits, so a larger integer no bound stops is
quarantined ("must fit in 64 bits"), the one verdict JSON Schema does not give.

Patterns: JSON Schema (and Python's ``re``) search without anchoring and let ``$`` match before a final
newline; RE2 (DuckDB) does not, so ``$`` becomes ``\\n?$``; ``\\d``, ``\\w`` and ``\\s`` are Unicode
classes in Python and become RE2's Unicode classes. Constructs RE2 lacks (look-around, back-references)
make the ingest query fail loudly rather than judge differently.

``object`` fields are not judged here: they arrive as JSON text (the runtime's form) or as an OTLP
key-value list, are decoded and checked in Python by the compiled check itself, and kept as their
``json.dumps(sort_keys=True)`` text, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from obsgen.lake.sql import literal

ARTICLE = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
           "array": "an array", "object": "an object"}
KINDS = (("stringValue", "s"), ("intValue", "i"), ("doubleValue", "d"), ("boolValue", "b"), ("arrayValue", "a"),
         ("kvlistValue", "m"), ("bytesValue", "y"))
"""An ``AnyValue``'s members in the order ``obsgen.lake.landing.any_value`` tries them, with a short kind."""


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


Member = Callable[[str], str]
"""SQL of one member (``stringValue``, ``intValue``, …) of an ``AnyValue``."""


def members(v: str) -> Member:
    """The members of the ``AnyValue`` expression ``v``."""
    return lambda member: f"{v}.{member}"


def kind(member: Member) -> str:
    """The kind of an ``AnyValue`` (its ``member``s): the first member present (NULL: no value)."""
    whens = " ".join(f"WHEN {member(name)} IS NOT NULL THEN '{k}'" for name, k in KINDS)
    return f"(CASE {whens} END)"


def scalar(member: Member, k: str, type_: str) -> str:
    """The value of an ``AnyValue`` (its ``member``s, its kind ``k``) as SQL of the JSON Schema ``type_``; NULL when
    it is not one."""
    if type_ == "string":
        return f"(CASE {k} WHEN 's' THEN {member('stringValue')} WHEN 'y' THEN {member('bytesValue')} END)"
    d = member("doubleValue")
    if type_ == "integer":
        return (f"(CASE {k} WHEN 'i' THEN TRY_CAST({member('intValue')} AS HUGEINT) WHEN 'd' THEN (CASE WHEN "
                f"isfinite({d}) AND {d} = trunc({d}) THEN TRY_CAST({d} AS HUGEINT) END) END)")
    if type_ == "number":
        return (f"(CASE {k} WHEN 'i' THEN TRY_CAST({member('intValue')} AS DOUBLE) WHEN 'd' THEN (CASE WHEN "
                f"isfinite({d}) THEN {d} END) END)")
    if type_ == "boolean":
        return f"(CASE {k} WHEN 'b' THEN {member('boolValue')} END)"
    raise ValueError(f"no SQL scalar for JSON Schema type {type_}")


def typed(member: Member, k: str, schema: Mapping[str, Any]) -> str:
    """The typed value of an ``AnyValue`` (its ``member``s, its kind ``k``) for a field of ``schema`` (NULL: wrong
    type)."""
    type_ = schema["type"]
    if type_ != "array":
        return scalar(member, k, type_)
    e = members("e")
    item = scalar(e, kind(e), schema.get("items", {}).get("type", "string"))
    return f"(CASE WHEN {k} = 'a' THEN [{item} FOR e IN coalesce({member('arrayValue')}.\"values\", [])] END)"


def re2(pattern: str) -> str:
    """A Python ``re`` pattern as an RE2 pattern that matches (searching) the same strings."""
    classes = {"d": r"\p{Nd}", "w": r"\p{L}\p{N}_", "s": r"\s\x{0B}\x{1C}-\x{1F}\x{85}\p{Z}"}
    out, i, depth = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt in classes:
                out.append(classes[nxt] if depth else f"[{classes[nxt]}]")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if depth:
            depth = ch != "]"
        elif ch == "[":
            depth = True
            out.append(ch)
            if pattern[i + 1:i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1:i + 2] == "]":  # a leading ] is a literal
                out.append("]")
                i += 1
            i += 1
            continue
        elif ch == "$":
            out.append("\\n?$")
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _number(value: float) -> str:
    return repr(value)


def rules(schema: Mapping[str, Any], t: str) -> list[tuple[str, str]]:
    """``(SQL true when the typed value t breaks the rule, reason)`` in the compiled check's order."""
    type_, keys = schema["type"], set(schema) - {"type", "description", "format"}
    found: dict[str, tuple[str, str]] = {}
    if "enum" in schema:
        values = ", ".join(literal(v) if isinstance(v, str) else _number(v) for v in schema["enum"])
        found["enum"] = (f"{t} NOT IN ({values})", f"must be one of {', '.join(map(str, schema['enum']))}")
    if "pattern" in schema:
        found["pattern"] = (f"NOT regexp_matches({t}, {literal(re2(schema['pattern']))})",
                            f"must match {schema['pattern']}")
    if "maxLength" in schema:
        limit = schema["maxLength"]
        found["maxLength"] = (f"length({t}) > {limit}", f"must be at most {limit} characters")
    if "minimum" in schema:
        found["minimum"] = (f"{t} < {_number(schema['minimum'])}", f"must be >= {schema['minimum']}")
    if "maximum" in schema:
        found["maximum"] = (f"{t} > {_number(schema['maximum'])}", f"must be <= {schema['maximum']}")
    if "maxItems" in schema:
        most = schema["maxItems"]
        found["maxItems"] = (f"len({t}) > {most}", f"must have at most {most} items")
    if "items" in schema:
        found["items"] = (f"len([x FOR x IN {t} IF x IS NULL]) > 0",
                          f"items must each be {ARTICLE[schema['items']['type']]}")
    order = ["enum", "pattern", "maxLength", "minimum", "maximum", "maxItems", "items"]
    if type_ == "string" and keys <= {"pattern", "maxLength"}:
        order = ["maxLength", "pattern"]  # the compiled fast check tries the length first
    return [found[name] for name in order if name in found]


def reason(schema: Mapping[str, Any], t: str) -> str:
    """SQL: why the present value whose typed form is ``t`` fails ``schema`` (NULL when it passes)."""
    whens = [f"WHEN {t} IS NULL THEN {literal('must be ' + ARTICLE[schema['type']])}"]
    whens += [f"WHEN {fails} THEN {literal(why)}" for fails, why in rules(schema, t)]
    if schema["type"] == "integer":  # the lake's column is 64-bit (JSON Schema has no limit; OTLP has the same)
        whens.append(f"WHEN {t} NOT BETWEEN {-(2 ** 63)} AND {2 ** 63 - 1} THEN 'must fit in 64 bits'")
    return f"(CASE {' '.join(whens)} END)"


def column(schema: Mapping[str, Any], t: str) -> str:
    """SQL: the typed value ``t`` as the lake's column (integers in 64 bits; NULL where the value is invalid)."""
    if schema["type"] == "integer":
        return f"TRY_CAST({t} AS BIGINT)"
    if schema["type"] == "array" and schema.get("items", {}).get("type") == "integer":
        return f"TRY_CAST({t} AS BIGINT[])"
    return t
