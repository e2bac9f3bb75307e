"""Alertmanager routing (``alerting/alertmanager.yml``): P1–P4 routes, inhibition, kill-switch webhook."""

from __future__ import annotations

from typing import Any

from obsgen.emit.prometheus.rules import budgeted_slos, burn_windows
from obsgen.emit.render import yaml_text
from obsgen.model import SEVERITIES, Model, Receiver

ALERTMANAGER_FILE = "alerting/alertmanager.yml"


def _inhibit_rules(model: Model) -> list[dict[str, Any]]:
    """P1 silences P2–P4 of the same family; a faster burn window silences the slower ones."""
    rules: list[dict[str, Any]] = [{
        "source_matchers": ['severity="P1"'],
        "target_matchers": [f'severity=~"{"|".join(SEVERITIES[1:])}"'],
        "equal": ["service", "family"],
    }]
    if budgeted_slos(model):
        windows = [bw.long.text for bw in burn_windows()]
        for i, faster in enumerate(windows[:-1]):
            rules.append({
                "source_matchers": [f'burn_window="{faster}"'],
                "target_matchers": [f'burn_window=~"{"|".join(windows[i + 1:])}"'],
                "equal": ["service", "slo"],
            })
    return rules


def _receiver(receiver: Receiver) -> dict[str, Any]:
    webhook: dict[str, Any] = {"url": receiver.url, "send_resolved": True}
    if receiver.bearer_token_file:
        webhook["http_config"] = {"authorization": {"type": "Bearer",
                                                    "credentials_file": receiver.bearer_token_file}}
    return {"name": receiver.name, "webhook_configs": [webhook]}


def alertmanager_config(model: Model) -> dict[str, Any]:
    routing = model.routing
    lowest = routing.severities[-1]
    routes: list[dict[str, Any]] = [{
        # Kill-switch alerts also reach the kill-switch receiver; `continue` lets them page as usual.
        "matchers": ['kill_switch=~".+"'],
        "receiver": routing.kill_switch_webhook.name,
        "group_by": ["alertname", "service", "kill_switch"],
        "group_wait": "0s",
        "group_interval": "1m",
        "repeat_interval": "1h",
        "continue": True,
    }]
    for route in routing.severities:
        routes.append({
            "matchers": [f'severity="{route.severity}"'],
            "receiver": route.receiver,
            "group_wait": route.group_wait.text,
            "group_interval": route.group_interval.text,
            "repeat_interval": route.repeat_interval.text,
        })
    receivers = [_receiver(r) for r in (*routing.receivers, routing.kill_switch_webhook)]
    return {
        "route": {
            "receiver": lowest.receiver,
            "group_by": list(routing.group_by),
            "group_wait": lowest.group_wait.text,
            "group_interval": lowest.group_interval.text,
            "repeat_interval": lowest.repeat_interval.text,
            "routes": routes,
        },
        "inhibit_rules": _inhibit_rules(model),
        "receivers": receivers,
    }


def emit(model: Model) -> dict[str, str]:
    return {ALERTMANAGER_FILE: yaml_text(model, alertmanager_config(model))}
