"""The generated Grafana dashboards and provisioning: content, layout, links, stability, linting.

Tests taking ``spec_boards`` run on every spec of ``SPEC_CASES``; those taking ``boards`` check the
built-in spec's seed content.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import promql_parser as pp
import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.emit.grafana import dashboards, provisioning
from obsgen.emit.grafana.board import SCHEMA_VERSION, dashboard_json
from obsgen.emit.grafana.dashboards import dashboard_path
from obsgen.emit.prometheus.rules import ALERTS_FILE, rule_path
from obsgen.emit.prometheus.rules import emit as rules_emit
from obsgen.emit.render import Services
from obsgen.generate import build_tree
from obsgen.model import Model
from obsgen.spec import load_default

from tests.conftest import TOOLS_BIN
from tests.support.grafana import datasource_refs, panels
from tests.support.specs import SpecCase

SEED_TILES = {
    "health": ["Latency Overview", "Coverage Analysis", "Error Rate Monitoring", "Fallback Analysis",
               "Cache Efficacy", "Request Volume", "Data Freshness", "Anomaly Detection"],
    "outcomes": ["CTR Proxy Overview", "Recall@K Proxy", "Session Depth Analysis", "Save/Add Rate Analysis",
                 "Lift vs Control Analysis", "Traffic Allocation Monitor", "Experiment Timeline"],
}
"""The seed's 15 tiles (monitoring-and-dashboards.md), by dashboard."""
MODERN_TYPES = {"timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "state-timeline", "logs", "text", "row"}
KNOWN_UIDS = {ds.uid: ds.type for ds in provisioning.DATASOURCES}


@pytest.fixture(scope="module")
def boards(model: Model) -> dict[str, dict[str, Any]]:
    return {board.name: dashboard_json(model, board) for board in model.dashboards}


@pytest.fixture(scope="module")
def spec_boards(spec_case: SpecCase) -> dict[str, dict[str, Any]]:
    return {board.name: dashboard_json(spec_case.model, board) for board in spec_case.model.dashboards}


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in panels(board) if p["type"] != "row"]


def test_each_seed_tile_is_a_panel_with_the_seeds_title(boards: dict[str, dict[str, Any]]) -> None:
    assert sum(len(titles) for titles in SEED_TILES.values()) == 15
    for name, titles in SEED_TILES.items():
        present = [p["title"] for p in _panels(boards[name])]
        assert [t for t in titles if t not in present] == [], name


def test_panels_are_placed_on_the_grid_without_overlapping(spec_boards: dict[str, dict[str, Any]]) -> None:
    for name, board in spec_boards.items():
        cells: dict[tuple[int, int], str] = {}
        for panel in panels(board):
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["w"] >= 1 and grid["x"] + grid["w"] <= 24, (name, panel["title"])
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{name}: {panel['title']} overlaps {cells[(x, y)]}"
                    cells[(x, y)] = panel["title"]


def test_every_panel_has_a_modern_type_a_unit_a_description_and_named_series(
        spec_boards: dict[str, dict[str, Any]]) -> None:
    for name, board in spec_boards.items():
        for panel in panels(board):
            assert panel["type"] in MODERN_TYPES, (name, panel["type"])
            if panel["type"] == "row":
                continue
            assert panel["description"].strip(), (name, panel["title"])
            assert panel["fieldConfig"]["defaults"]["unit"], (name, panel["title"])
            for target in panel.get("targets", []):
                if target["datasource"]["type"] == "prometheus":
                    assert target["legendFormat"].strip(), (name, panel["title"], target["refId"])


def test_datasource_references_are_objects_with_provisioned_uids(spec_boards: dict[str, dict[str, Any]]) -> None:
    for name, board in spec_boards.items():
        variables = {v["name"]: v for v in board["templating"]["list"] if v["type"] == "datasource"}
        refs = list(datasource_refs(board))
        assert refs
        for where, ref in refs:
            assert isinstance(ref, dict) and set(ref) == {"type", "uid"}, f"{name}{where}: {ref!r}"
            uid = ref["uid"]
            if match := re.fullmatch(r"\$\{(\w+)\}", uid):
                variable = variables[match.group(1)]
                assert variable["query"] == ref["type"], f"{name}{where}"
                uid = variable["current"]["value"]
            assert KNOWN_UIDS.get(uid) == ref["type"], f"{name}{where}: unknown data source {uid}"


def test_schema_version_is_set_for_current_grafana_and_legacy_keys_are_gone(
        spec_boards: dict[str, dict[str, Any]]) -> None:
    for board in spec_boards.values():
        assert board["schemaVersion"] == SCHEMA_VERSION == 41
        assert not {"rows", "style", "sharedCrosshair", "hideControls", "__inputs"} & set(board)
        assert "time_options" not in board["timepicker"]
        for panel in panels(board):
            assert not {"span", "height", "minSpan", "error", "editable"} & set(panel), panel["title"]


def test_refresh_and_time_ranges_follow_the_spec(boards: dict[str, dict[str, Any]]) -> None:
    assert boards["health"]["refresh"] == "1m"
    assert boards["outcomes"]["refresh"] == "1d"


