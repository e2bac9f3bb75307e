"""Descriptions and summaries that quote an objective or threshold must quote the spec's number."""

from __future__ import annotations

from pathlib import Path

import pytest
from obsgen.generate import load
from obsgen.spec import default_spec_text
from obsgen.spec.source import SpecInvalid

OBJECTIVE = '    objective: {op: "<", value: 0.001}'
ERROR_RATE = "    description: Error rate under 0.1% (99.9% of requests succeed).\n"


def problems(tmp_path: Path, text: str) -> list[str]:
    spec = tmp_path / "svc.yaml"
    spec.write_text(text)
    with pytest.raises(SpecInvalid) as caught:
        load(spec)
    return [str(e) for e in caught.value.errors]


def test_slo_description_quoting_the_old_objective_is_an_error(tmp_path: Path) -> None:
    text = default_spec_text().replace(OBJECTIVE, '    objective: {op: "<", value: 0.005}')
    (error,) = problems(tmp_path, text)
    line = text.splitlines().index(ERROR_RATE.rstrip("\n")) + 1
    assert error.startswith(f"{tmp_path / 'svc.yaml'}:{line}: slos.error_rate.description: quotes 0.1%, 99.9%, but "
                            "the objective is < 0.005 (0.5%)")


def test_either_form_of_the_ratio_agrees(tmp_path: Path) -> None:
    text = default_spec_text().replace(OBJECTIVE, '    objective: {op: "<", value: 0.005}')
    for description in ("    description: Error rate under 0.5%.\n", "    description: 99.5% of requests succeed.\n",
                        "    description: Few errors.\n"):
        spec = tmp_path / "svc.yaml"
        spec.write_text(text.replace(ERROR_RATE, description))
        assert load(spec).slos


def test_alert_summary_quoting_another_duration_is_an_error(tmp_path: Path) -> None:
    text = default_spec_text().replace('    match: {user_state: warm}\n    op: ">"\n    threshold: 100',
                                       '    match: {user_state: warm}\n    op: ">"\n    threshold: 150')
    (error,) = problems(tmp_path, text)
    assert "alerts.RecsysRankingLatencyHigh.summary: quotes 100 ms, but the threshold is > 150 (150 ms)" in error


def test_minutes_are_compared_in_the_indicators_unit(tmp_path: Path) -> None:
    text = default_spec_text().replace("The ranker's data is older than 15 minutes or missing.",
                                       "The ranker's data is older than 20 minutes or missing.")
    (error,) = problems(tmp_path, text)
    assert "alerts.RecsysDataStale.summary: quotes 20 minutes, but the threshold is > 900 (900 s)" in error
