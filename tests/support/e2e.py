"""End-to-end checks on a running stack, for any spec: names come from the model, never from literals.

``open_stack`` starts the generated stack of a tree (one collector, Loki, Prometheus 3, Alertmanager, and
one ``obsgen killswitch serve`` per service) for the services generated into it; ``Stack.simulate`` runs
``obsgen simulate SPEC`` against it as a separate process. The ``check_*`` functions assert what one
simulated run must show in the stores: every event counted (zero loss), every logged event in Loki and
findable by its context key, no raw high-PII id anywhere, every queried series with data, and the alert
path of an incident the spec says ``fires`` an alert.
"""

from __future__ import annotations

import calendar
import contextlib
import json
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser as pp
import yaml
from obsgen import contract
from obsgen.emit.alertmanager import receiver_name
from obsgen.emit.prometheus.rules import carrier, slo_alert_name
from obsgen.model import Metric, Model
from obsgen.model.simulation import split_field_key
from obsgen.runtime.pipeline import is_latency_histogram
from obsgen.simulate import Simulation, parse_clock

from tests.support.simulation import Run
from tests.support.stack import (
    Alertmanager,
    Collector,
    Jaeger,
    KillSwitchService,
    Loki,
    Prometheus,
    Simulator,
    WebhookSink,
    locate,
    rule_files,
    shortened_rules,
    started,
    wait_for,
    write_secret,
)

PII_KEY = secrets.token_hex(32)
PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")
FAR_NS = 600 * 10**9
"""Loki queries end this far past now: records carry the wall-clock time of the event."""


@dataclass
class App:
    """A service of the stack: its spec, model and kill-switch receiver."""

    spec: Path | None
    model: Model
    killswitch: KillSwitchService

    @property
    def name(self) -> str:
        return self.model.service.name

    @property
    def spec_args(self) -> list[str]:
        return [] if self.spec is None else [str(self.spec)]


@dataclass
class Stack:
    work: Path
    root: Path
    sink: WebhookSink
    tokens: dict[str, str]
    """Bearer token per Alertmanager receiver name (``<service>/<name>``)."""
    apps: dict[str, App]
    alertmanager: Alertmanager
    loki: Loki
    collector: Collector
    prometheus: Prometheus
    jaeger: Jaeger

    def simulate(self, app: App, name: str, *args: str, killswitch: bool = False) -> Simulator:
        env = {"OBSGEN_PII_KEY": PII_KEY, "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id=e2e-{name}-{uuid.uuid4()}"}
        watch = ["--killswitch-file", str(app.killswitch.state_file)] if killswitch else []
        return Simulator(self.work, name, [*app.spec_args, "--endpoint", self.collector.endpoint,
                                           "--export-interval", "1", *watch, *args], env)


@contextlib.contextmanager
def open_stack(work: Path, root: Path, specs: list[tuple[Path | None, Model]]) -> Iterator[Stack]:
    """The stack of the tree at ``root`` (generated from ``specs``), started, and stopped afterwards."""
    for tool in ("otelcol-obsgen", "loki", "prometheus3", "alertmanager", "jaeger"):
        locate(tool)
    config = yaml.safe_load((root / "alerting" / "alertmanager.yml").read_text(encoding="utf-8"))
    receivers = [r["name"] for r in config["receivers"] if r.get("webhook_configs")]
    tokens = {name: secrets.token_hex(16) for name in receivers}
    token_files = {}
    for name, token in tokens.items():
        token_files[name] = write_secret(work / "tokens" / name, token)
    sink = WebhookSink()
    urls = {name: f"{sink.url}/{name}" for name in receivers}
    apps = {}
    for spec, model in specs:
        hook = receiver_name(model, model.routing.kill_switch_webhook.name)
        ks = KillSwitchService(work, token_files[hook], spec, name=f"killswitch-{model.service.name}")
        urls[hook] = ks.url
        apps[model.service.name] = App(spec, model, ks)
    alertmanager = Alertmanager(work, urls, token_files, root)
    loki = Loki(work, root)
    jaeger = Jaeger(work, root)
    collector = Collector(work, loki.port, root, jaeger_port=jaeger.otlp_port)
    prometheus = Prometheus(work, collector, alertmanager.port, loki.port, shortened_rules(work / "rules", root),
                            root=root)
    try:
        with started(*(a.killswitch for a in apps.values()), alertmanager, loki, jaeger, collector, prometheus,
                     timeout=120):
            yield Stack(work, root, sink, tokens, apps, alertmanager, loki, collector, prometheus, jaeger)
    finally:
        sink.stop()


