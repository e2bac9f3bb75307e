"""obsgen's instrumentation runtime: the spec's events emitted as OpenTelemetry spans, metrics and logs.

An application imports this package alone; it needs the OpenTelemetry SDK and exporter, PyYAML and
jsonschema (to read and validate the spec), never the generator's rendering dependencies.

    from obsgen.runtime import Telemetry

    rt = Telemetry.from_default()              # or Telemetry.from_spec("telemetry.yaml")
    with rt.request(user_id=uid, experiment_id="ranker-v2", bucket="treatment", k=20) as req:
        rt.ranking(latency_ms=41.5, coverage=0.97, algorithm="hybrid", items=items, ...)
    rt.impression(request_id=req.request_id, canonical_id=items[0], position=1, surface="home")
    if rt.is_active("use_cached_recommendations"): ...

For static typing with the built-in spec use ``obsgen.runtime.movie_recommender.telemetry()``;
``python -m obsgen.runtime.stubgen SPEC`` writes the same typed facade for another spec.
"""

from __future__ import annotations

from obsgen.runtime.config import RuntimeConfig
from obsgen.runtime.core import DROPPED_METRIC, VIOLATIONS_METRIC, RequestScope, Telemetry
from obsgen.runtime.killswitch import KillSwitchState
from obsgen.runtime.pii import PiiKeyError, Pseudonymizer, sanitize_text
from obsgen.runtime.validation import ContractViolation, EventValidationError

__all__ = [
    "DROPPED_METRIC",
    "VIOLATIONS_METRIC",
    "ContractViolation",
    "EventValidationError",
    "KillSwitchState",
    "PiiKeyError",
    "Pseudonymizer",
    "RequestScope",
    "RuntimeConfig",
    "Telemetry",
    "sanitize_text",
]
