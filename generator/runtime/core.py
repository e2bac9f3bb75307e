"""The instrumentation runtime: one call per spec event, and out come the spans, metrics and log records
the spec declares, with PII pseudonymised, schemas enforced and the spec's join rules (``joins``) kept.

    rt = Telemetry(load_spec(path))
    with rt.order_placed(customer_id=raw_customer, currency="eur", skus=skus) as order:  # the context's root span
        rt.line_item(sku=skus[0], line=1, quantity=2)          # joins the context, inherits its fields
    rt.refund(order_id=order.request_id, sku=skus[0], quantity=1, amount=9.5)

Per call, in order: drop ``None`` arguments; map keywords back to dotted attribute names; pseudonymise
high-PII fields and scrub free text; check the fields the application passed (production); fill what
the runtime can (a UUID v4 context key, the current time, fields inherited from the context's root
event); validate the whole payload (strict) or its completeness (production); check the context's
consistent fields and references; emit span, metrics and log record.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obsgen import __version__
from obsgen.model import Metric, Model
from obsgen.model.joins import CONSISTENCY
from obsgen.model.quality import COMPLETENESS, VALIDITY
from obsgen.model.reserved import RESERVED_EVENT_NAMES
from obsgen.runtime import forking, pipeline
from obsgen.runtime.config import RuntimeConfig
from obsgen.runtime.killswitch import KillSwitchState
from obsgen.runtime.pii import (
    EMPTY,
    KEY_ID_ATTRIBUTE,
    Pseudonymizer,
    RawValues,
    TooLarge,
    load_keys,
    sanitize_items,
    sanitize_text,
    scrub_object,
    text_plan,
)
from obsgen.runtime.plan import EventPlan, MetricPlan, build_plans, signature
from obsgen.runtime.quality import Reporter
from obsgen.runtime.recorders import AttributeSets, Synchronous, Totals
from obsgen.runtime.state import ExpiringLRU, approximate_size
from obsgen.runtime.validation import Check, ContractViolation, EventValidationError
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, Span, Status, StatusCode

_log = logging.getLogger("obsgen.runtime")
Recorder = Totals | Synchronous
_current_request: ContextVar[RequestScope | None] = ContextVar("obsgen_current_request", default=None)
_time_ns = time.time_ns
_uuid4 = uuid.uuid4
_set_span_in_context = trace.set_span_in_context
_current_context = otel_context.get_current

VIOLATIONS_METRIC = "obsgen.data_quality.violations"
DROPPED_METRIC = "obsgen.telemetry.dropped"
STATE_ERRORS_METRIC = "obsgen.killswitch.state_errors"
SHADOW = "shadow"
_KEY_TYPES = (str, int)
"""Context keys the join state looks up; anything else (garbage in production) names no context."""
_ARRAYS = (list, tuple)
CONTEXT_SHARE = 64
CONTEXT_MIN_BYTES = 16_384
"""A context stops remembering values for its references once it holds ``context_cache_bytes // CONTEXT_SHARE``
(at least ``CONTEXT_MIN_BYTES``): one context never takes the whole budget (later references to what it did
not remember count as broken)."""
MAX_CACHED_ID = 256
"""Longest raw id whose pseudonym is cached (real ids are far shorter; a longer one is hashed every time)."""
REPORTED_BYTES = 1 << 20
"""Byte budget of the once-a-second report dedup keyed by (event, field, kind): an unknown field's name is the
client's."""
_TIME_SCALE_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "min": 60_000_000_000,
                  "h": 3_600_000_000_000}


class _Joined:
    """What the runtime remembers about a recent context: its root payload (for inheritance and
    consistency), the root span's context (the members' parent) and one slot per declared reference
    target (a set of values, values per ``same`` value, or the latest array).

    ``payload`` holds only the root fields some member inherits (not the whole root payload), and ``raw``
    the raw high-PII values seen in the context, which are cut out of its members' free text."""

    __slots__ = ("context", "held", "memory", "payload", "raw")

    def __init__(self, payload: dict[str, Any], context: Context | None, slots: int, raw: RawValues = EMPTY) -> None:
        self.payload = payload
        self.context = context
        self.memory: list[Any] = [None] * slots
        self.raw = raw
        self.held = 200 + approximate_size(payload) + raw.size + 64 * slots
        """Approximate bytes held, growing as members fill the memory slots (see ``_remember``)."""

    def size(self) -> int:
        """Charged against ``RuntimeConfig.context_cache_bytes`` when stored (growth is charged as it happens)."""
        return self.held


