"""The runtime's small explicit configuration, completed from the standard ``OTEL_*`` variables.

Precedence for each setting: an explicit ``RuntimeConfig`` field, then the environment, then the
default. The OTLP exporters themselves still read the per-signal variables they know
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``, certificates, compression, ...),
so everything the OpenTelemetry documentation describes keeps working.

obsgen's own variables:

* ``OBSGEN_VALIDATION``: ``production`` (default) or ``strict``.
* ``OBSGEN_SHADOW``: ``1`` marks every signal ``shadow="true"``.
* ``OBSGEN_PII_KEY`` / ``OBSGEN_PII_KEY_FILE`` / ``OBSGEN_PII_PREVIOUS_KEYS`` / ``OBSGEN_DEV_MODE``: see
  ``obsgen.runtime.pii``.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from obsgen.runtime.pii import DEFAULT_MAX_TEXT, ENV_DEV_MODE, env_flag

Validation = Literal["production", "strict"]
Protocol = Literal["http/protobuf", "grpc"]
VALIDATIONS = ("production", "strict")
DEFAULT_METRIC_EXPORT_INTERVAL_S = 15
"""Not the SDK's 60 s: the generated Prometheus scrapes every 15 s and Grafana's shortest rate window is 60 s
(four scrapes); exports every 60 s would leave most windows with one fresh value or none, so short-range rate
panels would read 0 at some points and double at others. 15 s = one fresh value per scrape."""
PROTOCOLS = ("http/protobuf", "grpc")


@dataclass(frozen=True)
class RuntimeConfig:
    """Explicit settings; ``None`` means "from the environment, else the default"."""

    validation: Validation | None = None
    """``strict`` raises ``EventValidationError`` on a bad payload (tests, shadow runs); ``production``
    never raises into the application: it drops or repairs, counts and reports."""
    shadow: bool | None = None
    dev_mode: bool | None = None
    pii_key: bytes | str | None = None
    pii_previous_keys: Sequence[bytes | str] = ()
    """Keys used before the current one (``Telemetry.pseudonyms`` looks a value up under each); also from
    ``OBSGEN_PII_PREVIOUS_KEYS`` and the key file's later lines."""

    endpoint: str | None = None
    """OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``): the base URL; ``/v1/<signal>`` is added for HTTP."""
    protocol: Protocol | None = None
    """``OTEL_EXPORTER_OTLP_PROTOCOL``: ``http/protobuf`` (default) or ``grpc``."""
    export_timeout_s: float | None = None
    """Per-export timeout (``OTEL_EXPORTER_OTLP_TIMEOUT``, milliseconds there); exporters' default is 10 s."""
    resource_attributes: Mapping[str, str] = field(default_factory=dict)
    """Added to ``OTEL_RESOURCE_ATTRIBUTES``; ``service.name``/``service.namespace`` always come from the spec."""
    service_instance_id: str | None = None
    """Default: ``service.instance.id`` from ``OTEL_RESOURCE_ATTRIBUTES``, else a random UUID per process."""

    max_queue_size: int | None = None
    """Spans, and separately log records, buffered for export (``OTEL_BSP_MAX_QUEUE_SIZE``, default 2048);
    the ``OTEL_BSP_*`` settings apply to both queues."""
    max_export_batch_size: int | None = None
    schedule_delay_s: float | None = None
    metric_export_interval_s: float | None = None
    """``OTEL_METRIC_EXPORT_INTERVAL`` (milliseconds there); default 15 s (``DEFAULT_METRIC_EXPORT_INTERVAL_S``)."""
    shutdown_timeout_s: float = 5.0
    """Upper bound of the flush at interpreter exit."""

    context_cache_size: int = 20_000
    """Recent contexts (of each of the spec's ``joins``) remembered for inheritance, join checks and
    once-per-context metrics."""
    context_ttl_s: float = 900.0
    once_per_cache_size: int = 50_000
    """Other ``once_per`` keys (a session, say) remembered for once-per metrics."""
    once_per_ttl_s: float = 1800.0
    once_per_cache_bytes: int = 8 << 20
    """Byte budget of each ``once_per`` cache (its keys are charged: a client may send huge ones)."""
    pseudonym_cache_size: int = 16_384
    """Raw ids whose pseudonyms are kept (a bounded LRU; 0 turns it off): repeated ids skip the HMAC."""
    context_cache_bytes: int = 32 << 20
    """Byte budget of each context cache (what contexts keep is estimated when stored): the least recently
    stored contexts go first when it is spent."""
    max_text_length: int = DEFAULT_MAX_TEXT
    """Characters kept of a free-text field whose attribute declares no ``max_length`` (cut before scrubbing)."""
    max_array_items: int = 1024
    """Items kept of an array of strings whose attribute declares no ``max_items`` (more are cut and counted)."""
    max_object_bytes: int = 4096
    """Largest object attribute (its keys and values' text); a larger one is removed and counted. Also the most
    characters an array of strings keeps in all (the items past it are cut and counted)."""
    check_unknown_contexts: bool = True
    """Count a ``require_known`` event whose context this process never saw (or forgot) as a violation.
    Turn off when events of one context can reach another instance."""
    report_invalid_events: bool = True
    """In production, also emit the spec's ``data_quality.report`` event for an event dropped or repaired."""

    span_exporter: Any = None
    """Replace the OTLP span exporter (tests: ``InMemorySpanExporter``)."""
    log_exporter: Any = None
    metric_readers: Sequence[Any] | None = None
    """Replace the periodic OTLP metric reader (tests: ``InMemoryMetricReader``)."""

    def resolved(self) -> RuntimeConfig:
        """A copy with every ``None`` that has an environment variable or a default filled in."""
        env = os.environ
        validation = self.validation or env.get("OBSGEN_VALIDATION", "").strip().lower() or "production"
        if validation not in VALIDATIONS:
            raise ValueError(f"validation must be one of {', '.join(VALIDATIONS)}, got {validation!r} "
                             "(RuntimeConfig.validation or OBSGEN_VALIDATION)")
        protocol = self.protocol or env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip() or "http/protobuf"
        if protocol not in PROTOCOLS:
            raise ValueError(f"OTLP protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r} "
                             "(RuntimeConfig.protocol or OTEL_EXPORTER_OTLP_PROTOCOL)")
        endpoint = self.endpoint or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None
        if endpoint is not None:
            _check_endpoint(endpoint, protocol)
        timeout = self.export_timeout_s
        if timeout is None and env.get("OTEL_EXPORTER_OTLP_TIMEOUT"):
            timeout = _env_number("OTEL_EXPORTER_OTLP_TIMEOUT") / 1000
        interval = self.metric_export_interval_s
        if interval is None:
            interval = _env_number("OTEL_METRIC_EXPORT_INTERVAL", DEFAULT_METRIC_EXPORT_INTERVAL_S * 1000) / 1000
        return replace(
            self,
            validation=validation,  # type: ignore[arg-type]
            shadow=self.shadow if self.shadow is not None else env_flag("OBSGEN_SHADOW"),
            dev_mode=self.dev_mode if self.dev_mode is not None else env_flag(ENV_DEV_MODE),
            endpoint=endpoint,
            protocol=protocol,  # type: ignore[arg-type]
            export_timeout_s=timeout,
            max_queue_size=self.max_queue_size or int(_env_number("OTEL_BSP_MAX_QUEUE_SIZE", 2048)),
            max_export_batch_size=self.max_export_batch_size or int(_env_number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                                                                                512)),
            schedule_delay_s=(self.schedule_delay_s if self.schedule_delay_s is not None
                              else _env_number("OTEL_BSP_SCHEDULE_DELAY", 1000) / 1000),
            metric_export_interval_s=interval,
        )


