"""``obsgen init``: a small commented spec for a plain HTTP service, named for the user's service.

The text is ``data/init_spec.yaml`` (itself a valid spec, for the service ``my-service``) with the service's
names put in, under a ``yaml-language-server`` modeline that points editors at the spec's JSON Schema.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

TEMPLATE = Path(__file__).parent / "data" / "init_spec.yaml"
SERVICE_NAME = r"[a-z][a-z0-9-]*"
"""As ``service.name`` must be (``obsgen.spec.service``)."""
_PLACEHOLDER = "my-service"


def names(service: str) -> dict[str, str]:
    """The template's spellings of its service name → this service's: name, namespace, alert prefix, title."""
    words = service.split("-")
    return {_PLACEHOLDER: service, "my_service": service.replace("-", "_"),
            "MyService": "".join(w.capitalize() for w in words), "My Service": " ".join(w.capitalize() for w in words)}


def schema_reference(spec: Path, schema: Path) -> str:
    """How the modeline of ``spec`` names ``schema``: relative to the spec's folder, as editors resolve it."""
    return os.path.relpath(schema.resolve(), spec.resolve().parent)


def init_text(service: str, schema_ref: str) -> str:
    """The spec text for ``service`` (a valid service name), its modeline naming ``schema_ref``."""
    if not re.fullmatch(SERVICE_NAME, service) or service == "stack":
        raise ValueError(f"`{service}` is not a service name: lower case letters, digits and -, starting with a "
                         "letter (and not `stack`)")
    text = TEMPLATE.read_text(encoding="utf-8")
    for old, new in names(service).items():
        text = text.replace(old, new)
    return f"# yaml-language-server: $schema={schema_ref}\n{text}"