class RequestScope:
    """The span of an event that lasts as long as a ``with`` block (a request), made current inside it.

    ``request_id`` is the value of the context's key (whatever the spec's ``joins`` call it). Inside the
    block, members of the same context may leave out the key (and the fields they inherit); outside it,
    pass ``<key>=scope.request_id``. Without ``with``, call ``end()``. An exception leaving the block
    marks the span as an error (type and scrubbed message only).
    """

    __slots__ = ("_ended", "_tokens", "context", "context_name", "outer", "raw", "request_id", "span")

    def __init__(self, request_id: Any, span: Span, context: Context | None, context_name: str | None = None,
                 raw: RawValues = EMPTY) -> None:
        self.request_id = request_id
        self.span = span
        self.context = context
        self.context_name = context_name
        """The ``joins`` context whose key ``request_id`` is; ``None`` for an event that joins nothing."""
        self.outer: RequestScope | None = None
        """The scope that was current when this one was entered (scopes of other contexts stay visible)."""
        self._tokens: tuple[Any, Any] | None = None
        self._ended = False
        self.raw = raw
        """Raw high-PII values seen in this scope (and the scopes it was opened in): cut out of free text."""

    def __enter__(self) -> RequestScope:
        token = otel_context.attach(self.context) if self.context is not None else None
        self.outer = _current_request.get()
        self._tokens = (token, _current_request.set(self))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        # Never raises: the application's exception (if any) is the one that propagates, and the span and
        # context are detached whatever recording the exception does.
        try:
            if exc is not None and self.span.is_recording():
                self._record(exc)
        except Exception:
            _log.debug("obsgen: recording an exception on the request span failed", exc_info=True)
        finally:
            if self._tokens is not None:
                token, scope_token = self._tokens
                self._tokens = None
                try:
                    _current_request.reset(scope_token)
                except ValueError:  # exited in another context (thread, task) than entered: nothing to restore
                    pass
                if token is not None:
                    otel_context.detach(token)  # logs, never raises, on a mismatched context
            try:
                self.end()
            except Exception:
                _log.debug("obsgen: ending the request span failed", exc_info=True)

    def _record(self, exc: BaseException) -> None:
        kind = type(exc)
        try:
            message = str(exc)
        except Exception:  # an exception whose __str__ raises still marks the span
            message = "<unprintable exception>"
        self.span.set_status(Status(StatusCode.ERROR, kind.__name__))
        self.span.add_event("exception", {"exception.type": f"{kind.__module__}.{kind.__qualname__}",
                                          "exception.message": sanitize_text(message, 1024, self.raw, True)})

    def end(self, end_time_ns: int | None = None) -> None:
        if not self._ended:
            self._ended = True
            self.span.end(end_time=end_time_ns)


