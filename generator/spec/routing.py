"""The ``routing`` section: Alertmanager routes per severity and receivers.

Only ``receivers`` is required. A severity that is not listed (or a timing a listed one leaves out) takes
the defaults of ``DEFAULT_ROUTES``, and its receiver is ``default_receiver`` (needed only when there are
several receivers). ``kill_switch_webhook`` is needed exactly when the spec declares ``kill_switches``.
"""

from __future__ import annotations

import re
from typing import Any

from obsgen import model as m
from obsgen.spec.reader import MISSING, SERVICE_URL, Checker

TIMINGS = ("response", "group_wait", "group_interval", "repeat_interval")
DEFAULT_GROUP_BY = ("alertname", "service", "slo")
DEFAULT_ROUTES: dict[str, dict[str, str]] = {
    # severity: class, response time, escalation, and Alertmanager's grouping and re-notification timings
    "P1": {"class": "critical", "response": "15m", "escalation": "30m", "group_wait": "10s", "group_interval": "1m",
           "repeat_interval": "30m"},
    "P2": {"class": "warning", "response": "1h", "escalation": "4h", "group_wait": "30s", "group_interval": "5m",
           "repeat_interval": "4h"},
    "P3": {"class": "warning", "response": "4h", "escalation": "1d", "group_wait": "1m", "group_interval": "15m",
           "repeat_interval": "1d"},
    "P4": {"class": "info", "response": "1d", "group_wait": "5m", "group_interval": "1h", "repeat_interval": "3d"},
}
RECEIVER_NAME = r"[a-z][a-z0-9-]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
RECEIVER_URL_SHAPE = "http(s)://host[:port]/path without user:password@"


def parse_routing(c: Checker, raw: Any, kill_switches: dict[str, str]) -> m.Routing | None:
    p = ("routing",)
    if raw is MISSING:
        return None  # already reported as a missing key
    d = c.mapping(raw, p, required=("receivers",),
                  optional=("group_by", "severities", "default_receiver", "kill_switch_webhook"))
    if d is None:
        return None
    group_by = _group_by(c, d["group_by"], p + ("group_by",)) if "group_by" in d else DEFAULT_GROUP_BY
    receivers: list[m.Receiver] = []
    if c.mapping(d.get("receivers"), p + ("receivers",)) is not None:
        for name, spec in d["receivers"].items():
            rp = p + ("receivers", name)
            if c.string(name, rp, RECEIVER_NAME, "receiver name"):
                kind = next((k for k in INTEGRATIONS if isinstance(spec, dict) and k in spec), None)
                receiver = (_integration(c, name, kind, spec, rp) if kind
                            else _receiver(c, name, spec, rp, token_required=False))
                if receiver:
                    receivers.append(receiver)
        if not d["receivers"]:
            c.error(p + ("receivers",), "no receivers", "declare at least one, e.g. `team: {url: http://...}`")
    names = [r.name for r in receivers]
    default = None
    if "default_receiver" in d:
        default = c.reference(d["default_receiver"], p + ("default_receiver",), names, "routing.receivers",
                              "a receiver")
    elif len(names) == 1:
        default = names[0]
    severities = d.get("severities", {})
    routes: list[m.SeverityRoute] = []
    if c.mapping(severities, p + ("severities",)) is not None:
        for severity in severities:
            c.choice(severity, p + ("severities", severity), m.SEVERITIES)
        for severity in m.SEVERITIES:
            route = _route(c, severity, severities.get(severity, {}), p + ("severities", severity), names, default)
            if route is not None:
                routes.append(route)
        unrouted = [s for s in m.SEVERITIES if s not in severities or
                    (isinstance(severities[s], dict) and "receiver" not in severities[s])]
        if default is None and len(names) > 1 and unrouted and "default_receiver" not in d:
            verb = "names" if len(unrouted) == 1 else "name"
            c.error(p + ("severities",), f"{', '.join(unrouted)} {verb} no `receiver` and there are several receivers",
                    "add `default_receiver:` under `routing` (or a `receiver:` to each of them)")
    webhook = None
    if "kill_switch_webhook" in d:
        webhook = _receiver(c, "kill-switch", d["kill_switch_webhook"], p + ("kill_switch_webhook",),
                            token_required=True)
        if webhook is None:
            return None
    elif kill_switches:
        c.error(p, "missing required key `kill_switch_webhook`: the spec has kill_switches",
                "add `kill_switch_webhook: {url: ..., bearer_token_file: ...}` (the receiver that flips them)")
    if len(routes) != len(m.SEVERITIES) or not receivers:
        return None
    # Without kill-switches no alert carries a `kill_switch` label: a webhook would get nothing, so none is emitted.
    return m.Routing(group_by, tuple(routes), tuple(receivers), webhook if kill_switches else None)


