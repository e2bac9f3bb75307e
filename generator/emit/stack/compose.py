"""The compose stack (``docker-compose.yml`` at the output root) and its ``.env.example``.

Services: Grafana, Prometheus, Loki, Jaeger, the OpenTelemetry Collector and Alertmanager, each pinned to the
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
from obsgen.emit.stack import credentials
from obsgen.emit.stack.collector import COLLECTOR_FILE, LANDING_MOUNT, collector_env
from obsgen.emit.stack.jaeger import JAEGER_FILE
from obsgen.emit.stack.ports import ALERTMANAGER, COLLECTOR, GRAFANA, JAEGER, LOKI, PROMETHEUS
from obsgen.emit.stack.servers import (
    LOKI_FILE,
    PROMETHEUS_FEATURES,
    PROMETHEUS_FILE,
    container_path,
    image,
    prometheus_retention,
    render,
)
from obsgen.model import Receiver

COMPOSE_FILE = "docker-compose.yml"
ENV_EXAMPLE_FILE = ".env.example"
SECRETS_DIR = credentials.SECRETS_DIR
PROBE = "healthcheck-probe"
PROBE_VOLUME = "probe"
PROBE_BINARY = "/probe/busybox"
COLLECTOR_QUEUE_VOLUME = "collector-queue"
COLLECTOR_UID = 10001
"""The user the collector image runs as: its persistent queue volume must be writable by it."""
GRAFANA_ADMIN = "admin"
PROJECT = "obsgen"
LANDING_DIR = "lake/landing"
"""Host directory (beside the tree) the collector writes the lake's landing zone into (`obsgen lake ingest`
reads it): data, not config, so it is the one read-write bind mount."""
HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"
SECRETS_GID = "${OBSGEN_SECRETS_GID:?set it in .env: the group of secrets/ (obsgen secrets init prints it)}"
"""The group owning ``secrets/`` (mode 0440): services that read secrets run with it as a supplementary group."""
NOBODY = "65534:65534"


@dataclass(frozen=True)
class ComposeService:
    name: str
    image: str
    volumes: tuple[str, ...]
    user: str
    """Never root for a long-running service: the image's own unprivileged user, named explicitly."""
    command: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    ports: tuple[str, ...] = ()
    healthcheck: tuple[str, ...] = ()
    depends_on: tuple[tuple[str, str], ...] = ()
    tmpfs: tuple[str, ...] = ()
    """The only writable paths besides the data volume (the root file system is read-only)."""
    secrets: tuple[credentials.Secret, ...] = ()
    cap_add: tuple[str, ...] = ()
    """The only capabilities it keeps (all others are dropped)."""
    restart: str = "unless-stopped"
    comment: tuple[str, ...] = field(default=())

    @property
    def group_add(self) -> tuple[str, ...]:
        return (SECRETS_GID,) if self.secrets else ()


def _published(service_ports: Any) -> tuple[str, ...]:
    return tuple(f"127.0.0.1:{p.number}:{p.number}" for p in service_ports if p.published)


def _probe(url: str) -> tuple[str, ...]:
    return ("CMD", PROBE_BINARY, "wget", "-q", "-T", "4", "-O", "/dev/null", url)


def _probe_with_password(url: str, password: str) -> tuple[str, ...]:
    """The probe for a server requiring basic auth: busybox's shell reads the password secret, wget sends it
    (``user:password@`` in the URL). ``$$`` is compose's escape for the shell's ``$``."""
    scheme, rest = url.split("://", 1)
    script = (f"read -r p < {credentials.mounted(password)} && exec {PROBE_BINARY} wget -q -T 4 -O /dev/null "
              f'"{scheme}://{credentials.BASIC_AUTH_USER}:$$p@{rest}"')
    return ("CMD", PROBE_BINARY, "sh", "-c", script)


def _ro(path: str) -> str:
    """A directory of the generated tree, mounted read-only where configs expect it."""
    return f"./{path}:{container_path(path)}:ro"


def _receivers(specs: Services) -> list[Receiver]:
    return [r for model in specs.models for r in model.routing.all_receivers]


def external_urls(specs: Services) -> list[str]:
    """Alertmanager webhook URLs: the applications' endpoints, not services of this stack."""
    return sorted({r.url for r in _receivers(specs) if r.url})