class Telemetry:
    """The runtime for one spec: an event method per spec event (``rt.<event>(...)``).

    Each event method takes the event's fields as keyword arguments (``inspect.signature`` lists them
    with their types; a dotted attribute ``http.route`` is the keyword ``http_route``). In ``production``
    validation it never raises into the application; in ``strict`` it raises ``EventValidationError``
    (``ContractViolation`` for the spec's join rules) naming the field. Call ``shutdown()`` when the
    service stops (it also runs, bounded, at interpreter exit).
    """

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Callable[..., Any]: ...

    def __init__(self, model: Model, config: RuntimeConfig | None = None, *,
                 kill_switches: KillSwitchState | None = None) -> None:
        cfg = (config or RuntimeConfig()).resolved()
        self.model = model
        self.config = cfg
        self._keys = load_keys(cfg.pii_key, cfg.pii_previous_keys, cfg.dev_mode)
        self.dev_mode = self._keys.dev
        self._pseudonymize = _cached_pseudonyms(Pseudonymizer(self._keys.current), cfg.pseudonym_cache_size)
        self._strict = cfg.validation == "strict"
        self._shadow = bool(cfg.shadow)
        self._plans = build_plans(model, self._pseudonymize("obsgen"))
        for name in self._plans:  # `obsgen validate` rejects these; a model built in code must not slip past
            if name in RESERVED_EVENT_NAMES or name.startswith("_") or hasattr(Telemetry, name):
                raise ValueError(f"event `{name}` clashes with a Telemetry attribute; rename the event in the spec")
        report = model.data_quality.report
        self._reporter = Reporter(report, self._plans[report.event].checks) \
            if report is not None and cfg.report_invalid_events else None

        self._texts = {name: text_plan(plan.event, model.attributes) for name, plan in self._plans.items()}
        self._long_arrays = {name: tuple((f, model.attributes[f].max_items or cfg.max_array_items)
                                         for f in plan.array_fields
                                         if f not in {a[0] for a in self._texts[name].string_arrays})
                             for name, plan in self._plans.items()}
        """Per event: the arrays the string-array scrub does not bound (numbers, enums), with their item bound."""
        self._kept = {ctx.name: frozenset(f for plan in self._plans.values() if plan.context == ctx.name
                                          for f in plan.inherit) for ctx in model.joins}
        """Per context: the root fields its members inherit, all the join cache keeps of a root payload."""
        self._severity = {name: (SeverityNumber(plan.log_severity[0]), plan.log_severity[1])
                          for name, plan in self._plans.items() if plan.log_severity}
        self._duration_ns = {name: _duration_scale(plan) for name, plan in self._plans.items()
                             if plan.span_duration_field}
        self._owns_kill_switches = kill_switches is None
        self.kill_switches = kill_switches if kill_switches is not None else KillSwitchState(model.kill_switches)
        self._reset_state()
        resource = pipeline.resource(model, cfg, self.dev_mode)
        self._start_pipeline(resource.merge(Resource({KEY_ID_ATTRIBUTE: self._keys.current_id})))
        self._closed = False
        for name, plan in self._plans.items():
            setattr(self, name, self._event_method(plan))
        atexit.register(self._at_exit)
        forking.after_fork_in_child(self, Telemetry._after_fork_in_child)

    def _start_pipeline(self, resource: Resource) -> None:
        """The SDK pipeline and the instruments on it (again in a forked child, with the child's resource)."""
        self.resource = resource
        self._pipeline = pipeline.build(self.model, self.config, resource)
        self.tracer = self._pipeline.tracer_provider.get_tracer(pipeline.SCOPE, __version__)
        self.meter = self._pipeline.meter_provider.get_meter(pipeline.SCOPE, __version__)
        self._logs = self._pipeline.logs
        self._metric_recorders: dict[str, Recorder] = {}  # a forked child must not inherit the parent's totals
        self._recorders = {name: self._make_recorders(plan) for name, plan in self._plans.items()}
        self._violations = self.meter.create_counter(
            VIOLATIONS_METRIC, unit="{violation}",
            description="Events breaking the spec's data contracts, by kind (completeness, validity, consistency, "
                        "and the kinds the spec's joins declare) and event.")
        self.meter.create_observable_counter(
            DROPPED_METRIC, callbacks=[self._observe_dropped], unit="{signal}",
            description="Spans and log records lost before export (queue full, export failed, left at shutdown).")
        self.meter.create_observable_counter(
            STATE_ERRORS_METRIC, callbacks=[self._observe_state_errors], unit="{error}",
            description="Kill-switch state files found corrupt or unreadable (the last good state was kept).")

    def _reset_state(self) -> None:
        """Empty join and once-per state (at start, and in a forked child: the parent's contexts are its own)."""
        cfg = self.config
        self._joined: dict[str, ExpiringLRU[_Joined]] = {
            ctx.name: ExpiringLRU(cfg.context_cache_size, cfg.context_ttl_s, max_bytes=cfg.context_cache_bytes,
                                  sizeof=_Joined.size) for ctx in self.model.joins}
        self._context_room = max(CONTEXT_MIN_BYTES, cfg.context_cache_bytes // CONTEXT_SHARE)
        keys = {ctx.key for ctx in self.model.joins}
        self._once: dict[str, ExpiringLRU[bool]] = {}
        for plan in self._plans.values():
            for mp in plan.metrics:
                if mp.once_per in keys:
                    self._once[mp.metric.name] = ExpiringLRU(cfg.context_cache_size, cfg.context_ttl_s,
                                                             max_bytes=cfg.once_per_cache_bytes, sizeof=_nothing)
                elif mp.once_per is not None:
                    self._once[mp.metric.name] = ExpiringLRU(cfg.once_per_cache_size, cfg.once_per_ttl_s,
                                                             max_bytes=cfg.once_per_cache_bytes, sizeof=_nothing)
        self._reported: ExpiringLRU[bool] = ExpiringLRU(1024, 1.0, max_bytes=REPORTED_BYTES, sizeof=_nothing)

    def _after_fork_in_child(self) -> None:
        """A pre-fork server's worker: its own ``service.instance.id``, fresh SDK state, nothing of the parent's
        queued or aggregated data (the parent exports that), and the kill-switch watcher running again."""
        if self._closed:
            return
        forking.abandon(self._pipeline, own_readers=self.config.metric_readers is None)
        self._reset_state()
        child_id = f"{self.resource.attributes.get('service.instance.id')}-{os.getpid()}"
        self._start_pipeline(self.resource.merge(Resource({"service.instance.id": child_id})))

    @classmethod
    def from_default(cls, config: RuntimeConfig | None = None, *,
                     kill_switches: KillSwitchState | None = None) -> Telemetry:
        """The runtime for obsgen's built-in demo spec."""
        from obsgen.spec import load_default

        return cls(load_default(), config, kill_switches=kill_switches)

    @classmethod
    def from_spec(cls, path: str | os.PathLike[str], config: RuntimeConfig | None = None, *,
                  kill_switches: KillSwitchState | None = None) -> Telemetry:
        """The runtime for the spec file at ``path``, the same file ``obsgen generate`` reads."""
        from obsgen.spec import load_spec

        return cls(load_spec(Path(path)), config, kill_switches=kill_switches)

    # -- public API ------------------------------------------------------------------------------------

    @property
    def events(self) -> tuple[str, ...]:
        return tuple(self._plans)

    def emit(self, event: str, /, **fields: Any) -> RequestScope | None:
        """Emit ``event`` by name (the event methods are shortcuts for this). A name the spec does not declare
        raises ``KeyError`` in strict mode; production mode, which never raises into the app (the name may come
        from a client), drops it and logs it at most once a second."""
        plan = self._plans.get(event) if isinstance(event, str) else None
        if plan is not None:
            return self._emit(plan, fields)
        if self._strict:
            raise KeyError(f"the spec declares no event {event!r}")
        if self._reported.add(("unknown event",), True):
            _log.warning("obsgen: emit(%.100r): the spec declares no such event; dropped", event)
        return None

    def is_active(self, kill_switch: str) -> bool:
        """Whether a kill-switch is on: an in-process lookup (see ``KillSwitchState``)."""
        return self.kill_switches.is_active(kill_switch)

    @staticmethod
    def current_request() -> RequestScope | None:
        return _current_request.get()

    def pseudonymize(self, value: object) -> str:
        """The pseudonym this runtime exports for a raw high-PII value (to look a user up in the data)."""
        return self._pseudonymize(value)

    def pseudonyms(self, value: object) -> dict[str, str]:
        """A raw value's pseudonym under the current and every previous key, by key id (the resource
        attribute ``obsgen.pii.key_id`` of the data says which applies): lookups across a key rotation."""
        ring = self._keys
        return {ring.ids[i]: Pseudonymizer(key)(value) for i, key in enumerate((ring.current, *ring.previous))}

    @property
    def key_id(self) -> str:
        """The id of the key pseudonyms are made with (exported as the resource attribute ``obsgen.pii.key_id``)."""
        return self._keys.current_id

    @property
    def dropped(self) -> dict[str, int]:
        """Spans (``traces``) and log records (``logs``) lost so far, as ``obsgen.telemetry.dropped`` reports."""
        return {q.signal: q.dropped for q in self._pipeline.queues}

    def force_flush(self, timeout_s: float = 30.0, *, metrics: bool = True) -> bool:
        """Export buffered spans and log records now (and collect metrics, unless ``metrics=False``)."""
        return self._pipeline.force_flush(timeout_s, metrics=metrics)

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Flush and stop within ``timeout_s`` seconds even if the collector is unreachable; idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._at_exit)
        if self._owns_kill_switches:
            self.kill_switches.stop()
        self._pipeline.shutdown(timeout_s)

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def _at_exit(self) -> None:
        self.shutdown(self.config.shutdown_timeout_s)

    # -- construction helpers ------------------------------------------------------------------------

    def _event_method(self, plan: EventPlan) -> Callable[..., Any]:
        emit = self._emit

        def event_method(*args: Any, **fields: Any) -> Any:
            if args:
                return self._positional(plan, fields)
            return emit(plan, fields)

        event_method.__name__ = event_method.__qualname__ = plan.name
        event_method.__doc__ = (f"{plan.event.description}\n\nEmit the `{plan.name}` event: "
                                f"{_signals_text(plan)}.")
        event_method.__signature__ = signature(  # type: ignore[attr-defined]
            plan, self.model, RequestScope if plan.opens_scope else None)
        return event_method

    def _make_recorders(self, plan: EventPlan) -> tuple[tuple[MetricPlan, Recorder], ...]:
        return tuple((mp, self._recorder(mp.metric, mp.labels, mp.exemplars)) for mp in plan.metrics)

    def _recorder(self, m: Metric, labels: tuple[str, ...], exemplars: bool) -> Recorder:
        """One recorder per metric, shared by every event that measures it."""
        made = self._metric_recorders.get(m.name)
        if made is not None:
            return made
        attributes = AttributeSets(labels, {SHADOW: "true"} if self._shadow else {})
        recorder: Recorder
        if m.instrument == "histogram":
            assert m.buckets is not None
            inst: Any = self.meter.create_histogram(
                m.name, unit=m.unit, description=m.description,
                explicit_bucket_boundaries_advisory=[float(b) for b in m.buckets])
            recorder = Synchronous(inst.record, attributes, exemplars)
        elif m.instrument == "gauge":
            recorder = Synchronous(self.meter.create_gauge(m.name, unit=m.unit, description=m.description).set,
                                   attributes, exemplars)
        else:
            recorder = Totals(self.meter, m.name, m.unit, m.description, attributes,
                              monotonic=m.instrument != "updowncounter")
        self._metric_recorders[m.name] = recorder
        return recorder

    def _observe_dropped(self, _options: CallbackOptions) -> list[Observation]:
        extra = {SHADOW: "true"} if self._shadow else {}
        return [Observation(q.dropped, {"signal": q.signal, **extra}) for q in self._pipeline.queues]

    def _observe_state_errors(self, _options: CallbackOptions) -> list[Observation]:
        extra = {SHADOW: "true"} if self._shadow else {}
        return [Observation(self.kill_switches.file_errors, extra)]

    def _positional(self, plan: EventPlan, fields: dict[str, Any]) -> RequestScope | None:
        """Fields passed by position: strict raises; production ignores them (counted, reported), never raises."""
        field, reason = "(positional arguments)", "are not accepted: pass the event's fields by name"
        if self._strict:
            self._count(plan.name, VALIDITY)
            raise EventValidationError(plan.name, field, reason)
        if not self._closed:
            try:
                self._invalid(plan, fields, field, VALIDITY, reason, "repaired by ignoring them")
            except Exception:
                _log.debug("obsgen: reporting positional arguments failed", exc_info=True)
        return self._emit(plan, fields)

    # -- the hot path --------------------------------------------------------------------------------

    def _emit(self, plan: EventPlan, fields: dict[str, Any]) -> RequestScope | None:
        if self._closed:
            return RequestScope(fields.get(plan.key) if plan.key else None, INVALID_SPAN, None, plan.context) \
                if plan.opens_scope else None
        try:
            return self._process(plan, fields)
        except EventValidationError:
            raise  # only strict mode raises these
        except Exception:
            if self._strict:
                raise
            if self._reported.add(("internal", plan.name), True):
                _log.exception("obsgen: emitting a %s event failed; the event is lost", plan.name)
            return RequestScope(None, INVALID_SPAN, None) if plan.opens_scope else None

    def _process(self, plan: EventPlan, p: dict[str, Any]) -> RequestScope | None:
        if None in p.values():
            p = {k: v for k, v in p.items() if v is not None}
        for kw, name in plan.renames:
            if kw in p:
                p[name] = p.pop(kw)
        pseudonymize = self._pseudonymize
        seen: list[tuple[str, Any]] | None = None
        for f in plan.pii:
            if f in p:
                v = p[f]
                try:
                    p[f] = pseudonymize(v)
                except Exception:  # its __str__ raises: no pseudonym, nothing of it can be exported (a required
                    del p[f]  # field's absence then drops the event as incomplete)
                    self._repaired(plan, p, f, "cannot be read as text (its str() raises)",
                                   "repaired by removing the field")
                    continue
                seen = [*(seen or ()), (f, v)]
        for f in plan.array_fields:  # the runtime's own copy: its log record is built later, off this thread
            v = p.get(f)
            if isinstance(v, _ARRAYS):  # a subclass too: it is scrubbed and bounded like a plain list
                p[f] = list(v)

        key = plan.key
        joined: _Joined | None = None
        if key is not None and not plan.is_root:
            kv = p.get(key)
            if kv is None:
                scope = _current_request.get()
                while scope is not None and scope.context_name != plan.context:
                    scope = scope.outer
                if scope is not None and scope.request_id is not None:
                    p[key] = kv = scope.request_id
            if type(kv) in _KEY_TYPES:
                joined = self._joined[plan.context].get(kv)  # type: ignore[index]
        scope = _current_request.get()
        raw = scope.raw if scope is not None else EMPTY
        if joined is not None:
            raw = raw.merged(joined.raw)
        if seen:
            raw = raw.plus(seen)
        self._scrub(plan, p, raw)
        strict = self._strict
        dropped = False if strict else self._check_supplied(plan, p, joined is not None)

        mismatched: list[str] | None = None
        if joined is not None:
            root = joined.payload
            consistent = plan.consistent
            for f in plan.inherit:
                v = p.get(f)
                if v is None:
                    v = root.get(f)
                    if v is not None:
                        p[f] = v
                elif f in consistent:
                    expected = root.get(f)
                    if expected is not None and expected != v:
                        mismatched = [*(mismatched or ()), f]
        elif plan.generates_key and key not in p:
            p[key] = str(_uuid4())  # type: ignore[index]
        ts_field = plan.timestamp_field
        ts_given = ts_field is not None and ts_field in p
        if ts_field is not None and not ts_given:
            p[ts_field] = _time_ns() // 1_000_000

        if strict:
            _plain_strings(p)
            problem = plan.schema.first_error(p)
            if problem is not None:
                field, kind, reason = problem
                self._count(plan.name, kind)
                raise EventValidationError(plan.name, field, reason, kind)
        elif not dropped and not plan.required <= p.keys():
            missing = next(f for f in plan.event.fields if f in plan.required and f not in p)
            self._invalid(plan, p, missing, COMPLETENESS, "is required", "dropped")
            dropped = True

        if plan.is_root:
            return self._root(plan, p, ts_given, dropped, raw)
        if dropped:
            return None
        if plan.context is not None:
            self._check_context(plan, p, joined, mismatched)
        return self._signals(plan, p, joined, ts_given, raw)

    def _scrub(self, plan: EventPlan, p: dict[str, Any], raw: RawValues) -> None:
        """Free text bounded and scrubbed (raw values of the context, patterns); raw values cut out of every
        other string that could hold one; object attributes scrubbed whole and bounded in bytes, or removed."""
        texts = self._texts[plan.name]
        max_text = self.config.max_text_length
        # A str subclass (markupsafe.Markup, a StrEnum member, numpy.str_) is scrubbed as the plain str of its
        # characters: its own methods (slicing, lower) are not trusted, and the exported value is a plain str.
        for f, limit, sensitive in texts.free_text:
            v = p.get(f)
            if isinstance(v, str):
                p[f] = sanitize_text(v if type(v) is str else str.__str__(v), limit or max_text, raw, sensitive)
        if raw:
            for f in texts.strings:
                v = p.get(f)
                if isinstance(v, str):
                    p[f] = raw.replace(v if type(v) is str else str.__str__(v))
        for f, limit, most, sensitive in texts.string_arrays:
            v = p.get(f)
            if type(v) is list:
                self._scrub_items(plan, p, f, v, limit or max_text, most or self.config.max_array_items, raw, sensitive)
        for f, most in self._long_arrays[plan.name]:
            v = p.get(f)
            if type(v) is list and len(v) > most:  # 2 million numbers: 22 MB to export, more than a collector takes
                p[f] = v[:most]
                self._repaired(plan, p, f, f"has {len(v)} items, more than {most}")
        for f, sensitive in texts.objects:
            v = p.get(f)
            if v is None:
                continue
            try:
                p[f] = scrub_object(v, self.config.max_object_bytes, raw, sensitive)
            except TooLarge as exc:
                del p[f]
                if self._strict:
                    self._count(plan.name, VALIDITY)
                    raise EventValidationError(plan.name, f, str(exc)) from None
                self._invalid(plan, p, f, VALIDITY, str(exc), "repaired by removing the field")

    def _scrub_items(self, plan: EventPlan, p: dict[str, Any], f: str, items: list[Any], limit: int, most: int,
                     raw: RawValues, sensitive: bool) -> None:
        """A string array bounded at ``most`` items of ``limit`` characters each and ``max_object_bytes`` in all
        (so scrubbing it costs what scrubbing one object does), scrubbed item by item; cutting is a validity
        violation (strict raises, production keeps what fits and counts it)."""
        too_many = len(items) > most
        kept = items[:most] if too_many else items
        sizes = [len(x) if type(x) is str else -1 for x in kept]
        if -1 in sizes:  # not only plain strings: a str subclass is bounded and scrubbed as its characters
            kept = [str.__str__(x) if isinstance(x, str) else x for x in kept]
            sizes = [len(x) if type(x) is str else 8 for x in kept]
        budget = self.config.max_object_bytes
        too_long = fits = 0
        if sum(sizes) <= budget and max(sizes, default=0) <= limit:
            fits = len(kept)  # the common case: nothing to cut
        else:
            too_long = sum(n > limit for n in sizes)
            total = 0
            for n in sizes:
                total += min(n, limit)
                if total > budget:
                    break
                fits += 1
        p[f] = sanitize_items(kept[:fits] if fits < len(kept) else kept, limit, raw, sensitive)
        if not (too_many or too_long or fits < len(kept)):
            return
        reason = "; ".join(part for part in (
            f"has {len(items)} items, more than {most}" if too_many else "",
            f"has {too_long} item(s) longer than {limit} characters" if too_long else "",
            f"holds more than {budget} characters (kept the first {fits} items)" if fits < len(kept) else "")
            if part)
        self._repaired(plan, p, f, reason)

    def _repaired(self, plan: EventPlan, p: dict[str, Any], f: str, reason: str,
                  action: str = "repaired by cutting it") -> None:
        """A field repaired (cut to its bounds, or removed): strict raises, production counts and reports it."""
        if self._strict:
            self._count(plan.name, VALIDITY)
            raise EventValidationError(plan.name, f, reason)
        self._invalid(plan, p, f, VALIDITY, reason, action)

    def _check_supplied(self, plan: EventPlan, p: dict[str, Any], known_context: bool) -> bool:
        """Production: check what the application passed; repair (drop a field) or drop the event. True = drop.

        Pseudonyms are valid by construction, and a context key the join state knows was checked with its
        root event, so neither is checked again.
        """
        skip = plan.trusted_known if known_context else plan.trusted
        bad = _bad_fields(plan.checks, p, skip)
        if bad and _plain_strings(p):  # a StrEnum member or markupsafe.Markup is judged by its characters
            bad = _bad_fields(plan.checks, p, skip)
        if not bad:
            return False
        drop = False
        for f, reason in bad:
            fatal = f in plan.required
            self._invalid(plan, p, f, VALIDITY, reason, "dropped" if fatal else "repaired by removing the field")
            drop = drop or fatal
            if not fatal:
                del p[f]
        return drop

    def _root(self, plan: EventPlan, p: dict[str, Any], ts_given: bool, dropped: bool,
              raw: RawValues) -> RequestScope | None:
        key = plan.key
        kv = p.get(key) if key is not None else None
        kept = self._kept.get(plan.context) if plan.context is not None else None
        if dropped:
            # Remembered anyway (valid fields only) so the context's later events are judged on their own.
            known = type(kv) in _KEY_TYPES and plan.checks[key](kv) is None  # type: ignore[index]
            if known:
                self._joined[plan.context].put(  # type: ignore[index]
                    kv, _Joined({f: p[f] for f in kept or () if f in p}, None, plan.slots, raw))
            return RequestScope(kv if known else None, INVALID_SPAN, None, plan.context, raw) \
                if plan.opens_scope else None
        joined = None
        if kv is not None:  # validated: strict raised on a bad key, production dropped or removed it
            joined = _Joined({f: p[f] for f in kept or () if f in p}, None, plan.slots, raw)
            if plan.memories:
                joined.held += _remember(plan, p, joined.memory)
            self._joined[plan.context].put(kv, joined)  # type: ignore[index]
        scope = None
        ctx = None
        if self._shadow:
            p[SHADOW] = "true"
        if plan.span_name is not None:
            # int(): 1.7e12 is a valid integer time, but a float span time fails the whole batch's encoding
            start = int(p[plan.timestamp_field]) * 1_000_000 if ts_given else None  # type: ignore[index]
            span = self.tracer.start_span(plan.span_name, kind=plan.span_kind, attributes=_span_attributes(plan, p),
                                          start_time=start)
            ctx = _set_span_in_context(span)
            if joined is not None:
                # The join cache keeps the root span's identity only (all its members need: their parent, their
                # exemplars' and log records' trace ids), not the SDK span with its attributes for the context's
                # TTL: fewer live objects for the garbage collector to walk, less memory.
                joined.context = _set_span_in_context(NonRecordingSpan(span.get_span_context()))
            if plan.opens_scope:
                scope = RequestScope(kv, span, ctx, plan.context, raw)
            else:
                span.end()
        self._record_metrics(plan, p, ctx)
        if plan.log_severity:
            self._log(plan, p, ctx)
        return scope

    def _signals(self, plan: EventPlan, p: dict[str, Any], joined: _Joined | None, ts_given: bool,
                 raw: RawValues) -> Any:
        if self._shadow:
            p[SHADOW] = "true"
        ctx = joined.context if joined is not None else None
        scope = None
        if plan.span_name is not None:
            if plan.span_duration_field is not None:
                end = int(p[plan.timestamp_field]) * 1_000_000 if ts_given else _time_ns()  # type: ignore[index]
                duration = p.get(plan.span_duration_field)
                lasted = duration * self._duration_ns[plan.name] if duration is not None else 0
                # A valid but absurd duration (1e300 ms) starts the span at 0, not before: a negative time
                # fails the encoding of the whole batch (every span in it is lost).
                start = end - int(lasted) if lasted < end else 0
                span = self.tracer.start_span(plan.span_name, context=ctx, kind=plan.span_kind,
                                              attributes=_span_attributes(plan, p), start_time=start)
                span.end(end_time=end)
                ctx = _set_span_in_context(span, ctx)
            else:
                span = self.tracer.start_span(plan.span_name, context=ctx, kind=plan.span_kind,
                                              attributes=_span_attributes(plan, p))
                ctx = _set_span_in_context(span, ctx)
                scope = RequestScope(p.get(plan.key) if plan.key else None, span, ctx, plan.context, raw)
        self._record_metrics(plan, p, ctx)
        if plan.log_severity:
            self._log(plan, p, ctx)
        return scope

    def _record_metrics(self, plan: EventPlan, p: dict[str, Any], ctx: Context | None) -> None:
        get = p.get
        for mp, recorder in self._recorders[plan.name]:
            if mp.value is not None:
                v = get(mp.value)
                if v is None:
                    continue
                if mp.value_is_array:
                    v = len(v)
            else:
                v = 1
            if mp.once_per is not None:
                key = get(mp.once_per)
                if key is None or not self._once[mp.metric.name].add(key, True):
                    continue
            recorder.record(v, tuple(map(get, mp.labels)), ctx)

    def _log(self, plan: EventPlan, p: dict[str, Any], ctx: Context | None) -> None:
        logs = self._logs
        if logs is None:
            return
        severity, text = self._severity[plan.name]
        p["event_name"] = plan.name
        ts = p.get(plan.timestamp_field) if plan.timestamp_field else None
        now = _time_ns()
        # The record's time is the event's millisecond plus the clock's nanoseconds within a millisecond: Loki
        # merges entries of one stream with the same timestamp and line (the body: the event name) when they
        # sit in different chunks, so `count_over_time` undercounted millisecond-stamped records (0.04 % at
        # 5,000 events/s); nanoseconds make such twins practically impossible. ``timestamp_ms`` is unchanged.
        # The record is built on the export thread: from here on nothing changes ``p`` (arrays and objects
        # in it are the runtime's own copies, see _process).
        logs.emit_later(int(ts) * 1_000_000 + now % 1_000_000 if ts is not None else None, now,
                        ctx or _current_context(), severity, text, plan.name, p)

    # -- join rules and violations -------------------------------------------------------------------

    def _count(self, event: str, kind: str) -> None:
        attrs = {"kind": kind, "event": event}
        if self._shadow:
            attrs[SHADOW] = "true"
        self._violations.add(1, attrs)

    def _contract_violation(self, plan: EventPlan, field: str, kind: str, reason: str) -> None:
        self._count(plan.name, kind)
        if self._strict:
            raise ContractViolation(plan.name, field, reason, kind)

    def _check_context(self, plan: EventPlan, p: dict[str, Any], joined: _Joined | None,
                       mismatched: list[str] | None) -> None:
        """Check what the spec's ``joins`` declare for a member event, and leave what later references need."""
        if joined is None:
            key = plan.key
            if plan.requires_known and self.config.check_unknown_contexts and key is not None and key in p:
                self._contract_violation(plan, key, plan.unknown_kind,
                                         f"names a {plan.context} this process has not seen (or no longer remembers)")
            return
        for f in mismatched or ():
            self._contract_violation(plan, f, CONSISTENCY, f"differs from the value in the {plan.context}'s root event")
        memory = joined.memory
        for ref in plan.references:
            v = p.get(ref.field)
            if v is None:
                continue
            seen = memory[ref.slot]
            if ref.index is not None:
                i = p.get(ref.index)
                if i is None:
                    continue
                if seen is None:
                    self._contract_violation(plan, ref.field, ref.kind,
                                             f"cannot be matched: the {plan.context} has no {ref.target} yet")
                elif not (0 < i <= len(seen) and seen[int(i) - 1] == v):
                    self._contract_violation(plan, ref.field, ref.kind,
                                             f"is not {ref.target}[{ref.index}-1] of this {plan.context}")
            elif ref.same is None:
                if seen is None or v not in seen:
                    self._contract_violation(plan, ref.field, ref.kind, f"is not a {ref.target} of this {plan.context}")
            else:
                group = seen.get(p.get(ref.same)) if seen is not None else None
                if group is not None and (v not in group if type(group) is set else v != group):
                    self._contract_violation(plan, ref.field, ref.kind,
                                             f"differs from the {ref.target} seen with the same {ref.same}")
        if plan.memories and joined.held < self._context_room:
            added = _remember(plan, p, memory)
            if added:
                joined.held += added
                self._joined[plan.context].charge(p.get(plan.key), added)  # type: ignore[index]

    def _invalid(self, plan: EventPlan, p: dict[str, Any], field: str, kind: str, reason: str, action: str) -> None:
        """Production: count an invalid payload and report it as the spec's ``data_quality.report`` event."""
        self._count(plan.name, kind)
        reporter = self._reporter
        if reporter is None or plan.name == reporter.event:
            return  # no report declared (still counted), or trouble with the report event itself
        if not self._reported.add((plan.name, field, kind), True):
            return  # at most one report per event, field and kind a second; the counter has every one
        try:
            self._process(self._plans[reporter.event], reporter.payload(plan.name, field, kind, reason, action, p))
        except Exception:
            _log.debug("obsgen: reporting an invalid %s event failed", plan.name, exc_info=True)


