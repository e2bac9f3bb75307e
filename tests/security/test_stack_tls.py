"""``stack.tls``: Prometheus and Alertmanager serve HTTPS with the certificate ``obsgen secrets init`` makes (or
yours), and every client in the generated tree uses ``https`` and checks the stack's CA. Proven with the real
binaries: Prometheus 3 alerts Alertmanager and scrapes both over TLS, amtool queries over TLS, plain HTTP is
refused, and promtool loads the web configs."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.emit.stack import credentials
from obsgen.model import Model
from obsgen.secretfiles import make_tls, write_secrets
from obsgen.spec import default_spec_text

from tests.support.stack import (
    PROBE_DELIVERY_S,
    Alertmanager,
    Collector,
    Prometheus,
    WebhookSink,
    http,
    locate,
    started,
    wait_for,
    write_probe_rule,
    write_secret,
)

ALERT = "ObsgenTlsProbe"


@pytest.fixture(scope="module")
def tls_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in spec with ``stack: {tls: true}``, generated, with its secrets (a private CA made)."""
    work = tmp_path_factory.mktemp("tls")
    spec = yaml.safe_load(default_spec_text())
    spec["stack"] = {"tls": True}
    path = work / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    tree = work / "tree"
    for args in (["generate", str(path), "--out", str(tree)], ["secrets", "init", str(path), "--out", str(tree)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    return tree


@pytest.fixture(scope="module")
def servers(model: Model, tls_tree: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Prometheus, Alertmanager, Path]]:
    """Alertmanager and Prometheus 3 of the TLS tree, on loopback, with one rule that always fires."""
    work = tmp_path_factory.mktemp("tls-servers")
    secrets = work / credentials.SECRETS_DIR
    write_secrets(secrets, list(credentials.PASSWORDS), tls=True)  # the servers' own copy; they keep it
    ca = secrets / credentials.TLS_CA
    config = yaml.safe_load((tls_tree / "alerting" / "alertmanager.yml").read_text())
    receivers = [r["name"] for r in config["receivers"] if r.get("webhook_configs")]
    sink = WebhookSink()
    tokens = {name: write_secret(work / "tokens" / name.replace("/", "-"), "t0ken") for name in receivers}
    alertmanager = Alertmanager(work, {name: f"{sink.url}/{name}" for name in receivers}, tokens, root=tls_tree)
    rule = write_probe_rule(work, ALERT, model.service.name)
    prometheus = Prometheus(work, Collector(work, 1), alertmanager.port, None, [rule], root=tls_tree)
    # The generated CA path is the container's; natively it is the file beside the other secrets.
    prometheus.config_file.write_text(prometheus.config_file.read_text().replace(
        credentials.mounted(credentials.TLS_CA), str(ca)))
    for server in (alertmanager, prometheus):
        server.ready_url = server.ready_url.replace("http://", "https://")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(ca))  # urllib (tests.support.stack.http) trusts the stack's CA
        try:
            with started(alertmanager, prometheus):
                yield prometheus, alertmanager, secrets
        finally:
            sink.stop()


def https(server: Prometheus | Alertmanager) -> str:
    return server.url.replace("http://", "https://")


def test_the_generated_clients_use_https_and_the_ca(tls_tree: Path) -> None:
    ca = credentials.mounted(credentials.TLS_CA)
    prometheus = yaml.safe_load((tls_tree / "prometheus" / "prometheus.yml").read_text())
    (alerting,) = prometheus["alerting"]["alertmanagers"]
    secured = [alerting, *(j for j in prometheus["scrape_configs"] if j["job_name"] in ("prometheus", "alertmanager"))]
    assert len(secured) == 3
    assert all(c["scheme"] == "https" and c["tls_config"] == {"ca_file": ca} for c in secured)
    sources = yaml.safe_load((tls_tree / "grafana/provisioning/datasources/datasources.yml").read_text())
    behind_auth = [d for d in sources["datasources"] if d.get("basicAuth")]
    assert {d["name"] for d in behind_auth} == {"Prometheus", "Alertmanager"}
    assert all(d["url"].startswith("https://") and d["jsonData"]["tlsAuthWithCACert"]
               and d["secureJsonData"]["tlsCACert"] == f"$__file{{{ca}}}" for d in behind_auth)
    compose = yaml.safe_load((tls_tree / "docker-compose.yml").read_text())
    mounted = {name: {s["source"] for s in svc.get("secrets", [])} for name, svc in compose["services"].items()}
    assert {credentials.TLS_CERT, credentials.TLS_KEY} <= mounted["prometheus"] & mounted["alertmanager"]
    assert credentials.TLS_CA in mounted["grafana"] & mounted["prometheus"]
    amtool = yaml.safe_load((tls_tree / "secrets" / credentials.AMTOOL_HTTP_CONFIG).read_text())
    assert amtool["tls_config"]["ca_file"] == str((tls_tree / "secrets" / credentials.TLS_CA).resolve())


