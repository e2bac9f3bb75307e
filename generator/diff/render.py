"""A ``TreeDiff`` for people (a summary: one line per change), bots (JSON, shape ``JSON_FORMAT``) and
GitHub Actions (``::warning file=…,line=…::`` workflow commands).

The JSON shape is stable and versioned by its ``format`` field::

    {"format": "obsgen-diff/1", "clean": bool,
     "counts": {"added": n, "removed": n, "changed": n, "moved": n},
     "summary": ["<the summary lines>"],
     "changes": [{"kind", "action", "name", "context", "path", "line", "detail",
                  "fields": [{"field", "old", "new"}]}],
     "files": {"added": [path], "removed": [path], "changed": [path]}}

``kind``: slo, alert, recording_rule, route, receiver, inhibit_rule, dashboard, panel, pipeline,
collector_receiver/processor/exporter/connector/extension, file. ``action``: added, removed, changed,
moved. ``path`` is relative to the output tree; ``line`` is in the new file (the old one for a removal)
or null.
"""

from __future__ import annotations

import json
from typing import Any

from obsgen.diff.changes import ADDED, CHANGED, MOVED, REMOVED, SIGN, Change, TreeDiff

JSON_FORMAT = "obsgen-diff/1"
KIND_ORDER = ("slo", "alert", "recording_rule", "route", "receiver", "inhibit_rule", "dashboard", "panel",
              "pipeline", "collector_receiver", "collector_processor", "collector_exporter", "collector_connector",
              "collector_extension", "file")
LABEL = {"slo": "SLO", "recording_rule": "recording rule", "inhibit_rule": "inhibit rule"}
SHORT = 60
"""Values longer than this (or multi-line: queries, descriptions) are named, not quoted, in the summary."""
REFLOW = 3
"""More moved-only panels than this on one dashboard are summarised in one line."""
KUBERNETES = "kubernetes/"
NAMED_ONLY = ("annotations.", "expr", "query", "config")
"""Fields the summary names without values: prose and queries (the JSON and the textual diff have them)."""


def _value(value: Any) -> str:
    return "∅" if value is None else str(value)


def _field(change: Change) -> str:
    parts = []
    for f in change.fields:
        old, new = _value(f.old), _value(f.new)
        long = ("\n" in old + new or len(old) > SHORT or len(new) > SHORT
                or f.field.startswith(NAMED_ONLY))
        parts.append(f.field if long else f"{f.field} {old} → {new}")
    return "; ".join(parts)


def line(change: Change) -> str:
    """One summary line: ``~ SLO svc/error_rate: objective 99.9% → 99.5%; ...``. A line break in a name (a
    panel title may hold one) is shown as ``\\n``: on a line of its own, text of the spec starting with ``::``
    would be a GitHub workflow command (``--format github`` prints the summary after the annotations)."""
    return _line(change).replace("\r", "\\r").replace("\n", "\\n")


def _line(change: Change) -> str:
    what = f"{LABEL.get(change.kind, change.kind.replace('_', ' '))} {change.name}"
    where = f" on {change.context}" if change.kind == "panel" else ""
    if change.action == MOVED and change.detail and not change.fields:  # a dashboard's reflowed panels
        return f"~ {what}: {change.detail}"
    if change.action in (ADDED, REMOVED):
        return f"{SIGN[change.action]} {what}{where}" + (f": {change.detail}" if change.detail else "")
    verb = "moved" if change.action == MOVED else ""
    return f"~ {what}{where}" + (f" {verb}" if verb else "") + (f": {_field(change)}" if change.fields else "")


def _ordered(changes: tuple[Change, ...]) -> list[Change]:
    return sorted(changes, key=lambda c: KIND_ORDER.index(c.kind) if c.kind in KIND_ORDER else len(KIND_ORDER))