def _bad_fields(checks: dict[str, Check], p: dict[str, Any], skip: frozenset[str]) -> list[tuple[str, str]] | None:
    """``(field, reason)`` of each field of ``p`` (but those in ``skip``) its check rejects, or None."""
    bad = None
    for f, v in p.items():
        if f in skip:
            continue
        check = checks.get(f)
        reason = check(v) if check is not None else "is not a field of this event"
        if reason is not None:
            bad = [*(bad or ()), (f, reason)]
    return bad


def _plain_strings(p: dict[str, Any]) -> bool:
    """Replace each str subclass value (a StrEnum member, markupsafe.Markup, numpy.str_) by the plain str of its
    characters, which the checks judge and the exporters carry; True if any was replaced."""
    found = [(f, v) for f, v in p.items() if isinstance(v, str) and type(v) is not str]
    for f, v in found:
        p[f] = str.__str__(v)
    return bool(found)


def _remember(plan: EventPlan, p: dict[str, Any], memory: list[Any]) -> int:
    """Keep in the context what declared references will check this event's values against: a set of
    values, the latest array, or per ``same`` value one value (a set once there are several).
    Returns the approximate bytes the memory grew by (charged to the context cache's byte budget)."""
    added = 0
    for m in plan.memories:
        v = p.get(m.field)
        if v is None:
            continue
        if m.array:
            old = memory[m.slot]
            memory[m.slot] = new = tuple(v)
            added += _items_size(new) - (_items_size(old) if old is not None else 0)
        elif m.same is None:
            if memory[m.slot] is None:
                memory[m.slot] = set()
                added += 216
            if v not in memory[m.slot]:
                memory[m.slot].add(v)
                added += 16 + (57 + len(v) if type(v) is str else approximate_size(v))
        else:
            same = p.get(m.same)
            if same is None:
                continue
            groups = memory[m.slot]
            if groups is None:
                memory[m.slot] = {same: v}
                added += 232 + approximate_size(same) + approximate_size(v)
                continue
            seen = groups.get(same)
            if seen is None:
                groups[same] = v  # one value per `same` is the common case: no set for it
                added += 80 + (len(same) if type(same) is str else 0) + (len(v) if type(v) is str else 0)
            elif type(seen) is set:
                if v not in seen:
                    seen.add(v)
                    added += 16 + approximate_size(v)
            elif seen != v:
                groups[same] = {seen, v}
                added += 216 + approximate_size(v)
    return added


