"""``obsgen lake rollup``: the spec's indicators per slice, per day, week or month, into ``aggregates/``.

Each period's rollup is one Gzip Parquet file of long rows ``(indicator, kind, slice, slice_value, measure,
value)``: ``slice`` ``all`` is the whole period; measures are ``numerator``/``denominator``/``ratio`` with
Wilson 95 % bounds (``ci_low``/``ci_high``, where the ratio is a proportion), ``count``, quantiles (``p50``,
...), ``mean``, ``max``, ``share``/``planned``; on the experiment dimension, every arm's ``lift`` over the
baseline arm with a two-proportion z-test (``z``, ``p_value``); and per join reference ``judged``/``broken``/
``integrity``. Without ``--date`` only stale periods (new data since their last rollup) are computed.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from obsgen.lake import tables
from obsgen.lake.engines import Engine, engine
from obsgen.lake.ingest import STALE
from obsgen.lake.layout import GRAINS, Lake
from obsgen.lake.lock import locked
from obsgen.lake.sql import DIALECTS, Plan, experiment, table_name
from obsgen.lake.stats import two_proportion_z, wilson
from obsgen.model import Model, Rate, Ratio, Share

ROLLUP_SCHEMA = pa.schema([("indicator", pa.string()),
                           ("kind", pa.string()), ("slice", pa.string()), ("slice_value", pa.string()),
                           ("measure", pa.string()), ("value", pa.float64())])
"""Rows of one period's file; its grain and period are the directory names (``grain=…/period=…``)."""
ALL = "all"
COUNTS = frozenset({"numerator", "denominator", "count"})


def period_of(grain: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """``[start, end)`` of the ``grain`` period holding ``day`` (ISO weeks start on Monday)."""
    if grain == "day":
        return day, day + dt.timedelta(days=1)
    if grain == "week":
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=7)
    start = day.replace(day=1)
    return start, (start + dt.timedelta(days=32)).replace(day=1)


def _ms(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1000)


@dataclass
class Row:
    indicator: str
    kind: str
    slice: str
    slice_value: str | None
    measure: str
    value: float | None


