"""The OpenTelemetry Collector config (``otel/collector.yaml``), rendered from ``templates/collector.yaml.j2``.

Addresses that differ between the compose stack and a native run are collector env references
(``${env:VAR:-default}``, defaults = the compose values), so the committed file is the one that runs
everywhere; ``COLLECTOR_ENV`` lists them for the tests and the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from obsgen.emit.render import Services
from obsgen.emit.stack.ports import COLLECTOR, LOKI
from obsgen.emit.stack.servers import APP_SCRAPE_JOB, COLLECTOR_TELEMETRY_JOB, image_tag, render
from obsgen.model.eventschema import SHA256_HEX_PATTERN

COLLECTOR_FILE = "otel/collector.yaml"
LANDING_MOUNT = "/var/lib/otelcol/landing"
"""Where the collector container writes the landing zone (compose mounts the host's ``lake/landing`` there)."""
LANDING_FILE = "events"
"""Name of each service's current landing file (``<service>/events.jsonl``; rotated ones get a time stamp)."""
LANDING_ROTATE_MB = 64
LANDING_GROUP = "service.name"


@dataclass(frozen=True)
class EnvVar:
    key: str
    name: str
    default: str
    what: str

    @property
    def reference(self) -> str:
        return f"${{env:{self.name}:-{self.default}}}"


COLLECTOR_ENV = (
    EnvVar("otlp_grpc", "OTELCOL_OTLP_GRPC_ENDPOINT", f"0.0.0.0:{COLLECTOR.port('otlp_grpc')}",
           "OTLP/gRPC listen address"),
    EnvVar("otlp_http", "OTELCOL_OTLP_HTTP_ENDPOINT", f"0.0.0.0:{COLLECTOR.port('otlp_http')}",
           "OTLP/HTTP listen address"),
    EnvVar("prometheus", "OTELCOL_PROMETHEUS_ENDPOINT", f"0.0.0.0:{COLLECTOR.port('prometheus')}",
           "metrics for Prometheus to scrape"),
    EnvVar("health", "OTELCOL_HEALTH_ENDPOINT", f"0.0.0.0:{COLLECTOR.port('health')}", "health_check extension"),
    EnvVar("telemetry_host", "OTELCOL_TELEMETRY_HOST", "0.0.0.0", "collector's own metrics: host"),
    EnvVar("telemetry_port", "OTELCOL_TELEMETRY_PORT", str(COLLECTOR.port("telemetry")),
           "collector's own metrics: port"),
    EnvVar("loki", "OTELCOL_LOKI_ENDPOINT", f"{LOKI.url()}/otlp", "Loki's OTLP endpoint (/v1/logs is appended)"),
    EnvVar("landing", "OTELCOL_LANDING_DIR", LANDING_MOUNT, "the lake's landing zone (one folder per service)"),
)
"""The collector's env variables: compose uses the defaults, the tests point them at 127.0.0.1."""


def pii_attributes(services: Services) -> list[str]:
    """Attributes any spec marks ``pii: high``: they may only leave the runtime pseudonymised.

    The guard matches attributes by name, whichever service sends them: a name one spec holds to be
    personal data is guarded for all."""
    return sorted({name for model in services.models for name, attr in model.attributes.items()
                   if attr.pii == "high"})


def pii_statement(context: str, attribute: str) -> str:
    """OTTL: delete ``attribute`` unless it is a string of 64 lowercase hex characters (a pseudonym)."""
    value = f'{context}.attributes["{attribute}"]'
    return (f'delete_key({context}.attributes, "{attribute}") where {value} != nil and '
            f'not (IsString({value}) and IsMatch({value}, "{SHA256_HEX_PATTERN}"))')


def collector_context(services: Services) -> dict[str, Any]:
    return {
        "service": services.names,
        "collector_version": image_tag("otel-collector"),
        "env_vars": [{"name": v.name, "default": v.default, "what": v.what} for v in COLLECTOR_ENV],
        "env": {v.key: v.reference for v in COLLECTOR_ENV},
        "pii_attributes": pii_attributes(services),
        "pii_pattern": SHA256_HEX_PATTERN,
        "pii_statement": pii_statement,
        "scrape_job": APP_SCRAPE_JOB,
        "telemetry_job": COLLECTOR_TELEMETRY_JOB,
        "landing_file": LANDING_FILE,
        "landing_rotate_mb": LANDING_ROTATE_MB,
        "landing_group": LANDING_GROUP,
    }


def emit(services: Services) -> dict[str, str]:
    return {COLLECTOR_FILE: render("collector.yaml.j2", services, **collector_context(services))}
