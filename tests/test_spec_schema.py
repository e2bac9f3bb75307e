"""`obsgen schema`: a JSON Schema of the spec format that accepts every spec obsgen accepts and knows every key
the readers read, committed where the `obsgen init` modeline points.

The key check records what each reader's ``Checker.mapping`` call allows while the built-in spec and every
fixture spec load, and finds the matching object in the schema: a key a reader accepts that the schema lacks,
or a required key that differs, fails here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.init_spec import TEMPLATE
from obsgen.spec import default_spec_text, read_spec
from obsgen.spec.build import build_model
from obsgen.spec.reader import Checker
from obsgen.spec_schema import SCHEMA_FILE, schema_text, spec_schema

from tests.support.specs import FIXTURES

SPECS = [None, *sorted((FIXTURES / "specs").glob("*.yaml"))]
INIT_TEMPLATE = TEMPLATE


def spec_doc(path: Path | None) -> Any:
    return yaml.safe_load(default_spec_text() if path is None else path.read_text())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = spec_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_committed_schema_is_what_obsgen_schema_prints() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert result.output == schema_text() == SCHEMA_FILE.read_text(encoding="utf-8"), \
        "the committed schema is stale: run `obsgen schema > generator/data/obsgen-spec.schema.json`"


@pytest.mark.parametrize("path", [*SPECS, INIT_TEMPLATE], ids=lambda p: p.name if p else "built-in")
def test_every_spec_obsgen_accepts_validates(path: Path | None, validator: jsonschema.Draft202012Validator) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(spec_doc(path))]
    assert not errors


def _set(doc: dict, path: tuple[str, ...], value: Any) -> dict:
    doc = copy.deepcopy(doc)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def _alert(doc: dict) -> str:
    return next(iter(doc["alerts"]))


MUTATIONS = {
    "unknown top-level key": lambda d: _set(d, ("dashbaords",), {}),
    "misspelt alert key": lambda d: _set(d, ("alerts", _alert(d), "sevrity"), "P1"),
    "threshold as text": lambda d: _set(d, ("alerts", _alert(d), "threshold"), "high"),
    "severity out of range": lambda d: _set(d, ("alerts", _alert(d), "severity"), "P9"),
    "duration without unit": lambda d: _set(d, ("alerts", _alert(d), "for"), "10"),
    "mapping as a service name": lambda d: _set(d, ("service", "name"), {}),
    "unknown attribute key": lambda d: _set(d, ("attributes", next(iter(d["attributes"])), "typo"), 1),
    "unknown indicator kind": lambda d: _set(d, ("indicators", next(iter(d["indicators"])), "kind"), "median"),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_mutated_spec_is_rejected_by_the_schema_and_by_obsgen(mutation: str, tmp_path: Path,
                                                              validator: jsonschema.Draft202012Validator) -> None:
    doc = MUTATIONS[mutation](spec_doc(None))
    assert list(validator.iter_errors(doc))
    spec = tmp_path / "mutated.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert CliRunner().invoke(main, ["validate", str(spec)]).exit_code == 2


def _reader_mappings(monkeypatch: pytest.MonkeyPatch) -> dict[tuple, tuple[set[str], set[str]]]:
    """Path → (required, allowed) keys of every mapping a reader read with a closed key set."""
    seen: dict[tuple, tuple[set[str], set[str]]] = {}
    real = Checker.mapping

    def mapping(self: Checker, value: Any, path: tuple, required: Any = (), optional: Any = ()) -> Any:
        required, optional = tuple(required), tuple(optional)
        if required or optional:
            seen[path] = (set(required), set(required) | set(optional))
        return real(self, value, path, required, optional)

    monkeypatch.setattr(Checker, "mapping", mapping)
    for path in [*SPECS, INIT_TEMPLATE]:
        build_model(*read_spec(path))
    return seen


def _nodes(schema: dict, node: Any, path: tuple) -> Iterator[dict]:
    """Every object schema ``path`` can land on (through $ref, anyOf and oneOf)."""
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        yield from _nodes(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[1]], path)
        return
    for branch in node.get("anyOf", []) + node.get("oneOf", []):
        yield from _nodes(schema, branch, path)
    if not path:
        if node.get("type") == "object" or "properties" in node:
            yield node
        return
    key, rest = path[0], path[1:]
    if isinstance(key, int):
        yield from _nodes(schema, node.get("items"), rest)
    elif key in node.get("properties", {}):
        yield from _nodes(schema, node["properties"][key], rest)
    elif isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(schema, node["additionalProperties"], rest)


def test_the_schema_knows_every_key_the_readers_read(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = spec_schema()
    seen = _reader_mappings(monkeypatch)
    assert len(seen) > 50  # the recording works: every section of the specs was read
    for path, (required, allowed) in seen.items():
        nodes = list(_nodes(schema, schema, path))
        assert nodes, f"{path}: no object in the schema"
        closed = [n for n in nodes if n.get("additionalProperties") is False]
        assert closed, f"{path}: the reader rejects unknown keys, the schema does not"
        assert any(allowed <= set(n["properties"]) and set(n.get("required", [])) == required for n in closed), \
            (f"{path}: the reader allows {sorted(allowed)} (required {sorted(required)}); the schema has "
             + "; ".join(f"{sorted(n['properties'])} (required {sorted(n.get('required', []))})" for n in closed))