def compute(model: Model, lake: Lake, eng: Engine, grain: str, start: dt.date, end: dt.date) -> list[Row]:
    """Every rollup row of ``[start, end)``: the event tables registered, the generated SQL run."""
    plan = Plan(model, eng.dialect)
    lookback = start - dt.timedelta(days=1)  # a context opened just before midnight still counts as known
    for event in model.events:
        files = [f for day, d in lake.partitions(event.name).items() if lookback <= day < end
                 for f in lake.files(d)]
        eng.register(table_name(event.name), files, tables.event_schema(model, event))
    start_ms, end_ms = _ms(start), _ms(end)
    # (event, alias) → {(dim or None, value): number}
    results: dict[tuple[str, str], dict[tuple[str | None, str | None], float]] = defaultdict(dict)
    for name, query in plan.queries.items():
        n = len(query.dims)
        for row in eng.rows(query.sql(eng.dialect, start_ms, end_ms)):
            grouped = [i for i in range(n) if row[n + i] == 0]  # GROUPING() is 0 for the column grouped by
            key = (query.dims[grouped[0]], row[grouped[0]]) if grouped else (None, None)
            for alias, value in zip(query.aggregates.values(), row[2 * n:], strict=True):
                results[(name, alias)][key] = None if value is None else float(value)
    out: list[Row] = []
    arms = experiment(model)
    for ip in plan.indicators:
        ind = ip.indicator
        keys: set[tuple[str | None, str | None]] = set()
        for measure in ip.measures.values():
            for term in measure.terms:
                keys |= set(results[term])
        keys = {k for k in keys if k[0] is None or k[0] in ip.dims}
        values: dict[tuple[str | None, str | None], dict[str, float | None]] = {}
        for key in keys:
            values[key] = {name: _sum(results[t].get(key) for t in m.terms) for name, m in ip.measures.items()}
            for name in COUNTS & values[key].keys():  # an event table without that slice value counted nothing
                values[key][name] = values[key][name] or 0.0
        total = values.get((None, None), {})
        for (dim, value), measures in sorted(values.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")):
            slice_name = dim or ALL
            derived: dict[str, float | None] = dict(measures)
            if isinstance(ind, Ratio):
                num, den = measures["numerator"] or 0.0, measures["denominator"] or 0.0
                derived["ratio"] = num / den if den else None
                bounds = wilson(num, den)
                if bounds is not None:
                    derived["ci_low"], derived["ci_high"] = bounds
            if isinstance(ind, Share) and dim is not None:
                whole = total.get("count") or 0.0
                derived["share"] = (measures["count"] or 0.0) / whole if whole else None
                if value in ind.planned:
                    derived["planned"] = float(ind.planned[value])
            if isinstance(ind, Rate):
                derived["per_second"] = (measures["count"] or 0.0) / ((end_ms - start_ms) / 1000)
            if isinstance(ind, Share) and dim is None:
                continue
            for measure, number in derived.items():
                out.append(Row(ind.name, ind.kind, slice_name, value, measure, number))
        if isinstance(ind, Ratio) and arms is not None and arms[0] in ip.dims:
            out += _lift(ind.name, arms[0], arms[1], values)
    checks = plan.integrity(start_ms, end_ms)
    union = " UNION ALL ".join(f"SELECT {i} AS n, * FROM ({sql}) AS c{i}" for i, sql in enumerate(checks.values()))
    found = {row[0]: row[1:] for row in eng.rows(union)} if checks else {}  # one job: Spark pays its overhead once
    for i, name in enumerate(checks):
        judged, broken = (float(v or 0) for v in found[i])
        out += [Row(name, "join", ALL, None, "judged", judged), Row(name, "join", ALL, None, "broken", broken),
                Row(name, "join", ALL, None, "integrity", 1 - broken / judged if judged else None)]
    return out


def _sum(numbers: Iterable[float | None]) -> float | None:
    present = [n for n in numbers if n is not None]
    return sum(present) if present else None


def _lift(name: str, dim: str, arms: tuple[str, ...], values: dict[Any, dict[str, float | None]]) -> list[Row]:
    base = values.get((dim, arms[0]))
    if not base or not base.get("denominator"):
        return []
    x0, n0 = base["numerator"] or 0.0, base["denominator"] or 0.0
    out = []
    for arm in arms[1:]:
        this = values.get((dim, arm))
        if not this or not this.get("denominator"):
            continue
        x1, n1 = this["numerator"] or 0.0, this["denominator"] or 0.0
        p0, p1 = x0 / n0, x1 / n1
        out.append(Row(name, "ratio", dim, arm, "lift", p1 / p0 - 1 if p0 else None))
        test = two_proportion_z(x1, n1, x0, n0)
        if test is not None:
            out += [Row(name, "ratio", dim, arm, "z", test[0]), Row(name, "ratio", dim, arm, "p_value", test[1])]
    return out


def write(lake: Lake, grain: str, start: dt.date, rows: list[Row]) -> str:
    table = pa.Table.from_pylist([r.__dict__ for r in rows], ROLLUP_SCHEMA)
    directory = lake.aggregate(grain, start)
    lake.fs.create_dir(directory, recursive=True)
    path = posixpath.join(directory, "part-0.parquet")
    tmp = posixpath.join(directory, ".part-0.parquet.tmp")
    pq.write_table(table, tmp, filesystem=lake.fs, compression="gzip")
    lake.fs.move(tmp, path)
    return path


def run(model: Model, lake: Lake, grain: str, dates: list[dt.date] | None = None, engine_name: str = "duckdb",
        master: str = "local[2]", session: Any = None) -> list[tuple[dt.date, int]]:
    """Roll up the periods holding ``dates`` (None: every stale one); returns ``(period start, rows)``."""
    if grain not in GRAINS or engine_name not in DIALECTS:
        raise ValueError(f"grain must be one of {GRAINS}, engine one of {tuple(DIALECTS)}")
    with locked(lake, f"rollup {grain}"):
        stale = lake.read_json(STALE, {g: [] for g in GRAINS})
        chosen = dates if dates is not None else [dt.date.fromisoformat(d) for d in stale.get(grain, [])]
        periods = sorted({period_of(grain, d) for d in chosen})
        done: list[tuple[dt.date, int]] = []
        if not periods:
            return done
        eng = engine(engine_name, lake, master, session)
        try:
            for start, end in periods:
                rows = compute(model, lake, eng, grain, start, end)
                write(lake, grain, start, rows)
                done.append((start, len(rows)))
        finally:
            eng.close()
        covered = {d for start, end in periods for d in _days(start, end)}
        stale[grain] = sorted(d for d in stale.get(grain, []) if dt.date.fromisoformat(d) not in covered)
        lake.write_json(STALE, stale)
        return done


def _days(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    day = start
    while day < end:
        yield day
        day += dt.timedelta(days=1)


def read(lake: Lake, grain: str, start: dt.date) -> list[dict[str, Any]]:
    return pq.read_table(posixpath.join(lake.aggregate(grain, start), "part-0.parquet"),
                         filesystem=lake.fs).to_pylist()
