"""The `joins` section: contexts, inherited/consistent fields and references, read into `model.joins`."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from obsgen.model import Model
from obsgen.model.joins import ElementOf, OneOf

from tests.test_bad_specs import DEFAULT, assert_reported


def test_the_demo_spec_declares_its_request_context(model: Model) -> None:
    (context,) = model.joins
    assert (context.root, context.key) == ("request", "request_id")
    assert context.members == ("ranking", "impression", "click", "error")
    assert context.require_known == ("ranking", "impression", "click")
    refs = {r.name: r for r in context.references}
    assert refs["impression_position"] == ElementOf("impression_position", "impression", "canonical_id", "ranking",
                                                    "items", "position")
    assert refs["click_position"] == OneOf("click_position", "click", "position", "impression", "position",
                                           "canonical_id")
    assert context.kinds == ("consistency", "unknown_request", "impression_position", "orphan_click",
                             "click_position")


def joins(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["joins"]["request"]


CASES: list[tuple[str, Any, str, str]] = [
    ("root-not-an-event", lambda s: joins(s).update(root="visit"), "joins.request.root",
     "not an event declared under `events`"),
    ("key-not-a-root-field", lambda s: joins(s).update(key="canonical_id"), "joins.request.key",
     "is not a field of event `request`"),
    ("consistent-not-inherited", lambda s: joins(s)["consistent"].append("cohort"), "joins.request.consistent[4]",
     "not one of the `inherit` fields"),
    ("require-known-not-a-member", lambda s: joins(s)["require_known"].append("request"),
     "joins.request.require_known[3]", "not one of the members"),
    ("reference-field-unknown", lambda s: joins(s)["references"]["orphan_click"].update(field="item"),
     "joins.request.references.orphan_click.field", "not a field of event `click`"),
    ("reference-target-not-array",
     lambda s: joins(s)["references"]["impression_position"]["element_of"].update(field="k"),
     "joins.request.references.impression_position.element_of.field", "not an array"),
    ("reference-both-forms",
     lambda s: joins(s)["references"]["orphan_click"].update(element_of={"event": "ranking", "field": "items"}),
     "joins.request.references.orphan_click", "exactly one of"),
    ("reference-reuses-a-builtin-kind",
     lambda s: joins(s)["references"].update(validity=joins(s)["references"].pop("orphan_click")),
     "joins.request.references.validity", "already used"),
]


@pytest.mark.parametrize("case_id,mutate,path,words", CASES, ids=[c[0] for c in CASES])
def test_bad_joins_are_reported(tmp_path: Path, case_id: str, mutate: Any, path: str, words: str) -> None:
    spec = copy.deepcopy(DEFAULT)
    mutate(spec)
    assert_reported(tmp_path, yaml.safe_dump(spec, sort_keys=False), path, words)
