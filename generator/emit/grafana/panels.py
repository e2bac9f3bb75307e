"""One tile → one Grafana panel, built with grafanalib and brought up to Grafana 12's panel model.

grafanalib still emits several pre-Grafana-8 shapes (gauge and bar gauge ``fieldOptions``, the old
heatmap, ``span``/``height`` keys, bare data-source names), so every panel goes through
``_modernise``: the panel keeps grafanalib's structure and gets ``fieldConfig``/``options`` in the
current form, data sources as ``{type, uid}`` objects and targets as Grafana 12 saves them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from grafanalib import core as g
from obsgen.emit.grafana.layout import Box
from obsgen.emit.grafana.queries import LOKI_REF, PROMETHEUS_REF, query_expr, tile_slos
from obsgen.model import Alert, Model, Tile

HISTOGRAM_BUCKETS = re.compile(r"_bucket\b")
"""A query over histogram buckets: its samples have exemplars."""
PANEL_KEYS = ("datasource", "description", "fieldConfig", "gridPos", "id", "links", "options", "targets", "title",
              "transformations", "type")
"""What a generated panel carries; grafanalib's legacy keys (span, height, error, ...) are dropped."""


def data(obj: Any) -> Any:
    """A grafanalib object (or anything holding them) as plain JSON data: what grafanalib's ``DashboardEncoder``
    writes, built directly instead of encoding to text and parsing it back."""
    to_json_data = getattr(obj, "to_json_data", None)
    if to_json_data is not None:
        return data(to_json_data())
    if isinstance(obj, dict):
        return {k if isinstance(k, str) else json.dumps(k): data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [data(v) for v in obj]
    return obj


def number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def ref_id(index: int) -> str:
    return chr(ord("A") + index)


def threshold_steps(model: Model, tile: Tile) -> list[dict[str, Any]]:
    """Explicit steps, or the tile's SLO objectives as a color scale (good side green), or plain green."""
    if tile.thresholds:
        return [_step(s.color, s.value) for s in tile.thresholds]
    slos = tile_slos(model, tile)
    if not slos:
        return [_step("green")]
    values = sorted({slo.objective.value for slo in slos})
    upper_bound = slos[0].objective.op in ("<", "<=")
    good, bad = ("green", "red") if upper_bound else ("red", "green")
    steps = [_step(good)]
    for i, value in enumerate(values):
        steps.append(_step(bad if i == len(values) - 1 else "orange", value))
    return steps


def _step(color: str, value: Decimal | None = None) -> dict[str, Any]:
    return {"color": color, "value": None if value is None else number(value)}


def _targets(model: Model, tile: Tile) -> list[dict[str, Any]]:
    out = []
    for i, query in enumerate(tile.queries):
        if tile.datasource == "loki":
            out.append({"datasource": LOKI_REF, "editorMode": "code", "expr": query_expr(model, query),
                        "queryType": "range", "refId": ref_id(i)})
            continue
        target = data(g.Target(expr=query_expr(model, query), legendFormat=query.legend, refId=ref_id(i),
                               instant=query.instant or tile.panel == "table", datasource=PROMETHEUS_REF))
        table = tile.panel == "table"
        entry = {"datasource": target["datasource"], "editorMode": "code", "expr": target["expr"],
                 "format": "table" if table else query.format, "instant": target["instant"],
                 "legendFormat": target["legendFormat"], "range": not target["instant"], "refId": target["refId"]}
        if not target["instant"] and HISTOGRAM_BUCKETS.search(target["expr"]):
            entry["exemplar"] = True  # bucket samples carry trace ids: Grafana links them to Jaeger
        out.append(entry)
    return out


def _overrides(tile: Tile) -> list[dict[str, Any]]:
    """Queries in another unit than the tile's: that unit, on a right-hand axis (tables: that column)."""
    out = []
    for i, query in enumerate(tile.queries):
        if query.unit is None or query.unit == tile.unit:
            continue
        if tile.panel == "table":
            out.append({"matcher": {"id": "byName", "options": query.legend},
                        "properties": [{"id": "unit", "value": query.unit}]})
        else:
            out.append({"matcher": {"id": "byFrameRefID", "options": ref_id(i)},
                        "properties": [{"id": "unit", "value": query.unit},
                                       {"id": "custom.axisPlacement", "value": "right"}]})
    return out


def _mappings(tile: Tile) -> list[dict[str, Any]]:
    if not tile.mappings:
        return []
    return [{"type": "value", "options": {m.value: {"color": m.color, "index": i, "text": m.text}
                                          for i, m in enumerate(tile.mappings)}}]


def _field_defaults(model: Model, tile: Tile) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "color": {"mode": "palette-classic" if tile.panel == "timeseries" else "thresholds"},
        "mappings": _mappings(tile),
        "thresholds": {"mode": "absolute", "steps": threshold_steps(model, tile)},
        "unit": tile.unit,
    }
    for key, value in (("min", tile.min), ("max", tile.max)):
        if value is not None:
            defaults[key] = number(value)
    return defaults


