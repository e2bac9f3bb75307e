"""The stack's generated configs, loaded and run by the real tools on free loopback ports.

``otel/collector.yaml`` is validated by the collector built from otel/builder-config.yaml, then started
with its ``${env:...}`` addresses pointed at 127.0.0.1: it must accept OTLP, drop unhashed high-PII
attributes, expose the metrics under the names generator/names.py derives, and feed a real Loki.
``prometheus/prometheus.yml`` is checked by promtool 2.42 and 3, and its application scrape job scrapes
that collector in both Prometheus versions. ``loki/loki.yaml`` starts the real Loki, which takes an
OTLP log and returns it by request_id. pint lints the rules offline with the generated ``.pint.hcl``.

Every check runs on each spec of ``SPEC_CASES`` (``spec_tree``/``spec_case``): service, event and field
names come from the model. A missing tool fails the test (conftest.find_tool), never skips it. While
scripts/install-tools.sh is still building tools locally, ``OBSGEN_TOOL_WAIT=<seconds>`` makes the tests
wait for them (not in CI).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from obsgen.emit.prometheus.rules import RULE_FILES, rule_path
from obsgen.emit.render import Services
from obsgen.emit.stack import collector
from obsgen.emit.stack import servers as stack
from obsgen.emit.stack.servers import emit as servers_emit
from obsgen.model import Metric, Model
from obsgen.model.naming import prometheus_label_name

from tests.conftest import TOOLS_BIN, find_tool
from tests.support.specs import SpecCase
from tests.support.stack import LOKI_TENANT, Jaeger, started

HASHED = "9b74c9897bac770ffc029102a200c5de1b2f6a2d8e4b0a5b7f0a1c2d3e4f5a6b"
RAW_USER = "alice@example.com"


def tool(name: str) -> str:
    """A tool from scripts/install-tools.sh; locally, optionally wait while it is still being built."""
    wait = 0.0 if os.environ.get("CI") == "true" else float(os.environ.get("OBSGEN_TOOL_WAIT", "0"))
    deadline = time.monotonic() + wait
    while shutil.which(name, path=str(TOOLS_BIN)) is None and time.monotonic() < deadline:
        time.sleep(10)
    return find_tool(name)


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, env=env, check=False, timeout=300)


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open while picking, so none is handed out twice)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 10) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@contextlib.contextmanager
def process(args: list[str], log: Path, ready_url: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server until ``ready_url`` answers 200; always stopped afterwards."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                cwd=log.parent)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{args[0]} exited with {proc.returncode}:\n{log.read_text()[-5000:]}")
            try:
                if http(ready_url, timeout=2)[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{args[0]} not ready at {ready_url} within {timeout}s:\n{log.read_text()[-5000:]}")
            time.sleep(0.25)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def eventually(check: Any, timeout: float = 30, interval: float = 0.5) -> Any:
    """Poll ``check()`` until it returns something truthy; fail with its last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": value}}


def resource(model: Model) -> dict[str, Any]:
    return {"attributes": [attr("service.name", model.service.name), attr("service.namespace", model.service.namespace),
                           attr("service.instance.id", "test-instance-1")]}


def high_pii(model: Model) -> list[str]:
    """The spec's high-PII fields: the collector keeps them only as 64-hex pseudonyms."""
    return sorted(a.name for a in model.attributes.values() if a.pii == "high")


def pii_attrs(model: Model, value: Any) -> list[dict[str, Any]]:
    return [attr(name, value) for name in high_pii(model)]


def job(model: Model) -> str:
    """The ``job`` label the collector's Prometheus exporter derives from the resource."""
    return f"{model.service.namespace}/{model.service.name}"


# --- the collector --------------------------------------------------------------------------------


