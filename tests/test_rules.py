"""Rule content: names, labels, annotations and float-clean thresholds (the last test for every spec)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from obsgen.emit.prometheus import rules, ruletests
from obsgen.model import Duration, Model
from obsgen.spec import load_spec
from obsgen.spec.source import SpecInvalid

from tests.support.specs import ROOT, SpecCase

RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")
LONG_DECIMAL = re.compile(r"\d\.\d{7,}")


def groups(model: Model, path: str) -> list[dict]:
    return yaml.safe_load(rules.emit(model)[rules.rule_path(model, path)])["groups"]


def all_rules(model: Model, path: str) -> list[dict]:
    return [r for g in groups(model, path) for r in g["rules"]]


def test_recording_rules_are_named_level_metric_operations(model: Model) -> None:
    records = all_rules(model, rules.RECORDING_FILE)
    assert len(records) >= 30
    for rule in records:
        assert RECORD_NAME.match(rule["record"]), rule["record"]
        assert rule["labels"]["service"] == "movie-recommender"


def test_the_seed_rollups_are_recorded(model: Model) -> None:
    names = {r["record"] for r in all_rules(model, rules.RECORDING_FILE)}
    for expected in ("user_state_quantile:recsys_ranking_latency_milliseconds:histogram_quantile_rate5m",
                     "service:recsys_errors:ratio_rate5m", "service:recsys_coverage_ratio:mean_rate5m",
                     "service:recsys_topk_fill:ratio_rate5m", "user_state:recsys_cache_hits:ratio_rate5m",
                     "service:recsys_ctr:ratio_rate1d", "service:recsys_recall_at_k:ratio_rate1d",
                     "bucket:recsys_traffic_allocation:deviation_rate1d",
                     "service_slo:recsys_slo_errors:ratio_rate3d"):
        assert expected in names


def test_every_raw_selector_excludes_shadow_traffic(model: Model) -> None:
    for rule in all_rules(model, rules.RECORDING_FILE):
        for selector in re.findall(r"recsys_[a-z_]+\{[^}]*\}", rule["expr"]):
            assert 'shadow!="true"' in selector, selector


def test_the_ten_seed_alerts_carry_labels_and_annotations(model: Model) -> None:
    alerts = all_rules(model, rules.ALERTS_FILE)
    assert len(alerts) == 10
    for alert in alerts:
        labels, notes = alert["labels"], alert["annotations"]
        assert labels["severity"] in ("P1", "P2", "P3", "P4")
        assert labels["severity_class"] in ("critical", "warning", "info")
        assert labels["service"] == "movie-recommender"
        assert "{{" not in notes["summary"]
        assert "{{ $value" in notes["description"]
        assert notes["runbook_url"].startswith("https://")
        assert notes["dashboard_url"].startswith("http://localhost:3000/d/")
    kill_switches = {a["alert"]: a["labels"].get("kill_switch") for a in alerts}
    assert kill_switches["RecsysErrorRateHigh"] == "disable_experiment"
    assert kill_switches["RecsysDataStale"] == "use_cached_recommendations"
    assert kill_switches["RecsysCacheHitRateLow"] == "disable_cache"
    assert kill_switches["RecsysTrafficAllocationSkewed"] == "pause_experiment"
    assert sum(1 for v in kill_switches.values() if v) == 4


def test_seed_thresholds_and_durations(model: Model) -> None:
    alerts = {a["alert"]: a for a in all_rules(model, rules.ALERTS_FILE)}
    assert alerts["RecsysErrorRateHigh"]["expr"].endswith("> 0.01")
    assert alerts["RecsysErrorRateHigh"]["for"] == "10m"
    assert 'quantile="0.95"' in alerts["RecsysRankingLatencyHigh"]["expr"]
    assert alerts["RecsysRankingLatencyHigh"]["expr"].endswith("> 100")
    assert alerts["RecsysCtrProxyLow"]["expr"] == "service:recsys_ctr:ratio_rate1d < 0.005"
    assert alerts["RecsysCtrProxyLow"]["for"] == "2d"
    assert "absent(" in alerts["RecsysDataStale"]["expr"]


def test_burn_rate_alerts_one_per_severity_or_ing_its_pairs_without_for(model: Model) -> None:
    alerts = [a for a in all_rules(model, rules.SLO_ALERTS_FILE) if a["labels"]["slo"] == "error_rate"]
    assert [a["labels"]["severity"] for a in alerts] == ["P1", "P3"]
    assert [a["annotations"]["burn_windows"] for a in alerts] == ["1h/5m, 6h/30m", "1d/2h, 3d/6h"]
    assert len({a["alert"] for a in alerts}) == 1
    assert all("for" not in a and "burn_window" not in a["labels"] for a in alerts)
    assert all(a["labels"]["family"] == "errors" for a in alerts)  # the indicator, as on the spec's alerts
    thresholds = [re.findall(r"> ([0-9.]+)", a["expr"]) for a in alerts]
    assert thresholds == [["0.0144"] * 2 + ["0.006"] * 2 + ["0"], ["0.003"] * 2 + ["0.001"] * 2]
    page = alerts[0]["expr"].split("\nor\n")
    assert "ratio_rate1h" in page[0] and "ratio_rate5m" in page[0] and "ratio_rate6h" in page[1]
    # The page carries the spec's P1 alert on the same indicator; the ticket carries none.
    assert 'ALERTS{alertname="RecsysErrorRateHigh", alertstate="firing", service="movie-recommender"}' in page[2]
    assert '"slo", "error_rate"' in page[2] and "ALERTS" not in alerts[1]["expr"]
    assert [a["annotations"].get("carries") for a in alerts] == ["RecsysErrorRateHigh", None]
    assert 'present_over_time(service_slo:recsys_slo_errors:ratio_rate5m{slo="error_rate"}[5m] offset 55m)' in page[0]
    assert "[6h] offset 66h)" in alerts[1]["expr"]  # the 3d window must hold 66h of history


def test_an_slo_alert_delay_becomes_the_burn_alerts_for(tmp_path: Path) -> None:
    spec = (ROOT / "generator/demo/movie_recommender/spec.yaml").read_text()
    edited = spec.replace("    window: 5m\n    error_budget: {period: 30d}\n  data_freshness",
                          "    window: 5m\n    error_budget: {period: 30d, alert_delay: 5m}\n  data_freshness")
    assert edited != spec
    (tmp_path / "spec.yaml").write_text(edited)
    model = load_spec(tmp_path / "spec.yaml")
    alerts = [a for a in all_rules(model, rules.SLO_ALERTS_FILE) if a["labels"]["slo"] == "error_rate"]
    assert [a.get("for") for a in alerts] == ["5m", "5m"]


def test_latency_slo_counts_requests_slower_than_the_objective(model: Model) -> None:
    records = [r for r in all_rules(model, rules.RECORDING_FILE) if r["labels"].get("slo") == "latency_p95_warm"]
    assert records
    assert 'le=~"50(\\\\.0+)?"' in records[0]["expr"]
    assert 'user_state="warm"' in records[0]["expr"]
    slo_alerts = [a for a in all_rules(model, rules.SLO_ALERTS_FILE) if a["labels"]["slo"] == "latency_p95_warm"]
    assert "> 0.72" in slo_alerts[0]["expr"]  # 14.4 x a 5% budget


def test_no_float_noise_anywhere(model: Model) -> None:
    for text in rules.emit(model).values():
        assert not LONG_DECIMAL.search(text), LONG_DECIMAL.search(text)


def test_each_spec_s_rules_are_named_labelled_shadow_free_and_float_clean(spec_case: SpecCase) -> None:
    model = spec_case.model
    series = {name for metric in model.metrics for name in metric.series_names}
    for rule in all_rules(model, rules.RECORDING_FILE):
        assert RECORD_NAME.match(rule["record"]), rule["record"]
        assert rule["labels"]["service"] == model.service.name
        for name, selector in re.findall(r"([a-z_][a-z0-9_]*)(\{[^}]*\})", rule["expr"]):
            if name in series:
                assert 'shadow!="true"' in selector, (rule["record"], name, selector)
    for alert in all_rules(model, rules.ALERTS_FILE):
        labels, notes = alert["labels"], alert["annotations"]
        assert labels["service"] == model.service.name and labels["severity"] in ("P1", "P2", "P3", "P4")
        assert "{{" not in notes["summary"] and "{{ $value" in notes["description"]
        assert notes["dashboard_url"].startswith(f"{model.service.grafana_url}/d/")
    assert {a["alert"]: a["labels"].get("kill_switch") for a in all_rules(model, rules.ALERTS_FILE)} == {
        a.name: a.kill_switch for a in model.alerts}
    for text in rules.emit(model).values():
        assert not LONG_DECIMAL.search(text), LONG_DECIMAL.search(text)


def test_burn_factors_and_thresholds_of_a_28_day_period_are_rounded_not_28_digits_long() -> None:
    period = Duration("28d", 28 * 86400)
    windows = rules.burn_windows()
    assert [str(w.factor(period)) for w in windows] == ["13.44", "5.6", "2.8", "0.9333"]
    assert [str(w.threshold(period, Decimal("0.005"))) for w in windows] == ["0.0672", "0.028", "0.014", "0.004667"]


def test_readme_detection_table_is_the_generator_s(model: Model) -> None:
    table = ruletests.detection_table(model)
    readme = (ROOT / "README.md").read_text()
    assert "\n".join("    " + line for line in table.splitlines()) in readme
    assert "| error_rate | P1 | 6h/30m | 0.006 | 3m | 3h | 15m |" in table


def test_an_alert_delay_of_an_hour_or_more_is_rejected(tmp_path: Path) -> None:
    spec = (ROOT / "generator/demo/movie_recommender/spec.yaml").read_text()
    (tmp_path / "spec.yaml").write_text(spec.replace(
        "    window: 5m\n    error_budget: {period: 30d}\n  data_freshness",
        "    window: 5m\n    error_budget: {period: 30d, alert_delay: 1h}\n  data_freshness"))
    with pytest.raises(SpecInvalid) as error:
        load_spec(tmp_path / "spec.yaml")
    assert "slos.error_rate.error_budget.alert_delay: alert_delay 1h is not shorter" in str(error.value)
