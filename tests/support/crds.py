"""Validation of Kubernetes resources against the CRD schemas vendored in ``tests/fixtures/crds/``.

Each fixture holds one CRD version's ``openAPIV3Schema`` and the ``module@version path`` it was taken
from (the Go module proxy's copy of the operator's repository). Objects are closed the way
``kubectl apply --validate=strict`` closes them: a field the schema does not declare is an error
unless the schema preserves unknown fields (``x-kubernetes-preserve-unknown-fields``) or declares
``additionalProperties``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

CRDS = Path(__file__).resolve().parents[1] / "fixtures" / "crds"


def _strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@cache
def schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """``(apiVersion, kind)`` → strict JSON Schema of every vendored CRD."""
    out = {}
    for path in sorted(CRDS.glob("*.json")):
        crd = json.loads(path.read_text())
        out[(crd["apiVersion"], crd["kind"])] = _strict(crd["openAPIV3Schema"])
    return out


def errors(resource: dict[str, Any]) -> list[str]:
    """Every schema violation of ``resource`` (``path: message``); KeyError for a kind with no vendored CRD."""
    schema = schemas()[(resource["apiVersion"], resource["kind"])]
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(resource)]