# --- polling ------------------------------------------------------------------------------------------------


def settle(read: Callable[[], Any], expected: Any, timeout: float = 30) -> Any:
    """``read()`` polled until it equals ``expected`` (or the time is up): the last value, for the assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def steady(read: Callable[[], Any], timeout: float = 30, quiet_s: float = 3) -> Any:
    """``read()`` polled until it stops changing for ``quiet_s`` seconds (or the time is up): its value."""
    deadline = time.monotonic() + timeout
    value, since = read(), time.monotonic()
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.5)
        current = read()
        if current != value:
            value, since = current, time.monotonic()
    return value


def by_label(prom: Prometheus, expr: str, label: str) -> dict[str, int]:
    return {r["metric"].get(label, ""): int(float(r["value"][1])) for r in prom.query(expr)}


def loki_count(stack: Stack, app: App, event: str, instance: str) -> int:
    return int(stack.loki.instant(f'sum(count_over_time({{service_name="{app.name}", event_name="{event}"}} '
                                  f'| service_instance_id="{instance}" [1h]))'))


def logged_events(model: Model) -> list[str]:
    return [e.name for e in model.events if e.log_severity]


# --- zero loss ----------------------------------------------------------------------------------------------


def check_zero_loss(stack: Stack, app: App, summary: dict[str, Any]) -> None:
    """Every counter and histogram count equals what simulate sent (per metric, and per enum label of the
    plain event counters), nothing dropped or judged bad, and every log record in Loki."""
    model, prom, instance = app.model, stack.prometheus, summary["service_instance_id"]
    assert summary["dropped"] == {"traces": 0, "logs": 0}, (
        f"{app.name} dropped {summary['dropped']} before export: with --backpressure only an export queue that "
        "stopped draining for seconds (the collector refusing or stalled) loses records")
    expected = {m.count_series: summary["metrics"][m.name] for m in model.metrics if m.name in summary["metrics"]}
    assert expected, f"{app.name}: simulate counted no metric"

    def counts() -> dict[str, float | None]:
        # Value counters (an order's amount) are float sums: summed in another order, the last digits may differ.
        return {s: (v if (v := prom.value(f'sum({s}{{instance="{instance}"}})')) is None
                    or not math.isclose(v, expected[s], rel_tol=1e-9) else expected[s]) for s in expected}

    got = settle(counts, expected)
    assert got == expected, {s: (got[s], n) for s, n in expected.items() if got[s] != n}
    attributes = model.attributes
    for m in model.metrics:
        if m.instrument != "counter" or m.value is not None or m.once_per is not None:
            continue
        for label in m.labels:
            sent = summary["values"].get(m.event, {}).get(label)
            if sent and attributes[label].enum is not None and attributes[label].type == "string":
                seen = by_label(prom, f'sum by ({attributes[label].label_name}) '
                                      f'({m.prom_name}{{instance="{instance}"}})', attributes[label].label_name)
                assert seen == sent, f"{m.prom_name} by {label}"
    assert by_label(prom, f'obsgen_telemetry_dropped_total{{instance="{instance}"}}', "signal") == \
        {"traces": 0, "logs": 0}
    assert prom.query(f'obsgen_data_quality_violations_total{{instance="{instance}"}}') == [], \
        "simulate sent an event that breaks the spec's contracts"
    logged = logged_events(model)
    expected_logs = {e: summary["events"].get(e, 0) for e in logged}
    assert sum(expected_logs.values()) > 0, f"{app.name}: no logged event was sent"
    assert settle(lambda: {e: loki_count(stack, app, e, instance) for e in logged}, expected_logs) == expected_logs


def check_loki_by_context_key(stack: Stack, app: App, summary: dict[str, Any], since_ns: int) -> int:
    """Loki returns each logged event of a context by the context's key (structured metadata); how many
    events it looked up."""
    model, instance = app.model, summary["service_instance_id"]
    events = {e.name: e for e in model.events}
    looked = 0
    for ctx in model.joins:
        key = model.attributes[ctx.key].label_name
        for event in (ctx.root, *ctx.members):
            if events[event].log_severity is None or not summary["samples"].get(event):
                continue
            value = summary["samples"][event][0]
            found = logged_by_key(stack, app, event, key, value, since_ns)
            assert found, f"Loki has no {event} event with {key} {value}"
            assert found[0][key] == value and found[0]["service_instance_id"] == instance
            assert re.match(r"^[0-9a-f]{32}$", found[0]["trace_id"]), "the event's trace is linked"
            looked += 1
    return looked


def logged_by_key(stack: Stack, app: App, event: str, key: str, value: str, since_ns: int) -> list[dict[str, str]]:
    """Labels (with structured metadata) of the ``event`` log records whose ``key`` is ``value``."""
    entries = stack.loki.entries(f'{{service_name="{app.name}"}} | {key}="{value}"', since_ns, time.time_ns() + FAR_NS)
    return [labels for labels, _ in entries if labels.get("event_name") == event]


# --- traces -------------------------------------------------------------------------------------------------


def jaeger_trace(stack: Stack, trace_id: str, least: int = 1) -> list[dict[str, Any]]:
    """The spans of ``trace_id`` once Jaeger holds at least ``least`` of them (the collector batches)."""
    return wait_for(lambda: (spans := stack.jaeger.trace(trace_id)) and len(spans) >= least and spans, 30,
                    f"trace {trace_id} in Jaeger")


def check_traces(stack: Stack, app: App, summary: dict[str, Any], since_ns: int) -> int:
    """From Loki to Jaeger, per context whose root has a span: a logged event of the context, found in Loki by
    the context key, names a trace that Jaeger returns with the root's span once, every other span under it,
    and (where the context's members have spans) the members' spans too. How many traces it opened."""
    model = app.model
    events = {e.name: e for e in model.events}
    opened = 0
    for ctx in model.joins:
        root = events[ctx.root]
        logged = [e for e in (ctx.root, *ctx.members) if events[e].log_severity and summary["samples"].get(e)]
        if root.span is None or not logged:
            continue
        member_spans = {events[m].span.name for m in ctx.members if events[m].span is not None}
        key = model.attributes[ctx.key].label_name
        children = 0
        for event in logged:
            value = summary["samples"][event][0]
            found = wait_for(lambda e=event, v=value, k=key: logged_by_key(stack, app, e, k, v, since_ns), 30,
                             f"Loki's {event} event with {key} {value}")
            trace_id = found[0]["trace_id"]
            spans = jaeger_trace(stack, trace_id)
            by_id = {s["spanID"]: s for s in spans}
            roots = [s for s in spans if s["operationName"] == root.span.name]
            assert len(roots) == 1, f"{event} {value}: trace {trace_id} has {[s['operationName'] for s in spans]}"
            assert all(s["traceID"] == trace_id for s in spans)
            for span in spans:
                parents = [r["spanID"] for r in span.get("references", []) if r["refType"] == "CHILD_OF"]
                assert span is roots[0] or (parents and parents[0] in by_id), f"{span['operationName']} is orphaned"
            children += sum(s["operationName"] in member_spans for s in spans)
            opened += 1
        assert children or not member_spans, f"no {sorted(member_spans)} span in any {ctx.name} trace"
    return opened


def check_exemplars(stack: Stack, app: App, since_s: float) -> int:
    """Every exemplar Prometheus holds for the app's latency histograms names a trace Jaeger has; how many."""
    histograms = [m for m in app.model.metrics if is_latency_histogram(m)]  # the ones keeping exemplars
    assert histograms, f"{app.name} declares no latency histogram"
    def exemplar_traces(metric: Metric) -> set[str]:
        result = stack.prometheus.api("query_exemplars", query=f"{metric.prom_name}_bucket", start=since_s,
                                      end=time.time() + 60)
        return {e["labels"]["trace_id"] for series in result for e in series["exemplars"]}

    found = 0
    for metric in histograms:
        trace_ids = wait_for(lambda m=metric: exemplar_traces(m), 30, f"exemplars of {metric.prom_name}")
        for trace_id in sorted(trace_ids)[:3]:
            assert jaeger_trace(stack, trace_id), trace_id
            found += 1
    assert found, "no exemplar with a trace id"
    return found


# --- no raw id ----------------------------------------------------------------------------------------------


def raw_ids(model: Model, minutes: float, start: str, speedup: float, rate: float, seed: int) -> set[str]:
    """The raw high-PII ids ``obsgen simulate`` with these options hands the runtime: the same run replayed
    in memory (a seed gives the same traffic, paced or not), its ``Simulation.raw_ids``."""
    run = Run(model, minutes=minutes, start_minute=parse_clock(start), speedup=speedup, rate=rate, seed=seed)
    try:
        run.run()
        sim: Simulation = run.sim
        return set(sim.raw_ids)
    finally:
        run.close()


TOKEN = re.compile(r"[\s\"'`,;()\[\]{}<>=|]+")


def leaked(values: list[str], raw: set[str]) -> list[str]:
    """The values that are, or contain as a word, a raw id."""
    return [v for v in values if v in raw or any(t.rstrip(".:") in raw for t in TOKEN.split(v))]


def check_no_raw_id(stack: Stack, app: App, summary: dict[str, Any], raw: set[str], since_ns: int) -> int:
    """No raw id in any Prometheus label value, nor in any log line or its metadata of the run in Loki; the
    ids there are keyed pseudonyms. How many Loki entries it read."""
    prom = stack.prometheus
    assert raw, f"{app.name}: the simulation hands no raw high-PII id (nothing to prove)"
    for label in prom.api("labels"):
        found = leaked(prom.api(f"label/{label}/values"), raw)
        assert not found, f"raw ids reached Prometheus label {label}: {found[:5]}"
    instance = summary["service_instance_id"]
    entries = stack.loki.entries(f'{{service_name="{app.name}"}} | service_instance_id="{instance}"', since_ns,
                                 time.time_ns() + FAR_NS)
    assert entries
    found = leaked([v for labels, line in entries for v in (*labels.values(), line)], raw)
    assert not found, f"raw ids reached Loki: {found[:5]}"
    high = [app.model.attributes[a].label_name for a in app.model.attributes
            if app.model.attributes[a].pii == "high" and app.model.attributes[a].format == "sha256_hex"]
    values = [labels[h] for labels, _ in entries for h in high if h in labels]
    assert values and all(PSEUDONYM.match(v) for v in values), "high-PII ids reach Loki as keyed pseudonyms"
    return len(entries)


# --- every queried series has data ----------------------------------------------------------------------------


def selectors(node: Any) -> Iterator[pp.VectorSelector]:
    if isinstance(node, pp.VectorSelector):
        yield node
        return
    for attribute in ("expr", "lhs", "rhs", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, (str, int, float)):
            yield from selectors(child)
    for arg in getattr(node, "args", None) or ():
        yield from selectors(arg)


MATCH_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}