def _items_size(values: tuple[Any, ...]) -> int:
    """``approximate_size`` of a remembered array, without a call per item (arrays of ids are the common case)."""
    strings = [x for x in values if type(x) is str]
    return 56 + 57 * len(strings) + sum(map(len, strings)) + 40 * (len(values) - len(strings))


def _nothing(_: object) -> int:
    """``sizeof`` of a cache whose values are flags: only the (client-chosen) keys are charged."""
    return 0


def _span_attributes(plan: EventPlan, p: dict[str, Any]) -> dict[str, Any]:
    if not plan.json_fields or not plan.json_fields & p.keys():
        return p
    return {k: (json.dumps(v, sort_keys=True, default=str) if k in plan.json_fields else v) for k, v in p.items()}


def _cached_pseudonyms(pseudonymizer: Pseudonymizer, size: int) -> Callable[[object], str]:
    """``pseudonymizer`` behind a bounded LRU keyed by the raw id (string ids of at most ``MAX_CACHED_ID``
    characters; others are hashed every time, so the cache holds at most ``size`` short keys: bounded in bytes).

    A user's or session's events repeat its ids, and an HMAC costs more than the lookup. The cache belongs
    to this one key: a runtime with another key (a rotation) starts with an empty one.
    """
    if size <= 0:
        return pseudonymizer
    cached = functools.lru_cache(maxsize=size)(pseudonymizer)

    def pseudonymize(value: object) -> str:
        return cached(value) if type(value) is str and len(value) <= MAX_CACHED_ID else pseudonymizer(value)
    return pseudonymize


