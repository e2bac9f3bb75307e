"""The PromQL contract: queries that name series the service never produces are spec errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from obsgen import contract
from obsgen.cli import EXIT_BAD_INPUT, main
from obsgen.model import Metric, Model
from obsgen.spec import default_spec_text
from obsgen.spec.build import build_model
from obsgen.spec.source import load_text

from tests.support.specs import SpecCase

SPEC = default_spec_text()
FALLBACK = 'sum by (fallback) (rate(recsys_ranking_duration_milliseconds_count{shadow!="true", bucket=~"$bucket"}'


def _check(text: str) -> list[str]:
    doc = load_text(text, "spec.yaml")
    return [str(e) for e in contract.check(build_model(doc, "spec.yaml"), doc)]


def _replace(old: str, new: str) -> str:
    assert old in SPEC, old
    return SPEC.replace(old, new, 1)


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def _line_after(*needles: str) -> int:
    """The line of the last needle, each found after the one before it."""
    at = 0
    for needle in needles:
        at = SPEC.index(needle, at)
    return SPEC.count("\n", 0, at) + 1


def test_each_spec_honours_the_contract(spec_case: SpecCase) -> None:
    assert contract.check(spec_case.model) == []


def test_every_tile_variable_and_alert_of_each_spec_is_checked(spec_case: SpecCase) -> None:
    model = spec_case.model
    whats = [where.what for _, where in contract.expressions(model)]
    for board in model.dashboards:
        for tile in board.tiles:
            if tile.panel not in ("logs", "text"):
                assert any(w.startswith(f"tile `{board.name}/{tile.id}`") for w in whats), tile.id
        for variable in board.variables:
            assert any(w.startswith(f"variable `${variable.name}`") for w in whats), variable.name
    for alert in model.alerts:
        assert any(f"generated rule `{alert.name}`" in w for w in whats), alert.name


def test_recording_rules_are_known_series_with_the_labels_they_keep(model: Model) -> None:
    known = contract.known_series(model)
    assert known["user_state_quantile:recsys_ranking_latency_milliseconds:histogram_quantile_rate5m"] == {
        "quantile", "service", "user_state"}
    assert known["bucket:recsys_traffic_allocation:deviation_rate1d"] == {"bucket", "service"}
    assert "le" in known["recsys_ranking_duration_milliseconds_bucket"]
    assert "le" not in known["recsys_ranking_duration_milliseconds_count"]
    assert {"alertname", "alertstate", "severity"} <= known["ALERTS"]


def test_every_rule_and_alert_expression_is_checked(model: Model) -> None:
    whats = [where.what for _, where in contract.expressions(model)]
    assert any("generated rule `RecsysDataStale`" in w for w in whats)
    assert any("generated rule `service:recsys_errors:ratio_rate5m`" in w for w in whats)
    assert any(w.startswith("tile `health/latency`") for w in whats)
    assert any(w.startswith("variable `$bucket`") for w in whats)
    assert any(w.startswith("the alert annotation of tile `health/errors`") for w in whats)


def test_a_misspelt_metric_in_a_tile_names_the_tile_and_its_line() -> None:
    text = _replace(FALLBACK, FALLBACK.replace("duration_milliseconds", "duraton_milliseconds"))
    errors = _check(text)
    assert len(errors) == 1, errors
    line = _line(text, "recsys_ranking_duraton_milliseconds_count")
    assert errors[0].startswith(f"spec.yaml:{line}: dashboards.health.tiles[3].queries[0].expr: tile "
                                "`health/fallback`: `recsys_ranking_duraton_milliseconds_count` is neither a series")
    assert "did you mean `recsys_ranking_duration_milliseconds_count`?" in errors[0]


def test_a_label_the_metric_does_not_carry_is_an_error() -> None:
    errors = _check(_replace(FALLBACK, FALLBACK.replace('bucket=~"$bucket"', 'cohort=~"$bucket"')))
    assert any("`recsys_ranking_duration_milliseconds_count` has no label `cohort`" in e for e in errors), errors


def test_a_selector_that_lets_shadow_traffic_in_is_an_error() -> None:
    errors = _check(_replace('max by (algorithm) (recsys_data_age_seconds{shadow!="true"})',
                             "max by (algorithm) (recsys_data_age_seconds)"))
    assert any("tile `health/freshness`: `recsys_data_age_seconds` is selected without excluding shadow" in e
               for e in errors), errors


def test_grouping_by_a_label_the_input_lacks_is_an_error() -> None:
    errors = _check(_replace("sum by (fallback) (rate(", "sum by (fallbak) (rate("))
    assert any("`sum by (fallbak)` names a label its input does not have" in e for e in errors), errors


def test_reading_an_indicator_over_a_window_it_is_not_recorded_at_is_an_error() -> None:
    errors = _check(_replace("{indicator: ctr, window: 1d, legend: all buckets}",
                             "{indicator: ctr, window: 1h, legend: all buckets}"))
    assert any("`service:recsys_ctr:ratio_rate1h` is neither a series" in e and "ratio_rate1" in e for e in errors)


def test_a_query_that_does_not_parse_is_an_error() -> None:
    errors = _check(_replace("max by (algorithm) (recsys_data_age_seconds",
                             "max by (algorithm) (recsys_data_age_seconds("))
    assert any("does not parse as PromQL" in e for e in errors), errors


@pytest.mark.parametrize("command", ["validate", "generate"])
def test_the_cli_rejects_a_misspelt_tile_metric_with_exit_2(tmp_path: Path, command: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(_replace(FALLBACK, FALLBACK.replace("duration_milliseconds", "duraton_milliseconds")))
    out = tmp_path / "out"
    args = [command, str(spec)] + (["--out", str(out)] if command == "generate" else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "tile `health/fallback`" in result.output and f"{spec}:" in result.output
    assert not out.exists()


@pytest.mark.parametrize("spec", sorted((Path(__file__).parent / "fixtures" / "specs").glob("*.yaml")),
                         ids=lambda path: path.stem)
def test_every_fixture_spec_honours_the_contract(spec: Path) -> None:
    assert _check(spec.read_text()) == []


def test_an_error_in_a_generated_rule_names_the_spec_field_it_comes_from() -> None:
    """The spec readers keep such errors out, so the model is changed behind their back: the ranking
    duration metric loses its `user_state` label, which the `cache_hits` indicator splits by and the
    `latency_p95_warm` SLO matches on."""
    doc = load_text(SPEC, "spec.yaml")
    model = build_model(doc, "spec.yaml")
    def unlabelled(metric: Metric) -> Metric:
        if metric.name != "recsys.ranking.duration":
            return metric
        return replace(metric, labels=tuple(label for label in metric.labels if label != "user_state"))

    events = tuple(replace(e, metrics=tuple(map(unlabelled, e.metrics))) for e in model.events)
    errors = [e for e in contract.check(replace(model, events=events), doc) if "generated rule" in e.problem]
    by_line = _line_after("indicators:\n  ranking_latency:", "  cache_hits:", "    by: [user_state]")
    indicator = [e for e in errors if "`user_state:recsys_cache_hits:ratio_rate5m`" in e.problem]
    assert indicator and {(e.line, e.path) for e in indicator} == {(by_line, "indicators.cache_hits.by[0]")}, indicator
    slo = [e for e in errors if e.path.startswith("slos.latency_p95_warm")]
    match_line = _line_after("slos:\n", "  latency_p95_warm:", "    match:")
    assert slo and {(e.line, e.path) for e in slo} == {(match_line, "slos.latency_p95_warm.match.user_state")}, slo
    assert all(e.line > 1 for e in errors), [str(e) for e in errors]


def test_every_generated_rule_group_has_its_spec_items(spec_case: SpecCase) -> None:
    from obsgen.emit.prometheus.rules import rule_groups

    origins = contract.rule_origins(spec_case.model)
    for groups in rule_groups(spec_case.model).values():
        for group in groups:
            assert group["name"] in origins or all(rule.get("alert") in origins for rule in group["rules"]), group