def _group_by(c: Checker, raw: Any, p: tuple) -> tuple[str, ...]:
    """Alert label names as Alertmanager accepts them, or ``[...]`` alone (group by every label)."""
    names = c.string_list(raw, p, allow_empty=False)
    for i, name in enumerate(raw if isinstance(raw, list) else ()):
        if not isinstance(name, str):
            continue  # reported by string_list
        if name == "..." and len(raw) > 1:
            c.error(p + (i,), "`...` (every label) cannot be listed with other labels", "write `[...]` alone")
        elif name != "..." and not re.fullmatch(LABEL_NAME, name):
            c.error(p + (i,), f"`{name}` is not a Prometheus label name",
                    f"use a name matching {LABEL_NAME} (the label of `http.route` is `http_route`)")
    return tuple(names)


def _route(c: Checker, severity: str, raw: Any, sp: tuple, receivers: list[str],
           default: str | None) -> m.SeverityRoute | None:
    """One severity's route: as listed, each key left out taken from ``DEFAULT_ROUTES``."""
    sd = c.mapping(raw, sp, optional=("class", "response", "receiver", "escalation") + TIMINGS[1:])
    if sd is None:
        return None
    fallback = DEFAULT_ROUTES[severity]
    klass = c.choice(sd.get("class", fallback["class"]), sp + ("class",), m.SEVERITY_CLASSES)
    times = {k: c.duration(sd.get(k, fallback[k]), sp + (k,)) for k in TIMINGS}
    escalation = None
    if "escalation" in sd or "escalation" in fallback:
        escalation = c.duration(sd.get("escalation", fallback.get("escalation")), sp + ("escalation",))
    receiver = default  # None: reported once for all severities by the caller
    if "receiver" in sd:
        receiver = c.reference(sd["receiver"], sp + ("receiver",), receivers, "routing.receivers", "a receiver")
    gw, gi, ri, response = times["group_wait"], times["group_interval"], times["repeat_interval"], times["response"]
    if escalation and ri and ri.seconds > escalation.seconds:
        c.error(sp + ("repeat_interval",), f"repeat_interval {ri} is longer than the escalation time "
                f"{escalation}", "re-notify at or before the escalation deadline")
    if gw and response and gw.seconds >= response.seconds:
        c.error(sp + ("group_wait",), f"group_wait {gw} uses up the response time",
                "use a group_wait well below the response time")
    if klass is None or receiver is None or gw is None or gi is None or ri is None or response is None:
        return None
    return m.SeverityRoute(severity=severity, severity_class=klass, response=response, receiver=receiver,
                           group_wait=gw, group_interval=gi, repeat_interval=ri, escalation=escalation)


