"""The generated rules and Alertmanager config checked and unit-tested by the real promtool and amtool.

Every check runs on each spec of ``SPEC_CASES``; alert names, thresholds, severities and receivers come
from the model, so the same checks prove a spec of another domain.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from obsgen.emit import alertmanager
from obsgen.emit.alertmanager import ALERTMANAGER_FILE
from obsgen.emit.prometheus import promql as q
from obsgen.emit.prometheus import ruletests
from obsgen.emit.prometheus.rules import ALERTS_FILE, RULE_FILES, RULES_DIR, SLO_ALERTS_FILE, rule_path
from obsgen.model import Alert, Model, Ratio

from tests.conftest import find_tool
from tests.support.specs import BUILTIN, SpecCase


def rules_dir(tree: Path, model: Model) -> Path:
    """The service's rule folder in ``tree`` (rules, and their tests under ``tests/``)."""
    return tree / RULES_DIR / model.service.name


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, check=False, timeout=600)


def rule_counts(tree: Path, model: Model) -> dict[str, int]:
    return {rule_path(model, f): sum(len(g["rules"]) for g in yaml.safe_load((tree / rule_path(model, f)).read_text())[
        "groups"]) for f in RULE_FILES}


def test_promtool_check_rules_passes(spec_tree: Path, spec_case: SpecCase) -> None:
    model = spec_case.model
    counts = rule_counts(spec_tree, model)
    result = run(find_tool("promtool"), "check", "rules", *(str(spec_tree / f) for f in counts))
    assert result.returncode == 0, result.stdout + result.stderr
    assert counts[rule_path(model, ALERTS_FILE)] == len(model.alerts)
    for path, count in counts.items():
        assert f"Checking {spec_tree / path}\n  SUCCESS: {count} rules found" in result.stdout, (path, result.stdout)


def unit_test_files(tree: Path, model: Model) -> list[str]:
    files = sorted(str(tree / path) for path in ruletests.emit(model))
    assert files == sorted(str(p) for p in (rules_dir(tree, model) / "tests").glob("*_test.yml"))
    return files


