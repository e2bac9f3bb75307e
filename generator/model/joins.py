"""How a spec's events relate: contexts opened by a root event, inherited and consistent fields, references.

The runtime enforces exactly what is declared here (nothing by event name), the simulator generates
traffic that satisfies it, and every broken rule is counted in the runtime's data-quality metric under
a kind derived from the declaration (``Context.unknown_kind``, ``Reference.name``).
"""

from __future__ import annotations

from obsgen.model.record import record

CONSISTENCY = "consistency"
"""Kind of a consistent field that differs from the value the context's root event gave."""


@record
class OneOf:
    """``event.field`` must equal ``target_field`` of some ``target_event`` already seen in the context.

    With ``same``, only target events whose ``same`` field equals this event's count (a refund's quantity
    must be one its SKU was ordered with); when no such target event was seen, the reference is not
    judged: whether one should exist is another reference's question (``one_of`` on ``same`` itself),
    so one missing target is not counted twice. An event without ``field`` (or ``same``) is not judged.
    """

    name: str
    """Also the data-quality kind counted when the reference breaks."""
    event: str
    field: str
    target_event: str
    target_field: str
    same: str | None = None


@record
class ElementOf:
    """``event.field`` must equal the array ``target_field`` of the context's ``target_event`` at ``index``.

    ``index`` is a 1-based field of ``event`` (line p of an order shows ``skus[p-1]``); the reference is
    broken too when the context has no ``target_event`` yet or the index is out of range. The latest
    ``target_event`` of the context counts.
    """

    name: str
    event: str
    field: str
    target_event: str
    target_field: str
    index: str


Reference = OneOf | ElementOf


@record
class Context:
    """A unit of work opened by ``root`` (a request, a checkout) that later events join by ``key``."""

    name: str
    root: str
    """The event that opens the context; its span is the parent of the other events' spans."""
    key: str
    """The join key field; generated (UUID v4) when the root event is emitted without it and its format is uuid4."""
    members: tuple[str, ...]
    """Events that join the context by ``key`` (every event other than ``root`` that declares the key)."""
    inherit: tuple[str, ...]
    """Root fields a member copies from the root event when the application does not pass them."""
    consistent: tuple[str, ...]
    """Inherited fields that, when passed, must equal the root's value (else ``CONSISTENCY`` is counted)."""
    require_known: tuple[str, ...]
    """Members whose context must be one this process has seen (else ``unknown_kind`` is counted)."""
    references: tuple[Reference, ...] = ()

    @property
    def unknown_kind(self) -> str:
        return f"unknown_{self.name}"

    @property
    def kinds(self) -> tuple[str, ...]:
        """Data-quality kinds this context can report, in declaration order."""
        names = [CONSISTENCY, self.unknown_kind, *(r.name for r in self.references)]
        return tuple(dict.fromkeys(names))
