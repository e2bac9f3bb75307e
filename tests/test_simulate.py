"""``obsgen simulate`` and ``obsgen killswitch serve`` with the built-in spec: the recommender's traffic as its
``simulation`` section declares it, its kill-switch wiring and the CLI (tests/test_simulate_any_spec.py: another spec).

The runtime here exports into memory (the SDK's in-memory exporter and reader), so these tests see every
span, log record and metric point the simulation caused; tests/test_e2e_stack.py sends the same traffic
through the real collector, Prometheus, Loki and Alertmanager.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.model import Model
from obsgen.runtime import RuntimeConfig, Telemetry
from obsgen.simulate import SimulatedApp, Simulation, SimulationConfig, traffic
from obsgen.spec import default_spec_text, load_spec
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.simulation import PII_KEY, Run
from tests.support.stack import free_ports, http, obsgen, wait_for, write_secret

PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")
NO_EXPORT = {"OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"}


@pytest.fixture
def no_export(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in NO_EXPORT.items():
        monkeypatch.setenv(name, value)


# --- the traffic ---------------------------------------------------------------------------------------------


def test_everything_sent_is_valid_and_counted_as_the_runtime_counts_it(model: Model) -> None:
    """Strict validation raises on any invalid event or broken join contract; the tally matches every metric."""
    run = Run(model, minutes=1440, speedup=86_400, rate=2400, seed=3)
    summary = run.run()
    try:
        assert summary.journeys > 1000 and set(summary.tally.events) == {e.name for e in model.events}
        totals = run.metric_totals()
        for name, expected in summary.tally.metrics.items():
            assert totals[name] == expected, name
        assert "obsgen.data_quality.violations" not in totals
        assert len(run.spans("recommend.request")) == summary.tally.events["request"]
        assert Counter(r["event_name"] for r in run.logs()) == {e: summary.tally.events[e]
                                                                for e in ("impression", "click", "error")}
    finally:
        run.close()


def test_without_its_simulation_section_the_spec_still_simulates_valid_events(tmp_path: Path) -> None:
    """Every value derived from the spec (enums, bounds, formats, examples, patterns, the joins): strict passes."""
    raw = yaml.safe_load(default_spec_text())
    del raw["simulation"]
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    bare = load_spec(tmp_path / "spec.yaml")
    run = Run(bare, minutes=60, speedup=3600, rate=500, seed=2)  # strict: an invalid event raises
    summary = run.run()
    try:
        assert set(summary.tally.events) == {e.name for e in bare.events} and summary.journeys > 300
        assert "obsgen.data_quality.violations" not in run.metric_totals()
        locales = {r["locale"] for r in run.spans("recommend.request")}
        assert locales == {"aa-AA"}  # the shortest string matching the attribute's pattern
    finally:
        run.close()


def test_the_same_seed_sends_the_same_journeys(model: Model) -> None:
    def journeys(seed: int) -> list[tuple[Any, ...]]:
        run = Run(model, minutes=60, speedup=36_000, rate=3000, seed=seed)
        run.run()
        try:
            return [(r["event_name"], r["user_id"], r.get("bucket"), r.get("canonical_id"), r.get("position"),
                     r.get("engagement_type"), r.get("error_code")) for r in run.logs()]
        finally:
            run.close()

    first = journeys(5)
    assert len(first) > 500
    assert journeys(5) == first
    assert journeys(6) != first


class SleepCounter:
    """The ``time`` module as the simulator sees it, adding up what it sleeps (no timing is asserted)."""

    def __init__(self) -> None:
        self.slept = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        time.sleep(seconds)


def test_pacing_changes_only_the_timing_not_the_journeys(model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    paced = Run(model, minutes=10, speedup=600, rate=200, seed=8, pace=True)  # 1 s of wall time
    unpaced = Run(model, minutes=10, speedup=600, rate=200, seed=8, pace=False)
    clock = SleepCounter()
    monkeypatch.setattr(traffic, "time", clock)
    try:
        slow = paced.run()
        paced_sleep, clock.slept = clock.slept, 0.0
        fast = unpaced.run()
        assert slow.tally.events == fast.tally.events
        assert slow.wall_seconds >= 0.95  # pacing never runs ahead of the schedule
        assert paced_sleep > 0 and clock.slept == 0  # and only a paced run waits for it
    finally:
        paced.close()
        unpaced.close()


def test_traffic_follows_the_day(model: Model) -> None:
    diurnal = model.simulation.diurnal.factor
    assert diurnal(20 * 60) == pytest.approx(1.0) and diurnal(8 * 60) == pytest.approx(0.2)
    volumes = {}
    for start in (8 * 60, 20 * 60):
        run = Run(model, minutes=30, start_minute=start, speedup=180, rate=200, seed=1)  # 10 ticks
        volumes[start] = run.run().journeys
        run.close()
    assert 0.15 < volumes[8 * 60] / volumes[20 * 60] < 0.25


def test_buckets_follow_the_planned_split_and_every_slice_has_traffic(model: Model) -> None:
    run = Run(model, minutes=1440, speedup=86_400, rate=6000, seed=4, validation="production")
    summary = run.run()
    try:
        buckets = summary.tally.count("request", "bucket")  # the planned split of traffic_allocation
        assert buckets["treatment"] / sum(buckets.values()) == pytest.approx(0.5, abs=0.04)
        requests, rankings, logs = run.spans("recommend.request"), run.spans("recommend.ranking"), run.logs()
        seen = {"cohort": {r["cohort"] for r in requests}, "region": {r["region"] for r in requests},
                "surface": {r["surface"] for r in requests}, "device_type": {r["device_type"] for r in requests},
                "user_state": {r["user_state"] for r in requests}, "bucket": {r["bucket"] for r in requests},
                "cache_result": {r["cache_result"] for r in rankings}, "fallback": {r["fallback"] for r in rankings},
                "algorithm": {r["algorithm"] for r in rankings},
                "genre": {r["genre"] for r in logs if "genre" in r}, "provider": {r["provider"] for r in logs
                                                                                  if "provider" in r},
                "engagement_type": {r["engagement_type"] for r in logs if "engagement_type" in r}}
        for attribute, values in seen.items():
            assert values == set(model.attributes[attribute].enum or ()), attribute
        # The healthy day keeps every threshold: CTR > 1%, Recall@K > 0.15, session depth > 5, warm cache
        # hits > 85%, warm p95 < 50 ms, cold p95 < 200 ms, errors < 0.1%, top-K fill > 99%.
        t = summary.tally
        assert t.events["click"] / t.events["impression"] > 0.01
        assert t.metrics["recsys.requests.engaged"] / t.events["request"] > 0.15
        assert t.events["impression"] / t.metrics["recsys.sessions"] > 5
        warm = [r for r in rankings if r["user_state"] == "warm"]
        assert sum(r["cache_result"] == "hit" for r in warm) / len(warm) > 0.85
        for state, limit in (("warm", 50), ("cold", 200)):
            latencies = sorted(r["latency_ms"] for r in rankings if r["user_state"] == state)
            assert latencies[int(len(latencies) * 0.95)] < limit, state
        severities = t.count("error", "severity")
        assert (severities["error"] + severities["critical"]) / t.events["request"] < 0.001
        assert t.metrics["recsys.ranking.slots.filled"] / t.metrics["recsys.ranking.slots.requested"] > 0.99
    finally:
        run.close()


def test_raw_ids_reach_the_runtime_only_and_leave_it_pseudonymised(model: Model) -> None:
    run = Run(model, minutes=120, speedup=72_000, rate=3000, seed=2, validation="production")
    run.run()
    try:
        raw = set(run.sim.raw_ids)
        exported = [v for a in run.logs() + run.spans("recommend.request") for v in a.values()]
        assert not [v for v in exported if isinstance(v, str) and ("sim.example" in v or v in raw)]
        ids = {a[f] for a in run.logs() + run.spans("recommend.request") for f in ("user_id", "session_id") if f in a}
        assert ids and all(PSEUDONYM.match(i) for i in ids)
        assert ids <= {run.rt.pseudonymize(r) for r in raw}
        messages = [a["message"] for a in run.logs() if a.get("error_code") == "FEATURE_TIMEOUT"]
        assert messages and all("<user_id>" in m for m in messages)  # the raw id the same call pseudonymised
    finally:
        run.close()


# --- incidents ---------------------------------------------------------------------------------------------


def incident_run(model: Model, incident: str, **options: Any) -> Run:
    options = {"minutes": 60, "start_minute": 20 * 60, "speedup": 36_000, "rate": 6000, "seed": 9,
               "incidents": (incident,), "validation": "production", **options}
    run = Run(model, **options)
    run.run()
    return run


def test_error_burst_fails_treatment_far_above_the_alert_threshold(model: Model) -> None:
    run = incident_run(model, "error-burst")
    try:
        failed = Counter(a["bucket"] for a in run.logs() if a.get("severity") in ("error", "critical"))
        requests = run.sim.tally.count("request", "bucket")
        assert failed["treatment"] / requests["treatment"] > 0.2
        assert failed["control"] / requests["control"] < 0.01
    finally:
        run.close()


def test_latency_incident_slows_treatment_past_the_alert(model: Model) -> None:
    run = incident_run(model, "latency")
    try:
        rankings = run.spans("recommend.ranking")
        for bucket, check in (("treatment", lambda p95: p95 > 100), ("control", lambda p95: p95 < 50)):
            latencies = sorted(r["latency_ms"] for r in rankings if r["bucket"] == bucket and r["user_state"] == "warm")
            assert check(latencies[int(len(latencies) * 0.95)]), bucket
    finally:
        run.close()


def test_stale_incident_ages_the_data_past_15_minutes(model: Model) -> None:
    run = incident_run(model, "stale")
    try:
        assert min(r["data_age_s"] for r in run.spans("recommend.ranking")) > 900
    finally:
        run.close()


def test_imbalance_incident_skews_the_split(model: Model) -> None:
    run = incident_run(model, "imbalance")
    try:
        buckets = run.sim.tally.count("request", "bucket")
        assert buckets["treatment"] / sum(buckets.values()) > 0.7
    finally:
        run.close()


def test_an_incident_lasts_its_window(model: Model) -> None:
    run = incident_run(model, "stale", incident_at=20, incident_minutes=20)
    try:
        ages = [r["data_age_s"] for r in run.spans("recommend.ranking")]
        stale = sum(a > 900 for a in ages) / len(ages)
        assert 0.25 < stale < 0.42  # 20 of 60 minutes (traffic is nearly flat around the 20:00 peak)
    finally:
        run.close()


def test_unknown_incidents_and_bad_settings_are_refused(model: Model) -> None:
    with pytest.raises(ValueError, match="unknown incident.*choose from error-burst, latency, stale, imbalance"):
        SimulationConfig(incidents=("meteor",)).check(model)
    with pytest.raises(ValueError, match="speedup must be positive"):
        SimulationConfig(speedup=0).check(model)
    with pytest.raises(ValueError, match="bucket=holdout: use one of control, treatment"):
        SimulationConfig(fixed={"bucket": "holdout"}).check(model)


# --- kill-switches ----------------------------------------------------------------------------------------------


def test_an_experiment_kill_switch_serves_every_later_request_from_control(model: Model) -> None:
    run = Run(model, minutes=60, speedup=600, rate=300, seed=7, incidents=("error-burst",),  # 60 ticks
              validation="production")
    seen: list[Any] = []

    def flip(tick: int) -> None:
        if tick == 20:
            run.rt.kill_switches.set("disable_experiment", True)

    summary = run.run(on_tick=flip, on_switch=seen.append)
    try:
        assert [(x.name, x.active) for x in seen] == [("disable_experiment", True)]
        before = seen[0].journeys_before
        buckets = [r["bucket"] for r in run.spans("recommend.request")]
        assert set(buckets[:before]) == {"control", "treatment"}
        assert set(buckets[before:]) == {"control"} and len(buckets) - before > 500
        assert summary.tally.while_on["disable_experiment"]["request"]["bucket"] == {"control": len(buckets) - before}
    finally:
        run.close()


def test_cache_kill_switches_change_how_lists_are_served(model: Model) -> None:
    for switch, check in (("disable_cache", lambda r: r["cache_result"] == "bypass"),
                          ("use_cached_recommendations", lambda r: r["fallback"] in ("cached", "popular"))):
        run = Run(model, minutes=30, speedup=18_000, rate=3000, seed=7, validation="production")
        run.rt.kill_switches.set(switch, True)
        run.run()
        try:
            assert all(check(r) for r in run.spans("recommend.ranking")), switch
        finally:
            run.close()


def test_the_app_follows_a_watched_kill_switch_file(model: Model, tmp_path: Path, no_export: None) -> None:
    state = tmp_path / "killswitch.json"
    state.write_text(json.dumps({"disable_experiment": True}))
    config = SimulationConfig(minutes=10, speedup=6000, rate=2000, pace=False, seed=1)
    with SimulatedApp(model, config, dev=True, killswitch_file=state) as app:
        summary = app.run()
    assert summary.tally.while_on["disable_experiment"]["request"]["bucket"] == {"control": summary.journeys}
    assert summary.transitions[0].name == "disable_experiment" and summary.journeys > 50


def test_the_embedded_receiver_needs_its_token_and_flips_the_apps_switch(model: Model, tmp_path: Path,
                                                                           no_export: None) -> None:
    token = tmp_path / "token"
    write_secret(token, "s3cret")
    config = SimulationConfig(minutes=10, speedup=6000, rate=2000, pace=False, seed=1)
    with pytest.raises(ValueError, match="needs --token-file"):
        SimulatedApp(model, config, dev=True, killswitch_port=0)
    with SimulatedApp(model, config, dev=True, killswitch_port=0, token_file=token) as app:
        url = app.receiver_url
        assert url is not None
        body = json.dumps({"alerts": [{"status": "firing", "labels": {
            "alertname": "RecsysErrorRateHigh", "kill_switch": "disable_experiment"}}]}).encode()
        assert http(url, body)[0] == 401
        assert http(url, body, {"Authorization": "Bearer wrong"})[0] == 401
        assert not app.rt.is_active("disable_experiment")
        assert http(url, body, {"Authorization": "Bearer s3cret"})[0] == 200
        summary = app.run()
    assert summary.tally.count("request", "bucket") == {"control": summary.journeys}
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(url, timeout=2)


# --- the CLI ----------------------------------------------------------------------------------------------------


def test_the_new_commands_have_help_with_an_example() -> None:
    for args in (["simulate"], ["killswitch"], ["killswitch", "serve"]):
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, args


def test_simulate_needs_a_pii_key_or_dev(monkeypatch: pytest.MonkeyPatch, no_export: None) -> None:
    for name in ("OBSGEN_PII_KEY", "OBSGEN_PII_KEY_FILE", "OBSGEN_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["simulate", "--minutes", "1", "--no-pacing"])
    assert result.exit_code == 2
    assert "OBSGEN_PII_KEY" in result.stderr and "OBSGEN_DEV_MODE" in result.stderr
    result = CliRunner().invoke(main, ["simulate", "--dev", "--killswitch-port", "0"])
    assert result.exit_code == 2 and "--token-file" in result.stderr


def test_simulate_prints_what_it_sent(no_export: None) -> None:
    result = CliRunner().invoke(main, ["simulate", "--dev", "--minutes", "60", "--speedup", "36000", "--rate", "3000",
                                       "--no-pacing", "--seed", "4", "--incident", "error-burst", "--json", "-"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["seed"] == 4 and summary["incidents"] == ["error-burst"]
    assert summary["total_events"] == sum(summary["events"].values()) > 1000
    assert summary["dropped"] == {}  # OTEL_*_EXPORTER=none: no export queues, nothing dropped
    text = result.stderr
    for event, count in summary["events"].items():
        assert re.search(rf"^  {event}\s+{count:,}", text, re.M), (event, text)
    assert "incidents error-burst from 00:00 to the end" in text
    assert "simulating" not in text, "the progress bar is for terminals only"


def test_a_json_file_that_cannot_be_written_is_refused_before_the_run(tmp_path: Path, no_export: None) -> None:
    """It was a traceback after the whole run (a simulated day can take an hour)."""
    for target in (tmp_path / "absent" / "summary.json", tmp_path):
        result = CliRunner().invoke(main, ["simulate", "--dev", "--minutes", "1", "--no-pacing", "--json", str(target)])
        assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
        assert "Invalid value for '--json'" in result.stderr and "sending traffic" not in result.stderr
    result = CliRunner().invoke(main, ["simulate", "--dev", "--minutes", "1", "--no-pacing", "--json", "/proc/x.json"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines()[-1] == ("obsgen simulate: --json /proc/x.json: cannot write (No such file or "
                                              "directory) — choose a writable file")


# --- obsgen killswitch serve -------------------------------------------------------------------------------------


def test_killswitch_serve_applies_alertmanager_notifications_and_keeps_them_across_restarts(tmp_path: Path) -> None:
    token = tmp_path / "token"
    write_secret(token, "t0ken")
    state = tmp_path / "state.json"
    port = free_ports(1)[0]
    args = obsgen("killswitch", "serve", "--token-file", str(token), "--state-file", str(state), "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Bearer t0ken"}
    firing = json.dumps({"version": "4", "alerts": [{"status": "firing", "labels": {
        "alertname": "RecsysErrorRateHigh", "kill_switch": "disable_experiment"}}]}).encode()
    for restart in (False, True):
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            assert f"listening on {url}/v1/alertmanager" in line, line + (proc.stderr.read() if proc.stderr else "")
            if not restart:
                assert http(f"{url}/v1/alertmanager", firing)[0] == 401
                assert json.loads(state.read_text())["disable_experiment"] is False
                assert http(f"{url}/v1/alertmanager", firing, auth)[0] == 200
                wait_for(lambda: json.loads(state.read_text())["disable_experiment"], 5, "the state file")
            status, body = http(f"{url}/v1/state", headers=auth)
            assert status == 200 and json.loads(body)["disable_experiment"] is True, "latched across a restart"
            assert http(f"{url}/v1/state")[0] == 401
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_killswitch_serve_refuses_a_missing_token_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["killswitch", "serve", "--token-file", str(tmp_path / "absent"),
                                       "--state-file", str(tmp_path / "s.json"), "--port", "0"])
    assert result.exit_code == 2 and "cannot read the kill-switch token" in result.stderr


def test_simulate_stops_early_on_sigterm_and_still_reports(tmp_path: Path) -> None:
    env = {**os.environ, **NO_EXPORT, "OBSGEN_DEV_MODE": "1"}
    out = tmp_path / "summary.json"
    proc = subprocess.Popen(obsgen("simulate", "--minutes", "600", "--speedup", "10", "--rate", "50",
                                   "--json", str(out)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        while b"sending traffic" not in (line := proc.stderr.readline()):
            assert line, "obsgen simulate ended before it started sending"
        threading.Event().wait(0.5)  # let it send some journeys
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    summary = json.loads(out.read_text())
    assert summary["stopped_early"] is True and summary["journeys"] > 0
    assert b"(stopped early)" in stdout


class _SlowLogExporter(InMemoryLogRecordExporter):
    """The SDK's in-memory exporter, taking ``delay_s`` per batch, or blocking until ``release`` is set."""

    def __init__(self, delay_s: float = 0.0, release: threading.Event | None = None) -> None:
        super().__init__()
        self.delay_s, self.release = delay_s, release

    def export(self, batch: Any) -> Any:
        if self.release is not None:
            self.release.wait(60)
        elif self.delay_s:
            threading.Event().wait(self.delay_s)
        return super().export(batch)


