"""Event JSON Schemas (``schemas/<service>/events/<event>.json``) for producers and consumers outside Python."""

from __future__ import annotations

from obsgen.emit.render import header_text, json_text
from obsgen.model import Model
from obsgen.model.eventschema import event_schema


def schema_id(model: Model, event: str) -> str:
    return f"urn:obsgen:{model.service.name}:events:{event}"


def emit(model: Model) -> dict[str, str]:
    return {
        f"schemas/{model.service.name}/events/{event.name}.json": json_text(
            event_schema(event, model.attributes, schema_id(model, event.name), header_text(model)))
        for event in model.events
    }
