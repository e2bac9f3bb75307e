"""The payload of the spec's data-quality report event (``data_quality.report``), built per dropped or
repaired event from the declared constants, templates, per-kind constants and copied fields."""

from __future__ import annotations

from typing import Any

from obsgen.model.quality import ByKind, Report, Template
from obsgen.runtime.validation import Check


class Reporter:
    """Fills the report event's fields; the spec checked every constant against its attribute already."""

    __slots__ = ("_by_kind", "_constants", "_copy", "_templates", "event")

    def __init__(self, report: Report, checks: dict[str, Check]) -> None:
        self.event = report.event
        self._constants = {f: v for f, v in report.values if not isinstance(v, (Template, ByKind))}
        self._templates = tuple((f, v.text) for f, v in report.values if isinstance(v, Template))
        self._by_kind = tuple((f, dict(v.values)) for f, v in report.values if isinstance(v, ByKind))
        self._copy = tuple((f, checks[f]) for f in report.copy)

    def payload(self, event: str, field: str, kind: str, reason: str, action: str,
                p: dict[str, Any]) -> dict[str, Any]:
        """The report on ``event``'s ``field``; ``p`` is the offending payload (its valid values may be copied)."""
        out = dict(self._constants)
        for f, text in self._templates:
            out[f] = text.format(event=event, field=field, kind=kind, reason=reason, action=action)
        for f, values in self._by_kind:
            out[f] = values[kind]
        for f, check in self._copy:
            v = p.get(f)
            if v is not None and f != field and check(v) is None:
                out[f] = v
        return out
