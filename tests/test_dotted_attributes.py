"""Attribute names with dots (OpenTelemetry semantic conventions) in the spec, Prometheus labels in the output.

``http.route`` is written everywhere the spec names an attribute; every emitted rule, test, dashboard query
and contract check uses ``http_route`` (``prometheus_label_name``), while event schemas keep the dotted name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from obsgen import contract
from obsgen.cli import main
from obsgen.spec.build import build_model
from obsgen.spec.source import load_text

STOREFRONT = Path(__file__).parent / "fixtures" / "specs" / "storefront.yaml"
DOTTED = ("http.route", "http.request.method", "http.response.status_code", "error.type", "payment.method",
          "order.id")


@pytest.fixture(scope="module")
def shop_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("storefront")
    result = CliRunner().invoke(main, ["generate", str(STOREFRONT), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_rules_tests_and_dashboards_use_prometheus_labels_only(shop_tree: Path) -> None:
    emitted = [p for p in shop_tree.rglob("*") if p.is_file() and "schemas" not in p.parts]
    assert any(p.suffix == ".json" for p in emitted) and any("tests" in p.parts for p in emitted)
    for path in emitted:
        text = path.read_text()
        for name in DOTTED:
            assert name not in text, f"{path.relative_to(shop_tree)} names attribute `{name}`"
    rules = (shop_tree / "alerting" / "storefront-api" / "recording_rules.yml").read_text()
    assert "sum by (http_route)" in rules and 'error_type=~"timeout|internal"' in rules


def test_generated_tests_feed_series_with_prometheus_labels(shop_tree: Path) -> None:
    tests = (shop_tree / "alerting" / "storefront-api" / "tests" / "alerts_test.yml").read_text()
    assert re.search(r'http_server_request_duration_milliseconds_bucket\{http_route="/checkout", le="250"\}', tests)
    assert "$labels.http_route" in (shop_tree / "alerting" / "storefront-api" / "alerts.yml").read_text()


def test_dashboard_slices_and_indicator_queries_use_prometheus_labels(shop_tree: Path) -> None:
    board = json.loads((shop_tree / "dashboards" / "storefront-api" / "storefront-api-api.json").read_text())
    route = next(v for v in board["templating"]["list"] if v["name"] == "route")
    assert route["query"] == 'label_values(http_server_requests_total{shadow!="true"}, http_route)'
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert ('http_route_quantile:shop_latency_milliseconds:histogram_quantile_rate5m'
            '{http_route="/checkout", quantile="0.95"}') in exprs


def test_event_schemas_keep_the_dotted_property_names(shop_tree: Path) -> None:
    schema = json.loads((shop_tree / "schemas" / "storefront-api" / "events" / "http_request.json").read_text())
    assert {"http.route", "http.response.status_code", "error.type"} <= set(schema["properties"])
    assert "http.route" in schema["required"]


def test_the_contract_knows_metrics_by_their_prometheus_labels() -> None:
    model = build_model(load_text(STOREFRONT.read_text(), "storefront.yaml"), "storefront.yaml")
    assert contract.check(model) == []
    known = contract.known_series(model)
    assert {"http_route", "http_request_method", "http_response_status_code", "error_type"} <= \
        known["http_server_requests_total"]


def test_a_query_with_a_label_the_metric_lacks_breaks_the_contract() -> None:
    text = STOREFRONT.read_text().replace('error_type=~"timeout|internal", http_route=~"$route"',
                                          'payment_method="card", http_route=~"$route"', 1)
    model = build_model(load_text(text, "storefront.yaml"), "storefront.yaml")
    assert any("has no label `payment_method`" in str(e) for e in contract.check(model))
