"""The generated rules and Alertmanager config checked and unit-tested by the real promtool and amtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import find_tool

RULES = Path("alerting") / "movie-recommender"
"""The built-in service's rule folder in the tree."""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, check=False, timeout=600)


def test_promtool_check_rules_passes(tree: Path) -> None:
    files = sorted(str(p) for p in (tree / RULES).glob("*.yml"))
    assert len(files) == 3
    result = run(find_tool("promtool"), "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_promtool_unit_tests_pass(tree: Path) -> None:
    tests = sorted(str(p) for p in (tree / RULES / "tests").glob("*_test.yml"))
    assert len(tests) == 3
    result = run(find_tool("promtool"), "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 3


def test_every_alert_has_a_firing_and_a_silent_case(tree: Path) -> None:
    import yaml

    alerts = [r["alert"] for g in yaml.safe_load((tree / RULES / "alerts.yml").read_text())["groups"]
              for r in g["rules"]]
    tests = [t for f in (tree / RULES / "tests").glob("*alerts_test.yml") if f.name != "slo_alerts_test.yml"
             for t in yaml.safe_load(f.read_text())["tests"]]
    for alert in alerts:
        cases = [t for t in tests if t["alert_rule_test"][0]["alertname"] == alert]
        assert any(c["alert_rule_test"][-1]["exp_alerts"] for c in cases), f"{alert} never fires"
        assert any("stays silent" in c["name"] and not c["alert_rule_test"][-1]["exp_alerts"] for c in cases)
        firing = next(c for c in cases if "fires after" in c["name"])
        assert firing["alert_rule_test"][0]["exp_alerts"] == [], "the first check is before `for` has passed"


@pytest.mark.parametrize("original,mutated", [
    ("service:recsys_errors:ratio_rate5m > 0.01", "service:recsys_errors:ratio_rate5m > 0.02"),
    ("service:recsys_ctr:ratio_rate1d < 0.005", "service:recsys_ctr:ratio_rate1d < 0.004"),
    ("    for: 10m\n", "    for: 30m\n"),
])
def test_promtool_tests_fail_when_a_threshold_changes(tree: Path, tmp_path: Path, original: str,
                                                      mutated: str) -> None:
    copy = tmp_path / "alerting"
    shutil.copytree(tree / RULES, copy)
    alerts = copy / "alerts.yml"
    assert original in alerts.read_text()
    alerts.write_text(alerts.read_text().replace(original, mutated, 1))
    tests = [str(copy / "tests" / name) for name in ("alerts_test.yml", "daily_alerts_test.yml")]
    result = run(find_tool("promtool"), "test", "rules", *tests)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


def test_slo_tests_fail_when_a_burn_threshold_changes(tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "alerting"
    shutil.copytree(tree / RULES, copy)
    slo = copy / "slo_alerts.yml"
    slo.write_text(slo.read_text().replace("> 0.0144", "> 0.02"))
    result = run(find_tool("promtool"), "test", "rules", str(copy / "tests" / "slo_alerts_test.yml"))
    assert result.returncode != 0


def test_amtool_check_config_passes(tree: Path) -> None:
    result = run(find_tool("amtool"), "check-config", str(tree / "alerting" / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("labels,receivers", [
    (["service=movie-recommender", "severity=P1", "kill_switch=disable_experiment"],
     "movie-recommender/kill-switch,movie-recommender/oncall-page"),
    (["service=movie-recommender", "severity=P2"], "movie-recommender/oncall-page"),
    (["service=movie-recommender", "severity=P3"], "movie-recommender/team-ticket"),
    (["service=movie-recommender", "severity=P4"], "movie-recommender/team-ticket"),
    (["service=movie-recommender", "alertname=NoSeverity"], "movie-recommender/team-ticket"),
    (["service=another", "severity=P1"], "obsgen-unrouted"),
])
def test_amtool_routes_each_severity(tree: Path, labels: list[str], receivers: str) -> None:
    result = run(find_tool("amtool"), "config", "routes", "test",
                 f"--config.file={tree / 'alerting' / 'alertmanager.yml'}", *labels)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receivers



FIXTURE_SPECS = sorted((Path(__file__).parent / "fixtures" / "specs").glob("*.yaml"))
STOREFRONT = Path(__file__).parent / "fixtures" / "specs" / "storefront.yaml"


def generate(spec: Path, out: Path) -> Path:
    from click.testing import CliRunner
    from obsgen.cli import main

    result = CliRunner().invoke(main, ["generate", str(spec), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module", params=FIXTURE_SPECS, ids=lambda path: path.stem)
def fixture_tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output tree of one fixture spec (tests/fixtures/specs/), generated once per module."""
    return generate(request.param, tmp_path_factory.mktemp(request.param.stem))


def test_fixture_spec_rules_pass_promtool_check(fixture_tree: Path) -> None:
    files = sorted(str(p) for p in (fixture_tree / "alerting").glob("*/*.yml"))
    result = run(find_tool("promtool"), "check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_fixture_spec_generated_unit_tests_pass(fixture_tree: Path) -> None:
    tests = sorted(str(p) for p in (fixture_tree / "alerting").glob("*/tests/*_test.yml"))
    alerts = [r for p in (fixture_tree / "alerting").glob("*/*alerts.yml")
              for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"]]
    assert bool(tests) == bool(alerts), "every spec with alerts gets generated tests"
    if not tests:
        return
    result = run(find_tool("promtool"), "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests)


def test_a_ratio_term_whose_counter_was_never_written_does_not_empty_the_ratio(tmp_path: Path) -> None:
    """authorised ÷ (authorised + failed) is 1, not empty, while no payment has failed yet (an OTel SDK
    exports a counter series only once it is incremented)."""
    import yaml

    tree = generate(STOREFRONT, tmp_path)
    record = "payment_method:shop_payment_success:ratio_rate5m"
    test = tree / "alerting" / "storefront-api" / "tests" / "never_failed_test.yml"
    test.write_text(yaml.safe_dump({
        "rule_files": ["../recording_rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m",
                   "input_series": [{"series": 'shop_payments_authorised_total{payment_method="card"}',
                                     "values": "0+60x10"}],
                   "promql_expr_test": [{"expr": record, "eval_time": "10m", "exp_samples": [
                       {"labels": f'{record}{{payment_method="card", service="storefront-api"}}', "value": 1}]}]}],
    }))
    result = run(find_tool("promtool"), "test", "rules", str(test))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rate_alert_tests_fail_when_the_threshold_changes(tmp_path: Path) -> None:
    tree = generate(STOREFRONT, tmp_path / "tree")
    alerts = tree / "alerting" / "storefront-api" / "alerts.yml"
    original = 'payment_method:shop_orders_per_second:rate15m{payment_method="card"} < 0.05'
    assert original in alerts.read_text()
    alerts.write_text(alerts.read_text().replace(original, original.replace("0.05", "0.04")))
    tests = tree / "alerting" / "storefront-api" / "tests" / "alerts_test.yml"
    result = run(find_tool("promtool"), "test", "rules", str(tests))
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr
