"""Names an event or attribute may not have. Events: the runtime makes one method per event on ``Telemetry``
(``rt.<event>``).

The spec layer rejects these (``obsgen validate``) so a clash never reaches a running service; a runtime
test keeps the tuple in step with ``Telemetry``'s public attributes. Names starting with ``_`` are
reserved too.
"""

RESERVED_EVENT_NAMES = (
    "config", "current_request", "dev_mode", "dropped", "emit", "events", "force_flush", "from_default",
    "from_spec", "is_active", "key_id", "kill_switches", "meter", "model", "pseudonymize", "pseudonyms", "resource",
    "shutdown", "tracer",
)

RESERVED_ATTRIBUTE_NAMES = {
    "event_name": "the runtime names every event's record with it",
    "shadow": "the runtime marks shadow-mode events with it (the lake leaves them out of rollups)",
    "event_type": "it is a partition column of the event lake (its views would show the partition, not the field)",
    "event_date": "it is a partition column of the event lake (its views would show the partition, not the field)",
}
"""Names an attribute may not have: the runtime's own attributes on every record, and the lake's partitions."""
