"""Alertmanager configs: routes (by their chain of matchers), receivers (by name), inhibition rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from obsgen.diff.changes import ADDED, CHANGED, REMOVED, Change, field_changes, line_of
from obsgen.diff.trees import Tree, yaml_doc

ROUTE_FIELDS = ("receiver", "group_by", "group_wait", "group_interval", "repeat_interval", "continue",
                "mute_time_intervals", "active_time_intervals")


def _configs(tree: Tree) -> dict[str, dict[str, Any]]:
    out = {}
    for path, text in tree.items():
        if path.endswith(("alertmanager.yml", "alertmanager.yaml")) and not path.startswith("kubernetes/"):
            doc = yaml_doc(text)
            if isinstance(doc, dict):
                out[path] = doc
    return out


def _flat(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def routes(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Route key (its matchers, parent first, ``>`` between levels; ``(root)``) → its fields."""
    out: dict[str, dict[str, str]] = {}

    def walk(route: dict[str, Any], trail: list[str]) -> None:
        key = " > ".join(trail) or "(root)"
        while key in out:  # two sibling routes with the same matchers
            key += "'"
        out[key] = {f: _flat(route[f]) for f in ROUTE_FIELDS if f in route}
        for child in route.get("routes") or []:
            walk(child, [*trail, ",".join(child.get("matchers") or []) or "(any)"])

    walk(config.get("route") or {}, [])
    return out


def _receivers(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {str(r.get("name")): {k: _flat(v) for k, v in r.items() if k != "name"}
            for r in config.get("receivers") or [] if isinstance(r, dict)}


def _inhibitions(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for rule in config.get("inhibit_rules") or []:
        key = f"{','.join(rule.get('source_matchers') or [])} inhibits {','.join(rule.get('target_matchers') or [])}"
        out[key] = {"equal": _flat(rule.get("equal"))}
    return out


def compare(old: Tree, new: Tree) -> Iterator[Change]:
    before, after = _configs(old), _configs(new)
    for path in sorted(set(before) | set(after)):
        text = new.get(path) or old.get(path, "")
        for kind, read in (("route", routes), ("receiver", _receivers), ("inhibit_rule", _inhibitions)):
            a, b = read(before.get(path, {})), read(after.get(path, {}))
            for key in [k for k in a if k not in b] + [k for k in b if k not in a] + [k for k in b if k in a]:
                line = (_route_line(text, key) if kind == "route" else
                        line_of(text, f"name: {key}") if kind == "receiver" else None)
                if key not in a:
                    yield Change(kind, ADDED, key, path, line, detail=_detail(b[key]))
                elif key not in b:
                    yield Change(kind, REMOVED, key, path, line, detail=_detail(a[key]))
                elif fields := field_changes(a[key], b[key]):
                    yield Change(kind, CHANGED, key, path, line, tuple(fields))


def _route_line(text: str, key: str) -> int | None:
    """The line of a route's last matcher, found level by level so equal matchers of other services are skipped."""
    lines, at = text.splitlines(), 0
    if key == "(root)":
        return line_of(text, "route:")
    for level in key.rstrip("'").split(" > "):
        needle = f"- {level.split(',')[0]}"
        at = next((n for n in range(at, len(lines)) if needle in lines[n]), -1)
        if at < 0:
            return None
    return at + 1


def _detail(fields: dict[str, str]) -> str:
    if "receiver" in fields:
        return f"→ {fields['receiver']}"
    return ", ".join(sorted(k for k in fields if k.endswith("_configs")))
