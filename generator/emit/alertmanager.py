"""Alertmanager routing (``alerting/alertmanager.yml``), one config for every service of the tree.

Each service gets a route matching its ``service`` label, holding its P1–P4 severity routes and its
kill-switch route; its receivers are named ``<service>/<receiver>`` so two specs may both call a
receiver ``oncall-page``. Alerts whose ``service`` matches no spec reach ``UNROUTED``, a receiver with
no integrations (listed in Alertmanager's UI, never notified): every generated alert carries ``service``.
Inhibition compares ``service``, so it never crosses services.
"""

from __future__ import annotations

from typing import Any

from obsgen.emit.prometheus.rules import budgeted_slos, burn_severities
from obsgen.emit.render import Services, yaml_text
from obsgen.model import SEVERITIES, Model, Receiver

ALERTMANAGER_FILE = "alerting/alertmanager.yml"
UNROUTED = "obsgen-unrouted"
ROOT_GROUP_BY = ("alertname", "service")


def receiver_name(model: Model, name: str) -> str:
    """The Alertmanager name of the spec's receiver ``name``: prefixed with the service (``/`` is never in
    a service name, so prefixed names cannot collide)."""
    return f"{model.service.name}/{name}"


def shared_signals(model: Model) -> list[tuple[str, str]]:
    """(family, severity) pairs on which a spec alert and an SLO burn-rate alert watch the same indicator."""
    slo_pairs = {(slo.indicator.name, severity) for slo in budgeted_slos(model) for severity in burn_severities()}
    return sorted({(a.indicator.name, a.severity) for a in model.alerts} & slo_pairs)


def _inhibit_rules(services: Services) -> list[dict[str, Any]]:
    """P1 silences P2–P4 of the same family; a spec alert silences the SLO burn-rate alert of the same
    family (indicator) and severity, so a sustained burn both see pages once. The spec alert wins because
    it may carry a kill switch, which inhibition would otherwise mute too."""
    rules: list[dict[str, Any]] = [{
        "source_matchers": ['severity="P1"'],
        "target_matchers": [f'severity=~"{"|".join(SEVERITIES[1:])}"'],
        "equal": ["service", "family"],
    }]
    if any(shared_signals(model) for model in services.models):
        rules.append({
            "source_matchers": ['slo=""'],
            "target_matchers": ['slo=~".+"'],
            "equal": ["service", "family", "severity"],
        })
    return rules


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
    for family, severity in shared_signals(model):
        # A spec alert and an SLO alert on one signal share a group (one incident, one PagerDuty
        # dedup key): whichever fires first opens it, the other joins it instead of paging again.
        route = routing.route(severity)
        routes.append({
            "matchers": [f'severity="{severity}"', f'family="{family}"'],
            "receiver": receiver_name(model, route.receiver),
            "group_by": ["service", "family"],
            "group_wait": route.group_wait.text,
            "group_interval": route.group_interval.text,
            "repeat_interval": route.repeat_interval.text,
        })
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
    for model in services.models:
        routing = model.routing
        receivers += [_receiver(model, r) for r in routing.all_receivers]
    return {
        "route": {
            "receiver": UNROUTED,
            "group_by": list(ROOT_GROUP_BY),
            "routes": [service_route(model) for model in services.models],
        },
        "inhibit_rules": _inhibit_rules(services),
        "receivers": receivers,
    }


def emit(services: Services) -> dict[str, str]:
    return {ALERTMANAGER_FILE: yaml_text(services, alertmanager_config(services))}
