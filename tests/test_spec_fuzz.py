"""Property: any structural mutation of the built-in spec either generates output that parses, or is
rejected with ``FILE:LINE: path: problem — fix`` errors; never any other exception.

Mutations delete a key or item, replace a value by another type (nothing, a mapping, a list, a weird
string, a huge or negative number, infinity, NaN), duplicate an entry or rename a reference to another
name found in the spec. The loader, the section readers, the PromQL contract, the test-synthesis check
and every emitter run in-process. CI runs a fixed-seed short version; for a longer local run set
``OBSGEN_FUZZ_EXAMPLES`` (e.g. ``OBSGEN_FUZZ_EXAMPLES=5000``; each example takes 0.1-0.3 s).
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from obsgen import contract, testable
from obsgen.generate import build_tree
from obsgen.spec import default_spec_text
from obsgen.spec.build import read_model
from obsgen.spec.source import SpecInvalid, load_text

BASE = yaml.safe_load(default_spec_text())
EXAMPLES = int(os.environ.get("OBSGEN_FUZZ_EXAMPLES", "200"))
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
ERROR = re.compile(r"^fuzz\.yaml:\d+: (\(top level\)|\S+): .+ — .+$", re.DOTALL)
WEIRD: list[Any] = [None, {}, [], {"a": 1}, [1, "x"], "", "lots", "x" * 300, "a\nb", "[", "{{ $value }}", "$nope",
                    "(", "é", 0, -1, 42, 1.5, 10**30, -1e300, math.inf, -math.inf, math.nan, True]
OPS = ("delete", "replace", "duplicate", "rename")


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, prefix + (i,))
    return out


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in [key, *_strings(value)]]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return [node] if isinstance(node, str) and len(node) < 40 else []


NAMES = sorted(set(_strings(BASE)))
Mutation = tuple[int, str, int]


def mutate(spec: dict, mutation: Mutation) -> None:
    where, op, pick = mutation
    paths = _paths(spec)
    if not paths:
        return
    path = paths[where % len(paths)]
    parent = spec
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    if op == "delete":
        del parent[key]
    elif op == "replace":
        parent[key] = copy.deepcopy(WEIRD[pick % len(WEIRD)])
    elif op == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[key]))
    elif op == "duplicate":
        parent[f"{key}_copy"] = copy.deepcopy(parent[key])
    else:
        parent[key] = NAMES[pick % len(NAMES)]


def _finite(constant: str) -> float:
    raise ValueError(f"{constant} in JSON output")


def check_output(tree: dict[str, str]) -> None:
    """The cheap validators: every JSON file parses without NaN/Infinity, every YAML file parses."""
    for path, text in tree.items():
        if path.endswith(".json"):
            json.loads(text, parse_constant=_finite)
        elif path.endswith((".yaml", ".yml")):
            yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def generate_or_reject(text: str) -> str:
    """``"generated"`` or ``"rejected"``; any other exception propagates (and fails the property)."""
    try:
        doc = load_text(text, "fuzz.yaml")
        reading = read_model(doc, "spec fuzz.yaml")
        errors = reading.errors
        if reading.model is not None:
            errors = errors + contract.check(reading.model, doc, reading.tolerated)
            if not errors:
                errors = testable.check(reading.model, doc)
        if errors or reading.model is None:
            raise SpecInvalid(errors)
        check_output(build_tree(reading.model))
        return "generated"
    except SpecInvalid as exc:
        assert exc.errors, "a rejection names at least one error"
        bad = [str(e) for e in exc.errors if not ERROR.match(str(e))]
        assert not bad, bad
        return "rejected"


MUTATIONS = st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(OPS), st.integers(0, 10**6)),
                     min_size=1, max_size=3)


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(MUTATIONS)
def test_a_mutated_spec_generates_or_is_rejected_with_file_line_errors(mutations: list[Mutation]) -> None:
    spec = copy.deepcopy(BASE)
    for mutation in mutations:
        mutate(spec, mutation)
    generate_or_reject(yaml.dump(spec, Dumper=DUMPER, sort_keys=False, allow_unicode=True))


def test_the_unmutated_spec_generates() -> None:
    assert generate_or_reject(default_spec_text()) == "generated"
