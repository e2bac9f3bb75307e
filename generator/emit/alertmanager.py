"""Alertmanager routing (``alerting/alertmanager.yml``), one config for every service of the tree.

Each service gets a route matching its ``service`` label, holding its P1–P4 severity routes and its
kill-switch route; its receivers are named ``<service>/<receiver>`` so two specs may both call a
receiver ``oncall-page``. Alerts whose ``service`` matches no spec reach ``UNROUTED``, a receiver with
no integrations (listed in Alertmanager's UI, never notified): every generated alert carries ``service``.
A spec alert that an SLO's burn-rate alert carries (``rules.carrier``: the SLO alert also fires for it)
pages through that alert only: its own route leads to ``CARRIED``, also without integrations, after its
kill-switch route. Inhibition compares ``service``, so it never crosses services.
"""

from __future__ import annotations

from typing import Any

from obsgen.emit.prometheus.rules import carrier
from obsgen.emit.render import Services, yaml_text
from obsgen.model import SEVERITIES, Model, Receiver

ALERTMANAGER_FILE = "alerting/alertmanager.yml"
UNROUTED = "obsgen-unrouted"
CARRIED = "obsgen-paged-by-slo-alert"
ROOT_GROUP_BY = ("alertname", "service")


def receiver_name(model: Model, name: str) -> str:
    """The Alertmanager name of the spec's receiver ``name``: prefixed with the service (``/`` is never in
    a service name, so prefixed names cannot collide)."""
    return f"{model.service.name}/{name}"


def carried_signals(model: Model) -> list[tuple[str, str]]:
    """(family, severity) of the spec alerts an SLO burn-rate alert carries."""
    return sorted({(a.indicator.name, a.severity) for a in model.alerts if carrier(model, a) is not None})


def _inhibit_rules() -> list[dict[str, Any]]:
    """P1 silences P2–P4 of the same family. A spec alert and the SLO alert carrying it need no rule:
    the spec alert does not page (``CARRIED``), and muting either would also mute a kill switch or a page."""
    return [{
        "source_matchers": ['severity="P1"'],
        "target_matchers": [f'severity=~"{"|".join(SEVERITIES[1:])}"'],
        "equal": ["service", "family"],
    }]


def _integration(receiver: Receiver) -> tuple[str, dict[str, Any]]:
    """The ``*_configs`` entry of a PagerDuty, Slack or e-mail receiver; secrets stay in their files."""
    options = dict(receiver.options)
    match receiver.kind:
        case "pagerduty":
            config: dict[str, Any] = {"routing_key_file": receiver.secret_file, "send_resolved": True,
                                      "severity": "{{ .CommonLabels.severity_class }}",
                                      "description": "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}"}
            if receiver.url:
                config["url"] = receiver.url
            return "pagerduty_configs", config
        case "slack":
            return "slack_configs", {"api_url_file": receiver.secret_file, "channel": options["channel"],
                                     "send_resolved": True,
                                     "title": "{{ .Status | toUpper }}: {{ .CommonLabels.alertname }}",
                                     "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}"}
        case _:
            config = {"to": options["to"], "from": options["from"], "smarthost": options["smarthost"],
                      "require_tls": options.get("require_tls", "true") == "true", "send_resolved": True}
            if "auth_username" in options:
                config["auth_username"] = options["auth_username"]
            if receiver.secret_file:
                config["auth_password_file"] = receiver.secret_file
            return "email_configs", config


def _receiver(model: Model, receiver: Receiver) -> dict[str, Any]:
    match receiver.kind:
        case "webhook":
            pass
        case _:
            key, config = _integration(receiver)
            return {"name": receiver_name(model, receiver.name), key: [config]}
    webhook: dict[str, Any] = {"url": receiver.url, "send_resolved": True}
    if receiver.bearer_token_file:
        webhook["http_config"] = {"authorization": {"type": "Bearer",
                                                    "credentials_file": receiver.bearer_token_file}}
    return {"name": receiver_name(model, receiver.name), "webhook_configs": [webhook]}


def service_route(model: Model) -> dict[str, Any]:
    """The route of one service: its kill-switch route first (if it has kill-switches), then one per severity."""
    routing = model.routing
    lowest = routing.severities[-1]
    routes: list[dict[str, Any]] = []
    if routing.kill_switch_webhook is not None:
        routes.append({
            # Kill-switch alerts also reach the kill-switch receiver; `continue` lets them page as usual.
            "matchers": ['kill_switch=~".+"'],
            "receiver": receiver_name(model, routing.kill_switch_webhook.name),
            "group_by": ["alertname", "service", "kill_switch"],
            "group_wait": "0s",
            "group_interval": "1m",
            "repeat_interval": "1h",
            "continue": True,
        })
    for family, severity in carried_signals(model):
        # The SLO alert of this family and severity fires for the spec alert and pages for it: one alert,
        # one notification. The spec alert still reaches its kill switch (the route above continues).
        routes.append({"matchers": [f'severity="{severity}"', f'family="{family}"', 'slo=""'],
                       "receiver": CARRIED})
    for route in routing.severities:
        routes.append({
            "matchers": [f'severity="{route.severity}"'],
            "receiver": receiver_name(model, route.receiver),
            "group_wait": route.group_wait.text,
            "group_interval": route.group_interval.text,
            "repeat_interval": route.repeat_interval.text,
        })
    return {
        "matchers": [f'service="{model.service.name}"'],
        "receiver": receiver_name(model, lowest.receiver),
        "group_by": list(routing.group_by),
        "group_wait": lowest.group_wait.text,
        "group_interval": lowest.group_interval.text,
        "repeat_interval": lowest.repeat_interval.text,
        "routes": routes,
    }


def alertmanager_config(services: Services) -> dict[str, Any]:
    receivers = [{"name": UNROUTED}]
    if any(carried_signals(model) for model in services.models):
        receivers.append({"name": CARRIED})
    for model in services.models:
        routing = model.routing
        receivers += [_receiver(model, r) for r in routing.all_receivers]
    return {
        "route": {
            "receiver": UNROUTED,
            "group_by": list(ROOT_GROUP_BY),
            "routes": [service_route(model) for model in services.models],
        },
        "inhibit_rules": _inhibit_rules(),
        "receivers": receivers,
    }


def emit(services: Services) -> dict[str, str]:
    return {ALERTMANAGER_FILE: yaml_text(services, alertmanager_config(services))}
