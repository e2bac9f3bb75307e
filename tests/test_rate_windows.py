"""Rate panels cannot alias: the runtime's default export interval, Prometheus' scrape interval and Grafana's
``timeInterval`` fit together at the shortest range any generated dashboard offers (issue 13).

Grafana's ``$__rate_interval`` is ``max($__interval + timeInterval, 4 * timeInterval)`` and ``$__interval``
never goes below ``timeInterval``. A rate over that window is right when the window holds at least three
scrapes that each saw a fresh export (so at least two increments between its first and last sample) and
every scrape sees the same number of exports (the scrape interval a whole multiple of the export interval).
With the SDK's 60 s export and no ``timeInterval`` (Grafana's 15 s), a 60 s window held one fresh value or
none: Request Volume read 0 at a quarter of the points and 1.38x at others.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from obsgen.emit.grafana.provisioning import DATASOURCES_FILE
from obsgen.emit.stack.servers import PROMETHEUS_FILE
from obsgen.model.durations import parse_duration
from obsgen.runtime import RuntimeConfig

GRAFANA_MAX_DATA_POINTS = 1000
"""Points Grafana asks for across a panel at most (about one per pixel of a wide panel)."""


def seconds(text: str) -> float:
    return parse_duration(text).seconds


def test_the_shortest_rate_window_of_every_dashboard_holds_three_fresh_exports(spec_tree: Path) -> None:
    prometheus = yaml.safe_load((spec_tree / PROMETHEUS_FILE).read_text())
    scrape = seconds(prometheus["global"]["scrape_interval"])
    datasources = yaml.safe_load((spec_tree / DATASOURCES_FILE).read_text())["datasources"]
    time_interval = seconds(next(d for d in datasources if d["type"] == "prometheus")["jsonData"]["timeInterval"])
    export = RuntimeConfig().resolved().metric_export_interval_s
    assert export is not None
    assert time_interval == scrape  # Grafana's idea of the sample spacing is Prometheus' real one
    assert scrape % export == 0  # every scrape sees the same number of fresh exports
    boards = list((spec_tree / "dashboards").rglob("*.json"))
    assert boards
    for board in boards:
        data = json.loads(board.read_text())
        ranges = [data["time"]["from"], *(r["from"] for r in data["timepicker"]["quick_ranges"])]
        shortest = min(seconds(r.removeprefix("now-")) for r in ranges)
        interval = max(shortest / GRAFANA_MAX_DATA_POINTS, time_interval)
        rate_window = max(interval + time_interval, 4 * time_interval)
        assert rate_window >= 3 * max(export, scrape), (board.name, shortest, rate_window, export)
