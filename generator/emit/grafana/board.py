"""A whole dashboard: panels on the grid, slices as template variables, links, alert annotations."""

from __future__ import annotations

from typing import Any

from grafanalib import core as g
from obsgen.emit.grafana import panels as p
from obsgen.emit.grafana.annotations import alert_annotation, tile_alert_names, tile_alerts
from obsgen.emit.grafana.layout import layout
from obsgen.emit.grafana.provisioning import LOKI, PROMETHEUS
from obsgen.emit.grafana.queries import (
    ALL_VALUE,
    LOKI_VARIABLE,
    PROMETHEUS_VARIABLE,
    uses_loki,
    variable_query,
)
from obsgen.emit.render import header_text
from obsgen.model import Dashboard, Model, Variable, parse_duration
from obsgen.model.panelids import row_panel_id

SCHEMA_VERSION = 41
"""Dashboard JSON schema version. grafanalib defaults to 12 (Grafana 4), which Grafana 12 would migrate on
every load. 41 is the newest version every Grafana 12 release knows (it drops ``timepicker.time_options``,
which we never write); later releases' migrations (42: hidden fields also hidden from tooltips, 43:
``formatTime`` transformations) touch nothing obsgen emits, so 12.x and 13 load these files unchanged."""
QUICK_RANGES = (("1h", "Last 1 hour"), ("24h", "Last 24 hours"), ("7d", "Last 7 days"), ("30d", "Last 30 days"))
REFRESH_INTERVALS = ("30s", "1m", "5m", "15m", "30m", "1h", "2h", "1d")


def _datasource_variable(name: str, label: str, plugin: str, uid: str, text: str) -> dict[str, Any]:
    raw = p.data(g.Template(name=name, label=label, query=plugin, type="datasource", default=uid))
    return {**{k: raw[k] for k in ("hide", "includeAll", "label", "multi", "name", "options", "query", "type")},
            "current": {"text": text, "value": uid}, "refresh": 1, "regex": ""}


def _slice_variable(model: Model, variable: Variable) -> dict[str, Any]:
    query = variable_query(model, variable)
    raw = p.data(g.Template(name=variable.name, label=variable.title, query=query, dataSource=p.PROMETHEUS_REF,
                            includeAll=True, multi=True, allValue=ALL_VALUE, refresh=2, sort=1))
    keep = ("allValue", "datasource", "hide", "includeAll", "label", "multi", "name", "options", "query", "refresh",
            "sort", "type")
    return {**{k: raw[k] for k in keep}, "current": {"text": ["All"], "value": ["$__all"]}, "definition": query,
            "regex": ""}


def templating(model: Model, board: Dashboard) -> list[dict[str, Any]]:
    out = [_datasource_variable(PROMETHEUS_VARIABLE, "Prometheus data source", "prometheus", PROMETHEUS.uid,
                                PROMETHEUS.name)]
    if uses_loki(board):
        out.append(_datasource_variable(LOKI_VARIABLE, "Loki data source", "loki", LOKI.uid, LOKI.name))
    return out + [_slice_variable(model, v) for v in board.variables]


def links(model: Model, board: Dashboard) -> list[dict[str, Any]]:
    """Every other dashboard of the spec (keeping time range and slices), and the service runbook."""
    out = [g.DashboardLink(type="link", title=other.title, uri=f"/d/{model.dashboard_uid(other)}/"
                           f"{model.dashboard_uid(other)}", keepTime=True, includeVars=True, icon="dashboard",
                           tooltip=f"Open {other.title}")
           for other in model.dashboards if other is not board]
    out.append(g.DashboardLink(type="link", title="Runbook", uri=model.service.runbook_url, keepTime=False,
                               icon="doc", targetBlank=True, tooltip=f"Runbook of {model.service.name}"))
    return p.data(out)


def panels(model: Model, board: Dashboard) -> list[dict[str, Any]]:
    out = []
    for placed in layout(board):
        if placed.tile is None:
            out.append(p.row(placed.title, row_panel_id(placed.title), placed.box))
        else:
            out.append(p.panel(model, placed.tile, placed.box, tile_alerts(model, board, placed.tile)))
    return out


def dashboard_json(model: Model, board: Dashboard) -> dict[str, Any]:
    uid = model.dashboard_uid(board)
    description = header_text(model) + (f" {board.description}" if board.description else "")
    intervals = sorted({*REFRESH_INTERVALS, board.refresh.text}, key=lambda text: parse_duration(text).seconds)
    annotations = [alert_annotation(model, tile, names) for tile in board.tiles
                   if (names := tile_alert_names(model, board, tile))]
    dashboard = g.Dashboard(
        title=board.title, uid=uid, description=description, tags=["obsgen", model.service.name, board.name],
        editable=False, graphTooltip=g.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR, refresh=board.refresh.text,
        time=g.Time(f"now-{board.time.text}", "now"), timezone="browser",
        timePicker=g.TimePicker(refreshIntervals=intervals, timeOptions=[]),
        templating=g.Templating(list=templating(model, board)), links=links(model, board),
        annotations=g.Annotations(list=annotations), panels=panels(model, board), version=1,
    )
    raw = p.data(dashboard)
    keep = ("annotations", "description", "editable", "graphTooltip", "links", "panels", "refresh", "tags",
            "templating", "time", "timezone", "title", "uid", "version")
    out = {k: raw[k] for k in keep}
    out["timepicker"] = {"hidden": False, "refresh_intervals": raw["timepicker"]["refresh_intervals"],
                         "quick_ranges": [{"display": text, "from": f"now-{r}", "to": "now"}
                                          for r, text in QUICK_RANGES]}
    out.update({"schemaVersion": SCHEMA_VERSION, "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": ""})
    out["$comment"] = header_text(model)  # for readers of the file; Grafana shows the description
    return out

