"""The OpenTelemetry Collector config (``otel/collector.yaml``), rendered from ``templates/collector.yaml.j2``.

Addresses that differ between the compose stack and a native run are collector env references
(``${env:VAR:-default}``, defaults = the compose values), so the committed file is the one that runs
everywhere; ``COLLECTOR_ENV`` lists them for the tests and the README.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from obsgen.emit.render import Services
from obsgen.emit.stack import credentials
from obsgen.emit.stack.ports import COLLECTOR, JAEGER, LOKI
from obsgen.emit.stack.servers import APP_SCRAPE_JOB, COLLECTOR_TELEMETRY_JOB, image_tag, render
from obsgen.model.eventschema import SHA256_HEX_PATTERN

COLLECTOR_FILE = "otel/collector.yaml"
LANDING_MOUNT = "/var/lib/otelcol/landing"
"""Where the collector container writes the landing zone (compose mounts the host's ``lake/landing`` there)."""
LANDING_FILES = {"logs": "events", "traces": "spans"}
"""Per signal, the name of each service's current landing file (``<service>/events.jsonl``, ``spans.jsonl``;
rotated ones get a time stamp). One exporter (and file) per signal: a file exporter shared by two pipelines
panics when the second one flushes into it at shutdown."""
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
    EnvVar("jaeger", "OTELCOL_JAEGER_ENDPOINT", f"{JAEGER.name}:{JAEGER.port('otlp_grpc')}",
           "Jaeger's OTLP/gRPC endpoint (traces)"),
    EnvVar("storage", "OTELCOL_STORAGE_DIR", "/var/lib/otelcol/queue", "persistent sending queue (a volume)"),
    EnvVar("landing", "OTELCOL_LANDING_DIR", LANDING_MOUNT, "the lake's landing zone (one folder per service)"),
)
"""The collector's env variables: compose uses the defaults, the tests point them at 127.0.0.1."""


def collector_env(key: str) -> EnvVar:
    return next(v for v in COLLECTOR_ENV if v.key == key)


LOKI_BATCH = {"min": 1000, "max": 4000, "mb": 2.3}
"""Records a push to Loki: a log record of the runtime is about 565 bytes in OTLP, so 4,000 make about 2.3 MB,
under Loki's 4 MB distributor-to-ingester gRPC default even where loki.yaml's larger limit is not applied."""
LOKI_QUEUE_RECORDS = 2_000_000
"""The persistent queue's bound: about 3 minutes of 10,000 log records a second (~1.3 GB of disk at most)."""


def pii_attributes(services: Services) -> list[str]:
    """Attributes any spec marks ``pii: high``: they may only leave the runtime pseudonymised.

    The guard matches attributes by name, whichever service sends them: a name one spec holds to be
    personal data is guarded for all."""
    return sorted({name for model in services.models for name, attr in model.attributes.items()
                   if attr.pii == "high"})


SEMCONV_ALIASES: dict[str, tuple[str, ...]] = {
    "user_id": ("enduser.id", "enduser.pseudo.id", "user.id"),
    "user_email": ("user.email", "email"),
    "email": ("user.email",),
    "user_name": ("user.name", "user.full_name", "enduser.name"),
    "session_id": ("session.id",),
}
"""Semantic-convention names of the same personal data, by the normalised name of a spec attribute."""
GUARD_COUNT_ATTRIBUTE = "obsgen.pii_guard.redacted"
"""Set on an item whose attributes, body or resource the guard changed: how many keys it dropped (plus one per
map or body whose free text it redacted)."""
REDACTED = "[redacted]"
TEXT_MARKS = (":", "=")
"""What ``GuardPatterns.text`` requires between a key and its value: a value without either is never redacted."""
TEXT_DELIMITERS = ("|", " ")
"""Key/value and pair delimiters rendering a map for the free-text gate: neither is in ``TEXT_MARKS``."""
KEPT = "$${1}"
"""The kept first group of a replacement; ``$$`` because the collector expands ``${...}`` in its config."""


