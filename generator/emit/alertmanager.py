"""Alertmanager routing (``alerting/alertmanager.yml``), one config for every service of the tree.

Each service gets a route matching its ``service`` label, holding its P1–P4 severity routes and its
kill-switch route; its receivers are named ``<service>/<receiver>`` so two specs may both call a
receiver ``oncall-page``. Alerts whose ``service`` matches no spec reach ``UNROUTED``, a receiver with
no integrations (listed in Alertmanager's UI, never notified): every generated alert carries ``service``.
Inhibition compares ``service``, so it never crosses services.
"""

from __future__ import annotations

from typing import Any

from obsgen.emit.prometheus.rules import budgeted_slos, burn_windows
from obsgen.emit.render import Services, yaml_text
from obsgen.model import SEVERITIES, Model, Receiver

ALERTMANAGER_FILE = "alerting/alertmanager.yml"
UNROUTED = "obsgen-unrouted"
ROOT_GROUP_BY = ("alertname", "service")


def receiver_name(model: Model, name: str) -> str:
    """The Alertmanager name of the spec's receiver ``name``: prefixed with the service (``/`` is never in
    a service name, so prefixed names cannot collide)."""
    return f"{model.service.name}/{name}"


def _inhibit_rules(services: Services) -> list[dict[str, Any]]:
    """P1 silences P2–P4 of the same family; a faster burn window silences the slower ones."""
    rules: list[dict[str, Any]] = [{
        "source_matchers": ['severity="P1"'],
        "target_matchers": [f'severity=~"{"|".join(SEVERITIES[1:])}"'],
        "equal": ["service", "family"],
    }]
    if any(budgeted_slos(model) for model in services.models):
        windows = [bw.long.text for bw in burn_windows()]
        for i, faster in enumerate(windows[:-1]):
            rules.append({
                "source_matchers": [f'burn_window="{faster}"'],
                "target_matchers": [f'burn_window=~"{"|".join(windows[i + 1:])}"'],
                "equal": ["service", "slo"],
            })
    return rules


def _receiver(model: Model, receiver: Receiver) -> dict[str, Any]:
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
