"""The stack's server configs: ``prometheus/prometheus.yml``, ``loki/loki.yaml`` and the rule linter's ``.pint.hcl``.

One of each for every service of the tree (``Services``): Prometheus loads every service's rule files,
Loki keeps each service's logs as long as its spec says.

Also home of what the stack's emitters share: the service names and ports of the compose stack, where
containers see the generated tree (``CONFIG_ROOT``), the pinned image versions
(``generator/data/versions.yaml``) and the Jinja environment that renders ``templates/``.
Everything here is pure: no I/O beyond reading package data, no clock.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import posixpath
import re
import sys
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml
from obsgen.emit.prometheus import promql as q
from obsgen.emit.prometheus.rules import RULE_FILES, RULES_DIR, rule_path
from obsgen.emit.render import SafeLoader, Services, Sourced, header_text
from obsgen.emit.stack import credentials
from obsgen.emit.stack.ports import ALERTMANAGER, COLLECTOR, LOKI, PROMETHEUS
from obsgen.model import Duration, Model, Share

PROMETHEUS_FILE = "prometheus/prometheus.yml"
LOKI_FILE = "loki/loki.yaml"
PINT_FILE = ".pint.hcl"
CONFIG_ROOT = "/etc/obsgen"
"""Containers see each generated config read-only at ``CONFIG_ROOT/<its path in the tree>``, so relative
references between configs (Prometheus' ``rule_files``) resolve the same in a container and natively."""


PROMETHEUS_FEATURES = ("created-timestamp-zero-ingestion", "exemplar-storage")
"""Prometheus 3 feature flags of the stack (compose and tests). ``created-timestamp-zero-ingestion``: a
counter or histogram series' created timestamp (the OpenTelemetry start time, which the collector's
exporter publishes) becomes a 0 sample before its first value, so ``rate()``/``increase()`` count that
first value: without it a new series (every process restart makes new ones) loses everything it counted
before its second scrape. Prometheus 2.x has no such feature: there, sparse series under-count."""

SCRAPE_INTERVAL = "15s"
"""Prometheus' scrape interval, also Grafana's ``timeInterval`` for it and the runtime's default metric
export interval (``obsgen.runtime.config.DEFAULT_METRIC_EXPORT_INTERVAL_S``): each scrape sees a fresh export."""

APP_SCRAPE_JOB = "otel-collector-exporter"
"""The job scraping the collector's ``prometheus`` exporter: the application's metrics."""
COLLECTOR_TELEMETRY_JOB = "otel-collector"
"""The job scraping the collector's own telemetry (queue sizes, send failures, refused items)."""


# --- package data and templates ------------------------------------------------------------------

@cache
def _versions() -> dict[str, Any]:
    text = resources.files("obsgen").joinpath("data/versions.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=SafeLoader)["images"]


def image(name: str) -> str:
    """``image:tag`` of a stack service, from ``generator/data/versions.yaml``."""
    entry = _versions()[name]
    return f"{entry['image']}:{entry['tag']}"


def image_tag(name: str) -> str:
    return str(_versions()[name]["tag"])


def _yaml_quote(value: object) -> str:
    """A YAML single-quoted scalar: nothing inside needs escaping but the quote itself."""
    return "'" + str(value).replace("'", "''") + "'"


TEMPLATE_OPTIONS: dict[str, Any] = {"trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": True,
                                     "autoescape": False}


class TemplateCache(jinja2.FileSystemBytecodeCache):
    """The templates' compiled code, kept by Jinja2's own file cache in the user's cache directory
    (``template_cache_dir``): compiling them is most of a first render.

    Jinja2 drops an entry whose template source, cache format or Python version changed; the key adds the
    Jinja2 version and ``TEMPLATE_OPTIONS`` (both change the code) to the template's name and path. Like
    Python's bytecode, nothing is written under ``PYTHONDONTWRITEBYTECODE``; an entry that cannot be read
    or written only means compiling, as without the cache."""

    OPTIONS = f"{jinja2.__version__} {sorted(TEMPLATE_OPTIONS.items())}"

    def __init__(self, directory: Path) -> None:
        super().__init__(str(directory), "%s.cache")

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return hashlib.sha1(f"{name}\0{filename}\0{self.OPTIONS}".encode()).hexdigest()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):  # a damaged entry
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if sys.dont_write_bytecode:
            return
        with suppress(OSError):
            os.makedirs(self.directory, exist_ok=True)
            super().dump_bytecode(bucket)


def template_cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/obsgen/templates``, by default ``~/.cache/obsgen/templates``; None without a home."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, empty or relative: the XDG default
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            return None
    return Path(base) / "obsgen" / "templates"


@cache
def _environment() -> jinja2.Environment:
    directory = template_cache_dir()
    env = jinja2.Environment(loader=jinja2.PackageLoader("obsgen.templates", ""), undefined=jinja2.StrictUndefined,
                             bytecode_cache=TemplateCache(directory) if directory else None, **TEMPLATE_OPTIONS)
    env.filters["q"] = _yaml_quote
    return env


def render(template: str, origin: Sourced, **context: Any) -> str:
    """A template of ``templates/`` rendered with the generated-file header; byte-stable for its input."""
    text = _environment().get_template(template).render(header=header_text(origin), **context)
    return text.rstrip("\n") + "\n"


def container_path(path: str) -> str:
    """Where a container sees a file or directory of the generated tree."""
    return posixpath.join(CONFIG_ROOT, path)


# --- Prometheus -----------------------------------------------------------------------------------

def longest(services: Services, key: str) -> Duration | None:
    """The longest ``retention.<key>`` of the specs: one server keeps every service's data that long."""
    declared = [model.retention[key] for model in services.models if key in model.retention]
    return max(declared, key=lambda d: d.seconds) if declared else None


def prometheus_retention(services: Services) -> str:
    """``--storage.tsdb.retention.time``: the longest ``retention.metrics`` of the specs, else Prometheus' default."""
    metrics = longest(services, "metrics")
    return metrics.text if metrics else "15d"


def prometheus_context(services: Services) -> dict[str, Any]:
    config_dir = posixpath.dirname(PROMETHEUS_FILE)
    aggregates = longest(services, "aggregates")
    return {
        "service": services.names,
        "rule_files": [posixpath.relpath(rule_path(model, name), config_dir)
                       for model in services.models for name in RULE_FILES],
        "alertmanager": f"{ALERTMANAGER.name}:{ALERTMANAGER.port('http')}",
        "app_job": APP_SCRAPE_JOB,
        "scrape_interval": SCRAPE_INTERVAL,
        "app_target": f"{COLLECTOR.name}:{COLLECTOR.port('prometheus')}",
        "telemetry_job": COLLECTOR_TELEMETRY_JOB,
        "telemetry_target": f"{COLLECTOR.name}:{COLLECTOR.port('telemetry')}",
        "basic_auth_user": credentials.BASIC_AUTH_USER,
        "alertmanager_password_file": credentials.mounted(credentials.ALERTMANAGER_PASSWORD),
        # stack.tls: the servers with a password (web config) also serve HTTPS; their clients check the CA.
        "tls_ca_file": credentials.mounted(credentials.TLS_CA) if services.tls else None,
        # (job, target, password file of its basic auth or None)
        "self_targets": [
            ("prometheus", f"localhost:{PROMETHEUS.port('http')}",
             credentials.mounted(credentials.PROMETHEUS_PASSWORD)),
            ("alertmanager", f"{ALERTMANAGER.name}:{ALERTMANAGER.port('http')}",
             credentials.mounted(credentials.ALERTMANAGER_PASSWORD)),
            ("loki", f"{LOKI.name}:{LOKI.port('http')}", None),
        ],
        "retention": prometheus_retention(services),
        "aggregates": aggregates.text if aggregates else None,
    }


# --- Loki -----------------------------------------------------------------------------------------

EVENT_NAME_ATTRIBUTE = "event_name"
"""Log attribute naming the spec event of a record (the runtime sets it on every log record)."""
SEVERITY_ATTRIBUTE = "severity"
"""The error event's own severity field (warning/error/critical), which tells critical errors apart."""
LOKI_INDEX_RESOURCE_ATTRIBUTES = ("service.name", "service.namespace", "deployment.environment",
                                  "deployment.environment.name")
"""Resource attributes that become stream labels; service.instance.id (a UUID per process) stays
structured metadata, so a restart does not open a new set of streams."""
LOKI_DROP_RESOURCE_ATTRIBUTES = ("telemetry.sdk.language", "telemetry.sdk.name", "telemetry.sdk.version")
"""Resource attributes Loki does not store: the SDK's name, language and version, the same on every line of a
process. Each structured-metadata entry costs Loki work per line (parsed, sorted, symbolised)."""


@dataclass(frozen=True)
class RetentionStream:
    selector: str
    period: str
    priority: int
    why: str


def service_retention(model: Model, default: Duration | None) -> list[RetentionStream]:
    """One service's log retention: its ``raw_events`` where the default differs, then errors and critical errors.

    Error events are the spec's events logged at ``error`` severity; critical ones are those whose
    ``severity`` field says ``critical``. Both are told apart by stream labels (``event_name`` and
    ``severity`` are indexed, see ``otlp_config``), the only thing Loki's retention selectors match.
    """
    retention = model.retention
    errors = [e for e in model.events if e.log_severity == "error"]
    streams: list[RetentionStream] = []
    service = f'service_name="{model.service.name}"'
    raw = retention.get("raw_events")
    if raw is not None and raw != default:
        streams.append(RetentionStream(f"{{{service}}}", raw.text, 1, f"{model.service.name} retention.raw_events"))
    if errors and "errors" in retention:
        selector = f"{{{service}, {q.matcher(EVENT_NAME_ATTRIBUTE, [e.name for e in errors])}}}"
        streams.append(RetentionStream(selector, retention["errors"].text, 2, "retention.errors"))
    critical = [e for e in errors if SEVERITY_ATTRIBUTE in e.fields
                and "critical" in (model.attributes[SEVERITY_ATTRIBUTE].enum or ())]
    if critical and "critical_errors" in retention:
        selector = (f"{{{service}, {q.matcher(EVENT_NAME_ATTRIBUTE, [e.name for e in critical])}, "
                    f'{SEVERITY_ATTRIBUTE}="critical"}}')
        streams.append(RetentionStream(selector, retention["critical_errors"].text, 3, "retention.critical_errors"))
    return streams


def loki_retention(services: Services) -> tuple[str | None, list[RetentionStream]]:
    """The default log retention (the longest ``raw_events``) and each service's per-stream overrides."""
    default = longest(services, "raw_events")
    streams = [stream for model in services.models for stream in service_retention(model, default)]
    return (default.text if default else None), streams


def loki_context(services: Services) -> dict[str, Any]:
    default, streams = loki_retention(services)
    indexed_log_attributes = [EVENT_NAME_ATTRIBUTE]
    if any(SEVERITY_ATTRIBUTE in e.fields for model in services.models for e in model.events if e.log_severity):
        indexed_log_attributes.append(SEVERITY_ATTRIBUTE)
    late = longest(services, "late_arrival")
    return {
        "service": services.names,
        "http_port": LOKI.port("http"),
        "grpc_port": LOKI.port("grpc"),
        "tenant": credentials.LOKI_TENANT,
        "tenant_header": credentials.LOKI_TENANT_HEADER,
        "retention_period": default,
        "retention_streams": streams,
        "index_resource_attributes": LOKI_INDEX_RESOURCE_ATTRIBUTES,
        "drop_resource_attributes": LOKI_DROP_RESOURCE_ATTRIBUTES,
        "index_log_attributes": indexed_log_attributes,
        "late_arrival": late.text if late else None,
    }


# --- pint -----------------------------------------------------------------------------------------

def pint_context(services: Services) -> dict[str, Any]:
    planned = sorted({q.share_records(model, i, "5m")[1] for model in services.models for i in model.indicators
                      if isinstance(i, Share)})
    names = "|".join(re.escape(posixpath.splitext(name)[0]) for name in RULE_FILES)
    include = f"(^|/){RULES_DIR}/[^/]+/({names})[.]yml$"  # the rule files of every service's folder
    return {"include": include, "planned_share_records": planned}


def emit(services: Services) -> dict[str, str]:
    return {
        PROMETHEUS_FILE: render("prometheus.yml.j2", services, **prometheus_context(services)),
        LOKI_FILE: render("loki.yaml.j2", services, **loki_context(services)),
        PINT_FILE: render("pint.hcl.j2", services, **pint_context(services)),
    }