@pytest.mark.parametrize("tool", ["promtool", "promtool3"])
def test_promtool_checks_the_tls_web_configs(tool: str, tls_tree: Path) -> None:
    for name in credentials.WEB_CONFIGS:
        config = yaml.safe_load((tls_tree / "secrets" / name).read_text())
        assert config["tls_server_config"] == {"cert_file": credentials.TLS_CERT, "key_file": credentials.TLS_KEY}
        result = subprocess.run([locate(tool), "check", "web-config", str(tls_tree / "secrets" / name)],
                                capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0 and "SUCCESS" in result.stdout + result.stderr, result.stdout + result.stderr


def test_an_alert_is_delivered_and_scraped_over_tls(servers: tuple[Prometheus, Alertmanager, Path]) -> None:
    prometheus, alertmanager, secrets = servers

    def delivered() -> bool:
        status, body = http(f"{https(alertmanager)}/api/v2/alerts", headers=alertmanager.auth)
        return status == 200 and any(a["labels"]["alertname"] == ALERT for a in json.loads(body))

    wait_for(delivered, PROBE_DELIVERY_S, f"{ALERT} in Alertmanager, sent by Prometheus over TLS")
    status, body = http(f"{https(prometheus)}/api/v1/query?query=up", headers=prometheus.auth)
    assert status == 200
    wait_for(lambda: {r["metric"]["job"]: r["value"][1] for r in json.loads(http(
        f"{https(prometheus)}/api/v1/query?query=up", headers=prometheus.auth)[1])["data"]["result"]
        if r["metric"]["job"] in ("prometheus", "alertmanager")} == {"prometheus": "1", "alertmanager": "1"},
        30, "Prometheus scraping itself and Alertmanager over TLS")
    amtool = subprocess.run(
        [locate("amtool"), f"--alertmanager.url={https(alertmanager)}",
         f"--http.config.file={secrets / credentials.AMTOOL_HTTP_CONFIG}", "alert", "query", f"alertname={ALERT}"],
        capture_output=True, text=True, check=False, timeout=60)
    assert amtool.returncode == 0 and ALERT in amtool.stdout, amtool.stdout + amtool.stderr


def test_plain_http_and_unknown_certificates_are_refused(servers: tuple[Prometheus, Alertmanager, Path],
                                                         tmp_path: Path) -> None:
    prometheus, alertmanager, _ = servers
    make_tls(tmp_path)  # another private CA: a client trusting only it must refuse the servers
    untrusting = ssl.create_default_context(cafile=str(tmp_path / credentials.TLS_CA))
    for server in (prometheus, alertmanager):
        status, body = http(f"{server.url}/-/ready", headers=server.auth)  # plain HTTP to the TLS port
        assert status == 400 and "HTTPS server" in body, (status, body)
        request = urllib.request.Request(f"{https(server)}/-/ready", headers=server.auth)
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(request, timeout=10, context=untrusting)


def test_secrets_init_keeps_your_certificates_and_refuses_a_partial_set(tmp_path: Path) -> None:
    spec = yaml.safe_load(default_spec_text())
    spec["stack"] = {"tls": True}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write_secret(secrets / credentials.TLS_CERT, "yours")
    result = CliRunner().invoke(main, ["secrets", "init", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "tls-ca.crt, tls-server.key missing" in result.output, result.output
    for name in (credentials.TLS_CA, credentials.TLS_KEY):
        write_secret(secrets / name, "yours")
    result = CliRunner().invoke(main, ["secrets", "init", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert all((secrets / name).read_text() == "yours\n" for name in credentials.TLS_FILES)


def test_stack_tls_must_be_a_boolean(tmp_path: Path) -> None:
    spec = yaml.safe_load(default_spec_text())
    spec["stack"] = {"tls": "yes"}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert re.search(r"spec\.yaml:\d+: stack\.tls: expected true or false, got .* — write true or false",
                     result.output), result.output
