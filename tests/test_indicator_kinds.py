"""Indicator kinds as typed classes, ratios over several metrics, rate indicators and success objectives.

Rules and tests are generated from the storefront fixture spec (tests/fixtures/specs/storefront.yaml);
the real promtool runs them in tests/test_promtool.py.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from obsgen import model as m
from obsgen.emit.grafana.queries import query_expr
from obsgen.emit.prometheus import promql as q
from obsgen.emit.prometheus import rules, ruletests
from obsgen.generate import load

STOREFRONT = Path(__file__).parent / "fixtures" / "specs" / "storefront.yaml"


@pytest.fixture(scope="module")
def shop() -> m.Model:
    return load(STOREFRONT)


def indicator(model: m.Model, name: str) -> m.Indicator:
    return next(i for i in model.indicators if i.name == name)


def records(model: m.Model) -> dict[str, str]:
    """Recording-rule expression by record name (the 5m one of each indicator)."""
    docs = yaml.safe_load(rules.emit(model)[rules.rule_path(model, rules.RECORDING_FILE)])["groups"]
    return {r["record"]: r["expr"] for g in docs for r in g["rules"]}


def alert_tests(model: m.Model) -> list[dict]:
    """The generated ``alert_rule_test`` cases (the budget cases are ``promql_expr_test``s)."""
    return [t for text in ruletests.emit(model).values() for t in yaml.safe_load(text)["tests"]
            if "alert_rule_test" in t]


def test_each_indicator_kind_is_its_own_frozen_class(model: m.Model, shop: m.Model) -> None:
    kinds = {type(i) for i in model.indicators + shop.indicators}
    assert kinds == set(m.INDICATOR_TYPES)
    assert m.INDICATOR_KINDS == ("ratio", "quantile", "mean", "gauge", "share", "rate")
    with pytest.raises(AttributeError):
        indicator(shop, "orders").by = ()  # type: ignore[misc]
    assert not hasattr(indicator(shop, "orders"), "quantiles")


def test_shared_properties_are_uniform_across_kinds(model: m.Model, shop: m.Model) -> None:
    units = {i.name: i.unit for i in model.indicators + shop.indicators}
    assert units["errors"] == units["traffic_allocation"] == units["payment_success"] == "1"
    assert units["ranking_latency"] == "ms"
    assert units["orders"] == "{order}/s"
    assert units["request_rate"] == "{http_request}/s"  # a histogram's count counts its events
    assert all(isinstance(i.by, tuple) and i.refs for i in model.indicators + shop.indicators)


def test_ratio_over_two_events_sums_its_terms_with_their_own_matchers(shop: m.Model) -> None:
    ratio = indicator(shop, "payment_success")
    assert isinstance(ratio, m.Ratio) and len(ratio.denominators) == 2
    expr = records(shop)["payment_method:shop_payment_success:ratio_rate5m"]
    numerator, denominator = expr.split("\n/\n")
    assert numerator == 'sum by (payment_method) (rate(shop_payments_authorised_total{shadow!="true"}[5m]))'
    assert 'rate(shop_payments_authorised_total{shadow!="true"}[5m])' in denominator
    assert 'shop_payments_failed_total{shadow!="true", error_type=~"declined|timeout"}' in denominator


def test_terms_of_a_sum_are_joined_with_or_so_a_missing_counter_does_not_empty_it(shop: m.Model) -> None:
    denominator = records(shop)["payment_method:shop_payment_success:ratio_rate5m"].split("\n/\n")[1]
    assert denominator.startswith("sum by (payment_method) (") and "\nor\n" in denominator
    assert f'"{rules.TERM_LABEL}", "1"' in denominator  # tells two counters with the same labels apart
    assert " + " not in denominator


def test_single_term_ratios_keep_their_expression(model: m.Model) -> None:
    assert records(model)["service:recsys_errors:ratio_rate5m"] == (
        'sum(rate(recsys_errors_total{shadow!="true", severity=~"error|critical"}[5m]))\n/\n'
        'sum(rate(recsys_requests_total{shadow!="true"}[5m]))')


def test_rate_indicator_records_level_metric_rate_window(shop: m.Model) -> None:
    recorded = records(shop)
    assert recorded["payment_method:shop_orders_per_second:rate5m"] == \
        'sum by (payment_method) (rate(shop_orders_total{shadow!="true"}[5m]))'
    assert recorded["payment_method:shop_orders_per_second:rate15m"]  # the window its alert reads
    assert recorded["service:shop_card_orders_per_second:rate5m"] == \
        'sum(rate(shop_orders_total{shadow!="true", payment_method="card"}[5m]))'
    assert recorded["http_route:shop_request_rate_per_second:rate5m"] == \
        'sum by (http_route) (rate(http_server_request_duration_milliseconds_count{shadow!="true"}[5m]))'


def test_too_low_rate_alert_fires_after_for_and_stays_silent_just_above(shop: m.Model) -> None:
    cases = [t for t in alert_tests(shop) if t["alert_rule_test"][0]["alertname"] == "ShopCardOrdersLow"]
    firing = next(c for c in cases if "fires after 15m" in c["name"])
    assert firing["input_series"] == [{"series": 'shop_orders_total{payment_method="card"}', "values": "0+2.7x19"}]
    assert [(c["eval_time"], bool(c["exp_alerts"])) for c in firing["alert_rule_test"]] == [("14m", False),
                                                                                            ("18m", True)]
    silent = next(c for c in cases if "stays silent" in c["name"])
    assert silent["input_series"][0]["values"] == "0+3.15x19"  # 0.0525/s: 5% above the 0.05/s threshold


def test_absent_rate_alert_fires_with_the_labels_absent_returns(shop: m.Model) -> None:
    cases = [t for t in alert_tests(shop) if "missing" in t["name"]]
    assert {c["alert_rule_test"][0]["alertname"] for c in cases} == {"ShopCardOrdersLow", "ShopNoOrders"}
    low = next(c for c in cases if c["alert_rule_test"][0]["alertname"] == "ShopCardOrdersLow")
    assert low["input_series"] == []
    assert low["alert_rule_test"][1]["exp_alerts"][0]["exp_labels"]["payment_method"] == "card"


def test_no_events_alert_at_zero_fires_on_a_flat_counter(shop: m.Model) -> None:
    cases = [t for t in alert_tests(shop) if t["alert_rule_test"][0]["alertname"] == "ShopNoOrders"]
    firing = next(c for c in cases if "fires after" in c["name"])
    silent = next(c for c in cases if "stays silent" in c["name"])
    assert firing["input_series"][0]["values"] == "0+0x19"
    assert silent["input_series"][0]["values"] == "0+6x19"  # 0.1 orders/s
    assert not silent["alert_rule_test"][-1]["exp_alerts"]


def test_rate_tiles_take_a_per_second_grafana_unit(shop: m.Model) -> None:
    tiles = {t.id: t for t in shop.dashboards[0].tiles}
    assert tiles["orders"].unit == "ops"
    assert tiles["requests"].unit == "ops"
    assert tiles["payments"].unit == "percentunit"
    assert query_expr(shop, tiles["orders"].queries[0]) == "payment_method:shop_orders_per_second:rate5m"


def test_success_objective_derives_its_budget_exactly(shop: m.Model) -> None:
    slo = next(s for s in shop.slos if s.name == "payment_success")
    assert slo.counts_good and slo.error_budget == Decimal("0.001")
    assert str(slo.error_budget) == "0.001"  # Decimal, not 0.0010000000000000009


def test_success_objective_burns_on_one_minus_the_ratio(shop: m.Model) -> None:
    slo = next(s for s in shop.slos if s.name == "payment_success")
    assert rules.slo_error_ratio(slo, "1h").startswith("1 - (\nsum(rate(shop_payments_authorised_total")
    alerts = rules.slo_alert_rules(shop, slo)  # a page and a ticket, each `or`-ing two window pairs
    thresholds = [sorted(set(re.findall(r" > (0\.\d+)", a["expr"])), key=float, reverse=True) for a in alerts]
    assert thresholds == [["0.0144", "0.006"], ["0.003", "0.001"]]
    assert all("(99.9% over 30d)" in a["annotations"]["description"] for a in alerts)


def test_success_objective_tests_feed_good_events_for_the_bad_ratio(shop: m.Model) -> None:
    cases = [t for t in alert_tests(shop) if t["name"].startswith("ShopPaymentSuccessErrorBudgetBurn")]
    firing = next(c for c in cases if c["name"].startswith("ShopPaymentSuccessErrorBudgetBurn: 1h/5m pair, 1h of"))
    good, failed = firing["input_series"]
    # 0.24x the budget for an hour, then 28.8x: good and failed attempts add up to 1,000 a minute.
    assert good == {"series": "shop_payments_authorised_total", "values": "1000000+999.76x60 1060956.8+971.2x30"}
    assert failed == {"series": 'shop_payments_failed_total{error_type="declined"}',
                      "values": "1000000+0.24x60 1000043.2+28.8x30"}


def test_bad_ratio_objectives_keep_the_objective_as_budget(model: m.Model) -> None:
    slo = next(s for s in model.slos if s.name == "error_rate")
    assert not slo.counts_good and slo.error_budget == Decimal("0.001")
    assert not rules.slo_error_ratio(slo, "1h").startswith("1 - ")


def test_record_names_use_prometheus_labels(shop: m.Model) -> None:
    alert = next(a for a in shop.alerts if a.name == "ShopCheckoutSlow")
    assert q.signal_selector(shop, alert, "5m") == (
        'http_route_quantile:shop_latency_milliseconds:histogram_quantile_rate5m{http_route="/checkout", '
        'quantile="0.95"}')


def test_spec_reading_model_and_emitters_match_on_classes_not_kind_strings() -> None:
    import re

    import obsgen

    package = Path(obsgen.__file__).parent
    kind_check = re.compile(r"""\.kind\s*(==|!=|in\b|not in\b)"""
                            r"""|kind\s*==\s*["'](ratio|quantile|mean|gauge|share|rate)""")
    sources = [*package.glob("spec/*.py"), *package.glob("model/*.py"), *package.rglob("emit/**/*.py"),
               package / "contract.py"]
    offenders = [f"{path.relative_to(package)}:{n}" for path in sources
                 for n, line in enumerate(path.read_text().splitlines(), 1) if kind_check.search(line)]
    assert offenders == []
