"""Object attributes: the spec may declare their ``keys``; an object with any other key is invalid."""

from __future__ import annotations

import json
import math
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


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1 << 63, -(1 << 63) - 1],
                         ids=["nan", "inf", "-inf", "2**63", "-2**63-1"])
def test_an_object_holding_what_json_or_otlp_cannot_carry_is_removed_and_counted(model: Model, value: float) -> None:
    """NaN and infinities made the span's JSON text invalid (``{"genres": NaN}``); an integer outside 64 bits
    made the OTLP encoder leave the attribute out of the log record (with an error) but not out of the span."""
    h = Harness(model, validation="production")
    try:
        h.rt.request(**REQUEST, filters={"genres": ["drama"], "maturity_rating": value}).end()
        (span,) = h.spans()
        assert "filters" not in span.attributes  # type: ignore[operator]
        assert h.violations() == {("validity", "request"): 1}
        h.rt.request(**REQUEST, filters={"genres": ["drama"], "maturity_rating": 1.5}).end()
        assert json.loads(h.spans()[-1].attributes["filters"]) == {"genres": ["drama"], "maturity_rating": 1.5}  # type: ignore[index, arg-type]
    finally:
        h.close()
    strict = Harness(model, validation="strict")
    try:
        with pytest.raises(EventValidationError, match="filters"):
            strict.rt.request(**REQUEST, filters={"maturity_rating": value})
    finally:
        strict.close()