def test_collector_config_validates(spec_tree: Path) -> None:
    result = run(tool("otelcol-obsgen"), "validate", f"--config={spec_tree / collector.COLLECTOR_FILE}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_collector_config_has_the_pipelines_and_current_component_names(spec_tree: Path) -> None:
    tree = spec_tree
    config = yaml.safe_load((tree / collector.COLLECTOR_FILE).read_text())
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics", "logs", "logs/landing"}
    for name in ("traces", "metrics", "logs"):
        assert pipelines[name]["receivers"] == ["otlp"]
        # Logs: no batch processor holding accepted records in memory; the persistent queue batches.
        batch = [] if name == "logs" else ["batch"]
        assert pipelines[name]["processors"] == ["memory_limiter", "transform/pii_guard", *batch]
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    # Spans: one pipeline to Jaeger and the landing zone, so the PII guard runs once a span; log records: one
    # guarded pipeline to Loki and, through the forward connector, to a batched pipeline for the landing zone.
    assert pipelines["traces"]["exporters"] == ["otlp/jaeger", "file/landing_traces"]
    assert pipelines["logs"]["exporters"] == ["otlp_http/loki", "forward/landing"]
    assert pipelines["logs/landing"] == {"receivers": ["forward/landing"], "processors": ["batch"],
                                         "exporters": ["file/landing_logs"]}
    assert set(config["connectors"]) == {"forward/landing"}
    guarded = [name for name, p in pipelines.items() if "transform/pii_guard" in p["processors"]]
    assert sorted(guarded) == ["logs", "metrics", "traces"]  # once per item: every receiver pipeline, no other
    assert not any(name.startswith(("otlphttp", "prometheusremotewrite")) for name in config["exporters"])
    assert config["exporters"]["prometheus"]["translation_strategy"] == "UnderscoreEscapingWithSuffixes"
    assert config["service"]["extensions"] == ["health_check", "file_storage/queue"]
    queue = config["exporters"]["otlp_http/loki"]["sending_queue"]
    assert queue["storage"] == "file_storage/queue" and queue["sizer"] == "items"
    assert config["exporters"]["otlp_http/loki"]["retry_on_failure"]["max_elapsed_time"] == "0s"
    text = (tree / collector.COLLECTOR_FILE).read_text()
    for var in collector.COLLECTOR_ENV:
        assert var.reference in text


def test_the_built_in_high_pii_fields_are_the_seeds(model: Model) -> None:
    assert high_pii(model) == ["session_id", "user_id"]


def test_pii_guard_covers_every_high_pii_attribute_on_every_signal(spec_tree: Path, spec_case: SpecCase) -> None:
    guard = yaml.safe_load((spec_tree / collector.COLLECTOR_FILE).read_text())["processors"]["transform/pii_guard"]
    high = high_pii(spec_case.model)
    assert high
    for key, context in (("trace_statements", "span"), ("log_statements", "log"), ("metric_statements", "datapoint")):
        statements = " ".join(s for group in guard[key] for s in group["statements"])
        for name in high:
            assert f'delete_key({context}.attributes, "{name}")' in statements


def test_pii_guard_matches_free_text_only_where_a_value_can_hold_it(spec_tree: Path, spec_case: SpecCase) -> None:
    """The guard's cost: its free-text pattern (15-30 us over a rendered record in Go's regexp) runs only behind
    a substring search for ":" or "=", never over a whole rendered map (whose own ``user_id=`` always matched)."""
    guard = yaml.safe_load((spec_tree / collector.COLLECTOR_FILE).read_text())["processors"]["transform/pii_guard"]
    text = collector.ottl(collector.guard_patterns(high_pii(spec_case.model)).text)
    statements = [s for signal in guard.values() if isinstance(signal, list)
                  for group in signal for s in group["statements"]]
    free_text = [s for s in statements if text in s]
    assert free_text
    for statement in free_text:
        condition = statement.split(" where ", 1)[1]
        assert '":") >= 0' in condition and '"=") >= 0' in condition, statement  # Index(..., ":") >= 0
        assert f'.text"], {text})' not in statement, statement  # not matched over a rendered map
    renderings = [s for s in statements if "ToKeyValueString(" in s and s.startswith("set(")
                  and '.text"]' in s.split(",", 1)[0]]
    assert renderings
    assert all(', "|", " ")' in s for s in renderings), renderings  # delimiters adding no ":" or "="


def collector_env(ports: list[int], storage: Path, landing: Path, loki_port: int | None = None,
                  jaeger_port: int | None = None) -> dict[str, str]:
    grpc, http_port, prom, health, telemetry = ports
    env = {"OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc}", "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
           "OTELCOL_PROMETHEUS_ENDPOINT": f"127.0.0.1:{prom}", "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{health}",
           "OTELCOL_TELEMETRY_HOST": "127.0.0.1", "OTELCOL_TELEMETRY_PORT": str(telemetry)}
    # Nothing listens there unless a test starts Loki: logs then wait in the exporter's retry queue.
    env["OTELCOL_LOKI_ENDPOINT"] = f"http://127.0.0.1:{loki_port or free_ports(1)[0]}/otlp"
    # Nor Jaeger (its OTLP/gRPC port): spans wait in their exporter's queue.
    env["OTELCOL_JAEGER_ENDPOINT"] = f"127.0.0.1:{jaeger_port or free_ports(1)[0]}"
    env["OTELCOL_STORAGE_DIR"] = str(storage)
    env["OTELCOL_LANDING_DIR"] = str(landing)
    assert set(env) == {v.name for v in collector.COLLECTOR_ENV}
    return env


@contextlib.contextmanager
def running_collector(tree: Path, work: Path, loki_port: int | None = None, extra_args: tuple[str, ...] = (),
                      jaeger_port: int | None = None) -> Iterator[dict[str, int]]:
    ports = free_ports(5)
    env = collector_env(ports, work / "otelcol-queue", work / "landing", loki_port, jaeger_port)
    args = [tool("otelcol-obsgen"), f"--config={tree / collector.COLLECTOR_FILE}", *extra_args]
    with process(args, work / "otelcol.log", f"http://127.0.0.1:{ports[3]}/", env=env):
        yield dict(zip(("grpc", "http", "prometheus", "health", "telemetry"), ports, strict=True))


def metrics_payload(model: Model, now_ns: int) -> tuple[dict[str, Any], dict[str, str]]:
    """One counter and one histogram of the spec over OTLP/JSON, each with two points told apart by their
    first label: on the ``raw`` one every high-PII field is a raw id, on the ``hashed`` one a pseudonym."""
    counter = next(m for m in model.metrics if m.instrument == "counter" and m.labels)
    histogram = next(m for m in model.metrics if m.instrument == "histogram" and m.labels)
    start = str(now_ns - 60_000_000_000)

    def points(metric: Metric, **fields: Any) -> list[dict[str, Any]]:
        enum = model.attributes[metric.labels[0]].enum
        assert enum and len(enum) >= 2, metric.labels[0]
        return [{**fields, "startTimeUnixNano": start, "timeUnixNano": str(now_ns),
                 "attributes": [attr(metric.labels[0], enum[i]), *pii_attrs(model, id_)]}
                for i, id_ in enumerate((RAW_USER, HASHED))]

    metrics = [
        {"name": counter.name, "unit": counter.unit, "description": counter.description,
         "sum": {"aggregationTemporality": 2, "isMonotonic": True, "dataPoints": points(counter, asInt="3")}},
        {"name": histogram.name, "unit": histogram.unit, "description": histogram.description,
         "histogram": {"aggregationTemporality": 2,
                       "dataPoints": points(histogram, count="2", sum=80.0, bucketCounts=["1", "1", "0"],
                                            explicitBounds=[50, 100])}},
    ]
    payload = {"resourceMetrics": [{"resource": resource(model),
                                    "scopeMetrics": [{"scope": {"name": "obsgen-test"}, "metrics": metrics}]}]}
    names = {"counter": counter.prom_name, "histogram": f"{histogram.prom_name}_bucket",
             "label": prometheus_label_name(counter.labels[0]), "raw": model.attributes[counter.labels[0]].enum[0],  # type: ignore[index]
             "hashed": model.attributes[counter.labels[0]].enum[1],  # type: ignore[index]
             "histogram_label": prometheus_label_name(histogram.labels[0]),
             "histogram_raw": model.attributes[histogram.labels[0]].enum[0]}  # type: ignore[index]
    return payload, names


def assert_pii_guarded(model: Model, raw: dict[str, str], hashed: dict[str, str]) -> None:
    """Labels of the point sent with raw ids (they must be gone) and of the one sent with pseudonyms (kept).
    Prometheus and Loki name them by the same rule (``user.id`` → ``user_id``)."""
    for name in map(prometheus_label_name, high_pii(model)):
        assert name not in raw, f"the PII guard let a raw {name} through"
        assert hashed[name] == HASHED, f"the PII guard dropped a pseudonymised {name}"


def post_json(url: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    status, body = http(url, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})
    assert status in (200, 204), f"{url}: {status} {body}"


def exposition_samples(text: str, name: str) -> list[dict[str, str]]:
    """Label sets of the samples of ``name`` in a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}\{{(.*)\}} ", line)
        if match:
            out.append(dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(1))))
    return out


def test_collector_runs_natively_and_exposes_otlp_metrics_under_the_prometheus_names(
        spec_tree: Path, spec_case: SpecCase, tmp_path: Path) -> None:
    model = spec_case.model
    payload, names = metrics_payload(model, time.time_ns())
    with running_collector(spec_tree, tmp_path) as ports:
        post_json(f"http://127.0.0.1:{ports['http']}/v1/metrics", payload)

        def scraped() -> str | None:
            status, body = http(f"http://127.0.0.1:{ports['prometheus']}/metrics")
            return body if status == 200 and len(exposition_samples(body, names["counter"])) == 2 else None

        body = eventually(scraped)
        assert names["counter"].endswith("_total")
        counters = {labels[names["label"]]: labels for labels in exposition_samples(body, names["counter"])}
        assert_pii_guarded(model, counters[names["raw"]], counters[names["hashed"]])
        buckets = exposition_samples(body, names["histogram"])
        assert buckets, body
        raw_buckets = [b for b in buckets if b[names["histogram_label"]] == names["histogram_raw"]]
        assert_pii_guarded(model, raw_buckets[0], next(b for b in buckets if b not in raw_buckets))
        for labels in (*counters.values(), *buckets):
            assert labels["job"] == job(model)

        status, telemetry = http(f"http://127.0.0.1:{ports['telemetry']}/metrics")
        assert status == 200
        for metric in ("otelcol_receiver_accepted_metric_points", "otelcol_exporter_queue_size",
                       "otelcol_exporter_queue_capacity"):
            assert metric in telemetry, f"{metric} missing from the collector's own telemetry"


def test_collector_guard_drops_unhashed_ids_from_spans(spec_tree: Path, spec_case: SpecCase, tmp_path: Path) -> None:
    """Spans go through the collector into the generated Jaeger (its in-memory store), and Jaeger's query API
    shows what left the guard. One span carries every high-PII field as a raw id, the other as a number (not a
    pseudonym either)."""
    model = spec_case.model
    span_name = next(e.span.name for e in model.events if e.span is not None)
    now = time.time_ns()
    spans = [{"traceId": uuid.uuid4().hex, "spanId": uuid.uuid4().hex[:16], "name": span_name, "kind": 2,
              "startTimeUnixNano": str(now - 1_000_000), "endTimeUnixNano": str(now),
              "attributes": [*pii_attrs(model, id_), attr("test_marker", f"m-{i}")]}
             for i, id_ in enumerate((RAW_USER, 12345))]
    payload = {"resourceSpans": [{"resource": resource(model),
                                  "scopeSpans": [{"scope": {"name": "obsgen-test"}, "spans": spans}]}]}
    jaeger = Jaeger(tmp_path, spec_tree)
    with started(jaeger), running_collector(spec_tree, tmp_path, jaeger_port=jaeger.otlp_port) as ports:
        post_json(f"http://127.0.0.1:{ports['http']}/v1/traces", payload)
        stored = [eventually(lambda s=s: jaeger.trace(s["traceId"])) for s in spans]
    tags = [{t["key"]: t["value"] for t in found[0]["tags"]} for found in stored]
    assert [t["test_marker"] for t in tags] == ["m-0", "m-1"]
    assert RAW_USER not in json.dumps(stored), "the PII guard let a raw id through"
    for name in high_pii(model):
        assert all(name not in t for t in tags), f"a raw or numeric {name} is not a pseudonym and must be dropped"


# --- Prometheus -----------------------------------------------------------------------------------


@pytest.mark.parametrize("promtool", ["promtool", "promtool3"])
def test_promtool_check_config_passes(spec_tree: Path, promtool: str) -> None:
    result = run(tool(promtool), "check", "config", str(spec_tree / stack.PROMETHEUS_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout


def test_prometheus_config_reads_the_generated_rules_and_alerts_alertmanager(spec_tree: Path,
                                                                            spec_case: SpecCase) -> None:
    tree, model = spec_tree, spec_case.model
    config = yaml.safe_load((tree / stack.PROMETHEUS_FILE).read_text())
    base = (tree / stack.PROMETHEUS_FILE).parent
    assert sorted((base / f).resolve() for f in config["rule_files"]) == sorted(
        tree.resolve() / rule_path(model, f) for f in RULE_FILES)
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs[stack.APP_SCRAPE_JOB]["honor_labels"] is True
    assert jobs[stack.APP_SCRAPE_JOB]["static_configs"][0]["targets"] == ["otel-collector:8889"]
    assert jobs[stack.COLLECTOR_TELEMETRY_JOB]["static_configs"][0]["targets"] == ["otel-collector:8888"]


@pytest.mark.parametrize("prometheus", ["prometheus", "prometheus3"])
def test_the_generated_scrape_job_scrapes_the_collector(spec_tree: Path, spec_case: SpecCase, tmp_path: Path,
                                                        prometheus: str) -> None:
    """The app job exactly as generated (honor_labels ...), only its target moved to the native collector."""
    model = spec_case.model
    config = yaml.safe_load((spec_tree / stack.PROMETHEUS_FILE).read_text())
    app_job = next(j for j in config["scrape_configs"] if j["job_name"] == stack.APP_SCRAPE_JOB)
    payload, names = metrics_payload(model, time.time_ns())
    with running_collector(spec_tree, tmp_path) as ports:
        post_json(f"http://127.0.0.1:{ports['http']}/v1/metrics", payload)
        app_job = {**app_job, "scrape_interval": "1s",
                   "static_configs": [{"targets": [f"127.0.0.1:{ports['prometheus']}"]}]}
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": [app_job]}))
        port = free_ports(1)[0]
        args = [tool(prometheus), f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"]
        with process(args, tmp_path / "prometheus.log", f"http://127.0.0.1:{port}/-/ready"):
            def series() -> list[dict[str, Any]]:
                query = urllib.parse.urlencode({"query": names["counter"]})
                status, body = http(f"http://127.0.0.1:{port}/api/v1/query?{query}")
                result = json.loads(body)["data"]["result"] if status == 200 else []
                return result if len(result) == 2 else []

            result = eventually(series)
    by_value = {s["metric"][names["label"]]: s["metric"] for s in result}
    for labels in by_value.values():
        assert labels["job"] == job(model), "honor_labels keeps the exporter's job"
        assert labels["instance"] == "test-instance-1"
    assert_pii_guarded(model, by_value[names["raw"]], by_value[names["hashed"]])


def test_pint_lints_the_rules_offline_without_warnings(spec_tree: Path, spec_case: SpecCase) -> None:
    tree, model = spec_tree, spec_case.model
    result = run(tool("pint"), "--no-color", "--offline", "lint", "--fail-on=warning", "alerting/", cwd=tree)
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sum(len(g["rules"]) for f in RULE_FILES
                for g in yaml.safe_load((tree / rule_path(model, f)).read_text())["groups"])
    assert f"entries={rules}" in result.stderr, result.stderr
    assert "Problems found" not in result.stderr


# --- Loki -----------------------------------------------------------------------------------------


def error_event(model: Model) -> str:
    """The event logged at error severity whose `severity` field tells critical errors apart."""
    return next(e.name for e in model.events if e.log_severity == "error" and "severity" in e.fields)


def test_the_built_in_retention_is_the_seeds(model: Model) -> None:
    limits = yaml.safe_load(servers_emit(Services((model,)))[stack.LOKI_FILE])["limits_config"]
    errors, critical = limits["retention_stream"]
    assert errors["selector"] == '{service_name="movie-recommender", event_name="error"}'
    assert errors["period"] == "30d"
    assert critical["selector"] == '{service_name="movie-recommender", event_name="error", severity="critical"}'
    assert critical["period"] == "90d"


def test_loki_retention_follows_the_spec(spec_tree: Path, spec_case: SpecCase) -> None:
    tree, model = spec_tree, spec_case.model
    limits = yaml.safe_load((tree / stack.LOKI_FILE).read_text())["limits_config"]
    assert limits["retention_period"] == model.retention["raw_events"].text
    assert limits["retention_stream"] == sorted(limits["retention_stream"], key=lambda s: s["priority"])
    errors, critical = limits["retention_stream"]
    selector = f'service_name="{model.service.name}", event_name="{error_event(model)}"'
    assert errors["selector"] == f"{{{selector}}}"
    assert errors["period"] == model.retention["errors"].text
    assert critical["selector"] == f'{{{selector}, severity="critical"}}'
    assert critical["period"] == model.retention["critical_errors"].text
    assert critical["priority"] > errors["priority"]
    assert limits["reject_old_samples_max_age"] == model.retention["late_arrival"].text
    assert limits["otlp_config"]["log_attributes"] == [{"action": "index_label",
                                                        "attributes": ["event_name", "severity"]}]
    compactor = yaml.safe_load((tree / stack.LOKI_FILE).read_text())["compactor"]
    assert compactor["retention_enabled"] is True


def loki_env(tmp_path: Path) -> tuple[dict[str, str], int]:
    http_port, grpc_port = free_ports(2)
    env = {"LOKI_LISTEN_ADDRESS": "127.0.0.1", "LOKI_HTTP_PORT": str(http_port), "LOKI_GRPC_PORT": str(grpc_port),
           "LOKI_DATA_DIR": str(tmp_path / "loki-data")}
    return env, http_port


def test_loki_verifies_the_config(spec_tree: Path, tmp_path: Path) -> None:
    env, _ = loki_env(tmp_path)
    result = run(tool("loki"), f"-config.file={spec_tree / stack.LOKI_FILE}", "-config.expand-env=true",
                 "-verify-config", env={**os.environ, **env})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def loki(spec_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The real Loki running the spec's generated config on free loopback ports; yields its HTTP port."""
    work = tmp_path_factory.mktemp("loki")
    env, port = loki_env(work)
    args = [tool("loki"), f"-config.file={spec_tree / stack.LOKI_FILE}", "-config.expand-env=true"]
    with process(args, work / "loki.log", f"http://127.0.0.1:{port}/ready", env=env, timeout=180):
        yield port


TEST_ID = "test_id"
"""A log attribute the tests find their records by (structured metadata, like the spec's join keys)."""


def log_record(event: str, test_id: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    return {"timeUnixNano": str(time.time_ns()), "severityNumber": 17, "severityText": "ERROR",
            "body": {"stringValue": event}, "traceId": uuid.uuid4().hex, "spanId": uuid.uuid4().hex[:16],
            "attributes": [attr("event_name", event), attr(TEST_ID, test_id), *extra]}


def log_payload(model: Model, *records: dict[str, Any]) -> dict[str, Any]:
    return {"resourceLogs": [{"resource": resource(model),
                              "scopeLogs": [{"scope": {"name": "obsgen-test"}, "logRecords": list(records)}]}]}


def query_loki(port: int, model: Model, test_id: str) -> list[dict[str, Any]]:
    """Streams holding the log with ``test_id`` (structured metadata), over the last 10 minutes."""
    now = time.time_ns()
    query = f'{{service_name="{model.service.name}"}} | {TEST_ID}="{test_id}"'
    params = urllib.parse.urlencode({"query": query, "start": now - 600_000_000_000, "end": now + 60_000_000_000,
                                     "limit": 10})
    status, body = http(f"http://127.0.0.1:{port}/loki/api/v1/query_range?{params}", headers=LOKI_TENANT)
    assert status == 200, body
    return [s for s in json.loads(body)["data"]["result"] if s["values"]]


def test_loki_takes_an_otlp_log_and_returns_it_by_a_structured_field(loki: int, spec_case: SpecCase) -> None:
    model = spec_case.model
    event, pseudonymised = error_event(model), high_pii(model)[0]
    test_id = str(uuid.uuid4())
    payload = log_payload(model, log_record(event, test_id, [attr("severity", "critical"),
                                                             attr(pseudonymised, HASHED)]))
    sdk = [attr(name, "sdk") for name in stack.LOKI_DROP_RESOURCE_ATTRIBUTES]
    payload["resourceLogs"][0]["resource"]["attributes"] += sdk
    post_json(f"http://127.0.0.1:{loki}/otlp/v1/logs", payload, LOKI_TENANT)
    streams = eventually(lambda: query_loki(loki, model, test_id))
    labels = streams[0]["stream"]
    assert labels["service_name"] == model.service.name
    assert labels[TEST_ID] == test_id and labels[prometheus_label_name(pseudonymised)] == HASHED
    # The process's instance is kept (structured metadata); the SDK's constant name/language/version are not stored.
    assert labels["service_instance_id"] == "test-instance-1"
    assert not {prometheus_label_name(name) for name in stack.LOKI_DROP_RESOURCE_ATTRIBUTES} & set(labels)
    # event_name and severity are stream labels, so the per-stream retention selectors can match them.
    assert http(f"http://127.0.0.1:{loki}/loki/api/v1/labels")[0] == 401, "Loki is multi-tenant: no tenant, no data"
    status, body = http(f"http://127.0.0.1:{loki}/loki/api/v1/labels", headers=LOKI_TENANT)
    assert status == 200
    indexed = set(json.loads(body)["data"])
    assert {"service_name", "event_name", "severity"} <= indexed
    assert not {TEST_ID, prometheus_label_name(pseudonymised), "service_instance_id", "trace_id"} & indexed
    # The running Loki holds the spec's retention: compactor on, default period and per-stream overrides.
    status, body = http(f"http://127.0.0.1:{loki}/config")
    running = yaml.safe_load(body)
    assert running["compactor"]["retention_enabled"] is True
    # Ingestion CPU: snappy chunks, no detected_level copy, no stream shards on a single process.
    assert running["ingester"]["chunk_encoding"] == "snappy" and running["ingester"]["wal"]["enabled"] is True
    assert running["limits_config"]["discover_log_levels"] is False
    assert running["limits_config"]["shard_streams"]["enabled"] is False
    assert running["limits_config"]["retention_period"] == model.retention["raw_events"].text
    assert [s["period"] for s in running["limits_config"]["retention_stream"]] == [
        model.retention["errors"].text, model.retention["critical_errors"].text]
    critical = running["limits_config"]["retention_stream"][1]["selector"]
    status, body = http(f"http://127.0.0.1:{loki}/loki/api/v1/series?" + urllib.parse.urlencode({"match[]": critical}),
                        headers=LOKI_TENANT)
    assert status == 200 and json.loads(body)["data"], body


def test_collector_sends_logs_to_loki_without_unhashed_ids(spec_tree: Path, loki: int, spec_case: SpecCase,
                                                           tmp_path: Path) -> None:
    """Two records of a logged event: one with every high-PII field raw (dropped), one pseudonymised (kept)."""
    model = spec_case.model
    event = next(e.name for e in model.events if e.log_severity is not None)
    raw_id, hashed_id = str(uuid.uuid4()), str(uuid.uuid4())
    payload = log_payload(model, log_record(event, raw_id, pii_attrs(model, RAW_USER)),
                          log_record(event, hashed_id, pii_attrs(model, HASHED)))
    with running_collector(spec_tree, tmp_path, loki_port=loki) as ports:
        post_json(f"http://127.0.0.1:{ports['http']}/v1/logs", payload)
        raw = eventually(lambda: query_loki(loki, model, raw_id), timeout=60)
        hashed = eventually(lambda: query_loki(loki, model, hashed_id), timeout=60)
    assert raw[0]["stream"]["event_name"] == event
    assert_pii_guarded(model, raw[0]["stream"], hashed[0]["stream"])
    assert RAW_USER not in json.dumps(raw + hashed)
