"""The dashboards emitter: ``dashboards/<group>/<name>.json`` and the linter's ``.lint`` per group.

Kept out of the package ``__init__`` so that loading a spec (which reads ``dashboards.spec``) never
imports grafanalib: the runtime loads specs inside applications.
"""

from __future__ import annotations

from obsgen.emit.grafana.board import dashboard_json
from obsgen.emit.grafana.lintconfig import lint_config
from obsgen.emit.render import json_text
from obsgen.model import Dashboard, Model

DASHBOARDS_DIR = "dashboards"


def folder(model: Model, board: Dashboard) -> str:
    return board.folder or model.service.name


def dashboard_path(model: Model, board: Dashboard) -> str:
    return f"{DASHBOARDS_DIR}/{folder(model, board)}/{board.name}.json"


def emit(model: Model) -> dict[str, str]:
    out = {dashboard_path(model, board): json_text(dashboard_json(model, board)) for board in model.dashboards}
    for name in sorted({folder(model, board) for board in model.dashboards}):
        out[f"{DASHBOARDS_DIR}/{name}/.lint"] = lint_config(model)
    return out
