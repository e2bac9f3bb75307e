"""Alerts drawn on dashboard tiles: which alerts a tile shows and their annotation query.

Without grafanalib, so the PromQL contract can check the annotation queries of a spec's dashboards without
importing it (only the dashboard emitter does).
"""

from __future__ import annotations

from typing import Any

from obsgen.emit.grafana.queries import PROMETHEUS_REF, tile_slos
from obsgen.emit.prometheus.rules import slo_alert_name
from obsgen.model import Alert, Dashboard, Model, Tile


def tile_alerts(model: Model, board: Dashboard, tile: Tile) -> list[Alert]:
    """Alerts whose ``dashboard_tile`` is this tile (their ``dashboard_url`` opens this panel)."""
    return [a for a in model.alerts if a.dashboard_tile == f"{board.name}/{tile.id}"]


def tile_alert_names(model: Model, board: Dashboard, tile: Tile) -> list[str]:
    """Alerts shown on the tile: its linked alerts and the burn-rate alerts of the SLOs it draws."""
    names = [a.name for a in tile_alerts(model, board, tile)]
    names += [slo_alert_name(model, slo) for slo in tile_slos(model, tile) if slo.budget_period is not None]
    return list(dict.fromkeys(names))


def alert_annotation(model: Model, tile: Tile, names: list[str]) -> dict[str, Any]:
    """Firing alerts drawn as annotations on the one panel that shows their signal."""
    op = "=" if len(names) == 1 else "=~"
    expr = f'ALERTS{{alertname{op}"{"|".join(names)}", alertstate="firing", service="{model.service.name}"}}'
    return {
        "datasource": PROMETHEUS_REF, "enable": True, "expr": expr, "filter": {"exclude": False,
                                                                              "ids": [tile.panel_id]},
        "hide": False, "iconColor": "red", "name": f"Alerts: {tile.title}", "step": "1m",
        "tagKeys": "severity,family", "textFormat": "{{alertname}} ({{severity}}) is firing",
        "titleFormat": "{{alertname}}", "useValueForTime": False,
    }


def alert_exprs(model: Model, board: Dashboard) -> list[tuple[Tile, str]]:
    """The PromQL of each alert annotation, with the tile it belongs to (for the contract check)."""
    out = []
    for tile in board.tiles:
        names = tile_alert_names(model, board, tile)
        if names:
            out.append((tile, alert_annotation(model, tile, names)["expr"]))
    return out
