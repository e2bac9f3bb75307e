"""Drawing values: a ``Dist`` or a field's ``Cases`` → a value, and the defaults derived from the spec.

``Scope`` is what a draw can see: the fields of the event being made, of its parent event, of the
context (root event and the entity that opened it), and the events the context has sent so far.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from re import _parser as sre_parse  # type: ignore[attr-defined]  # the stdlib's regex parser
from typing import Any

from obsgen.model import Attribute, Model, Share
from obsgen.model import simulation as s
from obsgen.model.joins import ElementOf

OMIT = object()
"""A drawn "no value": the optional field is left out."""
DERIVED = object()
"""No case matched (or ``{}``): use the default derived from the spec."""
ARRAY_LENGTH = 5
"""Longest derived array (at most the attribute's ``max_items``)."""
NUMBER_SPAN = 1000.0
"""Derived numbers without a maximum lie within ``minimum`` .. ``minimum + NUMBER_SPAN``."""


class Scope:
    """The values a draw can read (``field`` in ``values``; ``event.field`` conditions read ``seen``).

    ``values`` is one flat dict (the event being made over its parent event over the context's values),
    merged by the caller: a draw reads many fields, and a ``ChainMap`` lookup costs several Python calls each."""

    __slots__ = ("elapsed_s", "seen", "started_s", "values")

    def __init__(self, values: dict[str, Any], seen: Mapping[str, list[dict[str, Any]]], elapsed_s: float,
                 started_s: float) -> None:
        self.values = values
        self.seen = seen
        self.elapsed_s = elapsed_s
        """Simulated seconds since the start of the day (for ``age``)."""
        self.started_s = started_s
        """Simulated second the run (or the override being applied) started."""

    def matches(self, conditions: tuple[s.Condition, ...]) -> bool:
        for cond in conditions:
            if cond.event is not None:
                if not any(p.get(cond.field) in cond.values for p in self.seen.get(cond.event, ())):
                    return False
            elif self.values.get(cond.field) not in cond.values:
                return False
        return True


class Drawer:
    """Draws values with one random generator (the simulation's, so a seed replays the same traffic)."""

    def __init__(self, rng: random.Random, seed: int, ids: Mapping[str, list[str]]) -> None:
        self.rng = rng
        self.seed = seed
        self.ids = ids
        """Population name → its entity ids (for ``sample``)."""
        self._cum: dict[int, tuple[s.Choice, list[float]]] = {}
        rng = self.rng
        self._kinds: dict[type, Callable[[Any, Scope], Any]] = {
            s.Const: lambda kind, scope: kind.value,
            s.Choice: self._choice,
            s.Uniform: self._uniform,
            s.Normal: lambda kind, scope: rng.gauss(kind.mean, kind.sd),
            s.LogNormal: lambda kind, scope: rng.lognormvariate(math.log(kind.median), kind.sigma),
            s.Template: self._template,
            s.Sample: self._sample,
            s.Copy: lambda kind, scope: scope.values.get(kind.field, OMIT),
            s.Age: self._age,
            s.Omit: lambda kind, scope: OMIT,
        }

    def cases(self, cases: s.Cases, scope: Scope) -> Any:
        """The first matching case's draw; ``DERIVED`` when none matches."""
        for case in cases:
            if scope.matches(case.when):
                return self.dist(case.dist, scope)
        return DERIVED

    def dist(self, dist: s.Dist, scope: Scope) -> Any:
        rng = self.rng
        if dist.present < 1.0 and rng.random() >= dist.present:
            return OMIT
        value = self.kind(dist.kind, scope)
        if value is OMIT or value is DERIVED:
            return value
        for adj in dist.adjust:
            if adj.when and not scope.matches(adj.when):
                continue
            if adj.probability < 1.0 and rng.random() >= adj.probability:
                continue
            if adj.times is not None:
                value *= adj.times
            if adj.field is not None:
                value *= float(scope.values.get(adj.field, 1)) ** adj.power
            if adj.plus is not None:
                value += self.dist(adj.plus, scope)
        if dist.minimum is not None and value < dist.minimum:
            value = type(value)(dist.minimum)
        if dist.maximum is not None and value > dist.maximum:
            value = type(value)(dist.maximum)
        if dist.round is not None and isinstance(value, float):
            value = round(value, dist.round)
        return value

    def kind(self, kind: s.Kind, scope: Scope) -> Any:
        draw = self._kinds.get(type(kind))
        return DERIVED if draw is None else draw(kind, scope)

    # One method a kind, found by the kind's type (a ``match`` over ten class patterns cost more than the draw).

    def _choice(self, kind: s.Choice, scope: Scope) -> Any:
        values = kind.values
        if len(values) == 1:
            return values[0]
        # random.choices with the weights' running sums, summed once: the same draw as with ``weights``.
        cached = self._cum.get(id(kind))
        if cached is None or cached[0] is not kind:
            cached = self._cum[id(kind)] = (kind, list(itertools.accumulate(kind.weights)))
        return self.rng.choices(values, cum_weights=cached[1])[0]

    def _uniform(self, kind: s.Uniform, scope: Scope) -> Any:
        rng = self.rng
        return rng.randint(int(kind.low), int(kind.high)) if kind.integer else rng.uniform(kind.low, kind.high)

    def _template(self, kind: s.Template, scope: Scope) -> Any:
        return kind.text.format_map(_Formatting(scope.values, self.seed))

    def _sample(self, kind: s.Sample, scope: Scope) -> Any:
        ids = self.ids[kind.population]
        n = max(1, min(len(ids), int(self.dist(kind.count, scope))))
        return self.rng.sample(ids, n)

    @staticmethod
    def _age(kind: s.Age, scope: Scope) -> Any:
        every = kind.every
        since = scope.elapsed_s - scope.started_s if every is None else scope.elapsed_s + kind.offset
        return round(kind.start + (since % every if every else since), 1)


class _Formatting(dict[str, Any]):
    """Template names: the scope's values and ``seed``; a name the scope lacks stays as written."""

    def __init__(self, values: Mapping[str, Any], seed: int) -> None:
        super().__init__()
        self.values = values
        self.seed = seed

    def __missing__(self, key: str) -> Any:
        if key == "seed":
            return self.seed
        value = self.values.get(key)
        return value if value is not None else "{" + key + "}"


# -- defaults derived from the spec -----------------------------------------------------------------------------


Default = Callable[[random.Random], Any]


class Defaults:
    """A value for any field the section leaves out, valid against the attribute's schema.

    Enums are uniform (a ``share`` indicator's ``planned`` split for its label), numbers lie within the
    bounds, ``uuid4`` ids are random, ``unix_ms`` is now, high-PII ``sha256_hex`` fields get raw ids
    (pseudonymised by the runtime and listed in ``raw_ids``), arrays hold what the events that point into
    them (``element_of``) can take, and patterned strings take a value from the spec's examples.
    """

    def __init__(self, model: Model, seed: int) -> None:
        self.model = model
        self.seed = seed
        self.raw_ids: set[str] = set()
        self._cache: dict[str, Default] = {}
        self._examples: dict[str, list[Any]] = {}
        for event in model.events:
            for field, value in event.example.items():
                self._examples.setdefault(field, []).append(value)
        self._elements = {r.target_field: r.field for ctx in model.joins for r in ctx.references
                          if isinstance(r, ElementOf)}
        """Array field → the field whose values its elements are (a line's product is one of the cart's)."""
        self._planned = {i.label: i.planned for i in model.indicators if isinstance(i, Share) and i.planned}

    def __call__(self, field: str) -> Default:
        draw = self._cache.get(field)
        if draw is None:
            draw = self._cache[field] = self._derive(field, self.model.attributes[field])
        return draw

    def _derive(self, field: str, a: Attribute) -> Default:
        if field in self._planned:
            values, weights = tuple(self._planned[field]), tuple(float(w) for w in self._planned[field].values())
            return lambda rng: rng.choices(values, weights)[0]
        if a.enum:
            enum = a.enum
            return lambda rng: rng.choice(enum)
        if a.format == "uuid4":
            return lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if a.format == "unix_ms":
            return lambda rng: time.time_ns() // 1_000_000
        if a.format == "sha256_hex":
            if a.pii == "high":
                return self._raw_id(field)
            return lambda rng: f"{rng.getrandbits(256):064x}"
        match a.type:
            case "integer":
                low = int(a.minimum) if a.minimum is not None else 0
                high = int(a.maximum) if a.maximum is not None else low + 100
                return lambda rng: rng.randint(low, high)
            case "number":
                lo = float(a.minimum) if a.minimum is not None else 0.0
                hi = float(a.maximum) if a.maximum is not None else lo + NUMBER_SPAN
                return lambda rng: round(rng.uniform(lo, hi), 3)
            case "boolean":
                return lambda rng: rng.random() < 0.5
            case "object":
                return lambda rng: {}
            case "array":
                return self._array(field, a)
        return self._string(field, a)

    def _array(self, field: str, a: Attribute) -> Default:
        """1 to ``ARRAY_LENGTH`` elements; distinct strings where a numbered value still fits the element's field
        (an event pointing at an element by value must find it once: a line's product, a list's item)."""
        longest = min(a.max_items or ARRAY_LENGTH, ARRAY_LENGTH)
        if (a.items or "string") != "string":
            zero = {"integer": 0, "number": 0.0, "boolean": False}.get(a.items or "", 0)
            return lambda rng: [zero] * rng.randint(1, longest)
        source = self._elements.get(field)
        base = self(source)(random.Random(0)) if source is not None else f"{field}-"
        source_attribute = self.model.attributes[source] if source is not None else None
        pattern = re.compile(source_attribute.pattern) if source_attribute and source_attribute.pattern else None
        numbered = pattern is None or all(pattern.search(f"{base}{n}") for n in (0, 999))
        if not numbered:
            return lambda rng: [base] * rng.randint(1, longest)
        return lambda rng: [f"{base}{n}" for n in rng.sample(range(1000), rng.randint(1, longest))]

    def _raw_id(self, field: str) -> Default:
        raw_ids, seed = self.raw_ids, self.seed

        def raw_id(rng: random.Random) -> str:
            value = f"{field}-{rng.randrange(1000):04d}.s{seed}@sim.example"
            raw_ids.add(value)
            return value
        return raw_id

    def _string(self, field: str, a: Attribute) -> Default:
        limit = a.max_length or 64
        candidates = [*self._examples.get(field, ()), f"sim-{field}"[:limit], "sim"]
        if a.pattern is not None:
            pattern = re.compile(a.pattern)
            candidates = [c for c in [*candidates, _shortest_match(a.pattern)]
                          if isinstance(c, str) and pattern.search(c) and len(c) <= limit]
        if not candidates:
            raise ValueError(f"cannot derive a value of `{field}` matching {a.pattern}: declare one under "
                             f"simulation.fields.{field} (or add it to an event's example)")
        value = candidates[0]
        return lambda rng: value


def _shortest_match(pattern: str) -> str | None:
    """A short string matching a simple ``pattern`` (literals, classes, repeats, groups, alternatives), else None.

    One constant per field, not random strings: a patterned field may be a low-cardinality label.
    """
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None

    def build(items: Any) -> str | None:
        out = []
        for op, arg in items:
            name = str(op)
            if name == "LITERAL":
                out.append(chr(arg))
            elif name == "IN":
                char = next((chr(a[0] if str(o) == "RANGE" else a) for o, a in arg
                             if str(o) in ("RANGE", "LITERAL")), None)
                if char is None:
                    return None
                out.append(char)
            elif name in ("MAX_REPEAT", "MIN_REPEAT"):
                low, _, sub = arg
                part = build(sub)
                if part is None:
                    return None
                out.append(part * low)
            elif name == "SUBPATTERN":
                part = build(arg[-1])
                if part is None:
                    return None
                out.append(part)
            elif name == "BRANCH":
                part = build(arg[1][0])
                if part is None:
                    return None
                out.append(part)
            elif name == "ANY":
                out.append("a")
            elif name != "AT":
                return None
        return "".join(out)

    return build(parsed)
