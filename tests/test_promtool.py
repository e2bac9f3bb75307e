"""The generated rules and Alertmanager config checked and unit-tested by the real promtool and amtool.

Every check runs on each spec of ``SPEC_CASES``; alert names, thresholds, severities and receivers come
from the model, so the same checks prove a spec of another domain.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml
from obsgen.emit.alertmanager import ALERTMANAGER_FILE
from obsgen.emit.prometheus import promql as q
from obsgen.emit.prometheus import ruletests
from obsgen.emit.prometheus.rules import ALERTS_FILE, RULE_FILES, SLO_ALERTS_FILE
from obsgen.model import Alert, Model

from tests.conftest import find_tool
from tests.support.specs import BUILTIN, SpecCase


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, check=False, timeout=600)


def rule_counts(tree: Path) -> dict[str, int]:
    return {f: sum(len(g["rules"]) for g in yaml.safe_load((tree / f).read_text())["groups"]) for f in RULE_FILES}


def test_promtool_check_rules_passes(spec_tree: Path, spec_case: SpecCase) -> None:
    counts = rule_counts(spec_tree)
    result = run(find_tool("promtool"), "check", "rules", *(str(spec_tree / f) for f in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert counts[ALERTS_FILE] == len(spec_case.model.alerts)
    for path, count in counts.items():
        assert f"Checking {spec_tree / path}\n  SUCCESS: {count} rules found" in result.stdout, (path, result.stdout)


def unit_test_files(tree: Path, model: Model) -> list[str]:
    files = sorted(str(tree / path) for path in ruletests.emit(model))
    assert files == sorted(str(p) for p in (tree / "alerting" / "tests").glob("*_test.yml"))
    return files


def test_promtool_unit_tests_pass(spec_tree: Path, spec_case: SpecCase) -> None:
    tests = unit_test_files(spec_tree, spec_case.model)
    assert len(tests) == 3
    result = run(find_tool("promtool"), "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests)


def test_every_alert_has_a_firing_and_a_silent_case(spec_tree: Path, spec_case: SpecCase) -> None:
    alerts = [r["alert"] for g in yaml.safe_load((spec_tree / ALERTS_FILE).read_text())["groups"] for r in g["rules"]]
    assert alerts == [a.name for a in spec_case.model.alerts]
    tests = [t for f in (spec_tree / "alerting" / "tests").glob("*alerts_test.yml") if f.name != "slo_alerts_test.yml"
             for t in yaml.safe_load(f.read_text())["tests"]]
    for alert in alerts:
        cases = [t for t in tests if t["alert_rule_test"][0]["alertname"] == alert]
        assert any(c["alert_rule_test"][-1]["exp_alerts"] for c in cases), f"{alert} never fires"
        assert any("stays silent" in c["name"] and not c["alert_rule_test"][-1]["exp_alerts"] for c in cases)
        firing = next(c for c in cases if "fires after" in c["name"])
        assert firing["alert_rule_test"][0]["exp_alerts"] == [], "the first check is before `for` has passed"


def _ratio_alerts(model: Model, daily: bool) -> list[Alert]:
    return [a for a in model.alerts
            if a.indicator.kind == "ratio" and not a.when_absent and (a.window.seconds >= 86400) == daily]


def _mutations(tree: Path, model: Model) -> list[tuple[str, str]]:
    """Edits of alerts.yml the generated tests must catch: a 5m and a daily ratio threshold moved past the
    tested value (doubled for `>`, halved for `<`), and the first alert's `for` tripled."""
    rules = {r["alert"]: r for g in yaml.safe_load((tree / ALERTS_FILE).read_text())["groups"] for r in g["rules"]}
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
             if not f.endswith("slo_alerts_test.yml")]
    for original, mutated in _mutations(spec_tree, spec_case.model):
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(spec_tree / "alerting", copy)
        alerts = copy / "alerts.yml"
        text = alerts.read_text()
        assert original in text, original
        alerts.write_text(text.replace(original, mutated, 1))
        result = run(find_tool("promtool"), "test", "rules", *tests)
        assert result.returncode != 0, f"the tests still pass after {original!r} -> {mutated!r}"
        assert "FAILED" in result.stdout + result.stderr


def test_slo_tests_fail_when_a_burn_threshold_changes(spec_tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "alerting"
    shutil.copytree(spec_tree / "alerting", copy)
    slo = copy / Path(SLO_ALERTS_FILE).name
    text = slo.read_text()
    threshold = re.search(r"> (\d+(?:\.\d+)?)\b", text)
    assert threshold, "no burn-rate threshold in slo_alerts.yml"
    slo.write_text(text.replace(threshold.group(0), f"> {float(threshold.group(1)) * 1.5:g}", 1))
    result = run(find_tool("promtool"), "test", "rules", str(copy / "tests" / "slo_alerts_test.yml"))
    assert result.returncode != 0


def test_amtool_check_config_passes(spec_tree: Path) -> None:
    result = run(find_tool("amtool"), "check-config", str(spec_tree / ALERTMANAGER_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def route_cases(model: Model) -> list[tuple[list[str], str]]:
    """Alert labels and the receivers Alertmanager must pick: each severity alone, each kill-switch alert with
    its severity (kill-switch webhook first, then paging goes on), and an alert without a severity."""
    receivers = {r.severity: r.receiver for r in model.routing.severities}
    cases = [([f"severity={s}"], receivers[s]) for s in sorted(receivers)]
    cases += [([f"severity={a.severity}", f"kill_switch={a.kill_switch}"],
               f"{model.routing.kill_switch_webhook.name},{receivers[a.severity]}")
              for a in model.alerts if a.kill_switch]
    cases.append((["alertname=Unrouted"], model.routing.severities[-1].receiver))
    return cases


def test_amtool_routes_each_severity(spec_tree: Path, spec_case: SpecCase) -> None:
    cases = route_cases(spec_case.model)
    assert len(cases) >= len(spec_case.model.routing.severities) + 2
    for labels, receivers in cases:
        result = run(find_tool("amtool"), "config", "routes", "test",
                     f"--config.file={spec_tree / ALERTMANAGER_FILE}", *labels)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == receivers, labels


def test_the_built_in_routes_are_the_seeds() -> None:
    cases = dict((" ".join(labels), receivers) for labels, receivers in route_cases(BUILTIN.model))
    assert cases["severity=P1 kill_switch=disable_experiment"] == "kill-switch,oncall-page"
    assert (cases["severity=P2"], cases["severity=P3"], cases["severity=P4"]) == ("oncall-page", "team-ticket",
                                                                                 "team-ticket")
    assert cases["alertname=Unrouted"] == "team-ticket"
