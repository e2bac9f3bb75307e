"""Data quality: the kinds of violation the runtime counts, and the optional report event a spec names.

Every violation is counted in the runtime's ``obsgen.data_quality.violations{kind, event}``. A spec may
also name an event that receives a report whenever the runtime drops or repairs an event (kinds
``COMPLETENESS`` and ``VALIDITY``), with a mapping from the report's fields to constants, templates
and fields copied from the offending event.
"""

from __future__ import annotations

from obsgen.model.record import record

COMPLETENESS = "completeness"
"""Kind of a required field that is missing: the event is dropped."""
VALIDITY = "validity"
"""Kind of a field that breaks its attribute's schema: dropped (required field) or repaired (removed)."""
REPORTED_KINDS = (COMPLETENESS, VALIDITY)
"""Kinds of the violations that drop or repair an event: the only ones a report describes."""
PLACEHOLDERS = ("event", "field", "kind", "reason", "action")
"""What a report template may name: the offending event and field, the kind, why, and what the runtime did."""


@record
class Template:
    """Free text with ``{placeholder}``s from ``PLACEHOLDERS`` (``str.format`` syntax, ``{{`` for a brace)."""

    text: str


@record
class ByKind:
    """One constant per reported kind (``validity: INVALID_EVENT``, ``completeness: INCOMPLETE_EVENT``)."""

    values: tuple[tuple[str, str | int | float | bool], ...]


ReportValue = str | int | float | bool | Template | ByKind


@record
class Report:
    """The event the runtime emits when it drops or repairs an event, and how its fields are filled."""

    event: str
    values: tuple[tuple[str, ReportValue], ...]
    """Report field -> constant, ``Template`` or ``ByKind``."""
    copy: tuple[str, ...] = ()
    """Fields copied from the offending event when it has a valid value for them (not the offending field)."""


@record
class DataQuality:
    report: Report | None = None
