"""Prometheus rule files: alerts and recording rules compared by name (``expr``, ``for``, thresholds,
labels, annotations).

Rules may share a name (the burn-rate alerts of one SLO, the quantiles of one recording rule): they are
told apart by the fewest labels whose values differ among them (``burn_window``, ``quantile``), so
changing a severity reads as a change, not as one rule removed and another added.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from obsgen.diff.changes import ADDED, CHANGED, REMOVED, Change, FieldChange, field_changes, line_of
from obsgen.diff.trees import Tree, yaml_doc

COMPARISON = re.compile(r"(?<![=!<>~])(>=|<=|==|!=|>|<)\s*(?:bool\s+)?(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w.])")
"""A comparison with a number on its right: an alert's threshold."""


def rule_files(tree: Tree) -> dict[str, list[dict[str, Any]]]:
    """Path → rules of every Prometheus rule file (``groups:``) of the tree, outside tests and Kubernetes."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path, text in tree.items():
        if not path.endswith((".yml", ".yaml")) or "/tests/" in path or path.startswith("kubernetes/"):
            continue
        doc = yaml_doc(text)
        if isinstance(doc, dict) and isinstance(doc.get("groups"), list):
            out[path] = [rule for group in doc["groups"] if isinstance(group, dict)
                         for rule in group.get("rules") or [] if isinstance(rule, dict)]
    return out


def thresholds(expr: str) -> list[str]:
    """The numbers an expression compares with, in order: ``['100']`` for ``x > 100``."""
    return [f"{op} {number}" for op, number in COMPARISON.findall(expr)]


def _shape(expr: str) -> str:
    """The expression with its thresholds blanked, to tell a threshold change from a query change."""
    return COMPARISON.sub(lambda m: f"{m.group(1)} #", expr)


def _name(rule: dict[str, Any]) -> tuple[str, str]:
    return ("alert", str(rule["alert"])) if "alert" in rule else ("recording_rule", str(rule.get("record", "")))


def _discriminators(rules: list[dict[str, Any]]) -> list[str]:
    """The fewest labels (most distinct values first) whose values tell ``rules`` apart."""
    labels = sorted({k for r in rules for k in (r.get("labels") or {})},
                    key=lambda k: (-len({str((r.get("labels") or {}).get(k)) for r in rules}), k))
    chosen: list[str] = []
    for label in labels:
        if len({tuple(str((r.get("labels") or {}).get(k)) for k in chosen) for r in rules}) == len(rules):
            break
        chosen.append(label)
    return chosen


def _keyed(path: str, rules: list[dict[str, Any]], text: str) -> dict[tuple[str, str], tuple[dict, int | None]]:
    by_name: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rule in rules:
        by_name.setdefault(_name(rule), []).append(rule)
    out: dict[tuple[str, str], tuple[dict, int | None]] = {}
    for (kind, name), same in by_name.items():
        labels = _discriminators(same)
        for nth, rule in enumerate(same):
            shown = ",".join(f'{k}="{(rule.get("labels") or {}).get(k)}"' for k in labels)
            key = f"{name}{{{shown}}}" if shown else name
            if (kind, key) in out:  # identical labels: told apart by position
                key = f"{key}#{nth}"
            out[(kind, key)] = rule, line_of(text, f"{'alert' if kind == 'alert' else 'record'}: {name}", nth)
    return out


def slo_of(rule: dict[str, Any]) -> str:
    """``service/slo`` of a rule labelled with an SLO (how ``slos`` names it), else ``""``."""
    labels = rule.get("labels") or {}
    return f"{labels.get('service', '')}/{labels['slo']}".lstrip("/") if "slo" in labels else ""


def describe(rule: dict[str, Any]) -> str:
    """An alert in a few words: ``P3 > 0.2 for 15m``."""
    parts = [str((rule.get("labels") or {}).get("severity", "")), *thresholds(str(rule.get("expr", "")))]
    if rule.get("for"):
        parts.append(f"for {rule['for']}")
    return " ".join(p for p in parts if p)


def _fields(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    out: list[FieldChange] = []
    old_expr, new_expr = str(old.get("expr", "")), str(new.get("expr", ""))
    if thresholds(old_expr) != thresholds(new_expr):
        out.append(FieldChange("threshold", " ".join(thresholds(old_expr)), " ".join(thresholds(new_expr))))
    if _shape(old_expr) != _shape(new_expr):
        out.append(FieldChange("expr", old_expr, new_expr))
    if old.get("for") != new.get("for"):
        out.append(FieldChange("for", old.get("for"), new.get("for")))
    out += field_changes(old.get("labels") or {}, new.get("labels") or {}, "labels.")
    out += field_changes(old.get("annotations") or {}, new.get("annotations") or {}, "annotations.")
    return out


def compare(old: Tree, new: Tree) -> Iterator[Change]:
    """Alerts and recording rules added, removed or changed, per rule file."""
    old_files, new_files = rule_files(old), rule_files(new)
    for path in sorted(set(old_files) | set(new_files)):
        before = _keyed(path, old_files.get(path, []), old.get(path, ""))
        after = _keyed(path, new_files.get(path, []), new.get(path, ""))
        for kind, key in sorted(set(before) | set(after), key=lambda k: (k[0], k[1])):
            if (kind, key) not in before:
                rule, line = after[(kind, key)]
                yield Change(kind, ADDED, key, path, line, detail=describe(rule) if kind == "alert" else "")
            elif (kind, key) not in after:
                rule, line = before[(kind, key)]
                yield Change(kind, REMOVED, key, path, line, detail=describe(rule) if kind == "alert" else "")
            elif fields := _fields(before[(kind, key)][0], after[(kind, key)][0]):
                yield Change(kind, CHANGED, key, path, after[(kind, key)][1], tuple(fields),
                             context=slo_of(after[(kind, key)][0]))