def _shown(diff: TreeDiff) -> list[Change]:
    """The changes a person reads (the JSON keeps them all): an SLO's burn alerts are left out when the SLO
    line already says their thresholds changed and nothing else about them did; more than ``REFLOW``
    panels of one dashboard that only moved (a tile inserted above them) become one line; files under
    ``kubernetes/`` that only wrap files already shown become one line."""
    slos = {c.name for c in diff.changes if c.kind == "slo" and c.action == CHANGED}
    moved: dict[str, list[Change]] = {}
    for c in diff.changes:
        if c.kind == "panel" and c.action == MOVED:
            moved.setdefault(c.context, []).append(c)
    out: list[Change] = []
    for c in _ordered(diff.changes):
        if c.kind == "alert" and c.context in slos and all(
                f.field == "threshold" or f.field.startswith("annotations.") for f in c.fields):
            continue
        if c.kind == "panel" and c.action == MOVED and len(moved[c.context]) > REFLOW:
            if c is moved[c.context][0]:
                titles = ", ".join(m.name.rsplit(" (id ", 1)[0] for m in moved[c.context])
                out.append(Change("dashboard", MOVED, c.context, c.path, None,
                                  detail=f"{len(moved[c.context])} panels moved: {titles}"))
            continue
        out.append(c)
    wrapped = [c for c in out if c.kind == "file" and c.path.startswith(KUBERNETES)]
    if wrapped:
        out = [c for c in out if c not in wrapped]
        out.append(Change("file", CHANGED, f"{KUBERNETES}… ({len(wrapped)} resource{'s' * (len(wrapped) > 1)})",
                          KUBERNETES))
    return out


def counts(diff: TreeDiff) -> dict[str, int]:
    return {action: sum(c.action == action for c in diff.changes) for action in (ADDED, REMOVED, CHANGED, MOVED)}


def summary_lines(diff: TreeDiff) -> list[str]:
    if diff.clean:
        return ["no changes"]
    lines = [line(c) for c in _shown(diff)]
    files = [f"+ file {p}" for p in diff.added_files] + [f"- file {p}" for p in diff.removed_files]
    return lines + files


def summary(diff: TreeDiff) -> str:
    """The summary: a count line, then one line per change, then files added or removed."""
    n = counts(diff)
    head = ("obsgen diff: no semantic changes" if diff.clean else
            "obsgen diff: " + ", ".join(f"{v} {k}" for k, v in n.items() if v)
            + f" ({len(diff.changed_files)} files changed, {len(diff.added_files)} added, "
              f"{len(diff.removed_files)} removed)")
    return "\n".join([head, *("  " + s for s in summary_lines(diff) if not diff.clean)]) + "\n"


def as_json(diff: TreeDiff) -> str:
    data = {"format": JSON_FORMAT, "clean": diff.clean, "counts": counts(diff), "summary": summary_lines(diff),
            "changes": [c.as_dict() for c in _ordered(diff.changes)],
            "files": {"added": list(diff.added_files), "removed": list(diff.removed_files),
                      "changed": list(diff.changed_files)}}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _escape(text: str, prop: bool = False) -> str:
    """GitHub workflow-command escaping (``%``, CR, LF; in properties also ``:`` and ``,``)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def github(diff: TreeDiff, root: str = "") -> str:
    """One ``::warning`` per change shown in the summary, at its file and line; ``root`` prefixes the paths
    (the output directory, relative to the repository)."""
    prefix = root.rstrip("/") + "/" if root and root not in (".", "./") else ""
    out = []
    for change in _shown(diff):
        props = [f"file={_escape(prefix + change.path, True)}"]
        if change.line:
            props.append(f"line={change.line}")
        props.append(f"title={_escape(f'obsgen: {change.kind} {change.action}', True)}")
        out.append(f"::warning {','.join(props)}::{_escape(line(change))}")
    for path in diff.added_files + diff.removed_files:
        out.append(f"::warning file={_escape(prefix + path, True)},title=obsgen%3A file::{_escape(path)}")
    return "".join(s + "\n" for s in out)
