"""The dashboards emitters: ``dashboards/<folder>/<uid>.json`` per service, and the linter's ``.lint`` per folder.

A dashboard's file is named for its uid (service + dashboard name, unique across the specs of a tree), so
services sharing a Grafana folder never write the same file. The ``.lint`` of a folder is a shared file:
its folder may hold dashboards of several services.

Kept out of the package ``__init__`` so that loading a spec (which reads ``dashboards.spec``) never
imports grafanalib: the runtime loads specs inside applications. grafanalib (a tenth of a second to
import) is loaded only when a service has dashboards.
"""

from __future__ import annotations

from obsgen.emit.grafana.lintconfig import lint_config
from obsgen.emit.render import Services, json_text
from obsgen.model import Dashboard, Model

DASHBOARDS_DIR = "dashboards"


def folder(model: Model, board: Dashboard) -> str:
    return board.folder or model.service.name


def dashboard_path(model: Model, board: Dashboard) -> str:
    return f"{DASHBOARDS_DIR}/{folder(model, board)}/{model.dashboard_uid(board)}.json"


def emit(model: Model) -> dict[str, str]:
    if not model.dashboards:
        return {}
    from obsgen.emit.grafana.board import dashboard_json

    return {dashboard_path(model, board): json_text(dashboard_json(model, board)) for board in model.dashboards}


def emit_lint(services: Services) -> dict[str, str]:
    folders = {folder(model, board) for model in services.models for board in model.dashboards}
    return {f"{DASHBOARDS_DIR}/{name}/.lint": lint_config(services) for name in sorted(folders)}
