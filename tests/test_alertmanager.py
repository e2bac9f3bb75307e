"""Alertmanager routing from the spec: seed timings per severity, inhibition, secrets kept in files,
one route per service when several specs share a tree."""

from __future__ import annotations

from pathlib import Path

import yaml
from obsgen.emit import alertmanager
from obsgen.emit.render import Services
from obsgen.model import Model
from obsgen.spec import load_spec

from tests.support.specs import SpecCase

INVENTORY = Path(__file__).parent / "fixtures" / "specs" / "inventory.yaml"


def config(*models: Model) -> dict:
    return yaml.safe_load(alertmanager.emit(Services(models))[alertmanager.ALERTMANAGER_FILE])


def service_routes(model: Model) -> dict[str, dict]:
    (route,) = config(model)["route"]["routes"]
    assert route["matchers"] == [f'service="{model.service.name}"']
    return {r["matchers"][0]: r for r in route["routes"]}


def test_routes_carry_the_seed_timings(model: Model) -> None:
    routes = service_routes(model)
    p1 = routes['severity="P1"']
    assert (p1["group_wait"], p1["group_interval"], p1["repeat_interval"]) == ("10s", "1m", "30m")
    assert p1["receiver"] == "movie-recommender/oncall-page"
    assert routes['severity="P2"']["repeat_interval"] == "4h"  # re-notify by the 4-hour escalation
    assert routes['severity="P3"']["repeat_interval"] == "1d"


def test_routes_carry_each_spec_s_timings(spec_case: SpecCase) -> None:
    model = spec_case.model
    routes = service_routes(model)
    for severity in model.routing.severities:
        route = routes[f'severity="{severity.severity}"']
        assert route["receiver"] == f"{model.service.name}/{severity.receiver}"
        assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == (
            severity.group_wait.text, severity.group_interval.text, severity.repeat_interval.text)


def test_kill_switch_route_continues_to_the_severity_route(spec_case: SpecCase) -> None:
    first = next(iter(service_routes(spec_case.model).values()))
    assert first["matchers"] == ['kill_switch=~".+"']
    assert first["continue"] is True


def test_p1_inhibits_lower_severities_of_the_same_family(spec_case: SpecCase) -> None:
    rules = config(spec_case.model)["inhibit_rules"]
    assert {"source_matchers": ['severity="P1"'], "target_matchers": ['severity=~"P2|P3|P4"'],
            "equal": ["service", "family"]} in rules


def test_a_spec_alert_carried_by_an_slo_alert_pages_only_through_it(model: Model) -> None:
    """RecsysErrorRateHigh (P1 on errors) reaches its kill switch and otherwise a receiver without
    integrations: the error-rate SLO's P1 alert fires for it and pages. No inhibition between the two."""
    (route,) = config(model)["route"]["routes"]
    carried = [r for r in route["routes"] if r["matchers"] == ['severity="P1"', 'family="errors"', 'slo=""']]
    assert [r["receiver"] for r in carried] == [alertmanager.CARRIED]
    assert route["routes"][0]["matchers"] == ['kill_switch=~".+"'] and route["routes"][0]["continue"] is True
    assert route["routes"].index(carried[0]) < [r["matchers"] for r in route["routes"]].index(['severity="P1"'])
    assert {"name": alertmanager.CARRIED} in config(model)["receivers"]
    assert len(config(model)["inhibit_rules"]) == 1
    assert alertmanager.carried_signals(model) == [("errors", "P1")]


def test_credentials_are_read_from_files_never_inlined(spec_case: SpecCase) -> None:
    model = spec_case.model
    text = alertmanager.emit(Services((model,)))[alertmanager.ALERTMANAGER_FILE]
    receivers = {r["name"]: r for r in config(model)["receivers"]}
    hook = receivers[f"{model.service.name}/{model.routing.kill_switch_webhook.name}"]["webhook_configs"][0]
    assert hook["http_config"]["authorization"]["credentials_file"].startswith("/etc/alertmanager/secrets/")
    assert "credentials:" not in text and "password" not in text and "bearer_token:" not in text


def test_each_service_routes_to_its_own_receivers_even_with_the_same_names(model: Model) -> None:
    inventory = load_spec(INVENTORY)
    both = config(model, inventory)
    assert [r["matchers"] for r in both["route"]["routes"]] == [['service="movie-recommender"'],
                                                                ['service="inventory"']]
    receivers = {r["name"]: r.get("webhook_configs", [{}])[0].get("url") for r in both["receivers"]}
    # both specs call a receiver oncall-page; each keeps its own URL under its own name
    assert receivers["movie-recommender/oncall-page"] == "http://alert-sink:9096/oncall-page"
    assert receivers["inventory/oncall-page"] == "http://alert-sink:9096/inventory-oncall-page"
    assert both["route"]["receiver"] == alertmanager.UNROUTED and receivers[alertmanager.UNROUTED] is None
    # a service's route and receivers are the same whether or not the other service is there
    assert both["route"]["routes"][1] == config(inventory)["route"]["routes"][0]
    assert all(r["equal"][0] == "service" for r in both["inhibit_rules"])  # inhibition never crosses services