def services(specs: Services) -> list[ComposeService]:
    probe_mount = f"{PROBE_VOLUME}:/probe:ro"
    needs_probe = ((PROBE, COMPLETED),)
    dirname = posixpath.dirname

    def secrets(service: str) -> tuple[credentials.Secret, ...]:
        return tuple(credentials.secrets_of(specs, service))
    # stack.tls: the probes of the servers behind web configs speak HTTPS (busybox's wget does not check the
    # certificate; it asks its own container on loopback).
    web = "https" if specs.tls else "http"

    return [
        ComposeService(
            PROBE, image(PROBE), (f"{PROBE_VOLUME}:/probe", f"{COLLECTOR_QUEUE_VOLUME}:/collector-queue"), "0:0",
            command=("sh", "-c", f"cp /bin/busybox {PROBE_BINARY} && chown {COLLECTOR_UID} /collector-queue"),
            restart="no", cap_add=("CHOWN",),
            comment=("One-shot: puts a static busybox into the `probe` volume for the healthchecks and hands the "
                     "collector's queue volume to the collector's user, then exits.",
                     "Root with only CHOWN: the fresh volumes are root-owned.")),
        ComposeService(
            LOKI.name, image("loki"), (_ro(dirname(LOKI_FILE)), "loki-data:/loki", probe_mount), "10001:10001",
            command=(f"-config.file={container_path(LOKI_FILE)}", "-config.expand-env=true"),
            ports=_published(LOKI.ports), healthcheck=_probe(f"http://127.0.0.1:{LOKI.port('http')}/ready"),
            depends_on=needs_probe, tmpfs=("/tmp",),
            comment=(f"Multi-tenant (auth_enabled): clients name tenant {credentials.LOKI_TENANT} in "
                     f"{credentials.LOKI_TENANT_HEADER}.",)),
        ComposeService(
            ALERTMANAGER.name, image("alertmanager"),
            (_ro(dirname(ALERTMANAGER_FILE)), "alertmanager-data:/alertmanager", probe_mount), NOBODY,
            command=(f"--config.file={container_path(ALERTMANAGER_FILE)}", "--storage.path=/alertmanager",
                     f"--web.listen-address=:{ALERTMANAGER.port('http')}", "--cluster.listen-address=",
                     f"--web.config.file={credentials.mounted(credentials.ALERTMANAGER_WEB_CONFIG)}"),
            ports=_published(ALERTMANAGER.ports),
            healthcheck=_probe_with_password(f"{web}://127.0.0.1:{ALERTMANAGER.port('http')}/-/ready",
                                             credentials.ALERTMANAGER_PASSWORD),
            depends_on=needs_probe, secrets=secrets(ALERTMANAGER.name),
            comment=("v0.25.0: the version whose amtool checks alerting/alertmanager.yml in the tests "
                     "(Debian bookworm).", "--cluster.listen-address= turns gossip off: a single instance.",
                     "Basic auth on every endpoint (--web.config.file); webhook tokens are compose secrets.")),
        ComposeService(
            JAEGER.name, image("jaeger"), (_ro(dirname(JAEGER_FILE)), probe_mount), "10001:10001",
            command=(f"--config=file:{container_path(JAEGER_FILE)}",),
            ports=_published(JAEGER.ports),
            healthcheck=_probe(f"http://127.0.0.1:{JAEGER.port('health')}/status"),
            depends_on=needs_probe, tmpfs=("/tmp",),
            comment=("The trace store (in memory, bounded): see jaeger/config.yaml.",)),
        ComposeService(
            COLLECTOR.name, image("otel-collector"),
            (_ro(dirname(COLLECTOR_FILE)), f"{COLLECTOR_QUEUE_VOLUME}:{collector_env('storage').default}",
             f"./{LANDING_DIR}:{LANDING_MOUNT}", probe_mount),
            f"{COLLECTOR_UID}:{COLLECTOR_UID}",
            command=(f"--config={container_path(COLLECTOR_FILE)}",),
            ports=_published(COLLECTOR.ports),
            healthcheck=_probe(f"http://127.0.0.1:{COLLECTOR.port('health')}/"),
            depends_on=(*needs_probe, (LOKI.name, HEALTHY), (JAEGER.name, HEALTHY)), tmpfs=("/tmp",),
            comment=("Uses the defaults of otel/collector.yaml's ${env:...} addresses (the compose ones).",
                     f"./{LANDING_DIR}: the lake's landing zone (create it writable for the collector's user "
                     f"{COLLECTOR_UID} first): README \"The event lake\".")),
        ComposeService(
            PROMETHEUS.name, image("prometheus"),
            (_ro(dirname(PROMETHEUS_FILE)), _ro(dirname(ALERTMANAGER_FILE)), "prometheus-data:/prometheus",
             probe_mount), NOBODY,
            command=(f"--config.file={container_path(PROMETHEUS_FILE)}", "--storage.tsdb.path=/prometheus",
                     f"--storage.tsdb.retention.time={prometheus_retention(specs)}",
                     f"--web.listen-address=:{PROMETHEUS.port('http')}",
                     f"--enable-feature={','.join(PROMETHEUS_FEATURES)}",
                     f"--web.config.file={credentials.mounted(credentials.PROMETHEUS_WEB_CONFIG)}"),
            ports=_published(PROMETHEUS.ports),
            healthcheck=_probe_with_password(f"{web}://127.0.0.1:{PROMETHEUS.port('http')}/-/ready",
                                             credentials.PROMETHEUS_PASSWORD),
            depends_on=(*needs_probe, (ALERTMANAGER.name, HEALTHY), (COLLECTOR.name, HEALTHY)),
            secrets=secrets(PROMETHEUS.name),
            comment=("Retention: the spec's retention.metrics. Exemplars: the collector exports them "
                     "(OpenMetrics).", "Created timestamps: a new series' first value counts in rate()/increase().",
                     "Basic auth on every endpoint (--web.config.file).")),
        ComposeService(
            GRAFANA.name, image("grafana"),
            (f"./{dirname(provisioning.DATASOURCES_FILE)}:/etc/grafana/provisioning/datasources:ro",
             f"./{dirname(provisioning.DASHBOARDS_FILE)}:/etc/grafana/provisioning/dashboards:ro",
             f"./dashboards:{provisioning.DASHBOARDS_MOUNT}:ro", "grafana-data:/var/lib/grafana", probe_mount),
            "472:0",
            environment=(
                ("GF_SECURITY_ADMIN_USER", GRAFANA_ADMIN),
                ("GF_SECURITY_ADMIN_PASSWORD__FILE", credentials.mounted(credentials.GRAFANA_ADMIN_PASSWORD)),
                ("GF_AUTH_ANONYMOUS_ENABLED", "false"),
                ("GF_USERS_ALLOW_SIGN_UP", "false"),
                # One Grafana: obsgen.generate.load_all rejects specs that disagree on service.grafana_url.
                ("GF_SERVER_ROOT_URL", specs.models[0].service.grafana_url),
                ("GF_ANALYTICS_REPORTING_ENABLED", "false"),
                ("GF_ANALYTICS_CHECK_FOR_UPDATES", "false"),
                ("GF_LOG_MODE", "console"),  # no log files: the root file system is read-only
            ),
            ports=_published(GRAFANA.ports),
            healthcheck=_probe(f"http://127.0.0.1:{GRAFANA.port('http')}/api/health"),
            depends_on=(*needs_probe, (PROMETHEUS.name, HEALTHY), (LOKI.name, HEALTHY), (ALERTMANAGER.name, HEALTHY),
                        (JAEGER.name, HEALTHY)),
            tmpfs=("/tmp",), secrets=secrets(GRAFANA.name),
            comment=("No default password: the admin password is the secret grafana-admin-password "
                     "(obsgen secrets init).",)),
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
        "secrets": credentials.stack_secrets(specs),
        "secrets_dir": SECRETS_DIR,
        "external_urls": external_urls(specs),
        "probe": PROBE,
        "basic_auth_user": credentials.BASIC_AUTH_USER,
        "loki_tenant": credentials.LOKI_TENANT,
        "services": stack,
        "volumes": volumes(stack),
    }


def env_context(specs: Services) -> dict[str, Any]:
    killswitch = sorted({f"secrets/{posixpath.basename(token)}" for model in specs.models
                         if model.routing.kill_switch_webhook is not None
                         and (token := model.routing.kill_switch_webhook.bearer_token_file)})
    return {
        "grafana_admin": GRAFANA_ADMIN,
        "secrets": credentials.stack_secrets(specs),
        "secrets_dir": SECRETS_DIR,
        "killswitch_file": ", ".join(killswitch) or "none",
    }


def emit(specs: Services) -> dict[str, str]:
    return {COMPOSE_FILE: render("docker-compose.yml.j2", specs, **compose_context(specs)),
            ENV_EXAMPLE_FILE: render("env.example.j2", specs, **env_context(specs))}
