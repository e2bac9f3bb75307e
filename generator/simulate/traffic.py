"""Synthetic traffic for any spec, driven through the instrumentation runtime (``obsgen.runtime.Telemetry``).

Each tick opens contexts: a root event per context (``simulation.roots``, at a rate following the diurnal
curve), then its member events by the context's steps (``simulation.steps``, or one of each member,
derived from the joins). Values come from the section's field specs, the entity that opened the context,
and the defaults derived from the spec; references are satisfied by construction (an event made per
element of an array takes that element and its position; an event pointing at an earlier one copies its
value) and inherited fields are left to the runtime. Active incidents and the reactions of the
kill-switches that are on override parts of that (``Override``).

Time: the simulated clock runs ``speedup`` times faster than the wall clock and only shapes the traffic
(diurnal curve, incident window, ages). Events carry the wall-clock time.

Determinism: values are drawn from ``random.Random(seed)`` and the schedule (contexts per tick) from a
second generator, so a seed gives the same traffic on any machine, at any speed, paced or not, as long
as the kill-switches flip at the same contexts (they are input from outside).
"""

from __future__ import annotations

import math
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from obsgen.model import Event, Model, Ratio
from obsgen.model import simulation as s
from obsgen.model.joins import Context, ElementOf, OneOf
from obsgen.simulate.summary import Summary, Tally, Transition
from obsgen.simulate.values import DERIVED, OMIT, Defaults, Drawer, Scope

if TYPE_CHECKING:
    from obsgen.runtime import Telemetry

SAMPLES = 5
"""Join keys kept per event type for the summary."""
PACE_SLACK_S = 0.05
"""Paced: a context due less than this far ahead is sent now (early by at most this), one due later is slept
for, so the thread wakes about once per this interval instead of once per context. A wake-up costs far more CPU
than the sleep call (measured; presumably cold caches after the core ran other work or idled): the app thread
of one ``pipeline_bench.py`` worker at 2,500 events/s with export used 1.07-1.23 CPU s per 10k events at 2 ms,
0.86-0.90 at 20 ms and 0.73-0.84 at 50 ms on a quiet machine (the same events)."""


