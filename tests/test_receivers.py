"""PagerDuty, Slack and e-mail receivers: spec → Alertmanager config → a real delivery of each shape.

The built-in spec's routing is edited to send P1 to PagerDuty, P2 to Slack and P3 by e-mail; the
generated config (secrets only as file paths) passes ``amtool check-config``, and the real Alertmanager
delivers a firing alert to loopback servers speaking each receiver's protocol: PagerDuty's Events API v2
(the receiver's ``url`` points at loopback), Slack's incoming-webhook JSON (the webhook URL is the
secret file's content) and SMTP with AUTH (``aiosmtpd``).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from obsgen.emit import alertmanager
from obsgen.emit.render import Services
from obsgen.model import Model
from obsgen.spec import load_spec
from obsgen.spec.source import SpecInvalid

from tests.conftest import find_tool
from tests.support.specs import ROOT
from tests.support.stack import Alertmanager, WebhookSink, free_ports, http, started
from tests.test_promtool import run

SPEC = ROOT / "generator" / "demo" / "movie_recommender" / "spec.yaml"
ROUTING = """  receivers:
    pager: {pagerduty: {routing_key_file: SECRETS/pd-key, url: "PD_URL"}}
    chat: {slack: {api_url_file: SECRETS/slack-url, channel: "#recsys-alerts"}}
    mail: {email: {to: oncall@example.com, from: alertmanager@example.com, smarthost: "SMTP",
                   auth_username: alertmanager, auth_password_file: SECRETS/smtp-password, require_tls: false}}
    oncall-page: {url: "http://alert-sink:9096/oncall-page",
                  bearer_token_file: /etc/alertmanager/secrets/oncall-page-token}