def _reduce(calc: str) -> dict[str, Any]:
    return {"calcs": [calc], "fields": "", "values": False}


def _legend() -> dict[str, Any]:
    return {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True}


def _timeseries(common: dict[str, Any], model: Model, tile: Tile) -> Any:
    drawn = bool(tile.thresholds or tile.slos)
    return g.TimeSeries(**common, unit=tile.unit, tooltipMode="multi", tooltipSort="desc", fillOpacity=10,
                        stacking={"group": "A", "mode": "normal"} if tile.stack else {"mode": "none"},
                        thresholdsStyleMode="dashed" if drawn else "off", overrides=_overrides(tile))


def _stat(common: dict[str, Any], model: Model, tile: Tile) -> Any:
    return g.Stat(**common, format=tile.unit, reduceCalc="lastNotNull", graphMode="area", colorMode="value",
                  textMode="value_and_name", overrides=_overrides(tile))


def _gauge(common: dict[str, Any], model: Model, tile: Tile) -> Any:
    return g.GaugePanel(**common, format=tile.unit, calc="lastNotNull")


def _bargauge(common: dict[str, Any], model: Model, tile: Tile) -> Any:
    return g.BarGauge(**common, format=tile.unit, calc="mean", displayMode=g.GAUGE_DISPLAY_MODE_GRADIENT)


def _table(common: dict[str, Any], model: Model, tile: Tile) -> Any:
    names = {f"Value #{ref_id(i)}": q.legend for i, q in enumerate(tile.queries)}
    order = {q.legend: i for i, q in enumerate(tile.queries)}
    common["transformations"] = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": {"Time": True}, "indexByName": order,
                                       "renameByName": names}},
    ]
    return g.Table(**common, unit=tile.unit, overrides=_overrides(tile))


def _heatmap(common: dict[str, Any], model: Model, tile: Tile) -> Any:
    return g.Heatmap(**common, dataFormat="tsbuckets")


def _state_timeline(common: dict[str, Any], model: Model, tile: Tile) -> Any:
    return g.StateTimeline(**common, mappings=_mappings(tile))


def _logs(common: dict[str, Any], model: Model, tile: Tile) -> Any:
    return g.Logs(**common, showTime=True, wrapLogMessages=True, enableLogDetails=True)


def _text(common: dict[str, Any], model: Model, tile: Tile) -> Any:
    return g.Text(**common, content=tile.content)


BUILDERS: dict[str, Callable[[dict[str, Any], Model, Tile], Any]] = {
    "timeseries": _timeseries, "stat": _stat, "gauge": _gauge, "bargauge": _bargauge, "table": _table,
    "heatmap": _heatmap, "state-timeline": _state_timeline, "logs": _logs, "text": _text,
}

OPTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    # Grafana 12's options per panel type; grafanalib's where they are already current.
    "timeseries": lambda old: {**old, "legend": _legend()},
    "stat": lambda old: {**old, "reduceOptions": _reduce("lastNotNull"), "wideLayout": True,
                         "showPercentChange": False},
    "gauge": lambda old: {"minVizHeight": 75, "minVizWidth": 75, "orientation": "auto",
                          "reduceOptions": _reduce("lastNotNull"), "showThresholdLabels": False,
                          "showThresholdMarkers": True, "sizing": "auto"},
    "bargauge": lambda old: {"displayMode": "gradient", "maxVizHeight": 300, "minVizHeight": 16, "minVizWidth": 8,
                             "namePlacement": "auto", "orientation": "horizontal", "reduceOptions": _reduce("mean"),
                             "showUnfilled": True, "sizing": "auto", "valueMode": "color"},
    "table": lambda old: {"cellHeight": "sm", "footer": {"countRows": False, "fields": "", "reducer": ["sum"],
                                                         "show": False}, "showHeader": True},
    "heatmap": lambda old: {"calculate": False, "cellGap": 1, "color": {"mode": "scheme", "scheme": "Oranges",
                                                                        "steps": 64},
                            "legend": {"show": True}, "rowsFrame": {"layout": "auto"},
                            "tooltip": {"mode": "single", "yHistogram": True},
                            "yAxis": {"axisPlacement": "left", "reverse": False}},
    "state-timeline": lambda old: {**old, "legend": _legend()},
    "logs": lambda old: old,
    "text": lambda old: old,
}


def panel(model: Model, tile: Tile, box: Box, alerts: list[Alert]) -> dict[str, Any]:
    """The panel of ``tile`` at ``box``; ``alerts`` are the alerts whose dashboard link opens it."""
    description = tile.description
    if alerts:
        description += f" Alerts linked to this panel: {', '.join(a.name for a in alerts)}."
    common: dict[str, Any] = {
        "id": tile.panel_id, "title": tile.title, "description": description,
        "gridPos": g.GridPos(h=box.h, w=box.w, x=box.x, y=box.y),
        "dataSource": None if tile.panel == "text" else (LOKI_REF if tile.datasource == "loki" else PROMETHEUS_REF),
        "targets": [],
        "links": [g.DataLink(title=f"Runbook: {a.name}", linkUrl=a.runbook_url, isNewTab=True) for a in alerts],
    }
    raw = data(BUILDERS[tile.panel](common, model, tile))
    return _modernise(raw, model, tile)


def _modernise(raw: dict[str, Any], model: Model, tile: Tile) -> dict[str, Any]:
    out = {key: raw[key] for key in PANEL_KEYS if key in raw and raw[key] is not None}
    out["targets"] = _targets(model, tile)
    if tile.panel == "text":
        out.pop("targets")
    old_defaults = raw.get("fieldConfig", {}).get("defaults", {})
    defaults = _field_defaults(model, tile)
    if tile.panel in ("timeseries", "state-timeline"):
        defaults["custom"] = {k: v for k, v in old_defaults.get("custom", {}).items() if v is not None}
    if tile.panel == "timeseries":
        defaults["custom"]["showPoints"] = "never"
    if tile.panel == "table":  # Grafana 10.1+ replaced the column ``displayMode`` with ``cellOptions``
        defaults["custom"] = {"align": "auto", "cellOptions": {"type": "auto"}, "filterable": False,
                              "inspect": False}
    out["fieldConfig"] = {"defaults": defaults, "overrides": _overrides(tile)}
    out["options"] = OPTIONS[tile.panel](raw.get("options") or {})
    if tile.panel == "heatmap":  # a heatmap's unit is its bucket axis's; the cells count observations
        out["options"]["yAxis"]["unit"] = tile.unit
        defaults["unit"] = "short"
    return out


def row(title: str, panel_id: int, box: Box) -> dict[str, Any]:
    raw = data(g.RowPanel(title=title, id=panel_id, gridPos=g.GridPos(h=box.h, w=box.w, x=box.x, y=box.y)))
    return {key: raw[key] for key in ("collapsed", "gridPos", "id", "panels", "title", "type")}

