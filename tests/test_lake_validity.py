"""Ingest judges events as the spec's JSON Schemas do: the SQL predicates (``obsgen.lake.schema_sql``) give
every generated payload the verdict of the schema validator (``jsonschema`` via the runtime's strict-mode
check ``EventSchema.first_error``) and the same reason, and keep valid values exactly.

Property-style with a fixed seed: a few hundred payloads per spec, each an event's example with up to two
mutations (a field dropped, added, of the wrong type, at or past a bound, off its enum or pattern, too long,
an array too long or of the wrong items, an object with a foreign key, text that is no JSON object).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from jsonschema import Draft202012Validator
from obsgen.generate import load
from obsgen.lake import tables
from obsgen.lake.ingest import Ingest
from obsgen.lake.landing import object_value
from obsgen.lake.layout import Lake
from obsgen.model import Model
from obsgen.model.eventschema import attribute_schema
from obsgen.runtime.validation import EventSchema

from tests.support.lake import write_landing

ROOT = Path(__file__).resolve().parents[1]
SPECS = [None, ROOT / "tests/fixtures/specs/checkout.yaml", ROOT / "tests/fixtures/specs/orders.yaml"]
PAYLOADS = 300
DAY = dt.date(2026, 11, 20)
LANDED = dt.datetime(2026, 11, 21, 6, tzinfo=dt.UTC)
DAY_MS = 86400_000


def _wrong_values(schema: dict[str, Any], value: Any, rng: random.Random) -> list[Any]:
    """Values a field of ``schema`` (currently ``value``) may be mutated to, valid or not."""
    out: list[Any] = [42, 4.5, True, "text", ["a"], 3.0, "", "é" * 3]
    for bound in ("minimum", "maximum"):
        if bound in schema:
            b = schema[bound]
            out += [b, b - 1, b + 1, b - 0.5, b + 0.5, float(b)]
    if "enum" in schema:
        out += ["zzz", schema["enum"][-1], str(schema["enum"][0]).upper()]
    if "pattern" in schema and isinstance(value, str):
        out += [value + "\n", value + "\n\n", "X" + value, value.upper(), value[:-1], " " + value]
    if "maxLength" in schema:
        n = schema["maxLength"]
        out += ["a" * n, "a" * (n + 1), "é" * n, "é" * (n + 1)]
    if schema["type"] == "array":
        most = schema.get("maxItems", 3)
        out += [[], ["x"] * most, ["x"] * (most + 1), [1, "a"], [True], [["nested"]], [1.5, 2.5], [1, 2]]
    if schema["type"] == "object":
        keys = schema.get("propertyNames", {}).get("enum", ["k"])
        # (Not JSON text of an object: the runtime sends objects so, and the lake reads such text as the object.)
        out += [{}, {keys[0]: ["x"]}, {"nope": 1}, {keys[-1]: "x", "nope": 2}, "not json", "[1]"]
    if schema["type"] in ("integer", "number"):
        out += [rng.randint(-5, 5), 1e20, -0.0, 7]
    return out


def payloads(model: Model, n: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    schemas = {name: attribute_schema(attr) for name, attr in model.attributes.items()}
    out = []
    for i in range(n):
        event = rng.choice(model.events)
        fields = dict(event.example)
        key = tables.key_field(model, event)
        if key is not None:  # a fresh context per payload: no valid payload is another's duplicate
            fields[key] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        tf = tables.timestamp_field(model, event)
        if tf is not None:
            fields[tf] = int(dt.datetime.combine(DAY, dt.time(), dt.UTC).timestamp() * 1000) + i
        for _ in range(rng.choice((0, 1, 1, 2))):
            what = rng.random()
            rich = [f for f in event.fields if {"maxLength", "maxItems", "propertyNames"} & schemas[f].keys()]
            name = rng.choice(rich if rich and rng.random() < 0.4 else event.fields)
            if what < 0.15:
                fields.pop(rng.choice(list(fields)), None)
            elif what < 0.25:
                fields[rng.choice(("zz_extra", "aa_extra"))] = "x"
            else:
                fields[name] = rng.choice(_wrong_values(schemas[name], fields.get(name), rng))
        out.append((event.name, fields))
    return out


def _canonical(model: Model, event: str, fields: dict[str, Any]) -> str:
    """An event's fields as the lake keeps them (objects as JSON text, numbers typed), as comparable text."""
    out = {}
    for name, value in fields.items():
        attr = model.attributes[name]
        if attr.type == "object":
            value = json.loads(value) if isinstance(value, str) else value
        elif attr.type == "number":
            value = float(value)
        elif attr.type == "integer":
            value = int(value)
        elif attr.type == "array" and attr.items == "number":
            value = [float(v) for v in value]
        out[name] = value
    return json.dumps(out, sort_keys=True)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem if p else "built-in")
def test_sql_validation_gives_the_json_schemas_verdicts(spec: Path | None, tmp_path: Path) -> None:
    model = load(spec)
    events = payloads(model, PAYLOADS, seed=11)
    schemas = {e.name: EventSchema(model, e) for e in model.events}
    landed_ms = int(LANDED.timestamp() * 1000)
    invalid: Counter[tuple[str, str, str]] = Counter()
    valid: Counter[str] = Counter()
    kept: dict[str, set[str]] = {e.name: set() for e in model.events}
    for name, fields in events:
        schema = schemas[name]
        problem = schema.first_error(fields)
        assert (problem is None) == Draft202012Validator(schema.schema).is_valid(fields), (name, fields)
        record = {k: object_value(v) if model.attributes.get(k) and model.attributes[k].type == "object" else v
                  for k, v in fields.items()}
        if problem is not None:
            field, _, reason = problem
            invalid[(name, f"field {field} {reason}", json.dumps(record, sort_keys=True))] += 1
            continue
        valid[name] += 1
        event_ms = fields[tables.timestamp_field(model, schema.event)]
        if landed_ms < (event_ms // DAY_MS + 1) * DAY_MS + 2 * DAY_MS:
            kept[name].add(_canonical(model, name, fields))
    assert invalid and sum(valid.values()) > PAYLOADS // 5  # both verdicts are well represented

    lake = Lake.at(str(tmp_path / "lake"))
    write_landing(model, tmp_path / "landing", "events.jsonl", events, LANDED)
    summary = Ingest(model, lake).run(str(tmp_path / "landing"))
    quarantined = Counter((r["event_type"], r["reason"], r["record"])
                          for r in pq.read_table(lake.path("quarantine")).to_pylist())
    assert quarantined == invalid, (quarantined - invalid, invalid - quarantined)
    for event in model.events:
        n = summary.ingested[event.name] + summary.duplicates[event.name] + summary.late[event.name]
        assert n == valid[event.name], event.name
        if not summary.ingested[event.name]:
            continue
        rows = pq.read_table(lake.path("events", f"event_type={event.name}")).to_pylist()
        stored = {_canonical(model, event.name, {k: v for k, v in r.items() if k in event.fields and v is not None})
                  for r in rows}
        assert stored == kept[event.name], event.name
