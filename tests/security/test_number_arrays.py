"""Arrays of numbers (or of enum values) are bounded like arrays of free strings: at the attribute's
``max_items``, else ``max_array_items`` (1,024); cutting is counted (strict mode raises).

Unbounded, one call with two million scores took 0.6 s on the application's thread and made a 22 MB span,
over what a collector takes in one request (the whole export batch was lost)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from obsgen.model import Model
from obsgen.runtime import EventValidationError
from obsgen.spec import default_spec_text, load_spec

from tests.test_runtime_harness import ITEMS, Harness

REQUEST = {"user_id": "u-1", "experiment_id": "ranker-v2", "bucket": "control", "k": 20}
RANKING = {"latency_ms": 30.0, "coverage": 0.95, "algorithm": "hybrid", "items": ITEMS, "cache_result": "miss",
           "fallback": "none", "user_state": "cold", "data_age_s": 60.0}


@pytest.fixture(scope="module")
def scored_model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """The built-in spec with two number arrays on the ranking event: ``scores`` (no ``max_items``) and ``top``."""
    spec = yaml.safe_load(default_spec_text())
    for name, extra in (("scores", {}), ("top", {"max_items": 3})):
        spec["attributes"][name] = {"type": "array", "items": "number", "pii": "none", "cardinality": "high",
                                    "description": "Scores of the ranked items.", **extra}
        spec["events"]["ranking"]["optional"].append(name)
    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_spec(path)


@pytest.fixture
def harness(scored_model: Model) -> Iterator[Harness]:
    h = Harness(scored_model, validation="production")
    yield h
    h.close()


def _ranking(h: Harness) -> dict[str, object]:
    (span,) = [s for s in h.spans() if s.name == "recommend.ranking"]
    return dict(span.attributes or {})


def test_a_number_array_is_cut_at_the_runtime_default_and_counted(harness: Harness) -> None:
    with harness.rt.request(**REQUEST):
        harness.rt.ranking(**RANKING, scores=[0.5] * 2_000_000, top=[0.9, 0.8])
    ranking = _ranking(harness)
    assert len(ranking["scores"]) == 1024 and list(ranking["top"]) == [0.9, 0.8]  # type: ignore[arg-type, call-overload]
    assert harness.violations() == {("validity", "ranking"): 1}
    (report,) = [r.log_record.attributes for r in harness.logs() if r.log_record.event_name == "error"]
    assert "has 2000000 items, more than 1024" in report["message"]  # type: ignore[index, operator]


def test_a_number_array_is_cut_at_its_max_items(harness: Harness) -> None:
    with harness.rt.request(**REQUEST):
        harness.rt.ranking(**RANKING, top=(0.9, 0.8, 0.7, 0.6))
    assert list(_ranking(harness)["top"]) == [0.9, 0.8, 0.7]  # type: ignore[call-overload]
    assert harness.violations() == {("validity", "ranking"): 1}


def test_strict_mode_rejects_a_number_array_over_its_bound(scored_model: Model) -> None:
    h = Harness(scored_model, validation="strict")
    try:
        with pytest.raises(EventValidationError, match="`scores` has 1025 items, more than 1024"), \
                h.rt.request(**REQUEST):
            h.rt.ranking(**RANKING, scores=[0.5] * 1025)
    finally:
        h.close()
