"""Semantic diff of two output trees (``{relative path: text}``): what changed in rule, SLO, route,
dashboard and pipeline terms, not only in lines.

``diff_trees`` is a pure function; ``render`` turns its result into a summary, JSON or GitHub Actions
annotations; ``revisions`` builds the trees of a spec at two git revisions.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator

from obsgen.diff import alertmanager, collector, dashboards, rules, slos
from obsgen.diff.changes import CHANGED, Change, TreeDiff
from obsgen.diff.trees import Tree, body
from obsgen.write import MANIFEST

Comparer = Callable[[Tree, Tree], Iterator[Change]]
COMPARERS: tuple[Comparer, ...] = (slos.compare, rules.compare, alertmanager.compare, dashboards.compare,
                                   collector.compare)
"""Each reads the artifacts it knows in both trees; a file no comparer covers is reported as a file."""


def text_diff(old: Tree, new: Tree, old_label: str = "old", new_label: str = "new") -> str:
    """The unified diff of every file that differs, in path order."""
    chunks: list[str] = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path, ""), new.get(path, "")
        if a != b:
            chunks.extend(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                               f"a/{path} ({old_label})", f"b/{path} ({new_label})"))
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def diff_trees(old: Tree, new: Tree, text: str | None = None) -> TreeDiff:
    """Every semantic change from ``old`` to ``new``; ``text`` is the textual diff to carry (default: computed)."""
    changes = [change for compare in COMPARERS for change in compare(old, new)]
    changed = tuple(sorted(p for p in set(old) & set(new) if body(old[p]) != body(new[p])))
    covered = {c.path for c in changes}
    changes += [Change("file", CHANGED, path, path, None) for path in changed if path not in covered | {MANIFEST}]
    return TreeDiff(changes=tuple(changes), added_files=tuple(sorted(set(new) - set(old))),
                    removed_files=tuple(sorted(set(old) - set(new))), changed_files=changed,
                    text=text_diff(old, new) if text is None else text)
