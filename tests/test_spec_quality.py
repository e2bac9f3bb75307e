"""The `data_quality` section: the report event and its field mapping, checked when the spec is read."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from obsgen.model import Model
from obsgen.model.quality import ByKind, Report, Template

from tests.test_bad_specs import DEFAULT, assert_reported


def test_the_demo_spec_reports_on_its_error_event(model: Model) -> None:
    assert model.data_quality.report == Report(
        "error",
        (("component", "telemetry"), ("severity", "warning"),
         ("error_code", ByKind((("completeness", "INCOMPLETE_EVENT"), ("validity", "INVALID_EVENT")))),
         ("message", Template("{event} event {action}: field {field} {reason}"))),
        ("request_id", "experiment_id", "bucket"))


def report(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["data_quality"]["report"]


def values(spec: dict[str, Any]) -> dict[str, Any]:
    return report(spec)["values"]


CASES: list[tuple[str, Any, str, str]] = [
    ("event-not-declared", lambda s: report(s).update(event="failure"), "data_quality.report.event",
     "not an event declared under `events`"),
    ("value-not-a-field", lambda s: values(s).update(colour="red"), "data_quality.report.values.colour",
     "not a field of event `error`"),
    ("constant-off-the-enum", lambda s: values(s).update(component="robot"), "data_quality.report.values.component",
     "not a valid value"),
    ("constant-off-the-pattern", lambda s: values(s).update(error_code={"validity": "bad", "completeness": "OK_1"}),
     "data_quality.report.values.error_code.validity", "not a valid value"),
    ("unknown-placeholder", lambda s: values(s).update(message="{event} by {user}"),
     "data_quality.report.values.message", "unknown placeholder `{user}`"),
    ("placeholder-in-a-constrained-attribute", lambda s: values(s).update(error_code="{kind}"),
     "data_quality.report.values.error_code", "only fill a free-text attribute"),
    ("by-kind-missing-a-kind", lambda s: values(s).update(error_code={"validity": "INVALID_EVENT"}),
     "data_quality.report.values.error_code", "no value for kind completeness"),
    ("by-kind-unknown-kind",
     lambda s: values(s)["error_code"].update(orphan_click="ORPHAN"),
     "data_quality.report.values.error_code.orphan_click", "not a kind the runtime reports"),
    ("required-field-not-filled", lambda s: values(s).pop("severity"), "data_quality.report",
     "required field `severity` of event `error` is not filled"),
    ("copy-not-a-field", lambda s: report(s)["copy"].append("cohort"), "data_quality.report.copy[3]",
     "not a field of event `error`"),
    ("copy-and-value", lambda s: report(s)["copy"].append("component"), "data_quality.report.copy[3]",
     "also has a value"),
]


@pytest.mark.parametrize("case_id,mutate,path,words", CASES, ids=[c[0] for c in CASES])
def test_bad_data_quality_is_reported(tmp_path: Path, case_id: str, mutate: Any, path: str, words: str) -> None:
    spec = copy.deepcopy(DEFAULT)
    mutate(spec)
    assert_reported(tmp_path, yaml.safe_dump(spec, sort_keys=False), path, words)
