"""The compose stack's services and their ports, declared once: every config, the compose file and the
Grafana data sources take their addresses from here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Port:
    name: str
    number: int
    published: bool = False
    """Bound to 127.0.0.1 on the host by docker-compose.yml (the rest stay on the compose network)."""


@dataclass(frozen=True)
class StackService:
    name: str
    """Compose service name, which is also its DNS name on the compose network."""
    ports: tuple[Port, ...]

    def port(self, name: str) -> int:
        return next(p.number for p in self.ports if p.name == name)

    def url(self, port: str = "http") -> str:
        return f"http://{self.name}:{self.port(port)}"


GRAFANA = StackService("grafana", (Port("http", 3000, True),))
PROMETHEUS = StackService("prometheus", (Port("http", 9090, True),))
ALERTMANAGER = StackService("alertmanager", (Port("http", 9093, True),))
LOKI = StackService("loki", (Port("http", 3100, True), Port("grpc", 9095)))
COLLECTOR = StackService("otel-collector", (
    Port("otlp_grpc", 4317, True), Port("otlp_http", 4318, True), Port("prometheus", 8889), Port("telemetry", 8888),
    Port("health", 13133)))
JAEGER = StackService("jaeger", (
    Port("http", 16686, True), Port("otlp_grpc", 4317), Port("query_grpc", 16685), Port("health", 13133),
    Port("telemetry", 8888)))
SERVICES = (GRAFANA, PROMETHEUS, ALERTMANAGER, LOKI, COLLECTOR, JAEGER)