def test_refresh_and_time_ranges_are_the_spec_s(spec_case: SpecCase, spec_boards: dict[str, dict[str, Any]]) -> None:
    for dashboard in spec_case.model.dashboards:
        board = spec_boards[dashboard.name]
        assert board["refresh"] == dashboard.refresh.text
        assert board["time"]["from"] == f"now-{dashboard.time.text}"
        assert board["refresh"] in board["timepicker"]["refresh_intervals"]
        ranges = [r["from"] for r in board["timepicker"]["quick_ranges"]]
        assert ranges == ["now-1h", "now-24h", "now-7d", "now-30d"]


def test_slices_are_multi_select_template_variables_with_all(boards: dict[str, dict[str, Any]]) -> None:
    expected = {"health": {"bucket", "cohort", "region", "surface", "client", "genre", "provider"},
                "outcomes": {"bucket", "genre", "provider", "surface"}, "slo": set()}
    for name, board in boards.items():
        assert {v["name"] for v in board["templating"]["list"] if v["type"] == "query"} == expected[name]
    assert [v["name"] for v in boards["health"]["templating"]["list"]][:2] == ["prometheus_datasource",
                                                                             "loki_datasource"]


def test_each_spec_slice_is_a_multi_select_variable_with_all(spec_case: SpecCase,
                                                             spec_boards: dict[str, dict[str, Any]]) -> None:
    for dashboard in spec_case.model.dashboards:
        variables = spec_boards[dashboard.name]["templating"]["list"]
        assert variables[0]["name"] == "prometheus_datasource" and variables[0]["type"] == "datasource"
        slices = {v["name"]: v for v in variables if v["type"] == "query"}
        assert set(slices) == {v.name for v in dashboard.variables}
        for variable in slices.values():
            assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".*"
            assert variable["refresh"] == 2
            assert variable["query"].startswith("label_values(") and 'shadow!="true"' in variable["query"]


def test_rate_queries_use_rate_interval(spec_boards: dict[str, dict[str, Any]]) -> None:
    marker = 7777

    def check(node: Any, expr: str) -> None:
        if isinstance(node, pp.Call) and node.func.name in ("rate", "irate"):
            assert node.args[0].range.total_seconds() == marker, f"rate without $__rate_interval: {expr}"
        for child in ("lhs", "rhs", "expr", "param"):
            if getattr(node, child, None) is not None:
                check(getattr(node, child), expr)
        for arg in getattr(node, "args", []) or []:
            check(arg, expr)

    count = 0
    for board in spec_boards.values():
        for panel in _panels(board):
            for target in panel.get("targets", []):
                if target["datasource"]["type"] == "prometheus":
                    expr = target["expr"].replace("$__rate_interval", f"{marker}s")
                    check(pp.parse(re.sub(r"\$\w+", ".*", expr)), target["expr"])
                    count += "$__rate_interval" in target["expr"]
    assert count >= 5


def test_thresholds_are_the_spec_slos(boards: dict[str, dict[str, Any]]) -> None:
    by_title = {p["title"]: p for p in _panels(boards["health"])}
    latency = by_title["Latency Overview"]["fieldConfig"]["defaults"]
    assert [s["value"] for s in latency["thresholds"]["steps"]] == [None, 50, 200]
    assert latency["custom"]["thresholdsStyle"]["mode"] == "dashed"
    coverage = by_title["Coverage Analysis"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["color"], s["value"]) for s in coverage] == [("red", None), ("orange", 0.95), ("green", 0.99)]


def test_alert_dashboard_urls_open_the_panel_that_shows_their_signal(
        spec_case: SpecCase, spec_boards: dict[str, dict[str, Any]]) -> None:
    model, boards = spec_case.model, spec_boards
    alerts = yaml.safe_load(rules_emit(model)[rule_path(model, ALERTS_FILE)].split("\n", 1)[1])["groups"][0]["rules"]
    linked = {a.name: a.dashboard_tile for a in model.alerts if a.dashboard_tile}
    assert len(linked) == len(model.alerts) == len(alerts), "every alert of both specs links to its panel"
    for rule in alerts:
        if rule["alert"] not in linked:
            continue
        board_name, tile_id = linked[rule["alert"]].split("/")
        url = urlparse(rule["annotations"]["dashboard_url"])
        board = boards[board_name]
        assert url.path == f"/d/{board['uid']}/{board['uid']}"
        panel_id = int(parse_qs(url.query)["viewPanel"][0])
        panel = next(p for p in _panels(board) if p["id"] == panel_id)
        tile = next(t for b in model.dashboards if b.name == board_name for t in b.tiles if t.id == tile_id)
        assert panel["title"] == tile.title
        assert rule["alert"] in panel["description"]
        shown = [a for a in board["annotations"]["list"] if panel_id in a["filter"]["ids"]]
        assert any(rule["alert"] in a["expr"] and 'alertstate="firing"' in a["expr"] for a in shown), rule["alert"]