def test_promtool_unit_tests_pass(spec_tree: Path, spec_case: SpecCase) -> None:
    tests = unit_test_files(spec_tree, spec_case.model)
    assert len(tests) == 4  # the spec's alerts and the SLOs' burn rates, each at a 1m and a 15m step
    result = run(find_tool("promtool"), "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests)


def test_every_alert_has_a_firing_and_a_silent_case(spec_tree: Path, spec_case: SpecCase) -> None:
    model = spec_case.model
    alerts = [r["alert"] for g in yaml.safe_load((spec_tree / rule_path(model, ALERTS_FILE)).read_text())["groups"]
              for r in g["rules"]]
    assert alerts == [a.name for a in model.alerts]
    folder = rules_dir(spec_tree, model) / "tests"
    tests = [t for f in folder.glob("*alerts_test.yml") if not f.name.startswith("slo_")
             for t in yaml.safe_load(f.read_text())["tests"]]
    for alert in alerts:
        cases = [t for t in tests if t["alert_rule_test"][0]["alertname"] == alert]
        assert any(c["alert_rule_test"][-1]["exp_alerts"] for c in cases), f"{alert} never fires"
        assert any("stays silent" in c["name"] and not c["alert_rule_test"][-1]["exp_alerts"] for c in cases)
        firing = next(c for c in cases if "fires after" in c["name"])
        assert firing["alert_rule_test"][0]["exp_alerts"] == [], "the first check is before `for` has passed"


def _ratio_alerts(model: Model, daily: bool) -> list[Alert]:
    return [a for a in model.alerts
            if isinstance(a.indicator, Ratio) and not a.when_absent and (a.window.seconds >= 86400) == daily]


def _mutations(tree: Path, model: Model) -> list[tuple[str, str]]:
    """Edits of alerts.yml the generated tests must catch: a 5m and a daily ratio threshold moved past the
    tested value (doubled for `>`, halved for `<`), and the first alert's `for` tripled."""
    alerts = yaml.safe_load((tree / rule_path(model, ALERTS_FILE)).read_text())
    rules = {r["alert"]: r for g in alerts["groups"] for r in g["rules"]}
    out = []
    for daily in (False, True):
        alert = _ratio_alerts(model, daily)[0]
        moved = alert.threshold * 2 if alert.op in (">", ">=") else alert.threshold / 2
        expr = rules[alert.name]["expr"]
        suffix = f" {alert.op} {q.number(alert.threshold)}"
        assert expr.endswith(suffix), expr
        out.append((expr, expr[: -len(suffix)] + f" {alert.op} {q.number(moved)}"))
    first = model.alerts[0]
    tripled = f"{first.for_.seconds * 3 // 60}m"
    out.append((f"    for: {first.for_.text}\n", f"    for: {tripled}\n"))
    return out


def test_promtool_tests_fail_when_a_threshold_or_for_changes(spec_tree: Path, spec_case: SpecCase,
                                                             tmp_path: Path) -> None:
    copy = tmp_path / "alerting"
    tests = [str(copy / "tests" / Path(f).name) for f in unit_test_files(spec_tree, spec_case.model)
             if not Path(f).name.startswith("slo_")]
    for original, mutated in _mutations(spec_tree, spec_case.model):
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(rules_dir(spec_tree, spec_case.model), copy)
        alerts = copy / ALERTS_FILE
        text = alerts.read_text()
        assert original in text, original
        alerts.write_text(text.replace(original, mutated, 1))
        result = run(find_tool("promtool"), "test", "rules", *tests)
        assert result.returncode != 0, f"the tests still pass after {original!r} -> {mutated!r}"
        assert "FAILED" in result.stdout + result.stderr


def test_slo_tests_fail_when_a_burn_threshold_changes(spec_tree: Path, spec_case: SpecCase, tmp_path: Path) -> None:
    copy = tmp_path / "alerting"
    shutil.copytree(rules_dir(spec_tree, spec_case.model), copy)
    slo = copy / SLO_ALERTS_FILE
    text = slo.read_text()
    threshold = re.search(r"> (\d+(?:\.\d+)?)\b", text)
    assert threshold, "no burn-rate threshold in slo_alerts.yml"
    slo.write_text(text.replace(threshold.group(0), f"> {float(threshold.group(1)) * 1.5:g}", 1))
    # The first case is the first SLO's fastest pair, the one the first threshold belongs to; the others
    # cost seconds each and prove nothing more here.
    test = copy / "tests" / "slo_alerts_test.yml"
    tests = yaml.safe_load(test.read_text())
    first = tests["tests"][0]
    assert "1h/5m pair" in first["name"] and first["alert_rule_test"][-1]["exp_alerts"], first["name"]
    test.write_text(yaml.safe_dump({**tests, "tests": [first]}))
    result = run(find_tool("promtool"), "test", "rules", str(test))
    assert result.returncode != 0


def test_slo_tests_pass_on_prometheus_3(spec_tree: Path, spec_case: SpecCase) -> None:
    """The burn-rate tests pin detection to the evaluation on both majors: Prometheus 3's ranges leave
    out the sample on a window's left edge, and the generator picks inputs both agree on."""
    if spec_case is not BUILTIN:
        pytest.skip("one spec suffices: the same generator picks every spec's inputs")
    folder = rules_dir(spec_tree, spec_case.model) / "tests"
    tests = sorted(str(f) for f in folder.glob("slo_*_test.yml"))
    result = run(find_tool("promtool3"), "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests) == 2


def test_amtool_check_config_passes(spec_tree: Path) -> None:
    result = run(find_tool("amtool"), "check-config", str(spec_tree / ALERTMANAGER_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def route_cases(model: Model) -> list[tuple[list[str], str]]:
    """Alert labels and the receivers Alertmanager must pick (named ``<service>/<receiver>``): each severity
    alone, each kill-switch alert with its severity (kill-switch webhook first, then paging goes on), an alert
    without a severity, and an alert of a service the tree does not have."""
    service = f"service={model.service.name}"
    receivers = {r.severity: f"{model.service.name}/{r.receiver}" for r in model.routing.severities}
    cases = [([service, f"severity={s}"], receivers[s]) for s in sorted(receivers)]
    cases += [([service, f"severity={a.severity}", f"kill_switch={a.kill_switch}"],
               f"{model.service.name}/{model.routing.kill_switch_webhook.name},{receivers[a.severity]}")
              for a in model.alerts if a.kill_switch]
    cases.append(([service, "alertname=Unrouted"], receivers[model.routing.severities[-1].severity]))
    cases.append((["service=another", "severity=P1"], alertmanager.UNROUTED))
    return cases


def test_amtool_routes_each_severity(spec_tree: Path, spec_case: SpecCase) -> None:
    cases = route_cases(spec_case.model)
    assert len(cases) >= len(spec_case.model.routing.severities) + 3
    for labels, receivers in cases:
        result = run(find_tool("amtool"), "config", "routes", "test",
                     f"--config.file={spec_tree / ALERTMANAGER_FILE}", *labels)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == receivers, labels


def test_the_built_in_routes_are_the_seeds() -> None:
    cases = dict((" ".join(labels[1:]), receivers) for labels, receivers in route_cases(BUILTIN.model))
    svc = BUILTIN.model.service.name
    assert cases["severity=P1 kill_switch=disable_experiment"] == f"{svc}/kill-switch,{svc}/oncall-page"
    assert (cases["severity=P2"], cases["severity=P3"], cases["severity=P4"]) == (
        f"{svc}/oncall-page", f"{svc}/team-ticket", f"{svc}/team-ticket")
    assert cases["alertname=Unrouted"] == f"{svc}/team-ticket"


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
