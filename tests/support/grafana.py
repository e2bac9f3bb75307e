"""What Grafana does to a dashboard query before sending it: variable interpolation and the step.

Grafana asks Prometheus for about one point per pixel; with ``maxDataPoints`` around 720 for a
half-width panel the step is ``range / 720`` (at least the scrape interval). ``$__rate_interval`` is
``max($__interval + scrape interval, 4 × scrape interval)``. A multi-select slice with "All" selected
becomes its ``allValue``; a chosen value is regex-escaped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

MAX_DATA_POINTS = 720
SCRAPE_INTERVAL = 60
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z]+)?\}|([A-Za-z_][A-Za-z0-9_]*))")
DURATION = re.compile(r"^now-(\d+)([smhdw])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def default_range(dashboard: Mapping[str, Any]) -> int:
    """Seconds of the dashboard's default time range (``now-6h`` → 21600)."""
    match = DURATION.match(dashboard["time"]["from"])
    assert match and dashboard["time"]["to"] == "now", dashboard["time"]
    return int(match.group(1)) * UNITS[match.group(2)]


def step_for(range_seconds: int) -> int:
    return max(SCRAPE_INTERVAL, math.ceil(range_seconds / MAX_DATA_POINTS))


def interpolate(expr: str, range_seconds: int, step: int, values: Mapping[str, str] | None = None,
                all_value: str = ".*") -> str:
    """``expr`` with Grafana's built-ins and the dashboard's slices substituted."""
    builtins = {
        "__rate_interval": f"{max(step + SCRAPE_INTERVAL, 4 * SCRAPE_INTERVAL)}s",
        "__interval": f"{step}s", "__interval_ms": str(step * 1000),
        "__range": f"{range_seconds}s", "__range_s": str(range_seconds), "__range_ms": str(range_seconds * 1000),
    }
    chosen = values or {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name in builtins:
            return builtins[name]
        return re.escape(chosen[name]) if name in chosen else all_value

    return VARIABLE.sub(replace, expr)


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def datasource_refs(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every ``datasource`` value anywhere in the dashboard JSON, with a path to it."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield f"{where}.{key}", value
            yield from datasource_refs(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from datasource_refs(value, f"{where}[{i}]")


def has_data(result: list[dict[str, Any]]) -> bool:
    """At least one series with at least one finite value (NaN or ±Inf everywhere counts as empty)."""
    for series in result:
        samples = series.get("values") or ([series["value"]] if "value" in series else [])
        if any(math.isfinite(float(v)) for _, v in samples):
            return True
    return False


def describe(result: list[dict[str, Any]]) -> str:
    return json.dumps(result)[:500]
