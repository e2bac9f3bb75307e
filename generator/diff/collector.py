"""OpenTelemetry Collector configs: pipelines (receivers, processors, exporters in order) and the
configuration of each component."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from obsgen.diff.changes import ADDED, CHANGED, REMOVED, Change, field_changes, line_of
from obsgen.diff.trees import Tree, yaml_doc

SECTIONS = ("receivers", "processors", "exporters", "connectors", "extensions")


def _configs(tree: Tree) -> dict[str, dict[str, Any]]:
    out = {}
    for path, text in tree.items():
        if path.endswith((".yml", ".yaml")) and not path.startswith("kubernetes/"):
            doc = yaml_doc(text)
            if isinstance(doc, dict) and isinstance((doc.get("service") or {}).get("pipelines"), dict):
                out[path] = doc
    return out


def _things(config: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    out: dict[tuple[str, str], dict[str, str]] = {}
    for name, pipeline in (config["service"]["pipelines"] or {}).items():
        out[("pipeline", str(name))] = {k: ", ".join(map(str, v)) for k, v in (pipeline or {}).items()}
    for section in SECTIONS:
        for name, body in (config.get(section) or {}).items():
            out[("collector_" + section.rstrip("s"), str(name))] = {"config": json.dumps(body, sort_keys=True)}
    return out


def compare(old: Tree, new: Tree) -> Iterator[Change]:
    before, after = _configs(old), _configs(new)
    for path in sorted(set(before) | set(after)):
        a, b = _things(before.get(path, {"service": {"pipelines": {}}})), _things(after.get(path, {"service": {
            "pipelines": {}}}))
        text = new.get(path) or old.get(path, "")
        for kind, name in sorted(set(a) | set(b)):
            line = line_of(text, f"{name}:")
            if (kind, name) not in a:
                yield Change(kind, ADDED, name, path, line, detail=_detail(b[(kind, name)]))
            elif (kind, name) not in b:
                yield Change(kind, REMOVED, name, path, line, detail=_detail(a[(kind, name)]))
            elif fields := field_changes(a[(kind, name)], b[(kind, name)]):
                yield Change(kind, CHANGED, name, path, line, tuple(fields))


def _detail(fields: dict[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in fields.items() if k != "config")
