"""Event JSON Schemas: draft 2020-12, the seed's validity rules, and a valid example each."""

from __future__ import annotations

import copy
import json

import pytest
from jsonschema import Draft202012Validator
from obsgen.emit import schemas
from obsgen.model import Model

from tests.support.specs import SpecCase


@pytest.fixture(scope="module")
def event_schemas(model: Model) -> dict[str, dict]:
    return {path.split("/")[-1][:-5]: json.loads(text) for path, text in schemas.emit(model).items()}


def test_five_event_schemas(event_schemas: dict[str, dict]) -> None:
    assert sorted(event_schemas) == ["click", "error", "impression", "ranking", "request"]


def test_schemas_are_valid_draft_2020_12_and_examples_validate(event_schemas: dict[str, dict]) -> None:
    for schema in event_schemas.values():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)
        for example in schema["examples"]:
            Draft202012Validator(schema).validate(example)


@pytest.mark.parametrize("event,field,bad", [
    ("request", "request_id", "3f1c2a4e-8b7d-1c3a-9e2f-1a2b3c4d5e6f"),  # UUID v1, not v4
    ("request", "user_id", "alice@example.com"),                        # not a 64-hex hash
    ("request", "timestamp_ms", 1757203200),                             # seconds, not milliseconds
    ("request", "bucket", "blue"),                                       # not in the enum
    ("click", "engagement_type", "like"),
    ("ranking", "coverage", 1.2),
    ("impression", "position", 0),
    ("error", "message", "x" * 2000),
])
def test_seed_validity_rules_reject_bad_values(event_schemas: dict[str, dict], event: str, field: str,
                                               bad: object) -> None:
    schema = event_schemas[event]
    payload = copy.deepcopy(schema["examples"][0])
    payload[field] = bad
    errors = list(Draft202012Validator(schema).iter_errors(payload))
    assert errors and list(errors[0].path) == [field]


def test_required_fields_and_no_extras(event_schemas: dict[str, dict]) -> None:
    request = event_schemas["request"]
    assert set(request["required"]) >= {"request_id", "user_id", "timestamp_ms", "experiment_id", "bucket", "k"}
    payload = dict(request["examples"][0], surprise=1)
    assert list(Draft202012Validator(request).iter_errors(payload))


def test_each_spec_has_a_valid_schema_per_event_whose_example_validates(spec_case: SpecCase) -> None:
    model = spec_case.model
    emitted = {path.split("/")[-1][:-5]: json.loads(text) for path, text in schemas.emit(model).items()}
    assert sorted(emitted) == sorted(e.name for e in model.events)
    for event in model.events:
        schema = emitted[event.name]
        Draft202012Validator.check_schema(schema)
        assert set(schema["required"]) == set(event.required)
        assert schema["examples"] == [dict(event.example)]
        Draft202012Validator(schema).validate(schema["examples"][0])
        assert list(Draft202012Validator(schema).iter_errors({**event.example, "surprise": 1}))
