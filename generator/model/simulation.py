"""The ``simulation`` section: how ``obsgen simulate`` makes traffic for a spec, as plain data.

Everything here is optional: a field, a step or a root the section leaves out gets a default derived
from the spec (``obsgen.simulate.defaults``), so ``Simulation()`` (none declared) still simulates.

A value is drawn from a ``Dist``; a field's spec is a tuple of ``Case`` (the first whose ``when``
matches the context decides); a ``Step`` makes member events of a context; an ``Override`` (an incident,
a kill-switch reaction) replaces parts of the rest while it applies.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Any

from obsgen.model.record import record


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@record
class Condition:
    """``field`` (of the context) or ``event.field`` (of an earlier event of the context) has one of ``values``."""

    field: str
    values: tuple[Any, ...]
    event: str | None = None


def split_field_key(key: str, fields_of: Mapping[str, Collection[str]]) -> tuple[str | None, str]:
    """``field`` or ``event.field`` → (event or None, field). Attribute names may hold dots
    (``payment.method``): a key is ``event.field`` only when its first part is an event declaring the rest."""
    event, _, rest = key.partition(".")
    if rest and rest in fields_of.get(event, ()):
        return event, rest
    return None, key


# -- what a value is drawn from (one frozen dataclass per kind) ------------------------------------------------


@record
class Const:
    value: Any


@record
class Choice:
    """One of ``values``, by ``weights`` (equal when not written)."""

    values: tuple[Any, ...]
    weights: tuple[float, ...]


@record
class Uniform:
    low: float
    high: float
    integer: bool = False


@record
class Normal:
    mean: float
    sd: float


@record
class LogNormal:
    median: float
    sigma: float


@record
class Template:
    """``str.format`` text over the context's raw values and ``seed`` (``{user_id}``, ``{seed}``)."""

    text: str


@record
class Sample:
    """Distinct ids of ``population``, as many as ``count`` draws (capped at the population's size)."""

    population: str
    count: Dist


@record
class Copy:
    """The value ``field`` has in the context."""

    field: str


@record
class Age:
    """Seconds of the simulated clock: ``start`` plus the time since the run (or the override) began,
    wrapped every ``every`` seconds (a snapshot refreshed on a schedule), shifted by ``offset``."""

    start: float
    every: float | None = None
    offset: float = 0.0


@record
class Omit:
    """No value: an optional field is left out."""


@record
class Derived:
    """The value the simulator derives from the spec (enum, bounds, format, the planned split): ``{}``."""


Kind = Const | Choice | Uniform | Normal | LogNormal | Template | Sample | Copy | Age | Omit | Derived


@record
class Adjust:
    """Changes a drawn number: times ``times``, times ``field ** power``, plus a draw of ``plus``."""

    when: tuple[Condition, ...] = ()
    probability: float = 1.0
    times: float | None = None
    field: str | None = None
    power: float = 1.0
    plus: Dist | None = None


@record
class Dist:
    kind: Kind
    minimum: float | None = None
    maximum: float | None = None
    round: int | None = None
    present: float = 1.0
    """Chance that an optional field is there at all."""
    adjust: tuple[Adjust, ...] = ()


@record
class Case:
    dist: Dist
    when: tuple[Condition, ...] = ()


Cases = tuple[Case, ...]
"""A field's spec: the first case whose ``when`` matches decides; none matching = the default."""


# -- populations, roots, steps ---------------------------------------------------------------------------------


@record
class Session:
    """A population member's contexts come in sessions: ``field`` gets ``template``; a session ends
    after each context with chance ``end``; about ``open`` sessions are open at once."""

    field: str
    template: str
    end: float
    open: int


@record
class Population:
    """A fixed set of entities (users, products) whose ``fields`` are drawn once per entity and reused."""

    name: str
    size: int
    id_field: str
    id_template: str
    """``str.format`` with ``n`` (0-based index) and ``seed``."""
    fields: Mapping[str, Cases] = field(default_factory=_empty)
    activity: Cases = ()
    """Relative chance that an entity opens the next context (default: all equal)."""
    session: Session | None = None


@record
class Root:
    event: str
    peak_per_s: float = 1.0
    """Contexts (or standalone events) per second at the daily peak, before ``--rate`` scales them."""
    population: str | None = None
    """The population whose entity opens each context (default: the one whose id field the event has)."""


@record
class Step:
    """Member events of a context: ``count`` of ``event`` with chance ``probability``, once, or once per
    ``per`` event of the context (per element of its ``per_field`` array, at most ``limit`` of them)."""

    name: str
    event: str
    count: Dist = Dist(Const(1))
    probability: Dist = Dist(Const(1.0))
    per: str | None = None
    per_field: str | None = None
    limit: Cases = ()
    when: tuple[Condition, ...] = ()
    fields: Mapping[str, Cases] = field(default_factory=_empty)
    ends_context: bool = False
    """When it happens, the context's later steps do not (a failed request)."""


@record
class BadFraction:
    """Make ``value`` of an indicator's events bad (the SLO's numerator side that breaks it)."""

    indicator: str
    value: float


@record
class Override:
    """Changes that apply while an incident runs or a kill-switch is on, to a ``share`` of the contexts
    matching ``when``. Field keys are ``field`` or ``event.field``."""

    name: str
    description: str = ""
    when: tuple[Condition, ...] = ()
    share: float = 1.0
    fields: Mapping[str, Cases] = field(default_factory=_empty)
    steps: Mapping[str, Dist] = field(default_factory=_empty)
    """Step name → its new probability."""
    scale: Mapping[str, float] = field(default_factory=_empty)
    add: Mapping[str, float] = field(default_factory=_empty)
    stop: tuple[str, ...] = ()
    """Events not sent at all."""
    bad_fraction: BadFraction | None = None
    fires: tuple[str, ...] = ()
    """Alerts the incident is expected to fire (names of the spec's alerts), for tests and readers."""


@record
class Diurnal:
    """Traffic factor over the day: 1 at ``peak_minute``, ``low`` twelve hours away (a cosine)."""

    peak_minute: float = 20 * 60
    low: float = 1.0

    def factor(self, minute_of_day: float) -> float:
        hour = (minute_of_day / 60) % 24
        amplitude = (1 - self.low) / 2
        return 1 - amplitude + amplitude * math.cos(2 * math.pi * (hour - self.peak_minute / 60) / 24)


@record
class Simulation:
    declared: bool = False
    """False: the spec has no ``simulation`` section (everything is derived)."""
    diurnal: Diurnal = Diurnal()
    populations: tuple[Population, ...] = ()
    roots: tuple[Root, ...] = ()
    steps: tuple[Step, ...] = ()
    fields: Mapping[str, Cases] = field(default_factory=_empty)
    """Field specs for every event (``field``) or one event (``event.field``)."""
    incidents: tuple[Override, ...] = ()
    kill_switches: tuple[Override, ...] = ()
    """Reactions: named after the kill-switch, applied while it is on."""
