"""Object attributes: the spec may declare their ``keys``; an object with any other key is invalid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.model import Model
from obsgen.runtime import EventValidationError
from obsgen.spec import default_spec_text

from tests.test_runtime_harness import Harness

REQUEST = {"user_id": "user-1", "experiment_id": "ranker-v2", "bucket": "control", "k": 3}


def test_keys_on_a_non_object_attribute_is_a_spec_error(tmp_path: Path) -> None:
    spec = yaml.safe_load(default_spec_text())
    spec["attributes"]["message"]["keys"] = ["a"]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert re.search(r"spec\.yaml:\d+: attributes\.message\.keys: only an object attribute declares `keys` — ",
                     result.output), result.output


def test_strict_mode_rejects_an_undeclared_key(model: Model) -> None:
    h = Harness(model, validation="strict")
    try:
        with pytest.raises(EventValidationError, match="filters.*may only have the keys genres, providers"):
            h.rt.request(**REQUEST, filters={"owner_email": "x"})
        h.rt.request(**REQUEST, filters={"genres": ["drama"], "maturity_rating": "pg"}).end()
    finally:
        h.close()


def test_production_removes_an_object_with_an_undeclared_key(model: Model) -> None:
    h = Harness(model)
    try:
        h.rt.request(**REQUEST, filters={"genres": ["drama"], "owner": "x"}).end()
        (span,) = h.spans()
        assert "filters" not in span.attributes and h.violations() == {("validity", "request"): 1}
    finally:
        h.close()
