"""The compose stack (``docker-compose.yml`` at the output root) and its ``.env.example``.

Services: Grafana, Prometheus, Loki, the OpenTelemetry Collector and Alertmanager, each pinned to the
image of ``generator/data/versions.yaml``, health-checked, reading its config read-only from the
generated tree (at ``CONFIG_ROOT/<path>``) and its data from a named volume. One stack for every
service of the tree: the compose project name does not depend on which services there are, so adding
one never renames the data volumes.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from obsgen.emit.alertmanager import ALERTMANAGER_FILE
from obsgen.emit.grafana import provisioning
from obsgen.emit.render import Services
from obsgen.emit.stack.collector import COLLECTOR_FILE
from obsgen.emit.stack.ports import ALERTMANAGER, COLLECTOR, GRAFANA, LOKI, PROMETHEUS
from obsgen.emit.stack.servers import (
    LOKI_FILE,
    PROMETHEUS_FILE,
    container_path,
    image,
    prometheus_retention,
    render,
)
from obsgen.model import Receiver

COMPOSE_FILE = "docker-compose.yml"
ENV_EXAMPLE_FILE = ".env.example"
SECRETS_DIR = "secrets"
"""Where the operator puts Alertmanager's webhook tokens (never generated, never committed)."""
PROBE = "healthcheck-probe"
PROBE_VOLUME = "probe"
PROBE_BINARY = "/probe/busybox"
GRAFANA_ADMIN = "admin"
PROJECT = "obsgen"
HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"


@dataclass(frozen=True)
class ComposeService:
    name: str
    image: str
    volumes: tuple[str, ...]
    command: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    ports: tuple[str, ...] = ()
    healthcheck: tuple[str, ...] = ()
    depends_on: tuple[tuple[str, str], ...] = ()
    restart: str = "unless-stopped"
    comment: tuple[str, ...] = field(default=())


def _published(service_ports: Any) -> tuple[str, ...]:
    return tuple(f"127.0.0.1:{p.number}:{p.number}" for p in service_ports if p.published)


def _probe(url: str) -> tuple[str, ...]:
    return ("CMD", PROBE_BINARY, "wget", "-q", "-T", "4", "-O", "/dev/null", url)


def _ro(path: str) -> str:
    """A directory of the generated tree, mounted read-only where configs expect it."""
    return f"./{path}:{container_path(path)}:ro"


def _receivers(specs: Services) -> list[Receiver]:
    return [r for model in specs.models for r in model.routing.all_receivers]


def secret_mounts(specs: Services) -> list[str]:
    """Container directories holding the receivers' bearer-token files (the spec's ``bearer_token_file``)."""
    return sorted({posixpath.dirname(r.bearer_token_file) for r in _receivers(specs) if r.bearer_token_file})


def secret_files(specs: Services) -> list[str]:
    return sorted({posixpath.basename(r.bearer_token_file) for r in _receivers(specs) if r.bearer_token_file})


def external_urls(specs: Services) -> list[str]:
    """Alertmanager webhook URLs: the applications' endpoints, not services of this stack."""
    return sorted({r.url for r in _receivers(specs)})