def _run_into(model: Model, exporter: _SlowLogExporter, backpressure: bool) -> tuple[dict[str, int], int]:
    """(dropped, log records exported) of a fast, unpaced run into ``exporter`` through small queues."""
    rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, span_exporter=InMemorySpanExporter(), log_exporter=exporter,
                                        metric_readers=[InMemoryMetricReader()], max_queue_size=64,
                                        max_export_batch_size=16))
    try:
        summary = Simulation(rt, SimulationConfig(minutes=10, pace=False, rate=2000, seed=5, start_minute=19 * 60,
                                                  backpressure=backpressure)).run()
        assert sum(summary.tally.events.values()) > 500
        if exporter.release is not None:
            exporter.release.set()
        rt.force_flush(30)
        return rt.dropped, len(exporter.get_finished_logs())
    finally:
        rt.shutdown(1)


def test_backpressure_waits_for_a_slow_exporter_instead_of_dropping(model: Model) -> None:
    dropped, exported = _run_into(model, _SlowLogExporter(0.002), backpressure=False)
    assert dropped["logs"] > 0  # without it, an app outpacing its exporter loses log records
    dropped, exported_waiting = _run_into(model, _SlowLogExporter(0.002), backpressure=True)
    assert dropped == {"traces": 0, "logs": 0} and exported_waiting > exported


def test_backpressure_does_not_wait_for_an_exporter_that_stopped(model: Model) -> None:
    # Blocked until the run ends: had the run waited for it, it would never end (the test would time out).
    dropped, _ = _run_into(model, _SlowLogExporter(release=threading.Event()), backpressure=True)
    assert dropped["logs"] > 0  # the run went on after the stall and the runtime counted what it lost


def test_an_endpoint_that_is_no_url_is_bad_input_before_the_run() -> None:
    result = CliRunner().invoke(main, ["simulate", "--dev", "--endpoint", "notaurl", "--minutes", "1"])
    assert result.exit_code == 2 and "must be an http(s) URL" in result.output, result.output
    assert "Traceback" not in result.output and "journeys" not in result.output
