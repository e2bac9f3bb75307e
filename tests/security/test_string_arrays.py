"""Arrays of strings: each item bounded (the attribute's ``max_length``, else ``max_text_length``) and scrubbed
like free text, the array bounded at ``max_items`` (else ``max_array_items``); cutting is counted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from obsgen.model import Model
from obsgen.model.eventschema import attribute_schema
from obsgen.runtime import EventValidationError
from obsgen.spec import default_spec_text, load_spec

from tests.test_runtime_harness import Harness

RAW_USER = "dave-userid-55555"
RANKING = {"latency_ms": 41.5, "coverage": 0.97, "algorithm": "hybrid", "alpha": 0.7, "cache_result": "hit",
           "fallback": "none", "data_age_s": 120.0}
REQUEST = {"user_id": RAW_USER, "session_id": "sess-ALICE-0001", "experiment_id": "ranker-v2", "bucket": "control",
           "k": 3, "user_state": "warm"}
ITEM_LIMIT = 24


@pytest.fixture(scope="module")
def bounded_model(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """The built-in spec with ``max_length`` on the array of item ids."""
    spec = yaml.safe_load(default_spec_text())
    spec["attributes"]["items"]["max_length"] = ITEM_LIMIT
    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_spec(path)


@pytest.fixture
def harness(bounded_model: Model) -> Iterator[Harness]:
    h = Harness(bounded_model)
    yield h
    h.close()


def _items(h: Harness) -> list[str]:
    (ranking,) = [s for s in h.spans() if "items" in (s.attributes or {})]
    return list(ranking.attributes["items"])  # type: ignore[index, arg-type]


def _exported(h: Harness) -> str:
    spans = [s.to_json() for s in h.spans()]
    logs = [json.dumps(dict(r.log_record.attributes or {}), default=str) for r in h.logs()]
    return "\n".join(spans + logs)


def test_an_array_max_length_bounds_its_items_in_the_event_schema(bounded_model: Model) -> None:
    schema = attribute_schema(bounded_model.attributes["items"])
    assert schema["items"] == {"type": "string", "maxLength": ITEM_LIMIT} and "maxLength" not in schema


def test_an_oversized_item_is_cut_and_counted(harness: Harness) -> None:
    long_item = "tt0000001 " + "x" * 5_000
    with harness.rt.request(**REQUEST):
        harness.rt.ranking(items=["tt0000002", long_item], **RANKING)
    items = _items(harness)
    assert items[0] == "tt0000002"
    assert len(items[1]) <= ITEM_LIMIT and items[1].startswith("tt0000001")
    assert harness.violations() == {("validity", "ranking"): 1}


def test_an_array_over_max_items_is_cut_and_counted(harness: Harness) -> None:
    with harness.rt.request(**REQUEST):
        harness.rt.ranking(items=[f"tt{i:07d}" for i in range(250)], **RANKING)
    assert _items(harness) == [f"tt{i:07d}" for i in range(100)]  # the spec's max_items
    assert harness.violations() == {("validity", "ranking"): 1}


def test_an_array_without_max_items_is_bounded_by_the_runtime_default(tmp_path: Path) -> None:
    spec = yaml.safe_load(default_spec_text())
    del spec["attributes"]["items"]["max_items"]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    h = Harness(load_spec(path), max_array_items=8)
    try:
        with h.rt.request(**REQUEST):
            h.rt.ranking(items=[f"tt{i:07d}" for i in range(50)], **RANKING)
        assert len(_items(h)) == 8 and h.violations() == {("validity", "ranking"): 1}
    finally:
        h.close()


def test_a_raw_high_pii_value_inside_an_item_never_leaves(harness: Harness) -> None:
    with harness.rt.request(**REQUEST):
        harness.rt.ranking(items=["tt0000003", f"owner {RAW_USER}", RAW_USER.upper(), "dave@example.com"], **RANKING)
    assert _items(harness) == ["tt0000003", "owner <user_id>", "<user_id>", "<email>"]
    exported = _exported(harness).lower()
    assert RAW_USER.lower() not in exported and "dave@example.com" not in exported
    assert harness.violations() == {}  # scrubbing is not a violation; only cutting is


def test_items_are_scrubbed_of_patterns_like_free_text(harness: Harness) -> None:
    with harness.rt.request(**REQUEST):
        harness.rt.ranking(items=["Bearer abcdef123456", "10.1.2.3", "tt0000004"], **RANKING)
    assert _items(harness) == ["Bearer <token>", "<ip>", "tt0000004"]


def test_strict_mode_rejects_an_oversized_item(bounded_model: Model) -> None:
    h = Harness(bounded_model, validation="strict")
    try:
        with pytest.raises(EventValidationError, match="items.*longer than 24 characters"), h.rt.request(**REQUEST):
            h.rt.ranking(items=["y" * 100], **RANKING)
    finally:
        h.close()


def test_an_array_is_bounded_in_bytes_in_all(bounded_model: Model) -> None:
    """100 items of 24 characters are 2,400 characters: over a 1,000-character budget the rest is cut."""
    h = Harness(bounded_model, max_object_bytes=1_000)
    try:
        with h.rt.request(**REQUEST):
            h.rt.ranking(items=[f"{i:03d}" + "y" * 21 for i in range(100)], **RANKING)
        items = _items(h)
        assert len(items) == 41 and sum(map(len, items)) <= 1_000
        assert h.violations() == {("validity", "ranking"): 1}
    finally:
        h.close()