def services(specs: Services) -> list[ComposeService]:
    probe_mount = f"{PROBE_VOLUME}:/probe:ro"
    needs_probe = ((PROBE, COMPLETED),)
    dirname = posixpath.dirname
    return [
        ComposeService(
            PROBE, image(PROBE), (f"{PROBE_VOLUME}:/probe",), command=("cp", "/bin/busybox", PROBE_BINARY),
            restart="no",
            comment=("One-shot: puts a static busybox into the `probe` volume for the healthchecks, then exits.",)),
        ComposeService(
            LOKI.name, image("loki"), (_ro(dirname(LOKI_FILE)), "loki-data:/loki", probe_mount),
            command=(f"-config.file={container_path(LOKI_FILE)}", "-config.expand-env=true"),
            ports=_published(LOKI.ports), healthcheck=_probe(f"http://127.0.0.1:{LOKI.port('http')}/ready"),
            depends_on=needs_probe),
        ComposeService(
            ALERTMANAGER.name, image("alertmanager"),
            (_ro(dirname(ALERTMANAGER_FILE)), *(f"./{SECRETS_DIR}:{d}:ro" for d in secret_mounts(specs)),
             "alertmanager-data:/alertmanager", probe_mount),
            command=(f"--config.file={container_path(ALERTMANAGER_FILE)}", "--storage.path=/alertmanager",
                     f"--web.listen-address=:{ALERTMANAGER.port('http')}", "--cluster.listen-address="),
            ports=_published(ALERTMANAGER.ports),
            healthcheck=_probe(f"http://127.0.0.1:{ALERTMANAGER.port('http')}/-/ready"), depends_on=needs_probe,
            comment=("v0.25.0: the version whose amtool checks alerting/alertmanager.yml in the tests "
                     "(Debian bookworm).", "--cluster.listen-address= turns gossip off: a single instance.")),
        ComposeService(
            COLLECTOR.name, image("otel-collector"), (_ro(dirname(COLLECTOR_FILE)), probe_mount),
            command=(f"--config={container_path(COLLECTOR_FILE)}",),
            ports=_published(COLLECTOR.ports),
            healthcheck=_probe(f"http://127.0.0.1:{COLLECTOR.port('health')}/"),
            depends_on=(*needs_probe, (LOKI.name, HEALTHY)),
            comment=("Uses the defaults of otel/collector.yaml's ${env:...} addresses (the compose ones).",)),
        ComposeService(
            PROMETHEUS.name, image("prometheus"),
            (_ro(dirname(PROMETHEUS_FILE)), _ro(dirname(ALERTMANAGER_FILE)), "prometheus-data:/prometheus",
             probe_mount),
            command=(f"--config.file={container_path(PROMETHEUS_FILE)}", "--storage.tsdb.path=/prometheus",
                     f"--storage.tsdb.retention.time={prometheus_retention(specs)}",
                     f"--web.listen-address=:{PROMETHEUS.port('http')}", "--enable-feature=exemplar-storage"),
            ports=_published(PROMETHEUS.ports),
            healthcheck=_probe(f"http://127.0.0.1:{PROMETHEUS.port('http')}/-/ready"),
            depends_on=(*needs_probe, (ALERTMANAGER.name, HEALTHY), (COLLECTOR.name, HEALTHY)),
            comment=("Retention: the spec's retention.metrics. Exemplars: the collector exports them "
                     "(OpenMetrics).",)),
        ComposeService(
            GRAFANA.name, image("grafana"),
            (f"./{dirname(provisioning.DATASOURCES_FILE)}:/etc/grafana/provisioning/datasources:ro",
             f"./{dirname(provisioning.DASHBOARDS_FILE)}:/etc/grafana/provisioning/dashboards:ro",
             f"./dashboards:{provisioning.DASHBOARDS_MOUNT}:ro", "grafana-data:/var/lib/grafana", probe_mount),
            environment=(
                ("GF_SECURITY_ADMIN_USER", GRAFANA_ADMIN),
                ("GF_SECURITY_ADMIN_PASSWORD", "${GF_SECURITY_ADMIN_PASSWORD:?set it in .env}"),
                ("GF_AUTH_ANONYMOUS_ENABLED", "false"),
                ("GF_USERS_ALLOW_SIGN_UP", "false"),
                # One Grafana: obsgen.generate.load_all rejects specs that disagree on service.grafana_url.
                ("GF_SERVER_ROOT_URL", specs.models[0].service.grafana_url),
                ("GF_ANALYTICS_REPORTING_ENABLED", "false"),
                ("GF_ANALYTICS_CHECK_FOR_UPDATES", "false"),
            ),
            ports=_published(GRAFANA.ports),
            healthcheck=_probe(f"http://127.0.0.1:{GRAFANA.port('http')}/api/health"),
            depends_on=(*needs_probe, (PROMETHEUS.name, HEALTHY), (LOKI.name, HEALTHY), (ALERTMANAGER.name, HEALTHY)),
            comment=("No default password: the admin password comes from .env (see .env.example).",)),
    ]


def volumes(stack: list[ComposeService]) -> list[str]:
    names = {v.split(":", 1)[0] for s in stack for v in s.volumes if not v.startswith(".")}
    return sorted(names)


def compose_context(specs: Services) -> dict[str, Any]:
    stack = services(specs)
    return {
        "service": specs.names,
        "project": PROJECT,
        "otlp_grpc": COLLECTOR.port("otlp_grpc"),
        "otlp_http": COLLECTOR.port("otlp_http"),
        "secret_files": secret_files(specs),
        "external_urls": external_urls(specs),
        "probe": PROBE,
        "services": stack,
        "volumes": volumes(stack),
    }


def env_context(specs: Services) -> dict[str, Any]:
    killswitch = sorted({f"secrets/{posixpath.basename(token)}" for model in specs.models
                         if model.routing.kill_switch_webhook is not None
                         and (token := model.routing.kill_switch_webhook.bearer_token_file)})
    return {
        "grafana_admin": GRAFANA_ADMIN,
        "secrets_mounts": secret_mounts(specs),
        "secret_files": secret_files(specs),
        "killswitch_file": ", ".join(killswitch) or "none",
    }


def emit(specs: Services) -> dict[str, str]:
    return {COMPOSE_FILE: render("docker-compose.yml.j2", specs, **compose_context(specs)),
            ENV_EXAMPLE_FILE: render("env.example.j2", specs, **env_context(specs))}
