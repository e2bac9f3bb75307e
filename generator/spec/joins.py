"""The ``joins`` section: contexts (root event, join key, members), inherited/consistent fields, references.

```yaml
joins:
  order:                                     # the context's name
    root: order_placed                       # opens the context; its span parents the members' spans
    key: order_id                            # members join by this field
    inherit: [customer_id, currency]         # default: every root field a member declares (not the key or times)
    consistent: [currency]                   # passed values must equal the root's
    require_known: [refund]                  # these members must name a context this process has seen
    references:                              # name = the data-quality kind counted when broken
      refund_of_unknown_line: {event: refund, field: sku, one_of: {event: line_item, field: sku}}
      line_sku: {event: line_item, field: sku, element_of: {event: order_placed, field: skus, index: line}}
```
"""

from __future__ import annotations

from typing import Any

from obsgen import model as m
from obsgen.model.joins import CONSISTENCY, Context, ElementOf, OneOf, Reference
from obsgen.model.quality import COMPLETENESS, VALIDITY
from obsgen.spec.reader import NAME, Checker

BUILTIN_KINDS = (COMPLETENESS, VALIDITY, CONSISTENCY)
"""Data-quality kinds the runtime counts for any spec; reference names must not reuse them."""


def parse_joins(c: Checker, raw: Any, events: list[m.Event], attributes: dict[str, m.Attribute]) -> list[Context]:
    out: list[Context] = []
    if c.mapping(raw, ("joins",)) is None:
        return out
    by_name = {e.name: e for e in events}
    owner: dict[str, str] = {}
    """Event → the context it belongs to (as root or member): an event joins at most one context."""
    kinds: dict[str, str] = {}
    for name, spec in raw.items():
        p = ("joins", name)
        if c.string(name, p, NAME, "context name") is None:
            continue
        d = c.mapping(spec, p, required=("root", "key"),
                      optional=("inherit", "consistent", "require_known", "references"))
        if d is None:
            continue
        root_name = c.reference(d.get("root"), p + ("root",), by_name, "events", "an event")
        if root_name is None:
            continue
        root = by_name[root_name]
        key = c.field(d.get("key"), p + ("key",), root.fields, root_name, "name the join key field the root declares")
        if key is None:
            continue
        members = tuple(e.name for e in events if e.name != root_name and key in e.fields)
        for event in (root_name, *members):
            if event in owner:
                c.error(p, f"event `{event}` already belongs to context `{owner[event]}`",
                        "give each context its own join key field")
            owner.setdefault(event, name)
        shared = [f for f in root.fields if f != key and attributes[f].format != "unix_ms"
                  and any(f in by_name[e].fields for e in members)]
        inherit = _fields(c, d, p, "inherit", shared, f"fields of `{root_name}` that a member also declares")
        if "inherit" not in d:
            inherit = shared
        consistent = _fields(c, d, p, "consistent", inherit, "`inherit` fields")
        require_known = _fields(c, d, p, "require_known", members, f"members of `{name}` (events with `{key}`)")
        references = _references(c, d.get("references", {}), p + ("references",), by_name, (root_name, *members),
                                 attributes)
        unknown = f"unknown_{name}"
        for kind in (unknown, *(r.name for r in references)):
            if kind in BUILTIN_KINDS or kind in kinds:
                c.error(p + ("references", kind) if kind != unknown else p,
                        f"data-quality kind `{kind}` is already used by {kinds.get(kind, 'the runtime')}",
                        "rename the reference or the context")
            kinds.setdefault(kind, f"context `{name}`")
        out.append(Context(name=name, root=root_name, key=key, members=members, inherit=tuple(inherit),
                           consistent=tuple(consistent), require_known=tuple(require_known),
                           references=tuple(references)))
    return out


def _fields(c: Checker, d: dict[str, Any], p: tuple, key: str, allowed: list[str] | tuple[str, ...],
            what: str) -> list[str]:
    names = c.string_list(d.get(key, []), p + (key,))
    for i, field in enumerate(names):
        if field not in allowed:
            c.error(p + (key, i), f"`{field}` is not one of the {what}",
                    f"use one of: {', '.join(allowed) or '(none)'}")
    return [f for f in names if f in allowed]


def _references(c: Checker, raw: Any, p: tuple, events: dict[str, m.Event], in_context: tuple[str, ...],
                attributes: dict[str, m.Attribute]) -> list[Reference]:
    out: list[Reference] = []
    if c.mapping(raw, p) is None:
        return out
    for name, spec in raw.items():
        rp = p + (name,)
        if c.string(name, rp, NAME, "reference name (the data-quality kind)") is None:
            continue
        d = c.mapping(spec, rp, required=("event", "field"), optional=("one_of", "element_of"))
        if d is None:
            continue
        if ("one_of" in d) == ("element_of" in d):
            c.error(rp, "a reference needs exactly one of `one_of` and `element_of`",
                    "write `one_of: {event, field}` or `element_of: {event, field, index}`")
            continue
        event = _context_event(c, d.get("event"), rp + ("event",), events, in_context)
        field = _event_field(c, d.get("field"), rp + ("field",), events, event)
        form = "one_of" if "one_of" in d else "element_of"
        td = c.mapping(d[form], rp + (form,), required=("event", "field"),
                       optional=("same",) if form == "one_of" else ("index",))
        if td is None:
            continue
        target = _context_event(c, td.get("event"), rp + (form, "event"), events, in_context)
        target_field = _event_field(c, td.get("field"), rp + (form, "field"), events, target)
        if None in (event, field, target, target_field):
            continue
        assert event and field and target and target_field
        if form == "one_of":
            same = td.get("same")
            if same is not None and not (same in events[event].fields and same in events[target].fields):
                c.error(rp + (form, "same"), f"`{same}` is not a field of both `{event}` and `{target}`",
                        "name a field both events declare")
                continue
            out.append(OneOf(name, event, field, target, target_field, same))
            continue
        if "index" not in td:
            c.error(rp + (form,), "missing required key `index`",
                    f"add `index:` (a 1-based integer field of `{event}`)")
            continue
        index = _event_field(c, td["index"], rp + (form, "index"), events, event)
        if attributes[target_field].type != "array":
            c.error(rp + (form, "field"), f"`{target_field}` is not an array", "name an array field of the target")
        elif index is not None and attributes[index].type != "integer":
            c.error(rp + (form, "index"), f"`{index}` is not an integer field", "name a 1-based position field")
        elif index is not None:
            out.append(ElementOf(name, event, field, target, target_field, index))
    return out


def _context_event(c: Checker, value: Any, p: tuple, events: dict[str, m.Event],
                   in_context: tuple[str, ...]) -> str | None:
    name = c.reference(value, p, events, "events", "an event")
    if name is not None and name not in in_context:
        c.error(p, f"event `{name}` is not in this context", f"use one of: {', '.join(in_context)}")
        return None
    return name


def _event_field(c: Checker, value: Any, p: tuple, events: dict[str, m.Event], event: str | None) -> str | None:
    if event is None:
        return None
    if value not in events[event].fields:
        c.error(p, f"`{value}` is not a field of event `{event}`",
                f"use one of: {', '.join(events[event].fields)}")
        return None
    return str(value)
