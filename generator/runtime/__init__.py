"""obsgen's instrumentation runtime: the spec's events emitted as OpenTelemetry spans, metrics and logs.

An application imports this package alone; it needs the OpenTelemetry SDK and exporter, PyYAML and
jsonschema (to read and validate the spec), never the generator's rendering dependencies.

    from obsgen.runtime import Telemetry

    rt = Telemetry.from_spec("telemetry.yaml")     # or Telemetry.from_default(): the built-in demo spec
    with rt.order_placed(customer_id=cid, currency="eur", skus=skus) as order:   # opens a `joins` context
        rt.line_item(sku=skus[0], line=1, quantity=2)    # joins it: the key and inherited fields filled in
    rt.refund(order_id=order.request_id, sku=skus[0], quantity=1, amount=9.5)   # outside the block: by key
    if rt.is_active("pause_checkout"): ...

``python -m obsgen.runtime.stubgen SPEC`` writes a typed facade for a spec (the built-in demo's is
``facade`` in ``obsgen.demo``).
"""

from __future__ import annotations

from obsgen.runtime.config import RuntimeConfig
from obsgen.runtime.core import DROPPED_METRIC, STATE_ERRORS_METRIC, VIOLATIONS_METRIC, RequestScope, Telemetry
from obsgen.runtime.killswitch import KillSwitchState, StateFileError
from obsgen.runtime.pii import PiiKeyError, Pseudonymizer, sanitize_text
from obsgen.runtime.validation import ContractViolation, EventValidationError

__all__ = [
    "DROPPED_METRIC",
    "STATE_ERRORS_METRIC",
    "VIOLATIONS_METRIC",
    "ContractViolation",
    "EventValidationError",
    "KillSwitchState",
    "PiiKeyError",
    "Pseudonymizer",
    "RequestScope",
    "RuntimeConfig",
    "StateFileError",
    "Telemetry",
    "sanitize_text",
]
