"""The ``data_quality`` section: the event that reports what the runtime drops or repairs.

```yaml
data_quality:
  report:
    event: error                         # emitted once per event, field and kind a second at most
    values:                              # report field -> constant, template or per-kind constant
      component: telemetry
      severity: warning
      error_code: {validity: INVALID_EVENT, completeness: INCOMPLETE_EVENT}
      message: "{event} event {action}: field {field} {reason}"
    copy: [order_id, channel]            # taken from the offending event when valid there
```

Templates may use ``{event}``, ``{field}``, ``{kind}``, ``{reason}`` and ``{action}``, and only in
free-text attributes (strings without enum, pattern or format: the runtime scrubs those). Without the
section nothing is reported, but every violation is still counted.
"""

from __future__ import annotations

import string
from typing import Any

from obsgen import model as m
from obsgen.model.eventschema import event_schema
from obsgen.model.fieldchecks import passes
from obsgen.model.joins import Context
from obsgen.model.quality import PLACEHOLDERS, REPORTED_KINDS, ByKind, DataQuality, Report, ReportValue, Template
from obsgen.spec.reader import Checker, too_wide, wide_problem


def parse_data_quality(c: Checker, raw: Any, events: list[m.Event], attributes: dict[str, m.Attribute],
                       joins: list[Context]) -> DataQuality:
    d = c.mapping(raw, ("data_quality",), optional=("report",))
    if d is None or "report" not in d:
        return DataQuality()
    p = ("data_quality", "report")
    rd = c.mapping(d["report"], p, required=("event",), optional=("values", "copy"))
    if rd is None:
        return DataQuality()
    by_name = {e.name: e for e in events}
    name = c.reference(rd.get("event"), p + ("event",), by_name, "events", "an event")
    if name is None:
        return DataQuality()
    event = by_name[name]
    schema = event_schema(event, attributes, f"urn:obsgen:check:{name}")["properties"]
    values: list[tuple[str, ReportValue]] = []
    raw_values = rd.get("values", {})
    if c.mapping(raw_values, p + ("values",)) is not None:
        for field, value in raw_values.items():
            vp = p + ("values", field)
            if _field_of(c, field, vp, event):
                parsed = _value(c, value, vp, attributes[field], schema[field])
                if parsed is not None:
                    values.append((field, parsed))
    copy = c.string_list(rd.get("copy", []), p + ("copy",))
    for i, field in enumerate(copy):
        if _field_of(c, field, p + ("copy", i), event) and field in raw_values:
            c.error(p + ("copy", i), f"`{field}` also has a value under `values`", "fill it in one place only")
    filled = {f for f in event.fields if attributes[f].format == "unix_ms"}
    filled |= {ctx.key for ctx in joins if ctx.root == name and attributes[ctx.key].format == "uuid4"}
    for field in event.required:
        if field not in raw_values and field not in copy and field not in filled:
            c.error(p, f"required field `{field}` of event `{name}` is not filled",
                    "give it a constant under `values` or list it under `copy`")
    return DataQuality(Report(name, tuple(values), tuple(copy)))


def _field_of(c: Checker, field: str, p: tuple, event: m.Event) -> bool:
    if field not in event.fields:
        c.error(p, f"`{field}` is not a field of event `{event.name}`", f"use one of: {', '.join(event.fields)}")
        return False
    return True


def _value(c: Checker, value: Any, p: tuple, attr: m.Attribute, schema: dict[str, Any]) -> ReportValue | None:
    if isinstance(value, dict):
        missing = [k for k in REPORTED_KINDS if k not in value]
        for kind in value:
            if kind not in REPORTED_KINDS:
                c.error(p + (kind,), f"`{kind}` is not a kind the runtime reports",
                        f"key the values by {', '.join(REPORTED_KINDS)}")
        if missing:
            c.error(p, f"no value for kind {', '.join(missing)}", f"add `{missing[0]}: ...`")
        constants = [(k, _constant(c, value[k], p + (k,), schema)) for k in REPORTED_KINDS if k in value]
        if missing or any(v is None for _, v in constants):
            return None
        return ByKind(tuple(constants))  # type: ignore[arg-type]
    if isinstance(value, str):
        try:
            names = [f for _, f, spec, conv in string.Formatter().parse(value) if f is not None or spec or conv]
            wide = too_wide(value)
        except ValueError as err:
            c.error(p, f"`{value}` is not a valid template: {err}", "write placeholders as {event}; `{{` for a brace")
            return None
        if wide is not None:  # the runtime formats it for every event it drops or repairs
            c.error(p, *wide_problem(wide))
            return None
        if names:
            unknown = [n for n in names if n not in PLACEHOLDERS]
            if unknown:
                c.error(p, f"unknown placeholder `{{{unknown[0]}}}`",
                        f"use only {', '.join('{' + n + '}' for n in PLACEHOLDERS)}")
                return None
            if not attr.free_text:
                c.error(p, f"placeholders can only fill a free-text attribute; `{attr.name}` has an enum, pattern "
                        "or format", "write a constant, or key constants by kind")
                return None
            return Template(value)
    return _constant(c, value, p, schema)


def _constant(c: Checker, value: Any, p: tuple, schema: dict[str, Any]) -> str | int | float | bool | None:
    if isinstance(value, (dict, list)) or value is None:
        c.error(p, "expected a single value", "write a string, number or boolean")
        return None
    if passes(schema, value):
        return value  # type: ignore[no-any-return]
    from jsonschema import Draft202012Validator  # only to explain a rejected value: it takes a while to import

    errors = list(Draft202012Validator(schema).iter_errors(value))
    if errors:
        c.error(p, f"`{value}` is not a valid value: {errors[0].message}",
                "use a value the attribute's type, enum, pattern and bounds allow")
        return None
    return value  # type: ignore[no-any-return]
