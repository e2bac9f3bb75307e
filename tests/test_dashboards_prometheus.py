"""Every dashboard query returns data from a real Prometheus fed one synthetic day of the service.

The day is written as OpenMetrics with the exact series names and labels the instrumentation
produces, backfilled into TSDB blocks with promtool, the generated recording rules are evaluated over
it (``promtool tsdb create-blocks-from rules``), and Prometheus serves the result on a loopback port.
Each panel target then runs as Grafana would run it: a range query over the dashboard's default time
range ending at the end of the day, with every slice on "All" and then on each single value.

This runs for every spec of ``SPEC_CASES``, each with its own day and its own Prometheus.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from obsgen.emit.grafana.board import dashboard_json
from obsgen.emit.prometheus import rules

from tests.support.grafana import default_range, describe, has_data, interpolate, panels, step_for
from tests.support.prometheus import PROMETHEUS, PROMTOOL, Prometheus, backfill, binary
from tests.support.specs import SPEC_CASES, SpecCase
from tests.support.synthetic import synthetic_day

LABEL_VALUES = re.compile(r"^label_values\((?P<match>.+),\s*(?P<label>[a-zA-Z_][a-zA-Z0-9_]*)\)$")
DASHBOARDS = {case.name: {board.name: dashboard_json(case.model, board) for board in case.model.dashboards}
              for case in SPEC_CASES}
"""Each spec's dashboards as Grafana JSON, by spec case and dashboard name."""


def _targets() -> list[tuple[SpecCase, str, str, dict[str, Any]]]:
    out = []
    for case in SPEC_CASES:
        for name, dashboard in DASHBOARDS[case.name].items():
            for panel in panels(dashboard):
                for target in panel.get("targets", []):
                    if target["datasource"]["type"] == "prometheus":
                        out.append((case, name, panel["title"], target))
    return out


def _variables() -> list[tuple[SpecCase, str, dict[str, Any]]]:
    return [(case, name, variable) for case in SPEC_CASES for name, dashboard in DASHBOARDS[case.name].items()
            for variable in dashboard["templating"]["list"] if variable["type"] == "query"]


TARGETS = _targets()
VARIABLES = _variables()
Served = Callable[[SpecCase], tuple[Prometheus, int]]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Prometheus over a spec's synthetic day and its recording rules, started on first use for each spec and
    stopped when the module ends. The tests run spec by spec, so at most two are up at once."""
    missing = [tool for tool in (PROMETHEUS, PROMTOOL) if binary(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (Debian: apt-get install prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    servers: dict[str, tuple[Prometheus, int]] = {}
    with contextlib.ExitStack() as running:
        def serve(case: SpecCase) -> tuple[Prometheus, int]:
            if case.name not in servers:
                work = tmp_path_factory.mktemp(f"prometheus-{case.name}")
                day = synthetic_day(case.model, work / "day.om", case.day)
                recording = rules.emit(case.model)[rules.rule_path(case.model, rules.RECORDING_FILE)]
                tsdb = backfill(work / "day.om", recording, day.start, day.end, work)
                servers[case.name] = (running.enter_context(Prometheus(tsdb, work)), day.end)
            return servers[case.name]

        yield serve


@pytest.mark.parametrize("case", SPEC_CASES, ids=str)
def test_the_synthetic_day_covers_every_spec_metric(prometheus: Served, case: SpecCase) -> None:
    server, end = prometheus(case)
    for metric in case.model.metrics:
        for series in metric.series_names:
            assert server.query(f"count({series})", end), f"no {series} in the synthetic day"


@pytest.mark.parametrize(("case", "board", "title", "target"), TARGETS,
                         ids=[f"{c}/{b}/{t}/{x['refId']}" for c, b, t, x in TARGETS])
def test_panel_target_returns_data_over_the_default_range(prometheus: Served, case: SpecCase, board: str,
                                                          title: str, target: dict[str, Any]) -> None:
    server, end = prometheus(case)
    seconds = default_range(DASHBOARDS[case.name][board])
    step = step_for(seconds)
    expr = interpolate(target["expr"], seconds, step)
    result = server.query_range(expr, end - seconds, end, step)
    assert has_data(result), f"{board} / {title} / {target['refId']} returned no data: {expr}\n{describe(result)}"
    if target.get("instant"):
        assert has_data(server.query(expr, end)), f"{board} / {title}: the instant query returned no data"


@pytest.mark.parametrize(("case", "board", "variable"), VARIABLES,
                         ids=[f"{c}/{b}/{v['name']}" for c, b, v in VARIABLES])
def test_slice_offers_values_and_each_value_keeps_its_panels_filled(prometheus: Served, case: SpecCase, board: str,
                                                                     variable: dict[str, Any]) -> None:
    server, end = prometheus(case)
    dashboard = DASHBOARDS[case.name][board]
    seconds = default_range(dashboard)
    match = LABEL_VALUES.match(variable["query"])
    assert match, variable["query"]
    values = server.label_values(match["label"], match["match"], end - seconds, end)
    assert values, f"{board}: ${variable['name']} offers no values ({variable['query']})"
    step = step_for(seconds)
    reference = re.compile(rf"\$(\{{{variable['name']}(:[a-z]+)?\}}|{variable['name']}\b)")
    used = [(title, target) for c, b, title, target in TARGETS
            if c == case and b == board and reference.search(target["expr"])]
    assert used, f"{board}: ${variable['name']} filters no panel"
    for value in values:
        for title, target in used:
            expr = interpolate(target["expr"], seconds, step, {variable["name"]: value})
            result = server.query_range(expr, end - seconds, end, step)
            assert has_data(result), f"{board} / {title} with ${variable['name']}={value} returned no data: {expr}"


def test_every_spec_has_panels_and_slices_under_test() -> None:
    for case in SPEC_CASES:
        assert sum(c == case for c, *_ in TARGETS) >= 10, case
        assert sum(c == case for c, *_ in VARIABLES) >= 4, case
