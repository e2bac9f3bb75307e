"""The model of a semantic diff: one ``Change`` per alert, rule, SLO, route, receiver, panel or pipeline.

A change names what it is about (``kind`` and ``name``), what happened to it (``action``), the file
and line where the new version lives (the old one for a removal), and the fields that differ. The
renderers (``render``) turn a list of changes into a summary, JSON or CI annotations; the comparers
produce them from two trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ADDED, REMOVED, CHANGED, MOVED = "added", "removed", "changed", "moved"
SIGN = {ADDED: "+", REMOVED: "-", CHANGED: "~", MOVED: "~"}


@dataclass(frozen=True)
class FieldChange:
    """One field of a changed thing: ``threshold``, ``for``, ``labels.severity``, ``query[A]``..."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
    kind: str
    """``alert``, ``recording_rule``, ``slo``, ``route``, ``receiver``, ``dashboard``, ``panel``,
    ``pipeline`` or ``file`` (a file no comparer reads: schemas, compose, ...)."""
    action: str
    name: str
    path: str
    line: int | None = None
    fields: tuple[FieldChange, ...] = ()
    detail: str = ""
    """What an added or removed thing is, in a few words (an alert's severity, threshold and ``for``)."""
    context: str = ""
    """What it belongs to, when the name alone is ambiguous (a panel's dashboard)."""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "action": self.action, "name": self.name, "context": self.context,
                "path": self.path, "line": self.line, "detail": self.detail,
                "fields": [{"field": f.field, "old": f.old, "new": f.new} for f in self.fields]}


@dataclass(frozen=True)
class TreeDiff:
    """Every change between two trees, plus the files that differ at all (header lines ignored)."""

    changes: tuple[Change, ...] = ()
    added_files: tuple[str, ...] = ()
    removed_files: tuple[str, ...] = ()
    changed_files: tuple[str, ...] = ()
    text: str = field(default="", compare=False)
    """The unified textual diff, as ``generate --check`` prints it."""

    @property
    def clean(self) -> bool:
        return not (self.changes or self.added_files or self.removed_files or self.changed_files)


def field_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[FieldChange]:
    """The keys of two flat mappings whose values differ (a missing key is ``None``), sorted by key."""
    return [FieldChange(prefix + key, old.get(key), new.get(key))
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def line_of(text: str, needle: str, nth: int = 0) -> int | None:
    """1-based line of the ``nth`` line of ``text`` containing ``needle``; None when there is none."""
    seen = 0
    for number, line in enumerate(text.splitlines(), 1):
        if needle in line:
            if seen == nth:
                return number
            seen += 1
    return None