@dataclass(frozen=True)
class SimulationConfig:
    minutes: float = 1440.0
    """Simulated minutes to run (1440: a whole day)."""
    start_minute: float = 0.0
    """Minute of the simulated day the run starts at (0: 00:00 UTC)."""
    speedup: float = 1440.0
    """Simulated seconds per wall-clock second (1440: a day in a minute)."""
    rate: float | None = None
    """Contexts per wall-clock second at the day's peak, over all roots (None: the spec's ``peak_per_s``)."""
    pace: bool = True
    """False: emit the same traffic as fast as possible (no sleeping)."""
    seed: int = 1
    incidents: tuple[str, ...] = ()
    incident_at: float = 0.0
    """Simulated minutes after the start when the incidents begin."""
    incident_minutes: float | None = None
    """How long they last, in simulated minutes (None: to the end of the run)."""
    fixed: Mapping[str, Any] = field(default_factory=dict)
    """Field → the value every event takes (``--set FIELD=VALUE``)."""
    tick_s: float = 0.1
    """Wall-clock seconds per scheduling tick (kill-switches are read once a tick)."""
    backpressure: bool = False
    """Wait while the runtime's export queues are over half full instead of letting them drop their oldest
    items: a test of what the collector and backends take, not of a starved app (``--backpressure``)."""

    def check(self, model: Model) -> None:
        """Raise ``ValueError`` naming every bad setting."""
        problems = []
        for name in ("minutes", "speedup", "tick_s"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive (got {getattr(self, name)})")
        if self.rate is not None and not self.rate > 0:
            problems.append(f"rate must be positive (got {self.rate})")
        known = [i.name for i in model.simulation.incidents]
        unknown = [i for i in self.incidents if i not in known]
        if unknown:
            problems.append(f"unknown incident(s) {', '.join(unknown)}; "
                            + (f"choose from {', '.join(known)}" if known else
                               f"{model.source} declares none (simulation.incidents)"))
        if self.incident_at < 0 or (self.incident_minutes is not None and self.incident_minutes <= 0):
            problems.append("the incident window must start at or after 0 and last a positive time")
        fields = {f for e in model.events for f in e.fields}
        for name, value in self.fixed.items():
            if name not in fields:
                problems.append(f"--set {name}: not a field of any event of {model.source}")
            elif model.attributes[name].enum and value not in (model.attributes[name].enum or ()):
                problems.append(f"--set {name}={value}: use one of {', '.join(model.attributes[name].enum or ())}")
        if problems:
            raise ValueError("; ".join(problems))


def parse_setting(model: Model, text: str) -> tuple[str, Any]:
    """``FIELD=VALUE`` → the field and its value, typed as the attribute says."""
    name, sep, raw = text.partition("=")
    if not sep or name not in model.attributes:
        raise ValueError(f"--set {text!r}: write FIELD=VALUE with a field of the spec (e.g. --set region=eu)")
    kind = model.attributes[name].type
    try:
        if kind == "integer":
            return name, int(raw)
        if kind == "number":
            return name, float(raw)
    except ValueError:
        raise ValueError(f"--set {text!r}: `{name}` is a {kind}") from None
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise ValueError(f"--set {text!r}: `{name}` is true or false")
        return name, raw == "true"
    return name, raw


# -- the compiled section -------------------------------------------------------------------------------------


@dataclass
class _Override:
    """An ``Override`` keyed for the hot path: (event or None, field) → what it changes."""

    name: str
    when: tuple[s.Condition, ...]
    share: float
    fields: dict[tuple[str | None, str], tuple[s.Cases, float]]
    """→ (cases, chance per draw that they apply)."""
    steps: Mapping[str, s.Dist]
    scale: dict[tuple[str | None, str], float]
    add: dict[tuple[str | None, str], float]
    stop: frozenset[str]
    since_s: float = 0.0
    """Simulated second (of the day) it began: ``age`` without ``every`` counts from here."""


def _keyed(model: Model, mapping: Mapping[str, Any]) -> dict[tuple[str | None, str], Any]:
    fields_of = {e.name: e.fields for e in model.events}
    return {s.split_field_key(key, fields_of): value for key, value in mapping.items()}


def _compile_override(model: Model, o: s.Override) -> _Override:
    fields = {k: (v, 1.0) for k, v in _keyed(model, o.fields).items()}
    if o.bad_fraction is not None:
        event, label, bad = bad_values(model, o.bad_fraction.indicator)
        fields[(event, label)] = ((s.Case(s.Dist(s.Choice(bad, (1.0,) * len(bad)))),), o.bad_fraction.value)
    return _Override(o.name, o.when, o.share, fields, o.steps, _keyed(model, o.scale), _keyed(model, o.add),
                     frozenset(o.stop))


def bad_values(model: Model, indicator_name: str) -> tuple[str, str, tuple[Any, ...]]:
    """(event, label, its bad values) of a ratio whose numerator narrows its denominator by one label.

    The numerator is the bad side when the indicator's SLO (else alert) wants it low (``<``/``<=``);
    otherwise it is the good side and every other value of the label is bad.
    """
    indicator = next(i for i in model.indicators if i.name == indicator_name)
    assert isinstance(indicator, Ratio)  # the spec reader admits only a ratio over one event here
    (numerator,) = indicator.numerators
    label, selected = next(iter(numerator.where.items()))
    ops = [slo.objective.op for slo in model.slos if slo.indicator.name == indicator_name]
    ops += [{"<": ">", "<=": ">=", ">": "<", ">=": "<="}[a.op] for a in model.alerts
            if a.indicator.name == indicator_name]
    numerator_is_bad = bool(ops) and ops[0] in ("<", "<=")
    enum = model.attributes[label].enum or ()
    bad = tuple(selected) if numerator_is_bad else tuple(v for v in enum if v not in selected)
    return numerator.metric.event, label, bad


@dataclass
class _FieldPlan:
    name: str
    cases: tuple[s.Cases, ...]
    """The step's, then ``simulation.fields`` ``event.field``, then ``field``: the first that draws decides."""
    required: bool
    keys: tuple[tuple[str | None, str], tuple[str | None, str]]
    sources: tuple[tuple[str, _Population], ...] = ()
    """(id field, population) whose entity gives this field: the id itself, its session or one of its fields."""


@dataclass
class _EventPlan:
    """How one event is made (as a root, or by one step): which fields, in which order."""

    event: Event
    fields: tuple[_FieldPlan, ...]
    references: tuple[OneOf | ElementOf, ...]
    metrics: tuple[tuple[str, str, str | None, str | None], ...]
    """(metric, instrument, value field, once_per) for the tally."""
    tallied: tuple[str, ...]
    """Enum and boolean fields whose values the tally counts."""
    inherited: tuple[str, ...] = ()
    """Fields the runtime fills from the context's root (their values are in the tally and conditions)."""


@dataclass
class _Step:
    spec: s.Step
    plan: _EventPlan


@dataclass
class _Root:
    spec: s.Root
    plan: _EventPlan
    context: Context | None
    population: _Population | None
    steps: tuple[_Step, ...]


class _Entity:
    __slots__ = ("id", "index", "open", "session", "sessions", "values")

    def __init__(self, index: int, ident: str, values: dict[str, Any]) -> None:
        self.index = index
        self.id = ident
        self.values = values
        self.session: str | None = None
        self.sessions = 0
        self.open = False


class _Population:
    def __init__(self, spec: s.Population, entities: list[_Entity], weights: list[float]) -> None:
        self.spec = spec
        self.entities = entities
        self.by_id = {e.id: e for e in entities}
        self.cum: list[float] = []
        total = 0.0
        for w in weights:
            total += w
            self.cum.append(total)
        self.open: list[_Entity] = []


class ExportRoom:
    """Backpressure for ``--backpressure``: ``wait()`` blocks while an export queue of the runtime is over half
    full and draining, until it is down to a quarter.

    A queue that stops draining (the collector down or refusing) is not waited for: after ``stall_s``
    without progress the simulation goes on and the runtime drops and counts, as it would in a real app,
    until the queue has drained to a quarter again.
    """

    def __init__(self, rt: Telemetry, stall_s: float = 2.0, poll_s: float = 0.001) -> None:
        from obsgen.runtime.core import export_backlog

        self._backlog = lambda: export_backlog(rt)
        self._stall_s = stall_s
        self._poll_s = poll_s
        self._stalled = False

    def _fullest(self) -> float:
        return max((queued / capacity for queued, capacity in self._backlog().values()), default=0.0)

    def wait(self) -> None:
        fullest = self._fullest()
        if self._stalled:
            self._stalled = fullest > 0.25
            return
        if fullest <= 0.5:
            return
        last, since = fullest, time.monotonic()
        while fullest > 0.25:
            time.sleep(self._poll_s)
            fullest = self._fullest()
            now = time.monotonic()
            if fullest < last:
                last, since = fullest, now
            elif now - since > self._stall_s:
                self._stalled = True
                return


class Simulation:
    """Drives ``rt`` with the traffic its spec's ``simulation`` section describes; ``run()`` returns what was sent."""

    def __init__(self, rt: Telemetry, config: SimulationConfig | None = None) -> None:
        self.rt = rt
        self.model = model = rt.model
        self.config = cfg = config or SimulationConfig()
        cfg.check(model)
        self.spec = spec = model.simulation
        self._rng = random.Random(cfg.seed)
        self._schedule = random.Random(f"schedule-{cfg.seed}")
        self.defaults = Defaults(model, cfg.seed)
        self._events = {e.name: e for e in model.events}
        self._context_of = {e: ctx for ctx in model.joins for e in (ctx.root, *ctx.members)}
        self.populations = {p.name: self._populate(p) for p in spec.populations}
        self.drawer = Drawer(self._rng, cfg.seed, {n: [e.id for e in p.entities] for n, p in self.populations.items()})
        self._id_fields = {p.spec.id_field: p for p in self.populations.values()}
        self.roots = [self._root(r) for r in (spec.roots or self._derived_roots())]
        self._reactions = {o.name: _compile_override(model, o) for o in spec.kill_switches}
        self._incidents = [_compile_override(model, o) for o in spec.incidents if o.name in cfg.incidents]
        start = (cfg.start_minute + cfg.incident_at) * 60
        for incident in self._incidents:
            incident.since_s = start
        self._fixed = dict(cfg.fixed)
        self._flags = dict.fromkeys(rt.kill_switches.names, False)
        self._export_room = ExportRoom(rt)
        self._on: list[str] = []
        self._switched_at: dict[str, float] = {}
        self._once: dict[str, set[Any]] = {}
        self.tally = Tally()
        self.samples: dict[str, list[str]] = {}
        self.transitions: list[Transition] = []
        self.journeys = 0

    # -- compiling the section ----------------------------------------------------------------------------------

    def _populate(self, spec: s.Population) -> _Population:
        rng, cfg = self._rng, self.config
        entities, weights = [], []
        drawer = Drawer(rng, cfg.seed, {})
        for n in range(spec.size):
            values: dict[str, Any] = {}
            scope = Scope(values, {}, 0.0, 0.0)  # a live view: each field sees the ones before it
            ident = spec.id_template.format(n=n, seed=cfg.seed)
            values[spec.id_field] = ident
            for name, cases in spec.fields.items():
                value = drawer.cases(cases, scope)
                values[name] = self.defaults(name)(rng) if value is DERIVED else value
            activity = drawer.cases(spec.activity, scope) if spec.activity else 1.0
            entities.append(_Entity(n, ident, values))
            weights.append(1.0 if activity is DERIVED else float(activity))
        return _Population(spec, entities, weights)

    def _derived_roots(self) -> list[s.Root]:
        """Every context's root and every event outside a context, one a second at the peak."""
        members = {e for ctx in self.model.joins for e in ctx.members}
        return [s.Root(e.name) for e in self.model.events if e.name not in members]

    def _root(self, spec: s.Root) -> _Root:
        event = self._events[spec.event]
        context = self._context_of.get(spec.event)
        population = self.populations[spec.population] if spec.population else next(
            (p for p in self.populations.values() if p.spec.id_field in event.fields), None)
        steps: tuple[_Step, ...] = ()
        if context is not None:
            declared = [st for st in self.spec.steps if st.event in context.members]
            steps = tuple(_Step(st, self._plan(self._events[st.event], st, context))
                          for st in (declared or self._derived_steps(context)))
        return _Root(spec, self._plan(event, None, context), context, population, steps)

    def _derived_steps(self, ctx: Context) -> list[s.Step]:
        """One of each member, after the events its references point at: per array element for an
        ``element_of``, per target event (half of them) for a ``one_of``."""
        refs = {r.event: r for r in ctx.references}
        order: list[str] = []

        def visit(event: str, path: tuple[str, ...] = ()) -> None:
            if event in order or event == ctx.root or event in path:
                return
            for r in ctx.references:
                if r.event == event:
                    visit(r.target_event, (*path, event))
            order.append(event)

        for member in ctx.members:
            visit(member)
        steps = []
        for event in order:
            ref = refs.get(event)
            if isinstance(ref, ElementOf):
                steps.append(s.Step(event, event, per=ref.target_event, per_field=ref.target_field))
            elif isinstance(ref, OneOf):
                steps.append(s.Step(event, event, per=ref.target_event, probability=s.Dist(s.Const(0.5))))
            else:
                steps.append(s.Step(event, event))
        return steps

    def _plan(self, event: Event, step: s.Step | None, ctx: Context | None) -> _EventPlan:
        attrs = self.model.attributes
        is_member = ctx is not None and event.name != ctx.root
        references = tuple(r for r in (ctx.references if ctx else ()) if r.event == event.name)
        preset = {f for r in references for f in (r.field, *((r.index,) if isinstance(r, ElementOf) else ()),
                                                   *((r.same,) if isinstance(r, OneOf) and r.same else ()))}
        timestamp = next((f for f in event.fields if attrs[f].format == "unix_ms"), None)
        skip = {timestamp, *preset}
        if is_member and ctx is not None:
            skip |= {ctx.key, *ctx.inherit}
        spec_fields = self.spec.fields
        plans: dict[str, _FieldPlan] = {}
        for name in event.fields:
            if name in skip:
                continue
            own = (step.fields.get(f"{event.name}.{name}"), step.fields.get(name)) if step else ()
            cases = tuple(c for c in (*own, spec_fields.get(f"{event.name}.{name}"), spec_fields.get(name)) if c)
            plans[name] = _FieldPlan(name, cases, name in event.required, ((event.name, name), (None, name)),
                                     self._sources(name))
        declared = list(spec_fields)
        order = sorted(plans, key=lambda f: (declared.index(f) if f in declared else len(declared)))
        ordered = _by_dependencies(order, self._dependencies(event, plans))
        metrics = tuple((mt.name, mt.instrument, mt.value, mt.once_per) for mt in event.metrics)
        tallied = tuple(f for f in event.fields if attrs[f].enum or attrs[f].type == "boolean")
        inherited = tuple(f for f in event.fields if is_member and ctx is not None and f in ctx.inherit)
        return _EventPlan(event, tuple(plans[f] for f in ordered), references, metrics, tallied, inherited)

    def _sources(self, name: str) -> tuple[tuple[str, _Population], ...]:
        out = []
        for id_field, population in self._id_fields.items():
            session = population.spec.session
            if name == id_field or name in population.spec.fields or (session is not None and name == session.field):
                out.append((id_field, population))
        return tuple(out)

    def _dependencies(self, event: Event, plans: Mapping[str, _FieldPlan]) -> dict[str, set[str]]:
        """Field → the fields of the same event its value depends on (conditions, copies, adjustments)."""
        overrides = [*self.spec.kill_switches, *self.spec.incidents]
        deps: dict[str, set[str]] = {}
        for name, plan in plans.items():
            found: set[str] = set()
            all_cases = [*plan.cases, *(o.fields[k] for o in overrides for k in (f"{event.name}.{name}", name)
                                        if k in o.fields)]
            for cases in all_cases:
                for case in cases:
                    found |= {c.field for c in case.when if c.event is None}
                    found |= _dist_fields(case.dist)
            for population in self._id_fields.values():
                if name in population.spec.fields and population.spec.id_field in event.fields:
                    found.add(population.spec.id_field)
            deps[name] = {f for f in found if f in plans and f != name}
        return deps

    # -- the run ------------------------------------------------------------------------------------------------

    @property
    def raw_ids(self) -> list[str]:
        """Every raw high-PII id the simulation handed (or may hand) to the runtime so far."""
        attrs = self.model.attributes
        out: list[str] = []
        for p in self.populations.values():
            if attrs[p.spec.id_field].pii == "high":
                out += [e.id for e in p.entities]
            session = p.spec.session
            if session is not None:
                out += [session.template.format(n=e.index, seed=self.config.seed, session=k)
                        for e in p.entities for k in range(1, e.sessions + 1)]
        return out + sorted(self.defaults.raw_ids)

    def run(self, stop: threading.Event | None = None, on_tick: Callable[[int], None] | None = None,
            on_switch: Callable[[Transition], None] | None = None) -> Summary:
        cfg = self.config
        sim_step = cfg.tick_s * cfg.speedup
        ticks = max(1, math.ceil(cfg.minutes * 60 / sim_step))
        declared_rate = sum(r.spec.peak_per_s for r in self.roots) or 1.0
        scale = (cfg.rate if cfg.rate is not None else declared_rate) / declared_rate
        diurnal = self.spec.diurnal.factor
        started = time.time()
        t0 = time.monotonic()
        max_lag = 0.0
        stopped = False
        done_ticks = 0
        for i in range(ticks):
            if stop is not None and stop.is_set():
                stopped = True
                break
            elapsed = i * sim_step
            self._read_switches(elapsed, on_switch)
            factor = diurnal(cfg.start_minute + elapsed / 60) * cfg.tick_s * scale
            due = [root for root in self.roots for _ in range(_poisson(self._schedule, root.spec.peak_per_s * factor))]
            n = len(due)
            tick_start = t0 + i * cfg.tick_s
            for j, root in enumerate(due):
                if cfg.pace:
                    delay = tick_start + cfg.tick_s * j / n - time.monotonic()
                    if delay > PACE_SLACK_S:
                        time.sleep(delay)
                    elif -delay > max_lag:
                        max_lag = -delay
                if cfg.backpressure:
                    self._export_room.wait()
                self._context(root, elapsed + sim_step * j / n)
            done_ticks = i + 1
            if on_tick is not None:
                on_tick(i)
        rest = t0 + ticks * cfg.tick_s - time.monotonic()
        if cfg.pace and not stopped and rest > 0:  # the last tick lasts its time too
            if stop is not None:
                stop.wait(rest)
            else:
                time.sleep(rest)
        return Summary(
            config=cfg, tally=self.tally, journeys=self.journeys, wall_seconds=time.monotonic() - t0,
            sim_minutes=min(done_ticks * sim_step / 60, cfg.minutes), transitions=list(self.transitions),
            dropped=self.rt.dropped, max_lag_s=max_lag, stopped_early=stopped, endpoint=_destination(self.rt),
            protocol=str(self.rt.config.protocol),
            instance_id=str(self.rt.resource.attributes.get("service.instance.id", "")),
            samples=self.samples, started_at=started, ended_at=time.time())

    def _read_switches(self, elapsed_s: float, on_switch: Callable[[Transition], None] | None) -> None:
        current = self.rt.kill_switches.snapshot()
        if current == self._flags:
            return
        minute = self.config.start_minute + elapsed_s / 60
        for name, active in current.items():
            if self._flags.get(name) != active:
                transition = Transition(name, active, time.time(), minute, self.journeys)
                self.transitions.append(transition)
                reaction = self._reactions.get(name)
                if reaction is not None:
                    reaction.since_s = minute * 60
                if on_switch is not None:
                    on_switch(transition)
        self._flags = current
        self._on = [n for n, on in current.items() if on]

    def _active(self, elapsed_s: float) -> list[_Override]:
        """Reactions of the switches that are on, then the incidents in their window; each kept for its share."""
        cfg = self.config
        out = [self._reactions[n] for n, on in self._flags.items() if on and n in self._reactions]
        start = cfg.incident_at * 60
        if self._incidents and elapsed_s >= start and (cfg.incident_minutes is None
                                                       or elapsed_s < start + cfg.incident_minutes * 60):
            out += self._incidents
        rng = self._rng
        return [o for o in out if o.share >= 1.0 or rng.random() < o.share]

    def _context(self, root: _Root, elapsed: float) -> None:
        """One root event and what follows it."""
        day_s = self.config.start_minute * 60 + elapsed
        overrides = self._active(elapsed)
        values: dict[str, Any] = {}
        population = root.population
        if population is not None:
            values.update(self._next_entity(population).values)
        seen: dict[str, list[dict[str, Any]]] = {}
        scope = Scope(values, seen, day_s, self.config.start_minute * 60)
        if any(root.spec.event in o.stop and scope.matches(o.when) for o in overrides):
            return
        self.journeys += 1
        payload = self._draw(root.plan, None, scope, overrides, {})
        values.update(payload)
        ctx = root.context
        self._tally(root.plan, payload)
        opened = self.rt.emit(root.plan.event.name, **payload)
        if ctx is None:
            return
        key = payload.get(ctx.key)
        if key is None and opened is not None:
            key = values[ctx.key] = opened.request_id
        if opened is not None:
            with opened:
                self._members(root, key, values, seen, day_s, overrides)
        else:
            self._members(root, key, values, seen, day_s, overrides)

    def _members(self, root: _Root, key: Any, values: dict[str, Any], seen: dict[str, list[dict[str, Any]]],
                 day_s: float, overrides: list[_Override]) -> None:
        assert root.context is not None
        rng, drawer = self._rng, self.drawer
        key_field = root.context.key
        base = Scope(values, seen, day_s, self.config.start_minute * 60)
        for step in root.steps:
            spec = step.spec
            event = spec.event
            if spec.when and not base.matches(spec.when):
                continue
            if any(event in o.stop and base.matches(o.when) for o in overrides):
                continue
            chance = spec.probability if not overrides else next(
                (o.steps[spec.name] for o in overrides if spec.name in o.steps and base.matches(o.when)),
                spec.probability)
            parents: list[tuple[dict[str, Any] | None, int | None]] = [(None, None)]
            if spec.per is not None:
                targets = [values] if spec.per == root.context.root else seen.get(spec.per, [])
                if spec.per_field is None:
                    parents = [(t, None) for t in targets]
                else:
                    parents = []
                    for t in targets:
                        elements = t.get(spec.per_field) or ()
                        limit = drawer.cases(spec.limit, Scope({**values, **t}, seen, day_s, 0.0)) \
                            if spec.limit else len(elements)
                        n = len(elements) if limit is DERIVED else min(len(elements), int(limit))
                        parents += [(t, i) for i in range(n)]
            fired = False
            for parent, index in parents:
                scope = base if parent is None else Scope({**values, **parent}, seen, day_s, base.started_s)
                p = drawer.dist(chance, scope)
                if p < 1.0 and rng.random() >= p:
                    continue
                for _ in range(max(0, int(drawer.dist(spec.count, scope)))):
                    preset = self._references(step, parent, index, seen)
                    if preset is None:
                        continue  # nothing to point at yet: the event would break a reference
                    preset[key_field] = key
                    payload = self._draw(step.plan, spec, scope, overrides, preset)
                    self.rt.emit(event, **payload)
                    effective = payload
                    if step.plan.inherited:
                        effective = {**payload, **{f: values[f] for f in step.plan.inherited if f in values}}
                    seen.setdefault(event, []).append(effective)
                    self._tally(step.plan, effective)
                    fired = True
            if fired and spec.ends_context:
                return

    def _references(self, step: _Step, parent: dict[str, Any] | None, index: int | None,
                    seen: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
        """The fields a member's references fix: taken from its parent, else from an earlier event."""
        spec, rng = step.spec, self._rng
        out: dict[str, Any] = {}
        for r in step.plan.references:
            from_parent = parent is not None and spec.per == r.target_event
            if isinstance(r, ElementOf):
                if from_parent and index is not None and spec.per_field == r.target_field:
                    assert parent is not None
                    target, i = parent, index
                else:
                    candidates = [t for t in seen.get(r.target_event, ()) if t.get(r.target_field)]
                    if not candidates:
                        return None
                    target = rng.choice(candidates)
                    i = rng.randrange(len(target[r.target_field]))
                out[r.field] = target[r.target_field][i]
                out[r.index] = i + 1
            else:
                if from_parent:
                    assert parent is not None
                    target = parent
                else:
                    candidates = list(seen.get(r.target_event, ()))
                    if not candidates:
                        return None
                    target = rng.choice(candidates)
                out[r.field] = target.get(r.target_field)
                if r.same is not None:
                    out[r.same] = target.get(r.same)
        return out

    def _draw(self, plan: _EventPlan, step: s.Step | None, scope: Scope, overrides: list[_Override],
              given: Mapping[str, Any]) -> dict[str, Any]:
        """The event's fields: ``--set``, then overrides, the entity, the section, the derived default."""
        rng, drawer, fixed, defaults = self._rng, self.drawer, self._fixed, self.defaults
        payload = dict(given)
        # What the draws see: the scope's values under this event's own; every field drawn goes into both.
        values = {**scope.values, **payload}
        scope = Scope(values, scope.seen, scope.elapsed_s, scope.started_s)
        for fp in plan.fields:
            name = fp.name
            if name in payload:
                continue
            value: Any = DERIVED
            if name in fixed:
                value = fixed[name]
            else:
                for o in overrides:
                    entry = o.fields.get(fp.keys[0]) or o.fields.get(fp.keys[1])
                    if entry is None or not scope.matches(o.when):
                        continue
                    cases, chance = entry
                    if chance >= 1.0 or rng.random() < chance:
                        value = drawer.cases(cases, Scope(values, scope.seen, scope.elapsed_s, o.since_s))
                        if value is not DERIVED:
                            break
                if value is DERIVED and fp.sources:
                    value = self._entity_value(fp, values)
                for cases in fp.cases if value is DERIVED else ():
                    value = drawer.cases(cases, scope)
                    if value is not DERIVED:
                        break
                if value is DERIVED or (value is OMIT and fp.required):
                    value = defaults(name)(rng)
            if value is OMIT:
                continue
            for o in overrides:
                for k in fp.keys:
                    if (k in o.scale or k in o.add) and scope.matches(o.when):
                        value = value * o.scale.get(k, 1.0) + o.add.get(k, 0.0)
            payload[name] = values[name] = value
        return payload

    @staticmethod
    def _entity_value(fp: _FieldPlan, values: Mapping[str, Any]) -> Any:
        """The field from the entity whose id the event (or its context) carries: its id, session or fields."""
        for id_field, population in fp.sources:
            entity = population.by_id.get(values.get(id_field))
            if entity is not None:
                return entity.values.get(fp.name, DERIVED)
        return DERIVED

    def _next_entity(self, population: _Population) -> _Entity:
        """An entity by activity; with sessions, most contexts continue one of the open sessions."""
        rng, spec = self._rng, population.spec
        session = spec.session
        if session is None:
            return rng.choices(population.entities, cum_weights=population.cum)[0]
        open_ = population.open
        # Continuing is likelier the more sessions are open, which keeps about `open` of them open.
        if open_ and rng.random() < len(open_) / (len(open_) + session.open * session.end / (1 - session.end)):
            i = rng.randrange(len(open_))
            entity = open_[i]
        else:
            entity = rng.choices(population.entities, cum_weights=population.cum)[0]
            entity.sessions += 1
            entity.session = session.template.format(n=entity.index, seed=self.config.seed, session=entity.sessions)
            entity.values[session.field] = entity.session
            if not entity.open:
                entity.open = True
                open_.append(entity)
                i = len(open_) - 1
            else:
                i = open_.index(entity)
        if rng.random() < session.end:
            open_[i] = open_[-1]
            open_.pop()
            entity.open = False
        return entity

    def _tally(self, plan: _EventPlan, payload: Mapping[str, Any]) -> None:
        t = self.tally
        name = plan.event.name
        t.events[name] += 1
        metrics = t.metrics
        for metric, instrument, value_field, once_per in plan.metrics:
            if instrument == "gauge":
                continue
            if once_per is not None:
                seen = self._once.get(metric)
                if seen is None:
                    seen = self._once[metric] = set()
                marker = payload.get(once_per)
                if marker is None or marker in seen:
                    continue
                seen.add(marker)
            if value_field is None or instrument == "histogram":
                if value_field is None or value_field in payload:
                    metrics[metric] += 1
                continue
            v = payload.get(value_field)
            if v is not None:
                metrics[metric] += len(v) if isinstance(v, list) else v
        counters = t.values.get(name)
        if counters is None:
            counters = t.values[name] = {}
        switched = [t.while_on.setdefault(n, {}).setdefault(name, {}) for n in self._on] if self._on else ()
        for f in plan.tallied:
            v = payload.get(f)
            if v is not None:
                counter = counters.get(f)
                if counter is None:
                    counter = counters[f] = Counter()
                counter[v] += 1
                for per_switch in switched:
                    per_switch.setdefault(f, Counter())[v] += 1
        ctx = self._context_of.get(name)
        if ctx is not None:
            kept = self.samples.get(name)
            if kept is None:
                kept = self.samples[name] = []
            if len(kept) < SAMPLES and payload.get(ctx.key) is not None:
                kept.append(str(payload[ctx.key]))


def _dist_fields(dist: s.Dist) -> set[str]:
    out = {a.field for a in dist.adjust if a.field} | {c.field for a in dist.adjust for c in a.when if c.event is None}
    match dist.kind:
        case s.Copy(field):
            out.add(field)
        case s.Sample(_, count):
            out |= _dist_fields(count)
    return out


def _by_dependencies(order: list[str], deps: Mapping[str, set[str]]) -> list[str]:
    """``order`` with every field after the fields it depends on (a cycle is refused)."""
    out: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ValueError(f"simulation: field `{name}` depends on itself through `when`/`copy`; break the cycle")
        state[name] = 1
        for dep in sorted(deps.get(name, ()), key=order.index):
            visit(dep)
        state[name] = 2
        out.append(name)

    for name in order:
        visit(name)
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _destination(rt: Telemetry) -> str:
    """Where the runtime sends, for the summary: the endpoint, or what the exporters fall back to."""
    if all(os.environ.get(f"OTEL_{s}_EXPORTER", "").strip().lower() == "none" for s in ("TRACES", "LOGS", "METRICS")):
        return "nowhere (OTEL_TRACES/LOGS/METRICS_EXPORTER=none)"
    if rt.config.endpoint:
        return rt.config.endpoint
    if any(os.environ.get(f"OTEL_EXPORTER_OTLP_{s}_ENDPOINT") for s in ("TRACES", "LOGS", "METRICS")):
        return "the OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT addresses"
    default = "localhost:4317" if rt.config.protocol == "grpc" else "http://localhost:4318"
    return f"{default} (the SDK default)"
