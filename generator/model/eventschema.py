"""JSON Schema (draft 2020-12) of an event, built from the spec's attribute dictionary.

Shared by the spec validator (examples must validate), the schema emitter and the runtime's
strict mode, so an event is judged by one definition everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from obsgen.model import Attribute, Event

UUID4_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
SHA256_HEX_PATTERN = "^[0-9a-f]{64}$"
UNIX_MS_MIN = 946_684_800_000
"""2000-01-01T00:00:00Z: anything earlier is a seconds-vs-milliseconds mix-up."""
UNIX_MS_MAX = 4_102_444_800_000
"""2100-01-01T00:00:00Z."""


def attribute_schema(attr: Attribute) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": attr.type, "description": attr.description}
    if attr.format == "uuid4":
        schema.update(format="uuid", pattern=UUID4_PATTERN)
    elif attr.format == "sha256_hex":
        schema["pattern"] = SHA256_HEX_PATTERN
    elif attr.format == "unix_ms":
        schema.update(minimum=UNIX_MS_MIN, maximum=UNIX_MS_MAX)
    if attr.enum is not None:
        schema["enum"] = list(attr.enum)
    if attr.pattern is not None:
        schema["pattern"] = attr.pattern
    for key, value in (("minimum", attr.minimum), ("maximum", attr.maximum)):
        if value is not None:
            schema[key] = int(value) if float(value).is_integer() else value
    if attr.max_length is not None and attr.type != "array":
        schema["maxLength"] = attr.max_length
    if attr.items is not None:
        schema["items"] = {"type": attr.items}
        if attr.max_length is not None:  # an array's `max_length` bounds each of its (string) items
            schema["items"]["maxLength"] = attr.max_length
    if attr.max_items is not None:
        schema["maxItems"] = attr.max_items
    if attr.keys is not None:
        schema["propertyNames"] = {"enum": list(attr.keys)}
    return schema


def event_schema(event: Event, attributes: Mapping[str, Attribute], schema_id: str,
                 comment: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": f"{event.name} event",
        "description": event.description,
        "type": "object",
        "properties": {name: attribute_schema(attributes[name]) for name in event.fields},
        "required": list(event.required),
        "additionalProperties": False,
    }
    if event.example:
        schema["examples"] = [dict(event.example)]
    if comment:
        schema["$comment"] = comment
    return schema
