"""Grafana dashboards (``dashboards/<group>/<name>.json``) from the spec's ``dashboards`` section.

Each dashboard group (a dashboard's ``folder``, by default the service name) is a sub-directory, which the
provisioning provider turns into a Grafana folder; dashboard-linter's ``.lint`` sits beside the files.
"""

from __future__ import annotations

from generator.dashboards.board import dashboard_json
from generator.dashboards.lintconfig import lint_config
from generator.model import Dashboard, Model
from generator.render import json_text

DASHBOARDS_DIR = "dashboards"

__all__ = ["DASHBOARDS_DIR", "dashboard_json", "dashboard_path", "emit", "folder"]


def folder(model: Model, board: Dashboard) -> str:
    return board.folder or model.service.name


def dashboard_path(model: Model, board: Dashboard) -> str:
    return f"{DASHBOARDS_DIR}/{folder(model, board)}/{board.name}.json"


def emit(model: Model) -> dict[str, str]:
    out = {dashboard_path(model, board): json_text(dashboard_json(model, board)) for board in model.dashboards}
    for name in sorted({folder(model, board) for board in model.dashboards}):
        out[f"{DASHBOARDS_DIR}/{name}/.lint"] = lint_config(model)
    return out