def _check_endpoint(endpoint: str, protocol: str) -> None:
    """An http(s) URL with a host (gRPC also takes ``host:port``): a typo would otherwise only show as every
    export failing and every item counted dropped."""
    url = urllib.parse.urlsplit(endpoint)
    if url.scheme in ("http", "https") and url.hostname:
        return
    if protocol == "grpc" and re.fullmatch(r"[A-Za-z0-9.-]+:[0-9]+", endpoint):
        return
    raise ValueError(f"the OTLP endpoint must be an http(s) URL such as http://localhost:4318, got {endpoint!r} "
                     "(RuntimeConfig.endpoint or OTEL_EXPORTER_OTLP_ENDPOINT)")


def _env_number(name: str, default: float | None = None) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        if default is None:
            raise KeyError(name)
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


def exporter_choice(signal: str) -> str:
    """``OTEL_TRACES_EXPORTER``/``OTEL_LOGS_EXPORTER``/``OTEL_METRICS_EXPORTER``: ``otlp`` (default) or ``none``."""
    value = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp").strip().lower() or "otlp"
    if value not in ("otlp", "none"):
        raise ValueError(f"OTEL_{signal.upper()}_EXPORTER={value!r} is not supported by the obsgen runtime; "
                         "use otlp or none")
    return value
