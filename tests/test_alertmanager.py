"""Alertmanager routing from the spec: seed timings per severity, inhibition, secrets kept in files.

Tests taking ``spec_case`` run on every spec of ``SPEC_CASES``.
"""

from __future__ import annotations

import yaml
from obsgen.emit import alertmanager
from obsgen.model import Model

from tests.support.specs import SpecCase


def config(model: Model) -> dict:
    return yaml.safe_load(alertmanager.emit(model)[alertmanager.ALERTMANAGER_FILE])


def test_routes_carry_the_seed_timings(model: Model) -> None:
    routes = {r["matchers"][0]: r for r in config(model)["route"]["routes"]}
    p1 = routes['severity="P1"']
    assert (p1["group_wait"], p1["group_interval"], p1["repeat_interval"]) == ("10s", "1m", "30m")
    assert routes['severity="P2"']["repeat_interval"] == "4h"  # re-notify by the 4-hour escalation
    assert routes['severity="P3"']["repeat_interval"] == "1d"


def test_routes_carry_each_spec_s_timings(spec_case: SpecCase) -> None:
    routes = {r["matchers"][0]: r for r in config(spec_case.model)["route"]["routes"]}
    for severity in spec_case.model.routing.severities:
        route = routes[f'severity="{severity.severity}"']
        assert route["receiver"] == severity.receiver
        assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
            severity.group_wait.text, severity.group_interval.text, severity.repeat_interval.text)


def test_kill_switch_route_continues_to_the_severity_route(spec_case: SpecCase) -> None:
    first = config(spec_case.model)["route"]["routes"][0]
    assert first["matchers"] == ['kill_switch=~".+"']
    assert first["continue"] is True


def test_p1_inhibits_lower_severities_of_the_same_family(spec_case: SpecCase) -> None:
    rules = config(spec_case.model)["inhibit_rules"]
    assert {"source_matchers": ['severity="P1"'], "target_matchers": ['severity=~"P2|P3|P4"'],
            "equal": ["service", "family"]} in rules


def test_faster_burn_windows_inhibit_slower_ones(spec_case: SpecCase) -> None:
    rules = [r for r in config(spec_case.model)["inhibit_rules"] if "burn_window" in r["source_matchers"][0]]
    assert [r["source_matchers"][0] for r in rules] == ['burn_window="1h"', 'burn_window="6h"', 'burn_window="1d"']
    assert rules[0]["target_matchers"] == ['burn_window=~"6h|1d|3d"']
    assert all(r["equal"] == ["service", "slo"] for r in rules)


def test_credentials_are_read_from_files_never_inlined(spec_case: SpecCase) -> None:
    model = spec_case.model
    text = alertmanager.emit(model)[alertmanager.ALERTMANAGER_FILE]
    receivers = {r["name"]: r for r in config(model)["receivers"]}
    hook = receivers["kill-switch"]["webhook_configs"][0]
    assert hook["http_config"]["authorization"]["credentials_file"].startswith("/etc/alertmanager/secrets/")
    assert "credentials:" not in text and "password" not in text and "bearer_token:" not in text
