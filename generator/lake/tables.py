"""The lake's tables as Arrow schemas, derived from the spec: one typed column per event field.

Every event table also has the lake's own columns: ``_key`` (the natural key de-duplication uses),
``_event_ms`` (event time), ``_landed_ms`` (when the landing file was written) and ``_shadow``.
Partition columns (``event_type``, ``event_date``) live in the directory names only.
"""

from __future__ import annotations

import pyarrow as pa
from obsgen.model import Attribute, Event, Model

KEY, EVENT_MS, LANDED_MS, SHADOW = "_key", "_event_ms", "_landed_ms", "_shadow"
LAKE_COLUMNS = (pa.field(KEY, pa.string(), nullable=False), pa.field(EVENT_MS, pa.int64(), nullable=False),
                pa.field(LANDED_MS, pa.int64(), nullable=False), pa.field(SHADOW, pa.bool_(), nullable=False))

_SCALARS = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_(),
            "object": pa.string()}
"""An ``object`` field is kept as its JSON text (its keys are not declared, so they cannot be columns)."""

QUARANTINE_SCHEMA = pa.schema([("event_type", pa.string()), ("reason", pa.string()), ("source", pa.string()),
                               ("record", pa.string()), (LANDED_MS, pa.int64())])
LATE_SCHEMA = pa.schema([("source", pa.string()), ("record", pa.string()), (EVENT_MS, pa.int64()),
                         (LANDED_MS, pa.int64())])


def arrow_type(attr: Attribute) -> pa.DataType:
    if attr.type == "array":
        return pa.list_(_SCALARS.get(attr.items or "string", pa.string()))
    return _SCALARS[attr.type]


def event_schema(model: Model, event: Event) -> pa.Schema:
    return pa.schema([pa.field(name, arrow_type(model.attributes[name])) for name in event.fields]
                     + list(LAKE_COLUMNS))


def timestamp_field(model: Model, event: Event) -> str | None:
    """The event's time field: its first field of format ``unix_ms``."""
    return next((f for f in event.fields if model.attributes[f].format == "unix_ms"), None)


def key_field(model: Model, event: Event) -> str | None:
    """The field that identifies the event on its own: the join key of a context this event opens.

    Other events have no such field in the join contracts; their natural key is their content
    (the MD5 of its typed fields as JSON, ``obsgen.lake.ingest``), so a redelivered copy is recognised and a
    distinct event never is.
    """
    return next((c.key for c in model.joins if c.root == event.name), None)
