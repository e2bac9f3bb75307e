"""How each spec metric is recorded on the hot path: the work per measurement done once, up front.

* Counters and up-down counters are summed by the runtime itself, per label combination, under one lock
  (a dict update), and reported through an observable instrument when the metric reader collects: the
  SDK's per-measurement work (a ``Measurement``, attribute hashing and sorting, aggregation lookup) moves
  from the application thread to the export side, once per series and export interval. What reaches the
  collector is the same cumulative sum per attribute set (counters carry no exemplars here anyway).
* Histograms and gauges go through the SDK's synchronous instruments (exemplars link latencies to their
  trace; a gauge is one value), with the attribute dict built once per label combination and reused.

Label values are looked up as a tuple (``tuple(map(payload.get, labels))``); a label missing from the
payload (``None``) is left out of the attributes, as before.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Meter, Observation

MAX_CACHED_ATTRIBUTE_SETS = 4096
"""Attribute dicts kept per metric; label values come from enums and low-cardinality fields, so a spec
metric has far fewer combinations. Beyond it, a dict is built per measurement (nothing is lost)."""


class AttributeSets:
    """The attribute dict of each label-value combination seen, built on first use and then shared."""

    __slots__ = ("_cache", "_extra", "labels")

    def __init__(self, labels: tuple[str, ...], extra: dict[str, str]) -> None:
        self.labels = labels
        self._extra = extra
        self._cache: dict[tuple[Any, ...], dict[str, Any]] = {}

    def __call__(self, key: tuple[Any, ...]) -> dict[str, Any]:
        attrs = self._cache.get(key)
        if attrs is None:
            attrs = {label: v for label, v in zip(self.labels, key, strict=True) if v is not None}
            attrs.update(self._extra)
            if len(self._cache) < MAX_CACHED_ATTRIBUTE_SETS:
                self._cache[key] = attrs
        return attrs


class Totals:
    """A counter (or up-down counter) summed in process per label combination, observed at collection."""

    __slots__ = ("__weakref__", "_attributes", "_lock", "_monotonic", "_totals")

    def __init__(self, meter: Meter, name: str, unit: str, description: str, attributes: AttributeSets,
                 monotonic: bool) -> None:
        self._attributes = attributes
        self._monotonic = monotonic
        self._totals: dict[tuple[Any, ...], float] = {}
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):  # a fork while another thread held the lock must not deadlock the child
            ref = weakref.ref(self)

            def _new_lock_in_child() -> None:
                totals = ref()
                if totals is not None:
                    totals._lock = threading.Lock()

            os.register_at_fork(after_in_child=_new_lock_in_child)
        create = meter.create_observable_counter if monotonic else meter.create_observable_up_down_counter
        create(name, callbacks=[self.observe], unit=unit, description=description)

    def record(self, value: float, key: tuple[Any, ...], _context: Context | None) -> None:
        if value < 0 and self._monotonic:
            return  # as the SDK's Counter.add: a counter only goes up
        with self._lock:
            totals = self._totals
            totals[key] = totals.get(key, 0) + value

    def observe(self, _options: CallbackOptions) -> list[Observation]:
        with self._lock:
            items = list(self._totals.items())
        attributes = self._attributes
        return [Observation(total, attributes(key)) for key, total in items]


class Synchronous:
    """A histogram or gauge: the SDK instrument, fed a shared attribute dict (and the span's context for
    exemplars, when the metric keeps them)."""

    __slots__ = ("_attributes", "_exemplars", "_record")

    def __init__(self, record: Callable[..., None], attributes: AttributeSets, exemplars: bool) -> None:
        self._record = record
        self._attributes = attributes
        self._exemplars = exemplars

    def record(self, value: float, key: tuple[Any, ...], context: Context | None) -> None:
        if self._exemplars:
            self._record(value, self._attributes(key), context)  # the exemplar links this value to the trace
        else:
            self._record(value, self._attributes(key))
