"""The ``attributes`` section: every field an event may carry, described once."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from obsgen import model as m
from obsgen.model.reserved import RESERVED_ATTRIBUTE_NAMES
from obsgen.spec.reader import ATTRIBUTE_NAME, Checker


def parse_attributes(c: Checker, raw: Any) -> dict[str, m.Attribute]:
    out: dict[str, m.Attribute] = {}
    if c.mapping(raw, ("attributes",)) is None:
        return out
    for name, spec in raw.items():
        p = ("attributes", name)
        if c.string(name, p, ATTRIBUTE_NAME, "attribute name (lower case, dots allowed: http.route)") is None:
            continue
        if name in RESERVED_ATTRIBUTE_NAMES:
            c.error(p, f"attribute name `{name}` is reserved: {RESERVED_ATTRIBUTE_NAMES[name]}", "rename the attribute")
        label = m.prometheus_label_name(name)
        same = next((other for other in out if out[other].label_name == label), None)
        if same is not None:
            c.error(p, f"`{name}` and `{same}` are both the Prometheus label `{label}`",
                    "rename one of them so their labels differ")
        d = c.mapping(spec, p, required=("type", "pii", "cardinality", "description"),
                      optional=("enum", "format", "pattern", "minimum", "maximum", "max_length",
                                "max_items", "items", "keys"))
        if d is None:
            continue
        type_ = c.choice(d.get("type"), p + ("type",), m.ATTRIBUTE_TYPES)
        pii = c.choice(d.get("pii"), p + ("pii",), m.PII_CLASSES)
        cardinality = c.choice(d.get("cardinality"), p + ("cardinality",), m.CARDINALITIES)
        enum = tuple(c.string_list(d["enum"], p + ("enum",), allow_empty=False)) if "enum" in d else None
        fmt = c.choice(d["format"], p + ("format",), m.FORMATS) if "format" in d else None
        bounds = {k: c.number(d[k], p + (k,)) for k in ("minimum", "maximum") if k in d}
        if pii == "high" and type_ not in (None, "string"):
            c.error(p + ("type",), f"a `pii: high` attribute leaves the process as its pseudonym (64 hex characters), "
                    f"not as {type_}", "set `type: string` (with `format: sha256_hex`), or lower `pii`")
        if enum is not None and cardinality == "high":
            c.error(p + ("cardinality",), "an enum attribute has bounded cardinality",
                    "set `cardinality: low`")
        if None not in (bounds.get("minimum"), bounds.get("maximum")) and bounds["minimum"] > bounds["maximum"]:  # type: ignore[operator]
            c.error(p + ("maximum",), f"maximum {bounds['maximum']} is below minimum {bounds['minimum']}",
                    "swap them or fix one")
        pattern = _pattern(c, d["pattern"], p + ("pattern",)) if "pattern" in d else None
        sizes = {k: c.integer(d[k], p + (k,), minimum=1) for k in ("max_length", "max_items") if k in d}
        items = c.choice(d["items"], p + ("items",), m.ATTRIBUTE_TYPES[:3]) if "items" in d else None
        if type_ == "array" and items is None and "items" not in d:
            c.error(p, "an array attribute needs `items`", "add `items: string` (or integer, number)")
        keys = tuple(c.string_list(d["keys"], p + ("keys",), allow_empty=False)) if "keys" in d else None
        if keys is not None and type_ not in (None, "object"):
            c.error(p + ("keys",), "only an object attribute declares `keys`", "remove `keys` or set `type: object`")
        # An attribute with a bad field is still declared (with neutral stand-ins), so references to it
        # do not cascade into more errors; the model is never built while errors exist.
        out[name] = m.Attribute(
            name=name, type=str(type_ or "string"), description=c.text(d.get("description"), p + ("description",)),
            pii=str(pii or "none"), cardinality=str(cardinality or "low"), enum=enum, format=fmt, pattern=pattern,
            minimum=_float(bounds.get("minimum")), maximum=_float(bounds.get("maximum")),
            max_length=sizes.get("max_length"), max_items=sizes.get("max_items"), items=items, keys=keys)
    return out


PYTHON_ONLY = re.compile(r"\\.|\[(?:\\.|[^\]\\])+\]|\(\?(?:[=!>#(]|<[=!]|P=)|[*+?}]\+")
"""What the lake's RE2 (DuckDB) cannot compile though Python can: lookarounds, atomic groups, comments,
conditionals, back-references (``\\1``, ``(?P=x)``), ``\\Z`` and possessive quantifiers. Escapes and character
classes are matched whole, so only what stands outside them counts."""


def _pattern(c: Checker, value: Any, p: tuple) -> str | None:
    """A regular expression Python (the runtime), JSON Schema validators and the lake's RE2 compile."""
    if c.string(value, p) is None:
        return None
    try:
        re.compile(value)
    except re.error as exc:
        c.error(p, f"`{value}` is not a valid regular expression: {exc}", "fix the pattern (quote it in YAML)")
        return None
    for match in PYTHON_ONLY.finditer(value):
        construct = match[0]
        if construct[0] == "[" or (construct[0] == "\\" and construct[1] not in "123456789Z"):
            continue
        c.error(p, f"`{construct}` in `{value}` is Python-only: the lake's RE2 (DuckDB) cannot compile it",
                "use no lookarounds, back-references, atomic groups, possessive quantifiers, comments or \\Z")
        return None
    return str(value)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
