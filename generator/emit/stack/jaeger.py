"""Jaeger v2's config (``jaeger/config.yaml``), rendered from ``templates/jaeger.yaml.j2``: the stack's trace
store, receiving the collector's spans over OTLP/gRPC and serving Grafana's Jaeger data source.

Like the collector's, its addresses are ``${env:VAR:-default}`` references (defaults = the compose values);
``JAEGER_ENV`` lists them for the tests and the README.
"""

from __future__ import annotations

from typing import Any

from obsgen.emit.render import Services
from obsgen.emit.stack.collector import EnvVar
from obsgen.emit.stack.ports import JAEGER
from obsgen.emit.stack.servers import image_tag, render

JAEGER_FILE = "jaeger/config.yaml"
STORE = "traces"
MAX_TRACES = 100_000
"""Traces kept in memory; beyond it the oldest go (about an hour of a busy service's sampled requests)."""

JAEGER_ENV = (
    EnvVar("otlp_grpc", "JAEGER_OTLP_GRPC_ENDPOINT", f"0.0.0.0:{JAEGER.port('otlp_grpc')}",
           "OTLP/gRPC listen address (the collector sends here)"),
    EnvVar("query_http", "JAEGER_QUERY_HTTP_ENDPOINT", f"0.0.0.0:{JAEGER.port('http')}", "query API and UI"),
    EnvVar("query_grpc", "JAEGER_QUERY_GRPC_ENDPOINT", f"0.0.0.0:{JAEGER.port('query_grpc')}", "query gRPC API"),
    EnvVar("health", "JAEGER_HEALTH_ENDPOINT", f"0.0.0.0:{JAEGER.port('health')}", "health check"),
    EnvVar("telemetry_host", "JAEGER_TELEMETRY_HOST", "0.0.0.0", "Jaeger's own metrics: host"),
    EnvVar("telemetry_port", "JAEGER_TELEMETRY_PORT", str(JAEGER.port("telemetry")), "Jaeger's own metrics: port"),
)


def jaeger_context(services: Services) -> dict[str, Any]:
    return {
        "service": services.names,
        "jaeger_version": image_tag("jaeger"),
        "env": {v.key: v.reference for v in JAEGER_ENV},
        "store": STORE,
        "max_traces": MAX_TRACES,
    }


def emit(services: Services) -> dict[str, str]:
    return {JAEGER_FILE: render("jaeger.yaml.j2", services, **jaeger_context(services))}