"""


def _spec(tmp_path: Path, values: dict[str, str]) -> Model:
    text = SPEC.read_text()
    start, end = text.index("  receivers:\n    oncall-page:"), text.index("  kill_switch_webhook:")
    routing = ROUTING
    for key, value in values.items():
        routing = routing.replace(key, value)
    text = text[:start] + routing + text[end:]
    moves = (("oncall-page", "pager", "10s"), ("oncall-page", "chat", "30s"), ("team-ticket", "mail", "1m"),
             ("team-ticket", "oncall-page", "5m"))
    for old, new, wait in moves:
        before = f"receiver: {old},\n         group_wait: {wait}"
        text = text.replace(before, before.replace(old, new))
    (tmp_path / "spec.yaml").write_text(text)
    return load_spec(tmp_path / "spec.yaml")


def test_receivers_of_each_kind_keep_their_secrets_in_files(tmp_path: Path) -> None:
    model = _spec(tmp_path, {"SECRETS": "/etc/alertmanager/secrets", "PD_URL": "https://events.pagerduty.com/v2/enqueue",
                             "SMTP": "smtp.example.com:587"})
    text = alertmanager.emit(Services((model,)))[alertmanager.ALERTMANAGER_FILE]
    receivers = {r["name"]: r for r in yaml.safe_load(text)["receivers"]}
    assert receivers["movie-recommender/pager"]["pagerduty_configs"][0]["routing_key_file"] == \
        "/etc/alertmanager/secrets/pd-key"
    assert receivers["movie-recommender/chat"]["slack_configs"][0]["api_url_file"] == \
        "/etc/alertmanager/secrets/slack-url"
    mail = receivers["movie-recommender/mail"]["email_configs"][0]
    assert mail["auth_password_file"] == "/etc/alertmanager/secrets/smtp-password" and mail["require_tls"] is False
    assert "routing_key:" not in text and "api_url:" not in text and "auth_password:" not in text
    (tmp_path / "alertmanager.yml").write_text(text)
    result = run(find_tool("amtool"), "check-config", str(tmp_path / "alertmanager.yml"))
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_an_inline_secret_is_rejected_with_its_line(tmp_path: Path) -> None:
    inline = '    chat: {slack: {api_url: "https://hooks.slack.com/x", channel: "#a"}}\n'
    text = SPEC.read_text().replace("  receivers:\n", "  receivers:\n" + inline, 1)
    (tmp_path / "spec.yaml").write_text(text)
    with pytest.raises(SpecInvalid) as error:
        load_spec(tmp_path / "spec.yaml")
    assert "routing.receivers.chat.slack.api_url: secrets are never written" in str(error.value)
    assert "`api_url_file`" in str(error.value)


class Mailbox:
    """An SMTP server on loopback requiring AUTH PLAIN (without TLS: Go's client allows it to 127.0.0.1)."""

    def __init__(self, password: str) -> None:
        self.messages: list[tuple[str, list[str], str]] = []
        self.logins: list[str] = []
        box = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                box.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
                return "250 OK"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.password.decode() == password
            if ok:
                box.logins.append(data.login.decode())
            return AuthResult(success=ok)

        self.port = free_ports(1)[0]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticate,
                                     auth_require_tls=False, auth_required=True,
                                     # aiosmtpd's LOGIN prompt is not the "Username:" Alertmanager expects
                                     auth_exclude_mechanism=["LOGIN"])
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def test_alertmanager_delivers_to_pagerduty_slack_and_smtp_shapes(tmp_path: Path) -> None:
    sink, mailbox = WebhookSink(), Mailbox("smtp-secret")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "pd-key").write_text("R0UTINGKEY0123456789abcdef012345\n")
    (secrets / "slack-url").write_text(f"{sink.url}/slack/T000/B000/XXX\n")
    (secrets / "smtp-password").write_text("smtp-secret")  # Alertmanager 0.25 would send a newline too
    model = _spec(tmp_path, {"SECRETS": str(secrets), "PD_URL": f"{sink.url}/pagerduty/v2/enqueue",
                             "SMTP": f"127.0.0.1:{mailbox.port}"})
    root = tmp_path / "tree"
    (root / "alerting").mkdir(parents=True)
    config = alertmanager.emit(Services((model,)))[alertmanager.ALERTMANAGER_FILE]
    (root / alertmanager.ALERTMANAGER_FILE).write_text(config)
    webhooks = ("movie-recommender/oncall-page", "movie-recommender/kill-switch")
    tokens = {name: tmp_path / name.replace("/", "_") for name in webhooks}
    for file in tokens.values():
        file.write_text("token\n")
    try:
        am = Alertmanager(tmp_path, {name: f"{sink.url}/{name}" for name in webhooks}, tokens, root)
        with started(am):
            now = datetime.now(UTC)
            alerts = [{"labels": {"alertname": f"Test{sev}", "service": "movie-recommender", "severity": sev,
                                  "severity_class": klass, "family": f"test-{sev}"},  # P1 would inhibit P2-P3
                       "annotations": {"summary": f"{sev} summary"},
                       "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=5)).isoformat()}
                      for sev, klass in (("P1", "critical"), ("P2", "warning"), ("P3", "warning"))]
            status, body = http(f"http://127.0.0.1:{am.port}/api/v2/alerts", json.dumps(alerts).encode(),
                                {"Content-Type": "application/json", **am.auth})
            assert status == 200, body
            deadline = time.monotonic() + 60
            paths = lambda: {n.path.split("/")[1] for n in sink.received}  # noqa: E731
            while time.monotonic() < deadline and not ({"pagerduty", "slack"} <= paths() and mailbox.messages):
                time.sleep(0.2)
    finally:
        sink.stop()
        mailbox.stop()
    pagerduty = next(n.body for n in sink.received if n.path == "/pagerduty/v2/enqueue")
    assert pagerduty["routing_key"] == "R0UTINGKEY0123456789abcdef012345"  # read from the file
    assert pagerduty["event_action"] == "trigger" and pagerduty["payload"]["severity"] == "critical"
    assert pagerduty["payload"]["summary"].startswith("TestP1: P1 summary") and pagerduty["dedup_key"]
    slack = next(n.body for n in sink.received if n.path == "/slack/T000/B000/XXX")
    assert slack["channel"] == "#recsys-alerts"
    assert slack["attachments"][0]["title"] == "FIRING: TestP2" and "P2 summary" in slack["attachments"][0]["text"]
    assert mailbox.messages, [n.path for n in sink.received]
    sender, recipients, content = mailbox.messages[0]
    assert (sender, recipients, mailbox.logins) == ("alertmanager@example.com", ["oncall@example.com"],
                                                    ["alertmanager"])
    assert "TestP3" in content
