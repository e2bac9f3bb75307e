"""Names an event may not have: the runtime makes one method per event on ``Telemetry`` (``rt.<event>``).

The spec layer rejects these (``obsgen validate``) so a clash never reaches a running service; a runtime
test keeps the tuple in step with ``Telemetry``'s public attributes. Names starting with ``_`` are
reserved too.
"""

RESERVED_EVENT_NAMES = (
    "config", "current_request", "dev_mode", "dropped", "emit", "events", "force_flush", "from_default",
    "from_spec", "is_active", "key_id", "kill_switches", "meter", "model", "pseudonymize", "pseudonyms", "resource",
    "shutdown", "tracer",
)
