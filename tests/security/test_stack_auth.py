"""Prometheus and Alertmanager as the stack runs them: basic auth on every endpoint (web configs from
``obsgen secrets init``), and Prometheus still alerts the authenticated Alertmanager (issue 10 part 2)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.emit.stack import credentials
from obsgen.model import Model

from tests.support.stack import (
    PROBE_DELIVERY_S,
    Alertmanager,
    Collector,
    Prometheus,
    WebhookSink,
    http,
    locate,
    stack_secrets,
    started,
    wait_for,
    write_probe_rule,
    write_secret,
)

ALERT = "ObsgenAuthProbe"


@pytest.fixture(scope="module")
def servers(model: Model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, Alertmanager]]:
    """The built-in tree's Alertmanager and Prometheus 3 with their web configs; one rule that always fires."""
    work = tmp_path_factory.mktemp("auth")
    config = yaml.safe_load((Path(__file__).parents[2] / "alerting" / "alertmanager.yml").read_text())
    receivers = [r["name"] for r in config["receivers"] if r.get("webhook_configs")]
    sink = WebhookSink()
    tokens = {name: write_secret(work / "tokens" / name.replace("/", "-"), "t0ken") for name in receivers}
    alertmanager = Alertmanager(work, {name: f"{sink.url}/{name}" for name in receivers}, tokens)
    rule = write_probe_rule(work, ALERT, model.service.name)
    collector = Collector(work, 1)  # not started: its scrape jobs just fail
    prometheus = Prometheus(work, collector, alertmanager.port, None, [rule])
    try:
        with started(alertmanager, prometheus):
            yield prometheus, alertmanager
    finally:
        sink.stop()


@pytest.mark.parametrize("tool", ["promtool", "promtool3"])
def test_promtool_checks_the_web_configs(tool: str, tmp_path: Path) -> None:
    secrets = stack_secrets(tmp_path)
    for name in credentials.WEB_CONFIGS:
        result = subprocess.run([locate(tool), "check", "web-config", str(secrets / name)], capture_output=True,
                                text=True, check=False, timeout=60)
        assert result.returncode == 0 and "SUCCESS" in result.stdout + result.stderr, result.stdout + result.stderr


def test_prometheus_refuses_requests_without_the_password(servers: tuple[Prometheus, Alertmanager]) -> None:
    prometheus, _ = servers
    for path in ("/api/v1/query?query=up", "/-/ready", "/metrics"):
        assert http(prometheus.url + path)[0] == 401, path
        assert http(prometheus.url + path, headers={"Authorization": "Basic b2JzZ2VuOndyb25n"})[0] == 401, path
        assert http(prometheus.url + path, headers=prometheus.auth)[0] == 200, path


def test_alertmanager_refuses_unauthenticated_alerts(servers: tuple[Prometheus, Alertmanager], model: Model) -> None:
    _, alertmanager = servers
    forged = json.dumps([{"labels": {"alertname": "Forged", "kill_switch": next(iter(model.kill_switches)),
                                     "service": model.service.name, "severity": "P1"}}]).encode()
    assert http(f"{alertmanager.url}/api/v2/alerts", forged, {"Content-Type": "application/json"})[0] == 401
    assert http(f"{alertmanager.url}/api/v2/status")[0] == 401
    status, alerts = http(f"{alertmanager.url}/api/v2/alerts", headers=alertmanager.auth)
    assert status == 200 and "Forged" not in alerts


def test_prometheus_alerts_and_scrapes_the_authenticated_alertmanager(servers: tuple[Prometheus, Alertmanager],
                                                                      tmp_path: Path) -> None:
    prometheus, alertmanager = servers

    def delivered() -> bool:
        status, body = http(f"{alertmanager.url}/api/v2/alerts", headers=alertmanager.auth)
        return status == 200 and any(a["labels"]["alertname"] == ALERT for a in json.loads(body))

    try:
        wait_for(delivered, PROBE_DELIVERY_S, f"{ALERT} in Alertmanager")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{_notifier_state(prometheus, alertmanager)}") from None
    wait_for(lambda: prometheus.value('min(up{job=~"prometheus|alertmanager"})') == 1.0 and
             len(prometheus.query('up{job=~"prometheus|alertmanager"}')) == 2, 30,
             "Prometheus scraping itself and Alertmanager with their passwords")
    amtool = subprocess.run(
        [locate("amtool"), f"--alertmanager.url={alertmanager.url}",
         f"--http.config.file={stack_secrets(alertmanager.log.parent) / credentials.AMTOOL_HTTP_CONFIG}",
         "alert", "query", f"alertname={ALERT}"], capture_output=True, text=True, check=False, timeout=60)
    assert amtool.returncode == 0 and ALERT in amtool.stdout, amtool.stdout + amtool.stderr



def _notifier_state(prometheus: Prometheus, alertmanager: Alertmanager) -> str:
    """What Prometheus knows of the probe alert and its Alertmanager, and both logs' ends (for a failure)."""
    parts = []
    for what, get in (("alerts", lambda: prometheus.api("alerts")),
                      ("alertmanagers", lambda: prometheus.api("alertmanagers")),
                      ("notifications", lambda: prometheus.query('{__name__=~"prometheus_notifications_.*"}')),
                      ("rule groups", lambda: prometheus.api("rules"))):
        try:
            parts.append(f"{what}: {json.dumps(get())[:2000]}")
        except (AssertionError, OSError) as exc:
            parts.append(f"{what}: {exc}")
    return "\n".join([*parts, f"prometheus log:\n{prometheus.tail(3000)}",
                       f"alertmanager log:\n{alertmanager.tail(3000)}"])


def test_secrets_init_on_the_command_line_says_which_group_reads_them(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["secrets", "init", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"OBSGEN_SECRETS_GID={tmp_path.joinpath('secrets').stat().st_gid}" in result.output
    assert sorted(p.name for p in (tmp_path / "secrets").iterdir()) == sorted(
        [*credentials.PASSWORDS, *credentials.WEB_CONFIGS, credentials.AMTOOL_HTTP_CONFIG,
         "killswitch-token", "oncall-page-token", "team-ticket-token"])
