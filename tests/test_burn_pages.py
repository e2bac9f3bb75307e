"""One incident, one page: burn scenarios replayed through the real Alertmanager with the generated config.

A 20 % burn for 15 minutes and a 2 % burn for 2 hours on the built-in spec's error ratio fire both the
error-rate SLO's page (1h/5m, then 6h/30m) and the spec's own ``RecsysErrorRateHigh`` (P1, > 1 % for 10m),
one before the other in one scenario and the other way round in the other. The SLO's page carries the spec
alert (it also fires while the spec alert fires), and the spec alert reaches only its kill switch, so the
pager sees one alert from the first minute either fires to the last. The minute-by-minute firing of both
comes from the generator's arithmetic (``burnrate``); promtool 3 (the stack's Prometheus) then pins every
start and end of it on the generated rules, so the sequence replayed is the one the rules produce.

The replay pushes the alerts to Alertmanager the way Prometheus does (firing alerts re-sent every
evaluation with a short ``endsAt``, a stopped one sent once with ``endsAt`` now), one simulated minute per
``TICK`` seconds, to the generated config with its ``group_wait`` and ``group_interval`` scaled to that clock
(``_scaled``: 1 minute → ``TICK``), so a change Alertmanager would notify in real time is notified here too.
``repeat_interval`` (P1: a reminder every 30 minutes of an open page, the seed's timing) is left as it is:
reminders are not new pages. Counted: every POST to the page receiver; exactly one is ``firing`` and one,
the last, ``resolved``.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from obsgen.emit.alertmanager import ALERTMANAGER_FILE, receiver_name
from obsgen.emit.prometheus import burnrate, ruletests
from obsgen.emit.prometheus import promql as q
from obsgen.emit.prometheus.rules import (
    RECORDING_FILE,
    RULE_FILES,
    SLO_ALERTS_FILE,
    alert_rule,
    rule_path,
    slo_alert_name,
    slo_alert_rules,
    slo_windows,
)
from obsgen.emit.prometheus.templates import render_template
from obsgen.model import Model, parse_duration

from tests.conftest import find_tool
from tests.support.stack import ROOT, Alertmanager, WebhookSink, http, started
from tests.test_promtool import run

TICK = 0.05
"""Real seconds per simulated minute of the replay."""
HISTORY = 360
"""Minutes of 0.05 % baseline before each burn: the page's longest window (6h) is full."""
SCENARIOS = {"20% for 15m": (Fraction(1, 5), 15), "2% for 2h": (Fraction(1, 50), 120)}
SPEC_ALERT_FIRST = {"20% for 15m": False, "2% for 2h": True}
"""Which fires first: the burn condition (and it outlasts the spec alert) or the spec alert (the burn outlasts it)."""


def _alerts(model: Model) -> tuple[Any, Any]:
    slo = next(s for s in model.slos if s.name == "error_rate")
    static = next(a for a in model.alerts if a.name == "RecsysErrorRateHigh")
    return slo, static


