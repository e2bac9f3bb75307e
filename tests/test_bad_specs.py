"""Every kind of bad spec gives `FILE:LINE: field.path: problem — fix`, exit code 2, and writes nothing."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.spec import default_spec_text

DEFAULT_TEXT = default_spec_text()
DEFAULT = yaml.safe_load(DEFAULT_TEXT)
ERROR_LINE = re.compile(
    r"^(?P<file>[^:]+\.yaml):(?P<line>\d+): (?P<path>\(top level\)|\S+): (?P<problem>.+) — (?P<fix>.+)$")


def metric(spec: dict, name: str) -> dict:
    return next(m for e in spec["events"].values() for m in e["metrics"] if m["name"] == name)


Mutation = Callable[[dict], Any]

# (id, mutation of the default spec, field path expected in an error, words expected in the problem)
CASES: list[tuple[str, Mutation, str, str]] = [
    ("unknown-top-level-key", lambda s: s.update(versoin=1), "versoin", "unknown key"),
    ("unsupported-version", lambda s: s.update(version=2), "version", "unsupported spec version"),
    ("missing-section", lambda s: s.pop("routing"), "(top level)", "missing required key `routing`"),
    ("unknown-attribute-key", lambda s: s["attributes"]["bucket"].update(pii_class="low"),
     "attributes.bucket.pii_class", "unknown key"),
    ("bad-pii-class", lambda s: s["attributes"]["region"].update(pii="secret"), "attributes.region.pii",
     "not one of none, low, high"),
    ("enum-marked-high-cardinality", lambda s: s["attributes"]["cohort"].update(cardinality="high"),
     "attributes.cohort.cardinality", "bounded cardinality"),
    ("buckets-not-numbers", lambda s: metric(s, "recsys.ranking.duration").update(buckets="fast"),
     "events.ranking.metrics[0].buckets", "non-empty list of numbers"),
    ("buckets-not-increasing", lambda s: metric(s, "recsys.ranking.duration").update(buckets=[5, 50, 10]),
     "events.ranking.metrics[0].buckets", "strictly increasing"),
    ("high-pii-label", lambda s: metric(s, "recsys.requests")["labels"].append("user_id"),
     "events.request.metrics[0].labels[5]", "high-PII"),
    ("high-cardinality-label", lambda s: metric(s, "recsys.requests")["labels"].append("request_id"),
     "events.request.metrics[0].labels[5]", "high-cardinality"),
    ("label-not-an-event-field", lambda s: metric(s, "recsys.requests")["labels"].append("genre"),
     "events.request.metrics[0].labels[5]", "not a field of event `request`"),
    ("label-not-an-attribute", lambda s: metric(s, "recsys.requests")["labels"].append("colour"),
     "events.request.metrics[0].labels[5]", "not an attribute declared under `attributes`"),
    ("histogram-without-buckets", lambda s: metric(s, "recsys.ranking.coverage").pop("buckets"),
     "events.ranking.metrics[1]", "needs `buckets`"),
    ("metric-name-not-otel-style", lambda s: metric(s, "recsys.clicks").update(name="Recsys.Clicks"),
     "events.click.metrics[0].name", "not a valid OTel metric name"),
    ("metric-value-not-numeric", lambda s: metric(s, "recsys.ranking.duration").update(value="algorithm"),
     "events.ranking.metrics[0].value", "not a number"),
    ("example-breaks-schema", lambda s: s["events"]["request"]["example"].update(bucket="blue"),
     "events.request.example.bucket", "example value is invalid"),
    ("example-missing-required", lambda s: s["events"]["click"]["example"].pop("engagement_type"),
     "events.click.example", "lacks required field `engagement_type`"),
    ("indicator-on-undeclared-metric", lambda s: s["indicators"]["errors"]["numerator"].update(metric="recsys.errorz"),
     "indicators.errors.numerator.metric", "not a metric declared under `events`"),
    ("where-on-missing-label", lambda s: s["indicators"]["errors"]["numerator"].update(where={"region": ["eu"]}),
     "indicators.errors.numerator.where.region", "not a label of metric `recsys.errors`"),
    ("where-value-not-in-enum", lambda s: s["indicators"]["errors"]["numerator"].update(where={"severity": ["fatal"]}),
     "indicators.errors.numerator.where.severity[0]", "not a value of `severity`"),
    ("planned-split-not-one", lambda s: s["indicators"]["traffic_allocation"]["planned"].update(control=0.6),
     "indicators.traffic_allocation.planned", "add up to 1.1"),
    ("alert-on-undeclared-indicator", lambda s: s["alerts"]["RecsysErrorRateHigh"].update(indicator="error_ratio"),
     "alerts.RecsysErrorRateHigh.indicator", "not an indicator declared under `indicators`"),
    ("alert-bad-severity", lambda s: s["alerts"]["RecsysCoverageLow"].update(severity="P5"),
     "alerts.RecsysCoverageLow.severity", "not one of P1, P2, P3, P4"),
    ("alert-bad-for", lambda s: s["alerts"]["RecsysCoverageLow"].update({"for": "10 minutes"}),
     "alerts.RecsysCoverageLow.for", "not a duration"),
    ("alert-threshold-not-number", lambda s: s["alerts"]["RecsysCoverageLow"].update(threshold="95%"),
     "alerts.RecsysCoverageLow.threshold", "expected a number"),
    ("alert-unknown-kill-switch", lambda s: s["alerts"]["RecsysErrorRateHigh"].update(kill_switch="reboot"),
     "alerts.RecsysErrorRateHigh.kill_switch", "not a kill-switch declared under `kill_switches`"),
    ("alert-unknown-tile", lambda s: s["alerts"]["RecsysErrorRateHigh"].update(dashboard_tile="health/nope"),
     "alerts.RecsysErrorRateHigh.dashboard_tile", "`health/nope` is not a tile of the spec's dashboards"),
    ("alert-quantile-not-recorded", lambda s: s["alerts"]["RecsysRankingLatencyHigh"].update(quantile=0.9),
     "alerts.RecsysRankingLatencyHigh.quantile", "does not compute quantile 0.9"),
    ("alert-quantile-between-buckets", lambda s: s["alerts"]["RecsysRankingLatencyHigh"].update(threshold=120),
     "alerts.RecsysRankingLatencyHigh.threshold", "not an inner bucket boundary"),
    ("alert-match-on-unsplit-label", lambda s: s["alerts"]["RecsysCoverageLow"].update(match={"bucket": "control"}),
     "alerts.RecsysCoverageLow.match.bucket", "not split by `bucket`"),
    ("alert-templated-summary", lambda s: s["alerts"]["RecsysCoverageLow"].update(summary="Coverage {{ $value }}"),
     "alerts.RecsysCoverageLow.summary", "templated"),
    ("slo-budget-on-gauge", lambda s: s["slos"]["data_freshness"].update(error_budget={"period": "30d"}),
     "slos.data_freshness.error_budget", "no good/bad events"),
    ("slo-latency-objective-off-bucket", lambda s: s["slos"]["latency_p95_warm"]["objective"].update(value=60),
     "slos.latency_p95_warm.objective.value", "not a bucket boundary"),
    ("routing-missing-severity", lambda s: s["routing"]["severities"].pop("P4"),
     "routing.severities", "no route for P4"),
    ("repeat-after-escalation", lambda s: s["routing"]["severities"]["P1"].update(repeat_interval="1h"),
     "routing.severities.P1.repeat_interval", "longer than the escalation time"),
    ("route-to-unknown-receiver", lambda s: s["routing"]["severities"]["P2"].update(receiver="pager"),
     "routing.severities.P2.receiver", "not a receiver declared under `routing.receivers`"),
    ("kill-switch-webhook-without-token", lambda s: s["routing"]["kill_switch_webhook"].pop("bearer_token_file"),
     "routing.kill_switch_webhook", "missing required key `bearer_token_file`"),
    ("credentials-in-url", lambda s: s["routing"]["receivers"]["oncall-page"].update(url="http://u:pw@pager/x"),
     "routing.receivers.oncall-page.url", "not a valid URL without credentials"),
    # ratios over several metrics, rate indicators, success objectives, dotted attribute names
    ("ratio-terms-empty-list", lambda s: s["indicators"]["errors"].update(numerator=[]),
     "indicators.errors.numerator", "non-empty list"),
    ("ratio-term-on-gauge", lambda s: s["indicators"]["errors"].update(
        denominator=[{"metric": "recsys.requests"}, {"metric": "recsys.data.age"}]),
     "indicators.errors.denominator[1].metric", "cannot use gauge `recsys.data.age`"),
    ("ratio-term-where-on-missing-label", lambda s: s["indicators"]["errors"].update(
        denominator=[{"metric": "recsys.requests"}, {"metric": "recsys.sessions", "where": {"region": ["eu"]}}]),
     "indicators.errors.denominator[1].where.region", "not a label of metric `recsys.sessions`"),
    ("split-label-missing-on-one-term", lambda s: s["indicators"]["errors"].update(by=["region"]),
     "indicators.errors.by[0]", "not a label of metric `recsys.errors`"),
    ("rate-on-gauge", lambda s: s["indicators"].update(
        age_rate={"kind": "rate", "description": "d", "metric": "recsys.data.age"}),
     "indicators.age_rate.metric", "a rate indicator cannot use gauge"),
    ("rate-where-value-not-in-enum", lambda s: s["indicators"].update(
        blue_rate={"kind": "rate", "description": "d", "metric": "recsys.requests", "where": {"bucket": ["blue"]}}),
     "indicators.blue_rate.where.bucket[0]", "not a value of `bucket`"),
    ("rate-with-quantiles", lambda s: s["indicators"].update(
        q_rate={"kind": "rate", "description": "d", "metric": "recsys.requests", "quantiles": [0.5]}),
     "indicators.q_rate.quantiles", "unknown key"),
    ("success-objective-not-a-ratio-value", lambda s: s["slos"]["error_rate"].update(
        objective={"op": ">=", "value": 99.9}),
     "slos.error_rate.objective.value", "between 0 and 1"),
    ("latency-budget-lower-bound", lambda s: s["slos"]["latency_p95_warm"]["objective"].update(op=">="),
     "slos.latency_p95_warm.objective.op", "upper bound on latency"),
    ("alert-below-zero-never-fires", lambda s: s["alerts"]["RecsysCoverageLow"].update(threshold=0),
     "alerts.RecsysCoverageLow.threshold", "`< 0` never holds"),
    ("attribute-name-not-otel-style", lambda s: s["attributes"].update({"Http.Route": s["attributes"]["region"]}),
     "attributes.Http.Route", "not a valid attribute name"),
    ("attributes-share-a-prometheus-label", lambda s: s["attributes"].update(
        {"user.state": s["attributes"]["user_state"]}),
     "attributes.user.state", "both the Prometheus label `user_state`"),
]

TEXT_CASES: list[tuple[str, str, str, str]] = [
    ("yaml-syntax-error", DEFAULT_TEXT.replace("  bucket: {type: string,", "  bucket: {type: [string,", 1),
     "(top level)", "YAML syntax error"),
    ("duplicate-key", DEFAULT_TEXT.replace("version: 1\n", "version: 1\nversion: 1\n", 1), "version",
     "duplicate key"),
    ("empty-file", "", "(top level)", "expected a mapping"),
]


def run_bad(tmp_path: Path, text: str) -> tuple[int, list[str], Path]:
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", str(spec), "--out", str(out)])
    return result.exit_code, result.stderr.splitlines(), out


def assert_reported(tmp_path: Path, text: str, path: str, words: str) -> None:
    code, lines, out = run_bad(tmp_path, text)
    assert code == 2
    errors = [ERROR_LINE.match(line) for line in lines[:-1]]
    assert errors and all(errors), lines
    assert lines[-1].endswith("nothing was written.")
    assert any(e["path"] == path and words in e["problem"] for e in errors if e), lines
    assert not out.exists(), "a bad spec must not write anything"


@pytest.mark.parametrize("case_id,mutate,path,words", CASES, ids=[c[0] for c in CASES])
def test_bad_spec_is_reported(tmp_path: Path, case_id: str, mutate: Mutation, path: str, words: str) -> None:
    spec = copy.deepcopy(DEFAULT)
    mutate(spec)
    assert_reported(tmp_path, yaml.safe_dump(spec, sort_keys=False), path, words)


@pytest.mark.parametrize("case_id,text,path,words", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_bad_spec_text_is_reported(tmp_path: Path, case_id: str, text: str, path: str, words: str) -> None:
    assert_reported(tmp_path, text, path, words)


def test_there_are_at_least_25_distinct_bad_specs() -> None:
    assert len({c[0] for c in CASES} | {c[0] for c in TEXT_CASES}) >= 25


def test_error_line_points_at_the_offending_line(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace("labels: [bucket, cohort, user_state, region, surface]",
                                "labels: [bucket, cohort, user_state, region, surface, user_id]", 1)
    code, lines, _ = run_bad(tmp_path, text)
    assert code == 2
    line_no = next(i for i, line in enumerate(text.splitlines(), 1) if "surface, user_id]" in line)
    assert lines[0].startswith(f"{tmp_path / 'bad.yaml'}:{line_no}: events.request.metrics[0].labels[5]: ")


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    spec = copy.deepcopy(DEFAULT)
    spec["alerts"]["RecsysCoverageLow"]["severity"] = "P9"
    spec["attributes"]["region"]["pii"] = "secret"
    spec["routing"]["severities"].pop("P3")
    code, lines, _ = run_bad(tmp_path, yaml.safe_dump(spec, sort_keys=False))
    assert code == 2
    assert len(lines) == 4  # three errors and the summary


def test_missing_spec_file_is_reported_in_the_same_form(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert ERROR_LINE.match(result.stderr.splitlines()[0])