def test_dashboards_link_to_each_other(spec_boards: dict[str, dict[str, Any]]) -> None:
    assert len(spec_boards) >= 2
    for name, board in spec_boards.items():
        urls = {link["url"] for link in board["links"]}
        for other_name, other in spec_boards.items():
            if other_name != name:
                assert f"/d/{other['uid']}/{other['uid']}" in urls


def test_health_shows_recent_error_events_from_loki(boards: dict[str, dict[str, Any]]) -> None:
    logs = [p for p in _panels(boards["health"]) if p["type"] == "logs"]
    assert len(logs) == 1
    target = logs[0]["targets"][0]
    assert target["datasource"] == {"type": "loki", "uid": "${loki_datasource}"}
    assert target["expr"] == '{service_name="movie-recommender"} | event_name="error"'


def test_header_is_in_the_dashboard_description(spec_boards: dict[str, dict[str, Any]]) -> None:
    for board in spec_boards.values():
        assert board["description"].startswith("Generated by obsgen from ")
        assert "Do not edit by hand" in board["description"]


def test_panel_ids_and_uids_are_stable_and_regenerating_is_byte_identical(model: Model) -> None:
    first = dashboards.emit(model)
    again = dashboards.emit(load_default())
    assert first == again
    health = json.loads(first[dashboard_path(model, model.dashboards[0])])
    assert health["uid"] == "movie-recommender-health"
    ids = [p["id"] for p in panels(health)]
    assert len(ids) == len(set(ids))
    tiles = {t.title: t.panel_id for t in model.dashboards[0].tiles}
    assert {p["title"]: p["id"] for p in _panels(health)} == tiles


def test_provisioning_defines_datasources_with_fixed_uids_and_a_dashboard_provider(model: Model) -> None:
    out = provisioning.emit(Services((model,)))
    sources = yaml.safe_load(out[provisioning.DATASOURCES_FILE])["datasources"]
    assert {(s["type"], s["uid"], s["url"]) for s in sources} == {
        ("prometheus", "prometheus", "http://prometheus:9090"), ("loki", "loki", "http://loki:3100"),
        ("alertmanager", "alertmanager", "http://alertmanager:9093"), ("jaeger", "jaeger", "http://jaeger:16686")}
    by_uid = {s["uid"]: s for s in sources}
    # Exemplars (Prometheus) and trace_id structured metadata (Loki) open their trace in the Jaeger data source.
    assert by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": "jaeger"}]
    derived = by_uid["loki"]["jsonData"]["derivedFields"]
    assert [(d["matcherType"], d["matcherRegex"], d["datasourceUid"]) for d in derived] == [
        ("label", "trace_id", "jaeger")]
    provider = yaml.safe_load(out[provisioning.DASHBOARDS_FILE])["providers"][0]
    assert provider["options"] == {"path": provisioning.DASHBOARDS_MOUNT, "foldersFromFilesStructure": True}
    paths = [dashboard_path(model, board) for board in model.dashboards]
    assert paths == ["dashboards/movie-recommender/movie-recommender-health.json",
                     "dashboards/movie-recommender/movie-recommender-outcomes.json",
                     "dashboards/movie-recommender/movie-recommender-slo.json"]  # generated from the SLOs
    for text in out.values():
        assert text.startswith("# Generated by obsgen")


def test_generate_writes_dashboards_and_provisioning_and_check_covers_them(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["generate", "--out", str(tmp_path)]).exit_code == 0
    for path in ("dashboards/movie-recommender/movie-recommender-health.json",
                 "dashboards/movie-recommender/movie-recommender-outcomes.json",
                 "dashboards/movie-recommender/.lint", provisioning.DATASOURCES_FILE, provisioning.DASHBOARDS_FILE):
        assert (tmp_path / path).is_file(), path
    assert runner.invoke(main, ["generate", "--check", "--out", str(tmp_path)]).exit_code == 0
    health = tmp_path / "dashboards/movie-recommender/movie-recommender-health.json"
    health.write_text(health.read_text().replace("Latency Overview", "Latency"))
    result = runner.invoke(main, ["generate", "--check", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "health.json" in result.output


def _linter() -> str | None:
    for candidate in (TOOLS_BIN / "dashboard-linter", shutil.which("dashboard-linter")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def test_dashboard_linter_passes_every_generated_dashboard(tmp_path: Path, spec_case: SpecCase) -> None:
    linter = _linter()
    if linter is None:
        message = "dashboard-linter is not installed: run scripts/install-tools.sh"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    model = spec_case.model
    tree = build_tree(model)
    for path, text in tree.items():
        if path.startswith("dashboards/"):
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text(text)
    files = sorted(tmp_path / dashboard_path(model, board) for board in model.dashboards)
    assert files == sorted(tmp_path.glob("dashboards/**/*.json"))
    for file in files:
        done = subprocess.run([linter, "lint", "--strict", str(file)], capture_output=True, text=True, timeout=120,
                              cwd=file.parent)
        assert done.returncode == 0, f"{file.name}:\n{done.stdout}\n{done.stderr}"