def promql(selector: pp.VectorSelector) -> str:
    """The selector as PromQL (``str()`` of the parsed node drops the escaping of backslashes in values)."""
    matchers = ", ".join(f"{m.name}{MATCH_OPS[str(m.op)]}{json.dumps(m.value)}" for m in selector.matchers.matchers)
    return f"{selector.name or ''}{{{matchers}}}"


def queried_selectors(model: Model) -> dict[str, str]:
    """Every selector of every dashboard query, alert annotation and rule → where it is used."""
    wanted: dict[str, str] = {}
    for expr, where in contract.expressions(model):
        for selector in selectors(pp.parse(contract.substitute(expr))):
            wanted.setdefault(promql(selector), where.what)
    return wanted


def check_series(stack: Stack, app: App) -> None:
    """Every queried selector (but ALERTS, which shows firing alerts only) returns series, and every recording
    rule of the service is loaded and recorded."""
    prom = stack.prometheus
    wanted = queried_selectors(app.model)
    # Over the last hour, not at this instant: on a loaded machine the checks before this one can outlast the
    # collector's metric_expiration (5m), after which the finished run's series are stale.
    empty = {s: what for s, what in wanted.items()
             if not s.startswith("ALERTS") and not prom.query(f"count(last_over_time({s}[1h]))")}
    assert not empty, f"{app.name}: {len(empty)} queried selectors have no data: {empty}"
    loaded = {r["name"] for g in prom.api("rules", type="record")["groups"] for r in g["rules"]}
    mine = [p for p in rule_files(stack.root) if p.parent.name == app.name and p.name == "recording_rules.yml"]
    generated = {r["record"] for p in mine for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"]}
    assert generated and generated <= loaded, "Prometheus loaded every recording rule"
    unrecorded = sorted(r for r in generated if not prom.query(r))
    assert not unrecorded, f"{app.name}: recording rules without data: {unrecorded}"


# --- the alert path ---------------------------------------------------------------------------------------------


def firing_incidents(model: Model) -> list[tuple[str, str]]:
    """(incident, alert) for every kill-switch alert a declared incident of the spec's simulation says it fires.

    These take the whole path (Prometheus, Alertmanager, the receiver, the app's reaction), in seconds.
    Every other ``fires`` pair is proven without the stack: the incident moves the alert's indicator past
    its threshold in memory (tests/test_simulate_checkout.py, tests/test_simulate.py) and the generated
    promtool tests fire the alert at that value; some (a 15-minute rate window) would need real minutes here.
    """
    kill_switch_alerts = {a.name for a in model.alerts if a.kill_switch}
    return [(i.name, alert) for i in model.simulation.incidents for alert in i.fires if alert in kill_switch_alerts]


def alert(prom: Prometheus, service: str, name: str) -> dict[str, Any] | None:
    return next((a for a in prom.api("alerts")["alerts"]
                 if a["labels"]["alertname"] == name and a["labels"].get("service") == service), None)


def receiver_of(model: Model, severity: str) -> str:
    return receiver_name(model, model.routing.route(severity).receiver)


def check_alert_path(stack: Stack, app: App, incident: str, alert_name: str, seed: int) -> str:
    """The incident makes ``alert_name`` fire in Prometheus and reach its receiver through Alertmanager; when
    the alert names a kill-switch, the receiver latches it and the simulated app applies its declared
    reaction. A line for the log."""
    model, prom, ks = app.model, stack.prometheus, app.killswitch
    rule = next(a for a in model.alerts if a.name == alert_name)
    ks.reset()
    sim = stack.simulate(app, f"{app.name}-{incident}", "--incident", incident, "--minutes", "600", "--start",
                         "19:00", "--speedup", "10", "--seed", str(seed), killswitch=True)
    sim.start()
    try:
        firing = wait_for(lambda: (a := alert(prom, app.name, alert_name)) and a["state"] == "firing" and a, 90,
                          f"{alert_name} to fire in Prometheus")
        receiver = receiver_of(model, rule.severity)
        slo = carrier(model, rule)  # an SLO alert that carries the spec alert pages for it
        paged = alert_name if slo is None else slo_alert_name(model, slo)
        notes = wait_for(lambda: [n for n in stack.sink.received if n.path == f"/{receiver}" and any(
            a["labels"]["alertname"] == paged for a in n.body["alerts"])], 30, f"{paged} at {receiver}")
        if rule.kill_switch is not None:
            wait_for(lambda: ks.state().get(rule.kill_switch), 30,
                     "Alertmanager to deliver the alert to the kill-switch receiver")
            wait_for(lambda: f"kill-switch {rule.kill_switch} turned on" in sim.stderr(), 15,
                     "the simulated app to notice the kill-switch")
            time.sleep(4)  # the app keeps sending with the switch on: what the summary then shows
        summary = sim.finish(timeout=30, terminate=True)
    finally:
        sim.kill()
    assert firing["labels"]["severity"] == rule.severity
    assert calendar.timegm(time.strptime(firing["activeAt"][:19], "%Y-%m-%dT%H:%M:%S")) >= int(summary["started_at"]), \
        "the alert began pending during this run"
    assert notes[0].authorization == f"Bearer {stack.tokens[receiver]}"
    line = f"{app.name}: {incident} fired {alert_name} ({rule.severity}) → {receiver}" + (
        f" (paged as {paged})" if paged != alert_name else "")
    if rule.kill_switch is None:
        return line
    assert firing["labels"]["kill_switch"] == rule.kill_switch
    switched = next(t for t in summary["kill_switch_transitions"] if t["name"] == rule.kill_switch)
    assert switched["active"] is True
    while_on = summary["values_while_on"].get(rule.kill_switch, {})
    assert while_on, "the app sent events while the switch was on"
    reaction = next((o for o in model.simulation.kill_switches if o.name == rule.kill_switch), None)
    if reaction is not None and not reaction.when and reaction.share == 1.0:
        for key, cases in reaction.fields.items():
            event, field = split_field_key(key, {e.name: e.fields for e in model.events})
            if not all(hasattr(c.dist.kind, "value") for c in cases):
                continue  # a distribution: any value may come
            allowed = {str(c.dist.kind.value) for c in cases}  # the constants its cases set
            for name, values in while_on.items():
                if (not event or event == name) and field in values:
                    assert set(values[field]) <= allowed, \
                        f"while {rule.kill_switch} is on, every {name}.{field} is one of {allowed}: {values[field]}"
    return (f"{line} and {ks.url}: {rule.kill_switch} latched; the app reacted after "
            f"{switched['wall_time'] - summary['started_at']:.1f}s: {while_on}")
