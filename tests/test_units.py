"""One unit table (obsgen.model.units): OTel/UCUM unit → Prometheus name suffix and Grafana unit."""

from __future__ import annotations

import pytest
from obsgen.model import units
from obsgen.model.naming import prometheus_metric_name


@pytest.mark.parametrize(("unit", "grafana"), [
    ("ms", "ms"), ("s", "s"), ("us", "µs"), ("ns", "ns"), ("1", "percentunit"), ("By", "bytes"), ("min", "m"),
    ("h", "h"), ("d", "d"), ("{request}", "short"), ("Cel", "short"),
    ("{request}/s", "reqps"), ("By/s", "Bps"), ("{order}/s", "ops"), ("1/s", "ops"),
])
def test_grafana_unit_of_an_otel_unit(unit: str, grafana: str) -> None:
    assert units.grafana_unit(unit) == grafana


def test_metric_name_suffixes_come_from_the_same_table() -> None:
    for unit, row in units.UNITS.items():
        expected = "x_total" if not row.prometheus else f"x_{row.prometheus}_total"
        assert prometheus_metric_name("x", unit, "counter") == expected
    assert prometheus_metric_name("shop.orders", "{order}/s", "gauge") == "shop_orders_per_second"


@pytest.mark.parametrize(("unit", "function", "text"), [
    ("1", "humanizePercentage", "1"), ("s", "humanizeDuration", "s"), ("ms", "humanize", "ms"),
    ("{order}/s", "humanize", "order/s"),
])
def test_alert_values_are_formatted_for_their_unit(unit: str, function: str, text: str) -> None:
    assert units.humanize_function(unit) == function
    assert units.display(unit) == text