def _receiver(c: Checker, name: str, raw: Any, p: tuple, token_required: bool) -> m.Receiver | None:
    d = c.mapping(raw, p, required=("url",) + (("bearer_token_file",) if token_required else ()),
                  optional=() if token_required else ("bearer_token_file",))
    if d is None:
        return None
    url = c.url(d.get("url"), p + ("url",), SERVICE_URL, "URL without credentials", RECEIVER_URL_SHAPE)
    token = None
    if "bearer_token_file" in d:
        token = c.string(d["bearer_token_file"], p + ("bearer_token_file",), r"/\S+", "absolute path")
        if token is None:
            return None
    return m.Receiver(name, url, token) if url else None


INTEGRATIONS = {
    # kind: (required keys, optional keys, the secret's file key)
    "pagerduty": (("routing_key_file",), ("url",), "routing_key_file"),
    "slack": (("api_url_file", "channel"), (), "api_url_file"),
    "email": (("to", "from", "smarthost"), ("auth_username", "auth_password_file", "require_tls"),
              "auth_password_file"),
}
"""Receivers other than webhooks: ``name: {pagerduty: {...}}``. Secrets only from files (``*_file``)."""
TEMPLATED = ("channel", "to", "from")
"""Options Alertmanager renders as templates when it sends a notification."""


def _integration(c: Checker, name: str, kind: str, raw: dict, p: tuple) -> m.Receiver | None:
    if c.mapping(raw, p, required=(kind,)) is None or len(raw) != 1:
        return None
    required, optional, secret_key = INTEGRATIONS[kind]
    kp = p + (kind,)
    inline = secret_key.removesuffix("_file")
    if isinstance(raw[kind], dict) and inline in raw[kind]:
        c.error(kp + (inline,), "secrets are never written into the spec or the generated config",
                f"put it in a file readable by Alertmanager and name that file with `{secret_key}`")
        return None
    d = c.mapping(raw[kind], kp, required=required, optional=optional)
    if d is None or any(k not in d for k in required):
        return None
    options: dict[str, str] = {}
    for key in (*required, *optional):
        if key not in d or key == secret_key:
            continue
        if key == "require_tls":
            flag = c.boolean(d[key], kp + (key,))
            if flag is not None:
                options[key] = "true" if flag else "false"
            continue
        if key == "url":
            url = c.url(d[key], kp + (key,), SERVICE_URL, "URL without credentials", RECEIVER_URL_SHAPE)
            if url is None:
                return None
            options[key] = url
            continue
        pattern, what = {"smarthost": (r"[^\s:]+:\d+", "host:port"), "to": (r"[^\s@]+@[^\s@]+", "e-mail address"),
                         "from": (r"[^\s@]+@[^\s@]+", "e-mail address"),
                         "channel": (r"\S+", "Slack channel")}.get(key, (None, ""))
        value = c.string(d[key], kp + (key,), pattern, what)
        if value is None:
            return None
        if key in TEMPLATED and "{{" in value:
            c.error(kp + (key,), f"`{value}` holds `{{{{`, which starts an Alertmanager template: every notification "
                    "to this receiver would fail to render", "remove the braces (obsgen writes the value as it is)")
            return None
        options[key] = value
    secret = None
    if secret_key in d:
        secret = c.string(d[secret_key], kp + (secret_key,), r"/\S+", "absolute path")
        if secret is None:
            return None
    url = options.pop("url", "")
    return m.Receiver(name, url, kind=kind, options=m.frozen_map(options), secret_file=secret)


def stand_in_routing() -> m.Routing:
    """The default routes to one receiver: used only to check the rest of a spec whose ``routing`` has errors."""
    receiver = m.Receiver("default", "http://receiver.invalid")
    routes = tuple(m.SeverityRoute(severity=s, severity_class=d["class"], response=m.parse_duration(d["response"]),
                                   receiver=receiver.name, group_wait=m.parse_duration(d["group_wait"]),
                                   group_interval=m.parse_duration(d["group_interval"]),
                                   repeat_interval=m.parse_duration(d["repeat_interval"]))
                   for s, d in DEFAULT_ROUTES.items())
    return m.Routing(DEFAULT_GROUP_BY, routes, (receiver,), None)
