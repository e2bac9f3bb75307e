"""Event payload checks: the JSON Schema for strict mode, a compiled equivalent for the hot path.

Both read the very schema ``obsgen.model.eventschema`` builds for ``schemas/<service>/events/<event>.json``, so the
runtime, the published schemas and the spec's own example check cannot disagree. Strict mode asks
``jsonschema`` itself; production mode runs per-field checks compiled from the same schema
(``obsgen.model.fieldchecks``), which cost well under a microsecond a field. Failure reasons never quote
the value: a rejected payload may hold a raw identifier, and the reason ends up in exceptions, logs and error events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obsgen.model import Event, Model
from obsgen.model.eventschema import event_schema
from obsgen.model.fieldchecks import Check, compile_check
from obsgen.model.quality import COMPLETENESS, VALIDITY


class EventValidationError(ValueError):
    """A payload breaks its event's schema or contract; ``field`` names the culprit, ``kind`` the rule."""

    def __init__(self, event: str, field: str, reason: str, kind: str = VALIDITY) -> None:
        super().__init__(f"{event} event: field `{field}` {reason}")
        self.event = event
        self.field = field
        self.reason = reason
        self.kind = kind


class ContractViolation(EventValidationError):
    """A rule of the spec's ``joins`` broke: a consistent field that differs from the root's, an unknown
    context, a broken reference (``kind`` is the reference's name). Raised in strict mode only;
    production mode counts it."""


class EventSchema:
    """An event's JSON Schema with its compiled field checks and a lazily built ``jsonschema`` validator."""

    def __init__(self, model: Model, event: Event) -> None:
        self.event = event
        self.schema = event_schema(event, model.attributes, f"urn:obsgen:{model.service.name}:events:{event.name}")
        self.checks: dict[str, Check] = {name: compile_check(s) for name, s in self.schema["properties"].items()}
        self.required = frozenset(event.required)
        self._validator: Any = None

    def first_error(self, payload: Mapping[str, Any]) -> tuple[str, str, str] | None:
        """``(field, kind, reason)`` of the first problem ``jsonschema`` finds, in field order; else None.

        The compiled checks run too, for what JSON Schema lets through but OpenTelemetry cannot carry
        (NaN and infinities).
        """
        if self._validator is None:
            from jsonschema import Draft202012Validator

            self._validator = Draft202012Validator(self.schema)
        problems: list[tuple[int, str, str, str]] = []
        order = {name: i for i, name in enumerate(self.event.fields)}
        for error in self._validator.iter_errors(dict(payload)):
            if error.validator == "required":
                for name in sorted(self.required - payload.keys(), key=order.__getitem__):
                    problems.append((order[name], name, COMPLETENESS, "is required"))
            elif error.validator == "additionalProperties":
                for name in sorted(set(payload) - set(order)):
                    problems.append((len(order), name, VALIDITY, "is not a field of this event"))
            else:
                name = str(error.absolute_path[0]) if error.absolute_path else "?"
                reason = self.checks[name](payload[name]) if name in self.checks else None
                problems.append((order.get(name, len(order)), name, VALIDITY, reason or f"fails `{error.validator}`"))
        for name, value in payload.items():
            check = self.checks.get(name)
            reason = check(value) if check is not None else None
            if reason is not None:
                problems.append((order[name], name, VALIDITY, reason))
        if not problems:
            return None
        _, name, kind, reason = min(problems)
        return name, kind, reason
