"""Every dashboard query returns data from a real Prometheus fed one synthetic day of the service.

The day is written as OpenMetrics with the exact series names and labels the instrumentation
produces, backfilled into TSDB blocks with promtool, the generated recording rules are evaluated over
it (``promtool tsdb create-blocks-from rules``), and Prometheus serves the result on a loopback port.
Each panel target then runs as Grafana would run it: a range query over the dashboard's default time
range ending at the end of the day, with every slice on "All" and then on each single value.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest
from obsgen.emit.grafana.dashboards import dashboard_json
from obsgen.emit.prometheus import rules
from obsgen.spec import load_default

from tests.support.grafana import default_range, describe, has_data, interpolate, panels, step_for
from tests.support.prometheus import PROMETHEUS, PROMTOOL, Prometheus, backfill, binary
from tests.support.synthetic import synthetic_day

MODEL = load_default()
DASHBOARDS = {board.name: dashboard_json(MODEL, board) for board in MODEL.dashboards}
LABEL_VALUES = re.compile(r"^label_values\((?P<match>.+),\s*(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\)$")


def _targets() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for name, dashboard in DASHBOARDS.items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                if target["datasource"]["type"] == "prometheus":
                    out.append((name, panel["title"], target))
    return out


def _variables() -> list[tuple[str, dict[str, Any]]]:
    return [(name, variable) for name, dashboard in DASHBOARDS.items()
            for variable in dashboard["templating"]["list"] if variable["type"] == "query"]


TARGETS = _targets()
VARIABLES = _variables()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory):
    """Prometheus over the synthetic day and its recording rules; stopped when the module ends."""
    missing = [tool for tool in (PROMETHEUS, PROMTOOL) if binary(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (Debian: apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    work = tmp_path_factory.mktemp("prometheus")
    day = synthetic_day(MODEL, work / "day.om")
    recording = rules.emit(MODEL)[rules.rule_path(MODEL, rules.RECORDING_FILE)]
    tsdb = backfill(work / "day.om", recording, day.start, day.end, work)
    with Prometheus(tsdb, work) as server:
        yield server, day.end


def test_the_synthetic_day_covers_every_spec_metric(prometheus) -> None:
    server, end = prometheus
    for metric in MODEL.metrics:
        for series in metric.series_names:
            assert server.query(f"count({series})", end), f"no {series} in the synthetic day"


@pytest.mark.parametrize(("board", "title", "target"), TARGETS,
                         ids=[f"{b}/{t}/{x['refId']}" for b, t, x in TARGETS])
def test_panel_target_returns_data_over_the_default_range(prometheus, board: str, title: str,
                                                          target: dict[str, Any]) -> None:
    server, end = prometheus
    seconds = default_range(DASHBOARDS[board])
    step = step_for(seconds)
    expr = interpolate(target["expr"], seconds, step)
    result = server.query_range(expr, end - seconds, end, step)
    assert has_data(result), f"{board} / {title} / {target['refId']} returned no data: {expr}\n{describe(result)}"
    if target.get("instant"):
        assert has_data(server.query(expr, end)), f"{board} / {title}: the instant query returned no data"


@pytest.mark.parametrize(("board", "variable"), VARIABLES, ids=[f"{b}/{v['name']}" for b, v in VARIABLES])
def test_slice_offers_values_and_each_value_keeps_its_panels_filled(prometheus, board: str,
                                                                     variable: dict[str, Any]) -> None:
    server, end = prometheus
    dashboard = DASHBOARDS[board]
    seconds = default_range(dashboard)
    match = LABEL_VALUES.match(variable["query"])
    assert match, variable["query"]
    values = server.label_values(match["label"], match["match"], end - seconds, end)
    assert values, f"{board}: ${variable['name']} offers no values ({variable['query']})"
    step = step_for(seconds)
    reference = re.compile(rf"\$(\{{{variable['name']}(:[a-z]+)?\}}|{variable['name']}\b)")
    used = [(title, target) for b, title, target in TARGETS if b == board and reference.search(target["expr"])]
    assert used, f"{board}: ${variable['name']} filters no panel"
    for value in values:
        for title, target in used:
            expr = interpolate(target["expr"], seconds, step, {variable["name"]: value})
            result = server.query_range(expr, end - seconds, end, step)
            assert has_data(result), f"{board} / {title} with ${variable['name']}={value} returned no data: {expr}"
