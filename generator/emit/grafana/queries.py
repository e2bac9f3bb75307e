"""What a tile's queries and a dashboard's slices ask the data sources, as text.

Shared by the dashboard emitter, the PromQL contract check and the tests that run every query
against a real Prometheus, so all three read exactly the same expressions.
"""

from __future__ import annotations

from obsgen.emit.prometheus import promql as q
from obsgen.model import SLO, Dashboard, Metric, Model, Tile, TileQuery, Variable

PROMETHEUS_VARIABLE = "prometheus_datasource"
LOKI_VARIABLE = "loki_datasource"
"""Data-source template variables, named as dashboard-linter expects when a dashboard has two."""
PROMETHEUS_REF = {"type": "prometheus", "uid": f"${{{PROMETHEUS_VARIABLE}}}"}
LOKI_REF = {"type": "loki", "uid": f"${{{LOKI_VARIABLE}}}"}
"""Panels and annotations name their data source through the template variables."""
ALL_VALUE = ".*"
"""What a slice matches when "All" is selected: also series that lack the label (e.g. errors outside a bucket)."""


def query_expr(model: Model, query: TileQuery) -> str:
    """The query text: as written, or the selector of the indicator's recording rule over ``window``."""
    if query.expr is not None:
        return query.expr
    assert query.indicator is not None
    indicator = next(i for i in model.indicators if i.name == query.indicator)
    return q.match_selector(q.indicator_record(model, indicator, query.window), dict(query.match))


def variable_metric(model: Model, variable: Variable) -> Metric:
    return next(metric for metric in model.metrics if metric.name == variable.metric)


def variable_selector(model: Model, variable: Variable) -> str:
    """The series whose label values fill the variable's drop-down (shadow traffic excluded)."""
    return q.selector(variable_metric(model, variable).count_series)


def variable_query(model: Model, variable: Variable) -> str:
    """Grafana's Prometheus variable query: ``label_values(series{...}, label)``."""
    label = model.attributes[variable.label].label_name
    return f"label_values({variable_selector(model, variable)}, {label})"


def prometheus_tiles(board: Dashboard) -> list[Tile]:
    return [tile for tile in board.tiles if tile.datasource == "prometheus" and tile.queries]


def uses_loki(board: Dashboard) -> bool:
    return any(tile.datasource == "loki" for tile in board.tiles)


def tile_slos(model: Model, tile: Tile) -> list[SLO]:
    return [slo for name in tile.slos for slo in model.slos if slo.name == name]