def _duration_scale(plan: EventPlan) -> int:
    """Nanoseconds per unit of the span's duration field: from a metric measuring it, else its name suffix."""
    field = plan.span_duration_field
    for mp in plan.metrics:
        if mp.value == field and mp.metric.unit in _TIME_SCALE_NS:
            return _TIME_SCALE_NS[mp.metric.unit]
    for suffix, unit in (("_ns", "ns"), ("_us", "us"), ("_ms", "ms"), ("_s", "s")):
        if field and field.endswith(suffix):
            return _TIME_SCALE_NS[unit]
    return _TIME_SCALE_NS["ms"]


def _signals_text(plan: EventPlan) -> str:
    parts = []
    if plan.span_name:
        parts.append(f"span `{plan.span_name}`")
    if plan.metrics:
        parts.append("metrics " + ", ".join(f"`{m.metric.name}`" for m in plan.metrics))
    if plan.log_severity:
        parts.append(f"a {plan.log_severity[1]} log record")
    return "; ".join(parts) or "no signals"


def export_backlog(rt: Telemetry) -> dict[str, tuple[int, int]]:
    """Spans (``traces``) and log records (``logs``) of ``rt`` waiting for export, each as (queued, capacity).

    A function, not a ``Telemetry`` attribute: the spec's events share that namespace (``rt.<event>``).
    """
    return {q.signal: (len(q), q.max_queue_size) for q in rt._pipeline.queues}
