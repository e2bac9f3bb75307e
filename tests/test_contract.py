"""The PromQL contract: queries that name series the service never produces are spec errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from obsgen import contract
from obsgen.cli import EXIT_BAD_INPUT, main
from obsgen.model import Model
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