def _tokens(name: str) -> list[str]:
    """``User_Id``, ``userId``, ``user.id``, ``user-id`` → ``["user", "id"]``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return [t.lower() for t in re.split(r"[._\-\s]+", spaced) if t]


def key_alternatives(attributes: list[str]) -> str:
    """RE2 alternatives matching each attribute's name and aliases in any case, with any or no separator."""
    names = sorted({alias for name in attributes
                    for alias in (name, *SEMCONV_ALIASES.get("_".join(_tokens(name)), ()))})
    return "|".join(sorted({"[._-]?".join(re.escape(t) for t in _tokens(n)) for n in names}))


@dataclass(frozen=True)
class GuardPatterns:
    key: str
    """A key (or a flattened key path) that names personal data."""
    nested: str
    """Such a key inside a map value, as ``ToKeyValueString`` renders nested maps (JSON)."""
    text: str
    """``key=value`` / ``"key": "value"`` in free text; group 1 is what stays."""


def guard_patterns(attributes: list[str]) -> GuardPatterns:
    alt = key_alternatives(attributes)
    return GuardPatterns(key=f"(?i)(?:^|[.])(?:{alt})$", nested=f'(?i)"(?:{alt})\\\\?":',
                         text=f"(?i)((?:{alt})[\"']?\\s*[:=]\\s*[\"']?)[^\\s\"',;&}}\\]]+")


