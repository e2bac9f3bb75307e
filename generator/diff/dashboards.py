"""Grafana dashboards, by uid, and their panels by id (obsgen's panel ids are stable per tile): panels
added, removed, moved (``gridPos`` only) or changed (title, type, queries, thresholds, unit)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from obsgen.diff.changes import ADDED, CHANGED, MOVED, REMOVED, Change, FieldChange, field_changes, line_of
from obsgen.diff.trees import Tree, json_doc

BOARD_FIELDS = ("title", "refresh", "description")


def _boards(tree: Tree) -> dict[str, tuple[str, dict[str, Any]]]:
    """uid → (path, dashboard) of every dashboard JSON of the tree."""
    out = {}
    for path, text in tree.items():
        if path.endswith(".json") and not path.startswith("kubernetes/"):
            doc = json_doc(text)
            if isinstance(doc, dict) and isinstance(doc.get("panels"), list) and "uid" in doc:
                out[str(doc["uid"])] = path, doc
    return out


def panels(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Panel id → panel, rows' nested panels included."""
    out: dict[str, dict[str, Any]] = {}
    for panel in board.get("panels") or []:
        out[str(panel.get("id"))] = panel
        for inner in panel.get("panels") or []:
            out[str(inner.get("id"))] = inner
    return out


def _position(panel: dict[str, Any]) -> str:
    g = panel.get("gridPos") or {}
    return f"x={g.get('x')} y={g.get('y')} w={g.get('w')} h={g.get('h')}"


def _facts(panel: dict[str, Any]) -> dict[str, Any]:
    defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
    facts: dict[str, Any] = {"title": panel.get("title"), "type": panel.get("type"), "unit": defaults.get("unit"),
                             "thresholds": json.dumps([s.get("value") for s in
                                                       (defaults.get("thresholds") or {}).get("steps") or []])}
    for target in panel.get("targets") or []:
        facts[f"query[{target.get('refId')}]"] = target.get("expr")
    return facts


def _name(panel: dict[str, Any]) -> str:
    return f"{panel.get('title')!s} (id {panel.get('id')})"


def compare(old: Tree, new: Tree) -> Iterator[Change]:
    before, after = _boards(old), _boards(new)
    for uid in sorted(set(before) | set(after)):
        if uid not in before or uid not in after:
            path, board = after[uid] if uid in after else before[uid]
            yield Change("dashboard", ADDED if uid in after else REMOVED, uid, path, 1,
                         detail=f"{board.get('title')!s}, {len(panels(board))} panels")
            continue
        (_, old_board), (path, new_board) = before[uid], after[uid]
        text = new[path]
        if fields := field_changes({f: old_board.get(f) for f in BOARD_FIELDS},
                                   {f: new_board.get(f) for f in BOARD_FIELDS}):
            yield Change("dashboard", CHANGED, uid, path, 1, tuple(fields))
        a, b = panels(old_board), panels(new_board)
        for pid in [p for p in a if p not in b] + [p for p in b if p not in a] + [p for p in b if p in a]:
            line = line_of(text, f'"id": {pid},') if pid in b else None
            if pid not in a:
                yield Change("panel", ADDED, _name(b[pid]), path, line, detail=_position(b[pid]), context=uid)
            elif pid not in b:
                yield Change("panel", REMOVED, _name(a[pid]), path, line, detail=_position(a[pid]), context=uid)
            else:
                fields = field_changes(_facts(a[pid]), _facts(b[pid]))
                moved = _position(a[pid]) != _position(b[pid])
                if moved:
                    fields.append(FieldChange("position", _position(a[pid]), _position(b[pid])))
                if fields:
                    action = MOVED if moved and len(fields) == 1 else CHANGED
                    yield Change("panel", action, _name(b[pid]), path, line, tuple(fields), context=uid)
