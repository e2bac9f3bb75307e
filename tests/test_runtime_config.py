"""Configuration from OTEL_* and OBSGEN_* variables, exporter choice, and a light import."""

from __future__ import annotations

import subprocess
import sys

import pytest
from obsgen.model import Model
from obsgen.runtime import RuntimeConfig, Telemetry

from tests.conftest import ROOT
from tests.test_runtime_harness import PII_KEY, Harness, journey


def test_importing_the_runtime_leaves_the_generator_dependencies_out() -> None:
    code = ("import sys, obsgen.runtime\n"
            "heavy = [m for m in ('grafanalib', 'jinja2', 'click', 'promql_parser') if m in sys.modules]\n"
            "print(','.join(heavy) or 'none')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "none", out.stdout + out.stderr


def test_a_runtime_for_the_built_in_spec_starts_without_the_generator_dependencies() -> None:
    code = ("import sys\n"
            "from obsgen.runtime import RuntimeConfig, Telemetry\n"
            "rt = Telemetry.from_default(RuntimeConfig(pii_key=b'cfg-key-Zq8vR2mK7xW4pL9n', metric_readers=[]))\n"
            "rt.shutdown(0.5)\n"
            "print(','.join(m for m in ('grafanalib', 'jinja2', 'click') if m in sys.modules) or 'none')")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none", "PATH": ""})
    assert out.stdout.strip() == "none", out.stdout + out.stderr


def test_settings_come_from_the_environment_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSGEN_VALIDATION", "strict")
    monkeypatch.setenv("OBSGEN_SHADOW", "1")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "99")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "15000")
    cfg = RuntimeConfig().resolved()
    assert (cfg.validation, cfg.shadow, cfg.endpoint, cfg.protocol) == ("strict", True, "http://collector:4318",
                                                                        "grpc")
    assert (cfg.export_timeout_s, cfg.max_queue_size, cfg.metric_export_interval_s) == (2.5, 99, 15.0)
    explicit = RuntimeConfig(validation="production", shadow=False, protocol="http/protobuf").resolved()
    assert (explicit.validation, explicit.shadow, explicit.protocol) == ("production", False, "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(ValueError, match="http/protobuf"):
        RuntimeConfig().resolved()


@pytest.mark.parametrize("endpoint", ["notaurl", "collector:4318", "http://", "ftp://collector:4318", "http:/x"])
def test_an_endpoint_that_is_no_http_url_is_refused_with_the_fix(endpoint: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo would otherwise only show as every export failing and every item counted dropped."""
    with pytest.raises(ValueError, match="must be an http\\(s\\) URL such as http://localhost:4318"):
        RuntimeConfig(endpoint=endpoint).resolved()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    with pytest.raises(ValueError, match="OTEL_EXPORTER_OTLP_ENDPOINT"):
        RuntimeConfig().resolved()
    assert RuntimeConfig(endpoint="collector:4317", protocol="grpc").resolved().endpoint == "collector:4317"


def test_the_protocol_picks_the_otlp_exporters(model: Model) -> None:
    kinds = {}
    for protocol in ("http/protobuf", "grpc"):
        rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, protocol=protocol, endpoint="http://127.0.0.1:9",
                                            metric_readers=[]))
        kinds[protocol] = {q.signal: type(q.exporter).__module__ for q in rt._pipeline.queues}
        rt.shutdown(0.5)
    # Over HTTP the runtime encodes and sends its spans and log records itself (tests/test_otlp_encode.py).
    assert kinds["http/protobuf"] == {"traces": "obsgen.runtime.otlp_http", "logs": "obsgen.runtime.otlp_http"}
    assert all(".grpc." in m for m in kinds["grpc"].values())
    rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, endpoint="http://127.0.0.1:9/", metric_readers=[]))
    try:
        by_signal = {q.signal: q.exporter for q in rt._pipeline.queues}
        assert (by_signal["traces"].endpoint, by_signal["logs"].endpoint) == (
            "http://127.0.0.1:9/v1/traces", "http://127.0.0.1:9/v1/logs")
    finally:
        rt.shutdown(0.5)


def test_otel_exporter_none_turns_a_signal_off(model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, metric_readers=[]))
    try:
        assert rt._pipeline.queues == ()
        journey(rt)  # still works, emits only metrics
        assert rt.dropped == {}
    finally:
        rt.shutdown(0.5)


def test_the_runtime_can_be_used_as_a_context_manager(model: Model) -> None:
    h = Harness(model)
    with h.rt as rt:
        journey(rt)
    assert rt._closed
