"""End to end on loopback, per spec (``spec_case``): ``obsgen simulate SPEC`` → the real collector →
Prometheus 3 and Loki, the generated rules firing through Alertmanager into ``obsgen killswitch serve``, and
the simulated app reacting. Names (metrics, events, alerts, receivers, kill-switches) come from the model.

The stack (tests/support/e2e.py, tests/support/stack.py) runs the spec's committed generated tree natively,
changed only in ports, hosts and paths, plus the documented test-only transforms: Prometheus scrapes and
evaluates every second, every alert's ``for:`` is 10 s and every Alertmanager ``group_wait`` 1 s, so
alerts fire within the test. The collector outage lasts ``OUTAGE_S`` = 10 s (already past the exporters'
retry budget per batch).

The tests of a spec share one stack and run in order (each simulated app has its own
``service.instance.id``, so each compares only its own series): zero loss, traces (Loki's ``trace_id`` and the
latency exemplars open their trace in Jaeger), the alert path, the outage, then every queried series. A missing
tool fails, never skips. The outage runs for the built-in spec only
(the runtime's and collector's behaviour, the same for any spec; 25 s).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.e2e import (
    Stack,
    by_label,
    check_alert_path,
    check_exemplars,
    check_loki_by_context_key,
    check_no_raw_id,
    check_series,
    check_traces,
    check_zero_loss,
    firing_incidents,
    logged_events,
    loki_count,
    open_stack,
    raw_ids,
    settle,
)
from tests.support.specs import SpecCase
from tests.support.stack import wait_for

OUTAGE_S = 10.0
EXPORT_BATCH = 512
"""The runtime's largest log export request, in records (the SDK's default ``max_export_batch_size``)."""
ZERO_LOSS = {"minutes": 120.0, "start": "19:00", "speedup": 1200.0, "rate": 300.0, "seed": 11}
"""Two busy simulated hours in six wall-clock seconds."""


@pytest.fixture(scope="module")
def stack(spec_case: SpecCase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp(f"e2e-{spec_case.name}")
    with open_stack(work, spec_case.committed, [(spec_case.spec, spec_case.model)]) as stack:
        yield stack


def test_every_event_sent_is_in_prometheus_and_loki_and_no_raw_id_is(stack: Stack, spec_case: SpecCase) -> None:
    app = stack.apps[spec_case.model.service.name]
    started_ns = time.time_ns()
    z = ZERO_LOSS
    summary = stack.simulate(app, f"{app.name}-zero-loss", "--minutes", str(z["minutes"]), "--start", z["start"],
                             "--speedup", str(z["speedup"]), "--rate", str(z["rate"]), "--seed",
                             str(z["seed"]), "--backpressure").start().finish(timeout=240)
    assert summary["total_events"] > 1_000 and set(summary["events"]) == {e.name for e in app.model.events}
    check_zero_loss(stack, app, summary)
    looked_up = check_loki_by_context_key(stack, app, summary, started_ns)
    raw = raw_ids(app.model, **z)
    lines = check_no_raw_id(stack, app, summary, raw, started_ns)
    print(f"\n{app.name} zero loss: {summary['total_events']} events {summary['events']} = Prometheus = Loki "
          f"({lines} log lines, {looked_up} events found by context key, none of {len(raw)} raw ids)")


def test_a_logged_event_and_a_latency_exemplar_lead_to_their_trace_in_jaeger(stack: Stack,
                                                                             spec_case: SpecCase) -> None:
    app = stack.apps[spec_case.model.service.name]
    started_ns = time.time_ns()
    # Six wall-clock seconds of traffic: a point's exemplars live in the collector's exposition only until the
    # next export, so Prometheus (scraping every second) needs several exports to keep some.
    summary = stack.simulate(app, f"{app.name}-traces", "--minutes", "60", "--start", "19:00", "--speedup", "600",
                             "--rate", "50", "--seed", "5").start().finish(timeout=180)
    traces = check_traces(stack, app, summary, started_ns)
    exemplars = check_exemplars(stack, app, started_ns / 1e9)
    print(f"\n{app.name} traces: {traces} opened from Loki's trace_id, {exemplars} exemplar trace ids in Jaeger")


def test_incidents_fire_their_alerts_through_alertmanager_to_receivers_and_kill_switches(
        stack: Stack, spec_case: SpecCase) -> None:
    app = stack.apps[spec_case.model.service.name]
    cases = firing_incidents(app.model)
    if not cases:
        pytest.skip(f"{app.name}'s simulation declares no incident that fires an alert")
    for seed, (incident, alert) in enumerate(cases, start=12):
        print("\n" + check_alert_path(stack, app, incident, alert, seed))


def test_a_collector_outage_never_stops_the_app_and_its_loss_is_counted(stack: Stack, spec_case: SpecCase) -> None:
    app = stack.apps[spec_case.model.service.name]
    prom, collector = stack.prometheus, stack.collector
    counter = next(m for m in app.model.metrics if m.instrument == "counter" and m.value is None
                   and m.once_per is None)
    sim = stack.simulate(app, "outage", "--minutes", "600", "--start", "19:00", "--speedup", "10", "--rate", "100",
                         "--seed", "13").start()
    try:
        instance = wait_for(lambda: next((r["metric"]["instance"] for r in prom.query(
            f'{counter.prom_name}{{instance=~"e2e-outage-.*"}}')), None), 90, "the app's first metrics")
        sent = f'sum({counter.prom_name}{{instance="{instance}"}})'
        before = prom.value(sent) or 0
        collector.kill()  # SIGKILL: no graceful drain
        time.sleep(OUTAGE_S)
        collector.start()
        wait_for(lambda: (prom.value(sent) or 0) > before, 30, "data to flow again after the restart")
        time.sleep(3)
        summary = sim.finish(timeout=30, terminate=True)
    finally:
        sim.kill()
        if not collector.running:
            collector.start()

    assert "Traceback" not in sim.stderr()
    # Blocking on the dead collector would cost at least an export timeout (seconds) per blocked call, and the
    # outage lasts OUTAGE_S; scheduling noise on a loaded 2-core machine stays well below a quarter of it.
    assert summary["max_lag_s"] < OUTAGE_S / 4, "the app fell behind its schedule: telemetry blocked it"
    dropped = summary["dropped"]
    assert dropped["traces"] > 0 and dropped["logs"] > 0, "the outage lost spans and logs; the counters must say so"
    # The loss is visible in the stack, not only in the app: obsgen.telemetry.dropped reaches Prometheus.
    reported = settle(lambda: by_label(prom, f'obsgen_telemetry_dropped_total{{instance="{instance}"}}', "signal"),
                      dropped)
    assert reported == dropped
    # Counters are cumulative, so the metrics themselves lost nothing across the outage.
    expected = summary["metrics"][counter.name]
    assert settle(lambda: prom.value(sent), expected) == expected
    logged = logged_events(app.model)
    logs_sent = sum(summary["events"].get(e, 0) for e in logged)
    in_loki = settle(lambda: sum(loki_count(stack, app, e, instance) for e in logged), logs_sent - dropped["logs"])
    # What the runtime counted as dropped never reached Loki; everything else did: what the killed collector
    # had accepted (answered 200 for) waited in its persistent queue on disk and left after the restart. One
    # request may be on both sides: the SIGKILL can land after the collector queued it on disk and before its
    # 200 went out, so the runtime counts it dropped and Loki gets it after the restart (seen once: -1 record).
    # Nothing the runtime did not count may be missing.
    in_collector = logs_sent - dropped["logs"] - in_loki
    assert in_loki > 0 and -EXPORT_BATCH <= in_collector <= 0, (in_loki, in_collector)
    print(f"\n{app.name} outage {OUTAGE_S:g}s: {summary['journeys']} journeys, max lag {summary['max_lag_s']:.3f}s, "
          f"dropped {dropped}, logs sent {logs_sent}, in Loki {in_loki}, lost inside the collector {in_collector}")


def test_every_series_the_dashboards_and_rules_query_has_data(stack: Stack, spec_case: SpecCase) -> None:
    """After a short run with the spec's alert-firing incidents (errors of every kind, which the baseline
    rate may not send), every selector of every dashboard query, alert annotation and rule returns series,
    and every recording rule has been recorded. (The outage restarted the collector, whose exporter forgot
    the earlier runs' series.)"""
    app = stack.apps[spec_case.model.service.name]
    # Every incident that fires an alert, except those stopping an event (its series would then be missing).
    incidents = [arg for i in app.model.simulation.incidents if i.fires and not i.stop
                 for arg in ("--incident", i.name)]
    summary: dict[str, Any] = stack.simulate(app, "series", *incidents, "--minutes", "60", "--start", "19:00",
                                             "--speedup", "600", "--rate", "200", "--seed", "14",
                                             "--backpressure").start() \
        .finish(timeout=240)
    check_zero_loss(stack, app, summary)  # every export of the run has been scraped
    check_series(stack, app)
