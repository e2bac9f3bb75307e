"""The rollup SQL, generated from the spec's indicators and join contracts, in each engine's dialect.

An indicator reads metrics; a metric is a count (or a sum, or a distribution) of one event's field, so
each indicator term becomes an aggregate over that event's table, narrowed by the term's ``where``: the
definitions the Prometheus rules use, computed exactly over the lake. One query per event table computes
every aggregate the indicators need for every slice at once (``GROUPING SETS``); a slice is a label every
metric of the indicator carries. Join integrity: one query per reference of the spec's ``joins``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from obsgen.lake import tables
from obsgen.model import Event, Gauge, Indicator, Mean, Metric, MetricRef, Model, Quantile, Rate, Ratio, Share
from obsgen.model.joins import Context, ElementOf, OneOf


@dataclass(frozen=True)
class Dialect:
    name: str
    quote: Callable[[str], str]
    percentile: str
    """Exact percentile with linear interpolation between closest ranks (the same definition in both)."""
    length: str
    element_at: str
    """1-based array element, NULL when out of range."""
    string: str


DUCKDB = Dialect("duckdb", lambda n: '"' + n.replace('"', '""') + '"', "quantile_cont", "len", "list_extract",
                 "VARCHAR")
SPARK = Dialect("spark", lambda n: "`" + n.replace("`", "``") + "`", "percentile", "size", "try_element_at",
                "STRING")
DIALECTS = {d.name: d for d in (DUCKDB, SPARK)}


def literal(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def table_name(event: str) -> str:
    return "lake_" + "".join(ch if ch.isalnum() else "_" for ch in event)


@dataclass
class EventQuery:
    """The aggregates one event table must give, and the slices to group them by."""

    event: Event
    aggregates: dict[str, str] = field(default_factory=dict)
    """SQL expression → column alias."""
    dims: list[str] = field(default_factory=list)

    def need(self, expr: str) -> str:
        if expr not in self.aggregates:
            self.aggregates[expr] = f"a{len(self.aggregates)}"
        return self.aggregates[expr]

    def slice(self, dim: str) -> None:
        if dim not in self.dims:
            self.dims.append(dim)

    def sql(self, d: Dialect, start_ms: int, end_ms: int) -> str:
        q = d.quote
        cols = [f"CAST({q(dim)} AS {d.string}) AS d{i}" for i, dim in enumerate(self.dims)]
        cols += [f"GROUPING({q(dim)}) AS g{i}" for i, dim in enumerate(self.dims)]
        aggs = [f"{expr} AS {alias}" for expr, alias in self.aggregates.items()]
        sets = ", ".join(["()", *(f"({q(dim)})" for dim in self.dims)])
        return (f"SELECT {', '.join([*cols, *aggs])} FROM {table_name(self.event.name)} "
                f"WHERE NOT {q(tables.SHADOW)} AND {q(tables.EVENT_MS)} >= {start_ms} "
                f"AND {q(tables.EVENT_MS)} < {end_ms} GROUP BY GROUPING SETS ({sets})")


@dataclass(frozen=True)
class Measure:
    """One number of an indicator: an aggregate of an event table, or a sum of several (a ratio's terms)."""

    terms: tuple[tuple[str, str], ...]
    """(event, column alias) pairs, summed."""


@dataclass(frozen=True)
class IndicatorPlan:
    indicator: Indicator
    dims: tuple[str, ...]
    measures: dict[str, Measure]
    """Measure name (``numerator``, ``denominator``, ``p95``, ``mean``, ``max``, ``count``) → its terms."""


class Plan:
    """Every query a rollup of ``model`` runs, in one dialect."""

    def __init__(self, model: Model, dialect: Dialect) -> None:
        self.model = model
        self.d = dialect
        self.events = {e.name: e for e in model.events}
        self.queries: dict[str, EventQuery] = {}
        self.indicators = [self._indicator(i) for i in model.indicators]

    def _query(self, event: str) -> EventQuery:
        if event not in self.queries:
            self.queries[event] = EventQuery(self.events[event])
        return self.queries[event]

    def _where(self, ref: MetricRef) -> str:
        q = self.d.quote
        parts = [f"{q(f)} IN ({', '.join(map(literal, values))})" for f, values in sorted(ref.where.items())]
        return " AND ".join(parts) or "TRUE"

    def _value(self, metric: Metric) -> str:
        assert metric.value is not None
        attr = self.model.attributes[metric.value]
        column = self.d.quote(metric.value)
        return f"{self.d.length}({column})" if attr.type == "array" else column

    def _count(self, ref: MetricRef) -> str:
        """What the metric counts, as the runtime records it: events, distinct ``once_per`` values, or a sum."""
        m, c, q = ref.metric, self._where(ref), self.d.quote
        if m.instrument == "counter" and m.once_per:
            return f"COUNT(DISTINCT CASE WHEN {c} THEN {q(m.once_per)} END)"
        if m.instrument == "counter" and m.value:
            return f"COALESCE(SUM(CASE WHEN {c} THEN {self._value(m)} END), 0)"
        if m.value:  # a histogram or gauge counts its observations
            return f"SUM(CASE WHEN {c} AND {q(m.value)} IS NOT NULL THEN 1 ELSE 0 END)"
        return f"SUM(CASE WHEN {c} THEN 1 ELSE 0 END)"

    def _slices(self, indicator: Indicator) -> tuple[str, ...]:
        if isinstance(indicator, Share):
            return (indicator.label,)
        common = None
        for ref in indicator.refs:
            labels = set(ref.metric.labels)
            common = labels if common is None else common & labels
        order = [*indicator.by, *(label for ref in indicator.refs for label in ref.metric.labels)]
        return tuple(dict.fromkeys(label for label in order if label in (common or set())))

    def _term(self, ref: MetricRef, expr: str, dims: tuple[str, ...]) -> tuple[str, str]:
        query = self._query(ref.metric.event)
        for dim in dims:
            query.slice(dim)
        return ref.metric.event, query.need(expr)

    def _indicator(self, indicator: Indicator) -> IndicatorPlan:
        dims = self._slices(indicator)
        measures: dict[str, Measure] = {}
        match indicator:
            case Ratio():
                measures["numerator"] = Measure(tuple(self._term(r, self._count(r), dims)
                                                      for r in indicator.numerators))
                measures["denominator"] = Measure(tuple(self._term(r, self._count(r), dims)
                                                        for r in indicator.denominators))
            case Quantile():
                ref = indicator.metric
                value = f"CASE WHEN {self._where(ref)} THEN {self._value(ref.metric)} END"
                measures["count"] = Measure((self._term(ref, self._count(ref), dims),))
                for qv in indicator.quantiles:
                    name = f"p{format(qv * 100, 'f').rstrip('0').rstrip('.')}"
                    measures[name] = Measure((self._term(ref, f"{self.d.percentile}({value}, {qv})", dims),))
            case Mean() | Gauge():
                ref = indicator.metric
                value = f"CASE WHEN {self._where(ref)} THEN {self._value(ref.metric)} END"
                measures["count"] = Measure((self._term(ref, self._count(ref), dims),))
                fn, name = ("AVG", "mean") if isinstance(indicator, Mean) else ("MAX", "max")
                measures[name] = Measure((self._term(ref, f"{fn}({value})", dims),))
            case Share() | Rate():
                ref = indicator.metric
                measures["count"] = Measure((self._term(ref, self._count(ref), dims),))
        return IndicatorPlan(indicator, dims, measures)

    # -- join integrity -----------------------------------------------------------------------------

    def integrity(self, start_ms: int, end_ms: int) -> dict[str, str]:
        """Reference name → SQL giving ``(judged, broken)`` for the member events of the period."""
        out: dict[str, str] = {}
        for ctx in self.model.joins:
            for member in ctx.require_known:
                out[f"{ctx.unknown_kind}.{member}"] = self._unknown(ctx, member, start_ms, end_ms)
            for ref in ctx.references:
                out[ref.name] = self._reference(ctx, ref, start_ms, end_ms)
        return out

    def _period(self, alias: str, start_ms: int, end_ms: int) -> str:
        q = self.d.quote
        return (f"NOT {alias}.{q(tables.SHADOW)} AND {alias}.{q(tables.EVENT_MS)} >= {start_ms} "
                f"AND {alias}.{q(tables.EVENT_MS)} < {end_ms}")

    def _unknown(self, ctx: Context, member: str, start_ms: int, end_ms: int) -> str:
        q, k = self.d.quote, self.d.quote(ctx.key)
        return (f"SELECT COUNT(*) AS judged, COALESCE(SUM(CASE WHEN r.k IS NULL THEN 1 ELSE 0 END), 0) AS broken "
                f"FROM {table_name(member)} m LEFT JOIN (SELECT DISTINCT {k} AS k FROM {table_name(ctx.root)}) r "
                f"ON m.{k} = r.k WHERE {self._period('m', start_ms, end_ms)} AND m.{q(ctx.key)} IS NOT NULL")

    def _reference(self, ctx: Context, ref: OneOf | ElementOf, start_ms: int, end_ms: int) -> str:
        q, k = self.d.quote, self.d.quote(ctx.key)
        f, tf, target = q(ref.field), q(ref.target_field), table_name(ref.target_event)
        where = f"{self._period('m', start_ms, end_ms)} AND m.{k} IS NOT NULL AND m.{f} IS NOT NULL"
        if isinstance(ref, ElementOf):
            element = f"{self.d.element_at}(t.arr, CAST(m.{q(ref.index)} AS INT))"
            return (f"SELECT COUNT(*) AS judged, COALESCE(SUM(CASE WHEN t.k IS NULL OR {element} IS NULL "
                    f"OR {element} <> m.{f} THEN 1 ELSE 0 END), 0) AS broken FROM {table_name(ref.event)} m "
                    f"LEFT JOIN (SELECT {k} AS k, "
                    f"max_by({tf}, {q(tables.EVENT_MS)}) AS arr FROM {target} GROUP BY {k}) t ON m.{k} = t.k "
                    f"WHERE {where}")
        if ref.same is None:
            return (f"SELECT COUNT(*) AS judged, COALESCE(SUM(CASE WHEN t.k IS NULL THEN 1 ELSE 0 END), 0) AS broken "
                    f"FROM {table_name(ref.event)} m LEFT JOIN (SELECT DISTINCT {k} AS k, {tf} AS v FROM {target}) t "
                    f"ON m.{k} = t.k AND m.{f} = t.v WHERE {where}")
        s = q(ref.same)
        return (f"SELECT COUNT(*) AS judged, COALESCE(SUM(CASE WHEN t.k IS NULL THEN 1 ELSE 0 END), 0) AS broken "
                f"FROM {table_name(ref.event)} m "
                f"JOIN (SELECT DISTINCT {k} AS k, {s} AS s FROM {target}) g ON m.{k} = g.k AND m.{s} = g.s "
                f"LEFT JOIN (SELECT DISTINCT {k} AS k, {tf} AS v, {s} AS s FROM {target}) t "
                f"ON m.{k} = t.k AND m.{f} = t.v AND m.{s} = t.s WHERE {where}")


def experiment(model: Model) -> tuple[str, tuple[str, ...]] | None:
    """The experiment dimension: the label of a share indicator with a planned split, and its arms.

    The first planned arm is the baseline every other arm's lift is measured against."""
    for indicator in model.indicators:
        if isinstance(indicator, Share) and indicator.planned:
            return indicator.label, tuple(indicator.planned)
    return None
