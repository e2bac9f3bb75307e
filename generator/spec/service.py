"""The ``service``, ``kill_switches`` and ``retention`` sections."""

from __future__ import annotations

from typing import Any

from obsgen import model as m
from obsgen.spec.reader import MISSING, NAME, URL, Checker

STACK = "stack"
"""The owner of shared files in the output manifest, so no service may be called that."""


def parse_service(c: Checker, raw: Any) -> m.Service | None:
    p = ("service",)
    if raw is MISSING:
        return None  # already reported as a missing key
    d = c.mapping(raw, p, required=("name", "namespace", "runbook_url", "grafana_url"),
                  optional=("description",))
    if d is None:
        return None
    name = c.string(d.get("name"), p + ("name",), r"[a-z][a-z0-9-]*", "service name")
    namespace = c.string(d.get("namespace"), p + ("namespace",), NAME, "namespace")
    runbook = c.url(d.get("runbook_url"), p + ("runbook_url",))
    grafana = c.url(d.get("grafana_url"), p + ("grafana_url",), URL + "(?<!/)",
                    shape="an http(s) URL without a trailing /")
    description = c.text(d.get("description", ""), p + ("description",))
    if runbook is not None and "#" in runbook:
        c.error(p + ("runbook_url",), "holds a fragment (`#…`): each alert's link appends its own `#alert-name`",
                "remove the fragment (give one alert another page with its own `runbook_url`)")
        runbook = None
    if name == STACK:
        c.error(p + ("name",), f"`{STACK}` is reserved: the output manifest marks the files shared by all services "
                "with it", "choose another service name")
        return None
    if None in (name, namespace, runbook, grafana):
        return None
    return m.Service(str(name), str(namespace), str(description), str(runbook).rstrip("/"), str(grafana))


def parse_kill_switches(c: Checker, raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if c.mapping(raw, ("kill_switches",)) is None:
        return out
    for name, description in raw.items():
        p = ("kill_switches", name)
        if c.string(name, p, NAME, "kill-switch name") and c.string(description, p):
            out[name] = description
    return out


RETENTION_KEYS = ("raw_events", "aggregates", "errors", "critical_errors", "metrics", "late_arrival")
"""What the stack configs read: Loki's default and per-stream log retention, Prometheus' TSDB retention, the
aggregates' and late arrivals' windows. A misspelt key would silently drop a retention, so the set is closed."""


def parse_retention(c: Checker, raw: Any) -> dict[str, m.Duration]:
    out: dict[str, m.Duration] = {}
    if c.mapping(raw, ("retention",), optional=RETENTION_KEYS) is None:
        return out
    for name, value in raw.items():
        if name in RETENTION_KEYS and (duration := c.duration(value, ("retention", name))) is not None:
            out[name] = duration
    return out