def ottl(text: str) -> str:
    """An OTTL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pii_statement(context: str, attribute: str, target: str = "attributes") -> str:
    """OTTL: delete ``attribute`` unless it is a string of 64 lowercase hex characters (a pseudonym)."""
    value = f'{context}.{target}["{attribute}"]'
    return (f'delete_key({context}.{target}, "{attribute}") where {value} != nil and '
            f'not (IsString({value}) and IsMatch({value}, "{SHA256_HEX_PATTERN}"))')


def map_guard(context: str, target: str, attributes: list[str], patterns: GuardPatterns,
              keep_pseudonyms: bool = True, where: str = "") -> list[str]:
    """OTTL guarding one map (``context.target``): nested maps holding a personal-data key are flattened (so
    the key is seen), the spec's own attributes are kept only as pseudonyms, every other spelling or alias of
    them is dropped, free-text values are redacted; what it removed is added to ``cache["redacted"]``."""
    m, cache = f"{context}.{target}", f"{context}.cache"
    size = f'{cache}["{target}.size"]'
    given = f"{where} and " if where else ""
    when = f" where {where}" if where else ""
    # The map is rendered once, as it came (TEXT_DELIMITERS add no ":" or "="), for two cheap gates: a nested
    # map holding a personal-data key (a pattern with a literal first character), and free text, which
    # GuardPatterns.text can only match in a value holding ":" or "=" (a substring search: a regular
    # expression over the whole rendered map costs 15-30 us a record in Go's regexp, most of the
    # collector's CPU at 10,000 events/s). Flattening and deleting keys add neither character, so a map
    # that fails the text gate here has no value to redact below.
    text, kv, before = ottl(patterns.text), f'{cache}["{target}.text"]', f'{cache}["{target}.before"]'
    rendered = f"ToKeyValueString({m}, {', '.join(map(ottl, TEXT_DELIMITERS))})"
    gate = given + may_hold_text(kv)
    out = [f"set({kv}, {rendered}){when}",
           f"flatten({m}) where {given}IsMatch({kv}, {ottl(patterns.nested)})",
           f"set({size}, Len({m})){when}"]
    keep = attributes if keep_pseudonyms else []
    for name in keep:
        out.append(pii_statement(context, name, target))
        out.append(f'set({cache}["keep.{name}"], {m}["{name}"]) where {given}{m}["{name}"] != nil')
    out.append(f"delete_matching_keys({m}, {ottl(patterns.key)}){when}")
    out += [f'set({m}["{name}"], {cache}["keep.{name}"]) where {cache}["keep.{name}"] != nil' for name in keep]
    # Every value of a map that passed the text gate is matched; only a map the replacement changed counts.
    return [*out,
            f'set({cache}["redacted"], {cache}["redacted"] + {size} - Len({m})){when}',
            f"set({before}, {rendered}) where {gate}",
            f'replace_all_patterns({m}, "value", {text}, "{KEPT}{REDACTED}") where {gate}',
            f'set({cache}["redacted"], {cache}["redacted"] + 1) where {gate} and {rendered} != {before}']


def may_hold_text(subject: str) -> str:
    """OTTL: ``subject`` (a string) holds a character ``GuardPatterns.text`` needs (a substring search, cheap)."""
    return "(" + " or ".join(f"Index({subject}, {ottl(c)}) >= 0" for c in TEXT_MARKS) + ")"


def body_guard(patterns: GuardPatterns) -> list[str]:
    """OTTL for a log body: a string body has its ``key=value`` text redacted, a map body is guarded like
    attributes (no key of it is kept, pseudonym or not: the runtime never sends a map body)."""
    text, gate = ottl(patterns.text), f"IsString(log.body) and {may_hold_text('log.body')}"
    return [
        f'set(log.cache["redacted"], log.cache["redacted"] + 1) where {gate} and IsMatch(log.body, {text})',
        f'replace_pattern(log.body, {text}, "{KEPT}{REDACTED}") where {gate}',
        *map_guard("log", "body", [], patterns, keep_pseudonyms=False, where="IsMap(log.body)"),
    ]


def counted(context: str, statements: list[str]) -> list[str]:
    """``statements`` between zeroing the removal count and writing it to the item (when above zero)."""
    cache = f'{context}.cache["redacted"]'
    counter = f'{context}.attributes["{GUARD_COUNT_ATTRIBUTE}"]'
    return [f"set({cache}, 0)", *statements, f"set({counter}, {cache}) where {cache} > 0"]


def guard_statements(attributes: list[str]) -> dict[str, list[tuple[str, list[str]]]]:
    """The PII guard's OTTL per signal: (context, statements) groups, resource first."""
    patterns = guard_patterns(attributes)

    def group(context: str, *extra: str) -> tuple[str, list[str]]:
        return context, counted(context, [*map_guard(context, "attributes", attributes, patterns), *extra])

    return {
        "trace_statements": [group("resource"), group("span"), group("spanevent")],
        "log_statements": [group("resource"), group("log", *body_guard(patterns))],
        "metric_statements": [group("resource"), group("datapoint")],
    }


def collector_context(services: Services) -> dict[str, Any]:
    return {
        "service": services.names,
        "collector_version": image_tag("otel-collector"),
        "env_vars": [{"name": v.name, "default": v.default, "what": v.what} for v in COLLECTOR_ENV],
        "env": {v.key: v.reference for v in COLLECTOR_ENV},
        "pii_attributes": pii_attributes(services),
        "loki_batch": LOKI_BATCH,
        "loki_queue_records": f"{LOKI_QUEUE_RECORDS}",
        "pii_pattern": SHA256_HEX_PATTERN,
        "guard": guard_statements(pii_attributes(services)),
        "guard_count": GUARD_COUNT_ATTRIBUTE,
        "scrape_job": APP_SCRAPE_JOB,
        "loki_tenant": credentials.LOKI_TENANT,
        "loki_tenant_header": credentials.LOKI_TENANT_HEADER,
        "telemetry_job": COLLECTOR_TELEMETRY_JOB,
        "landing_files": LANDING_FILES,
        "landing_rotate_mb": LANDING_ROTATE_MB,
        "landing_group": LANDING_GROUP,
    }


def emit(services: Services) -> dict[str, str]:
    return {COLLECTOR_FILE: render("collector.yaml.j2", services, **collector_context(services))}
