"""A typed facade for a spec's runtime: each event method spelled out with its keyword arguments.

The runtime builds its event methods from the model at start-up, so names cannot drift from the spec,
and ``inspect.signature`` shows their fields. Static type checkers cannot see methods made at run time;
this module writes a ``Telemetry`` subclass that declares them for type checkers only, plus a factory.
The built-in demo keeps its output as ``facade.py`` beside its spec (a test keeps it current).

    python -m obsgen.runtime.stubgen                  # the built-in spec, to stdout
    python -m obsgen.runtime.stubgen my-spec.yaml > my_service_telemetry.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from obsgen.model import Attribute, Model
from obsgen.runtime.plan import build_plans, keyword, must_pass

_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "object": "dict[str, Any]"}


def annotation_text(attr: Attribute) -> str:
    if attr.enum is not None:
        return alias_name(attr)
    if attr.type == "array":
        return f"list[{_TYPES.get(attr.items or '', 'Any')}]"
    return _TYPES[attr.type]


def alias_name(attr: Attribute) -> str:
    """The ``Literal`` alias of an enum attribute: ``engagement_type`` -> ``EngagementType``, ``http.method`` ->
    ``HttpMethod``."""
    return "".join(part.capitalize() for part in keyword(attr.name).split("_"))


def _literal_lines(name: str, values: tuple[str, ...] | list[str]) -> list[str]:
    quoted = [f'"{v}"' for v in values]
    one_line = f"{name} = Literal[{', '.join(quoted)}]"
    if len(one_line) <= 120:
        return [one_line]
    lines, current = [f"{name} = Literal["], "   "
    for q in quoted:
        if len(current) + len(q) + 2 > 116:
            lines.append(current.rstrip())
            current = "   "
        current += f" {q},"
    return [*lines, current, "]"]


def class_name(model: Model) -> str:
    return "".join(part.capitalize() for part in model.service.name.replace("_", "-").split("-")) + "Telemetry"


def stub_source(model: Model, default_spec: bool = False) -> str:
    """Python source of the typed facade for ``model`` (``default_spec``: the factory loads the built-in spec)."""
    plans = build_plans(model, "0" * 64)
    cls = class_name(model)
    used = {f for e in model.events for f in e.fields}
    enum_attrs = [a for name, a in model.attributes.items() if name in used and a.enum is not None]
    uses_any = any("Any" in annotation_text(model.attributes[f]) for e in model.events for f in e.fields)
    command = "python -m obsgen.runtime.stubgen" + ("" if default_spec else " SPEC")
    lines = [
        f"# Generated from {model.source} by `{command}`. Do not edit.",
        f'"""Typed facade of the obsgen runtime for {model.service.name}: event methods with their fields."""',
        "",
        "from __future__ import annotations",
        "",
        *([] if default_spec else ["import os"]),
        "from typing import TYPE_CHECKING, " + ("Any, " if uses_any else "") + "Literal",
        "",
        "from obsgen.runtime.config import RuntimeConfig",
        "from obsgen.runtime.core import RequestScope, Telemetry",
        "from obsgen.runtime.killswitch import KillSwitchState",
        "",
        f"EVENTS = {_tuple_text(e.name for e in model.events)}",
        f"KILL_SWITCHES = {_tuple_text(model.kill_switches)}",
        *(_literal_lines("KillSwitch", list(model.kill_switches)) if model.kill_switches
          else ["KillSwitch = str  # the spec declares no kill-switches"]),
        *[line for a in enum_attrs for line in _literal_lines(alias_name(a), a.enum or ())],
        "",
        "",
        f"class {cls}(Telemetry):",
        f'    """The runtime for {model.service.name}; see ``Telemetry``. Event methods are declared for type checkers',
        '    only: at run time the runtime builds them from the spec."""',
        "",
        "    if TYPE_CHECKING:",
        "        def is_active(self, kill_switch: KillSwitch) -> bool: ...",
    ]
    for event in model.events:
        plan = plans[event.name]
        returns = "RequestScope" if plan.opens_scope else "None"
        lines.append("")
        lines.append(f"        def {event.name}(")
        lines.append("            self,")
        lines.append("            *,")
        for name in event.fields:
            text = annotation_text(model.attributes[name])
            if must_pass(plan, name):
                lines.append(f"            {keyword(name)}: {text},")
            else:
                lines.append(f"            {keyword(name)}: {text} | None = None,")
        lines.append(f"        ) -> {returns}:")
        lines.append(f'            """{event.description}"""')
        lines.append("            ...")
    lines += ["", ""]
    if default_spec:
        lines += [
            "def telemetry(config: RuntimeConfig | None = None, *,",
            f"              kill_switches: KillSwitchState | None = None) -> {cls}:",
            f'    """The runtime for the built-in {model.service.name} spec, typed."""',
            "    from obsgen.spec import load_default",
            "",
            f"    runtime = {cls}(load_default(), config, kill_switches=kill_switches)",
        ]
    else:
        lines += [
            "def telemetry(spec_path: str | os.PathLike[str], config: RuntimeConfig | None = None, *,",
            f"              kill_switches: KillSwitchState | None = None) -> {cls}:",
            f'    """The runtime for the {model.service.name} spec at ``spec_path``, typed."""',
            "    from pathlib import Path",
            "",
            "    from obsgen.spec import load_spec",
            "",
            f"    runtime = {cls}(load_spec(Path(spec_path)), config, kill_switches=kill_switches)",
        ]
    lines += [
        "    if runtime.events != EVENTS:",
        "        runtime.shutdown(0)",
        '        raise TypeError(f"the spec\'s events {runtime.events} differ from this facade\'s {EVENTS}: "',
        f'                        "regenerate it with `{command}`")',
        "    return runtime",
        "",
    ]
    return "\n".join(lines)


def _tuple_text(names: object) -> str:
    items = [f'"{n}"' for n in names]  # type: ignore[attr-defined]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def main(argv: list[str] | None = None) -> int:
    from obsgen.spec import load_default, load_spec

    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(__doc__)
        return 0 if args and args[0] in ("-h", "--help") else 2
    model = load_spec(Path(args[0])) if args else load_default()
    sys.stdout.write(stub_source(model, default_spec=not args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
