"""SLOs as the generated rules state them: objective, error budget, period and burn thresholds.

Read from the burn-rate alerts (label ``slo``; the ``burn_windows`` annotation or ``burn_window`` label;
objective and period as ``(99.9% over 30d)``) and, where present, from recording rules labelled
``slo`` whose name says ``objective`` and whose expression is a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from obsgen.diff.changes import ADDED, CHANGED, REMOVED, Change, FieldChange, line_of
from obsgen.diff.rules import rule_files, slo_of, thresholds
from obsgen.diff.trees import Tree

STATED = re.compile(r"\((\d+(?:\.\d+)?)% over (\w+)\)")
NUMBER = re.compile(r"^\s*(?:vector\()?\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*\)?\s*$")


def _percent(ratio: Decimal) -> str:
    return f"{(ratio * 100).normalize():f}%"


def slo_facts(tree: Tree) -> dict[str, tuple[dict[str, str], str, int | None]]:
    """``service/slo`` → (facts, path, line) for every SLO the tree's rules describe."""
    out: dict[str, tuple[dict[str, str], str, int | None]] = {}
    for path, rules in rule_files(tree).items():
        for rule in rules:
            labels: dict[str, Any] = rule.get("labels") or {}
            if "slo" not in labels:
                continue
            key = slo_of(rule)
            facts, where, line = out.get(key, ({}, path, None))
            expr = str(rule.get("expr", ""))
            annotations: dict[str, Any] = rule.get("annotations") or {}
            windows = [w.split("/")[0] for w in str(annotations.get("burn_windows", "")).split(", ") if w]
            if "alert" in rule and ("burn_window" in labels or windows):
                if line is None:
                    where, line = path, line_of(tree[path], f"slo: {labels['slo']}")
                stated = STATED.search(str((rule.get("annotations") or {}).get("description", "")))
                if stated:
                    facts.setdefault("objective", f"{stated.group(1)}%")
                    facts.setdefault("budget", _percent(1 - Decimal(stated.group(1)) / 100))
                    facts["period"] = stated.group(2)
                # One number per window pair, in the order the pairs are named (each pair compares its
                # long and short window with the same number).
                bounds = list(dict.fromkeys(b.split()[-1] for b in thresholds(expr)))
                pairs = windows or [str(labels["burn_window"])]
                stated_pairs = [f"{w}:{bounds[i] if i < len(bounds) else '?'}" for i, w in enumerate(pairs)]
                facts["burn_thresholds"] = " ".join(filter(None, [facts.get("burn_thresholds", ""), *stated_pairs]))
            elif "objective" in str(rule.get("record", "")) and (number := NUMBER.match(expr)):
                try:
                    objective = Decimal(number.group(1))
                except InvalidOperation:
                    continue
                facts["objective"] = _percent(objective)  # the recorded number wins over the description
                facts["budget"] = _percent(1 - objective)
            out[key] = facts, where, line
    return out


def compare(old: Tree, new: Tree) -> Iterator[Change]:
    before, after = slo_facts(old), slo_facts(new)
    for key in sorted(set(before) | set(after)):
        if key not in before:
            facts, path, line = after[key]
            yield Change("slo", ADDED, key, path, line, detail=_detail(facts))
        elif key not in after:
            facts, path, line = before[key]
            yield Change("slo", REMOVED, key, path, line, detail=_detail(facts))
        else:
            old_facts, (new_facts, path, line) = before[key][0], after[key]
            fields = [FieldChange(name, old_facts.get(name), new_facts.get(name))
                      for name in ("objective", "budget", "period", "burn_thresholds")
                      if old_facts.get(name) != new_facts.get(name)]
            if fields:
                yield Change("slo", CHANGED, key, path, line, tuple(fields))


def _detail(facts: dict[str, str]) -> str:
    return " ".join(f"{facts[k]}" if k == "objective" else f"{k.replace('_', ' ')} {facts[k]}"
                    for k in ("objective", "period", "burn_thresholds") if k in facts)