def _sequence(model: Model, burn: Fraction, minutes: int) -> tuple[burnrate.Scenario, dict[str, list[bool]]]:
    """Per minute, whether the SLO page and the spec alert fire (Prometheus 3's ranges)."""
    slo, static = _alerts(model)
    pairs = tuple(ruletests.slo_pairs(slo))
    found = burnrate.scenario(f"{burn} for {minutes}m", Fraction(slo.error_budget), pairs,
                              ((None, HISTORY), (burn, minutes), (None, 90)))
    timeline = burnrate.Timeline(found.runs)
    fired = burnrate.threshold_firing(timeline, static.window.seconds // 60, Fraction(static.threshold),
                                      static.for_.seconds // 60)
    # The page carries the spec alert: promtool evaluates the spec's alerts group first, so at the same minute.
    states = {"page": [burn or spec for burn, spec in zip(found.states["P1"], fired, strict=True)], "static": fired}
    return found, states


def _transitions(states: list[bool]) -> list[int]:
    return [t for t in range(1, len(states)) if states[t] != states[t - 1]]


def _promtool_pins(model: Model, found: burnrate.Scenario, states: dict[str, list[bool]], work: Path) -> None:
    """promtool 3 checks the sequence at every start and end (and the minute before) of both alerts."""
    slo, static = _alerts(model)
    timeline = burnrate.Timeline(found.runs)
    page_rule = next(r for r in slo_alert_rules(model, slo) if r["labels"]["severity"] == "P1")
    static_rule = alert_rule(model, static)
    checks = []
    for key, name in (("page", slo_alert_name(model, slo)), ("static", static.name)):
        for t in sorted({m for s in _transitions(states[key]) for m in (s - 1, s)}):
            if not states[key][t]:
                checks.append({"eval_time": f"{t}m", "alertname": name, "exp_alerts": []})
                continue
            if key == "page":
                labels = {**page_rule["labels"], "service": model.service.name, "slo": slo.name}
                notes = page_rule["annotations"]
            else:
                labels = {**static_rule["labels"]}
                value = float(timeline.window(t, static.window.seconds // 60, True) or 0)
                notes = {k: render_template(v, labels, value) for k, v in static_rule["annotations"].items()}
            checks.append({"eval_time": f"{t}m", "alertname": name,
                           "exp_alerts": [{"exp_labels": labels, "exp_annotations": notes}]})
    # The committed rule files, cut down to the groups of this signal (the others only cost promtool time).
    ns = model.service.namespace
    wanted = {f"{ns}-indicator-{slo.indicator.name}", f"{ns}-slo-{slo.name}", f"{ns}-alerts",
              f"{ns}-slo-alerts-{slo.name}"}
    groups = {name: [g for g in _groups(model, name) if g["name"] in wanted] for name in RULE_FILES}
    _promtool(work, groups, [{"interval": "1m", "input_series": ruletests._slo_series(model, slo, found.runs),
                              "alert_rule_test": checks}], "promtool3")


def _groups(model: Model, name: str) -> list[dict[str, Any]]:
    """The groups of a committed rule file of ``model``."""
    return yaml.safe_load((ROOT / rule_path(model, name)).read_text())["groups"]


def _promtool(work: Path, groups: dict[str, list[dict[str, Any]]], tests: list[dict[str, Any]], tool: str) -> None:
    """``tool test rules`` on ``tests`` over these groups per rule file, evaluated in file order every minute."""
    for name, kept in groups.items():
        (work / name).write_text(yaml.safe_dump({"groups": kept}))
    test = {"rule_files": list(groups), "evaluation_interval": "1m",
            "group_eval_order": [g["name"] for kept in groups.values() for g in kept], "tests": tests}
    (work / "sequence_test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = run(find_tool(tool), "test", "rules", str(work / "sequence_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def _push(url: str, alerts: list[dict[str, Any]], auth: dict[str, str]) -> None:
    status, body = http(f"{url}/api/v2/alerts", json.dumps(alerts).encode(),
                        {"Content-Type": "application/json", **auth})
    assert status == 200, (status, body)


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _replay(model: Model, states: dict[str, list[bool]], url: str, auth: dict[str, str]) -> None:
    slo, static = _alerts(model)
    page_rule = next(r for r in slo_alert_rules(model, slo) if r["labels"]["severity"] == "P1")
    labels = {"page": {"alertname": slo_alert_name(model, slo), **page_rule["labels"]},
              "static": {"alertname": static.name, **alert_rule(model, static)["labels"]}}
    started_at: dict[str, datetime] = {}
    first = min(t for s in states.values() for t, on in enumerate(s) if on)
    for t in range(first, len(states["page"])):
        now = datetime.now(UTC)
        batch = []
        for key, seq in states.items():
            if seq[t]:
                started_at.setdefault(key, now)
                batch.append({"labels": labels[key], "startsAt": _stamp(started_at[key]),
                              "endsAt": _stamp(now + timedelta(seconds=4 * TICK + 1))})
            elif key in started_at:  # it just stopped: Prometheus sends it resolved once
                batch.append({"labels": labels[key], "startsAt": _stamp(started_at.pop(key)), "endsAt": _stamp(now)})
        if batch:
            _push(url, batch, auth)
        time.sleep(TICK)


def _scaled(config_file: Path, urls: dict[str, str], tokens: dict[str, Path]) -> None:
    """The generated config with the sink's URLs and token files, every ``group_wait`` and ``group_interval``
    scaled to the replay's clock (one minute → ``TICK`` seconds); ``repeat_interval`` as generated."""
    config = yaml.safe_load((ROOT / ALERTMANAGER_FILE).read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = urls[receiver["name"]]
            hook["http_config"]["authorization"]["credentials_file"] = str(tokens[receiver["name"]])
    routes = [config["route"]]
    while routes:
        route = routes.pop()
        for key in ("group_wait", "group_interval"):
            if key in route:
                seconds = 0 if route[key] == "0s" else parse_duration(route[key]).seconds
                route[key] = f"{round(seconds * TICK / 60 * 1000)}ms"
        routes += route.get("routes", [])
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_burn_pages_exactly_once_through_alertmanager(model: Model, tmp_path: Path, scenario: str) -> None:
    burn, minutes = SCENARIOS[scenario]
    found, states = _sequence(model, burn, minutes)
    assert all(any(s) for s in states.values()), "both the SLO page and the spec alert fire in this scenario"
    burning, spec = burnrate.starts(found.states["P1"]), burnrate.starts(states["static"])
    assert (spec[0] < burning[0]) is SPEC_ALERT_FIRST[scenario], (burning, spec)
    assert len(_transitions(states["page"])) == 2, "the page fires once and resolves once: no handover gap"
    _promtool_pins(model, found, states, tmp_path)
    config = yaml.safe_load((ROOT / ALERTMANAGER_FILE).read_text())
    receivers = [r["name"] for r in config["receivers"] if r.get("webhook_configs")]
    tokens = {}
    for name in receivers:
        tokens[name] = tmp_path / "tokens" / name.replace("/", "_")
        tokens[name].parent.mkdir(exist_ok=True)
        tokens[name].write_text("token\n")
    sink = WebhookSink()
    page = f"/{receiver_name(model, model.routing.route('P1').receiver)}"
    switch = f"/{receiver_name(model, model.routing.kill_switch_webhook.name)}"
    urls = {n: f"{sink.url}/{n}" for n in receivers}
    try:
        alertmanager = Alertmanager(tmp_path, urls, tokens)
        _scaled(alertmanager.config_file, urls, tokens)
        with started(alertmanager):
            _replay(model, states, alertmanager.url, alertmanager.auth)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and [n.body["status"] for n in sink.received
                                                   if n.path == page][-1:] != ["resolved"]:
                time.sleep(0.1)
    finally:
        sink.stop()
    pages = [n.body for n in sink.received if n.path == page]
    statuses = [p["status"] for p in pages]
    assert statuses == ["firing", "resolved"], (scenario, statuses)
    assert {a["labels"]["alertname"] for p in pages for a in p["alerts"]} == {slo_alert_name(model, _alerts(model)[0])}
    # The spec alert still reached its kill switch.
    assert any(n.path == switch and n.body["status"] == "firing" for n in sink.received), scenario


MINUTE_TICKETS = os.environ.get("OBSGEN_MINUTE_TICKETS") == "1"


@pytest.mark.skipif(not MINUTE_TICKETS, reason="opt-in (OBSGEN_MINUTE_TICKETS=1): minutes of promtool per run")
@pytest.mark.parametrize("tool", ["promtool", "promtool3"])
def test_ticket_burns_fire_at_the_minute_the_condition_first_holds(model: Model, tmp_path: Path, tool: str) -> None:
    """The README's ticket burns (3.5x for 2d, 1.2x for 4d), with full history and on a cold start, on
    1-minute samples and evaluations: the generated tests pin them at 15-minute ones. The rules are the
    committed SLO records the ticket reads (the burn windows) and the SLO's alerts."""
    slo = ruletests.proof_slo(model)
    assert slo is not None
    budget = Fraction(slo.error_budget)
    longest = max(p.long for p in ruletests.slo_pairs(slo))
    cases = []
    for rate, minutes in ruletests.PROOF_BURNS:
        if next(p for p in ruletests.slo_pairs(slo) if p.threshold < rate * budget).severity != "P3":
            continue
        for kind, shape in (("cold start", [(rate * budget, minutes)]),
                            ("full history", [(None, longest), (rate * budget, minutes)])):
            case = ruletests._scenario_case(model, slo, f"{kind}, {rate}x the budget for {minutes}m", shape,
                                            1, ["P3"])
            assert case is not None and case.checks[-1][1], case
            cases.append(case.render())
    assert len(cases) == 4
    ns = model.service.namespace
    records = {q.slo_record(model, w.text) for w in slo_windows()}
    recording = [{**g, "rules": [r for r in g["rules"] if r.get("record") in records]}
                 for g in _groups(model, RECORDING_FILE) if g["name"] == f"{ns}-slo-{slo.name}"]
    alerting = [g for g in _groups(model, SLO_ALERTS_FILE) if g["name"] == f"{ns}-slo-alerts-{slo.name}"]
    _promtool(tmp_path, {RECORDING_FILE: recording, SLO_ALERTS_FILE: alerting}, cases, tool)
