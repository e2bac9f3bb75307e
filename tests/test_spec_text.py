"""Free text of a spec (descriptions, summaries, URLs) reaches generated files as the spec wrote it, and the
real tools still accept every file: ``{{`` in prose copied into Prometheus annotation templates is escaped
(and the promtool tests expect it rendered back), alert descriptions keep the templates obsgen's tests
render, and a summary that a YAML 1.2 reader (pint, the collector: Go's yaml.v3) would take for a number
stays a string. One generated tree of the minimal spec, shared by the module.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main

from tests.conftest import find_tool

MINIMAL = Path(__file__).parent / "fixtures" / "specs" / "minimal.yaml"
INDICATOR_TEXT = 'Share of {{ failed }} requests: "quoted", back\\slash, $1 ${HOME} {{{'
SLO_TEXT = "At most 0.1% of requests fail {{ .Foo }}, {{- and {{ template \"x\" }}."
ALERT_TEXT = ('{{ $value | humanizePercentage }} of {{ $labels.http_route }} fail; '
              'the page says {{ "{{" }} literally.')
SUMMARY = "1e3"
OUTCOMES = ["error", "err\\or", 'quo"te', "x.y"]
"""Label values a PromQL string or regex must escape: a backslash, a quote, a regex metacharacter."""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, check=False, timeout=300)


def hostile_spec() -> dict:
    spec = yaml.safe_load(MINIMAL.read_text())
    spec["indicators"]["errors"]["description"] = INDICATOR_TEXT
    spec["indicators"]["errors"]["by"] = ["http.route"]
    spec["attributes"]["outcome"]["enum"] = ["success", *OUTCOMES]
    spec["indicators"]["errors"]["numerator"]["where"] = {"outcome": OUTCOMES}
    spec["slos"]["availability"]["description"] = SLO_TEXT
    spec["alerts"] = {
        "HelloErrorsTemplated": {"summary": "Requests fail.", "description": ALERT_TEXT, "indicator": "errors",
                                 "op": ">", "threshold": 0.05, "for": "5m", "severity": "P2"},
        "HelloErrorsDefault": {"summary": SUMMARY, "indicator": "errors", "op": ">", "threshold": 0.1, "for": "5m",
                               "severity": "P4"}}
    return spec


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("spec-text")
    (work / "spec.yaml").write_text(yaml.safe_dump(hostile_spec(), sort_keys=False, allow_unicode=True))
    result = CliRunner().invoke(main, ["generate", str(work / "spec.yaml"), "--out", str(work / "out")])
    assert result.exit_code == 0, result.output
    return work / "out"


def rule_files(tree: Path) -> list[str]:
    return sorted(str(p) for p in (tree / "alerting" / "hello-api").glob("*.yml"))


def test_promtool_checks_the_annotation_templates(tree: Path) -> None:
    result = run(find_tool("promtool"), "check", "rules", *rule_files(tree))
    assert result.returncode == 0, result.stdout + result.stderr


def test_label_values_are_escaped_in_promql(tree: Path) -> None:
    """Each value is a literal: the regex is ``error|err\\\\or|quo"te|x\\.y``, written as a PromQL string."""
    rules = (tree / "alerting" / "hello-api" / "recording_rules.yml").read_text()
    assert 'outcome=~"error|err\\\\\\\\or|quo\\"te|x\\\\.y"' in yaml.safe_load(rules)["groups"][0]["rules"][0]["expr"]


def test_promtool_renders_the_prose_as_written(tree: Path) -> None:
    """The generated tests expect each annotation rendered: a literal ``{{`` must come back as written."""
    tests = sorted(str(p) for p in (tree / "alerting" / "hello-api" / "tests").glob("*_test.yml"))
    expected = [a for t in tests for case in yaml.safe_load(Path(t).read_text())["tests"]
                for check in case.get("alert_rule_test", []) for a in check["exp_alerts"]]
    descriptions = {a["exp_annotations"]["description"] for a in expected}
    assert any(d.startswith(INDICATOR_TEXT.removesuffix(".")) for d in descriptions), descriptions
    assert any(d.startswith(SLO_TEXT.removesuffix(".")) for d in descriptions), descriptions
    assert any(d.endswith("the page says {{ literally.") and "{{ $" not in d for d in descriptions), descriptions
    result = run(find_tool("promtool"), "test", "rules", *tests)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_pint_reads_every_annotation_as_a_string(tree: Path) -> None:
    alerts = yaml.safe_load((tree / "alerting" / "hello-api" / "alerts.yml").read_text())["groups"][0]["rules"]
    assert {r["annotations"]["summary"] for r in alerts} == {"Requests fail.", SUMMARY}
    result = run(find_tool("pint"), "--no-color", "--offline", "lint", "--fail-on=warning", "alerting/", cwd=tree)
    assert result.returncode == 0, result.stdout + result.stderr
