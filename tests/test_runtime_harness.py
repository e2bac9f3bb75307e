"""Shared harness for the runtime tests: a ``Telemetry`` wired to the SDK's in-memory exporter and reader.

Other ``test_runtime_*`` modules import from here; the few tests below check the harness itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from obsgen.model import Model
from obsgen.runtime import KillSwitchState, RuntimeConfig, Telemetry
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Metric
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

PII_KEY = b"test-key-0123456789abcdef-0123456789"
RAW_USER = "user-8675309"
RAW_SESSION = "sess-4242-abcd"
ITEMS = [f"tt{i:07d}" for i in range(1, 21)]
GENRES = ["drama", "comedy", "action", "scifi", "other"]
PROVIDERS = ["netflix", "hulu", "max", "other"]


class Harness:
    """A runtime whose spans, log records and metrics land in memory."""

    def __init__(self, model: Model, kill_switches: KillSwitchState | None = None, **config: Any) -> None:
        self.span_exporter = InMemorySpanExporter()
        self.log_exporter = InMemoryLogRecordExporter()
        self.reader = InMemoryMetricReader()
        config.setdefault("pii_key", PII_KEY)
        self.rt = Telemetry(model, RuntimeConfig(span_exporter=self.span_exporter, log_exporter=self.log_exporter,
                                                 metric_readers=[self.reader], **config),
                            kill_switches=kill_switches)

    def spans(self) -> list[ReadableSpan]:
        self.rt.force_flush(metrics=False)
        return list(self.span_exporter.get_finished_spans())

    def logs(self) -> list[ReadableLogRecord]:
        self.rt.force_flush(metrics=False)
        return list(self.log_exporter.get_finished_logs())

    def metrics(self) -> dict[str, Metric]:
        """Every metric collected so far, by name (collecting resets exemplars: call once per check)."""
        data = self.reader.get_metrics_data()
        out: dict[str, Metric] = {}
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out[m.name] = m
        return out

    def points(self, name: str) -> list[Any]:
        metric = self.metrics().get(name)
        return list(metric.data.data_points) if metric is not None else []

    def violations(self) -> dict[tuple[str, str], int]:
        """``obsgen.data_quality.violations`` as {(kind, event): count}."""
        return {(p.attributes["kind"], p.attributes["event"]): p.value
                for p in self.points("obsgen.data_quality.violations")}

    def close(self) -> None:
        self.rt.shutdown(2.0)


def journey(rt: Telemetry, *, user: str = RAW_USER, session: str = RAW_SESSION, bucket: str = "treatment",
            clicks: tuple[int, ...] = (3,), **request: Any) -> str:
    """request(k=20) -> ranking -> 20 impressions -> clicks at the given positions; returns the request id."""
    fields = {"user_id": user, "session_id": session, "experiment_id": "ranker-v2", "bucket": bucket, "k": 20,
              "cohort": "engaged", "user_state": "warm", "region": "eu", "surface": "home", "device_type": "web",
              **request}
    with rt.request(**fields) as req:
        rt.ranking(latency_ms=41.5, coverage=0.97, algorithm="hybrid", alpha=0.7, items=ITEMS, cache_result="hit",
                   fallback="none", data_age_s=120.0)
    for i, item in enumerate(ITEMS):
        rt.impression(request_id=req.request_id, canonical_id=item, position=i + 1, visible_ms=1500.0,
                      genre=GENRES[i % len(GENRES)], provider=PROVIDERS[i % len(PROVIDERS)])
    for position in clicks:
        rt.click(request_id=req.request_id, canonical_id=ITEMS[position - 1], position=position,
                 engagement_type="save", dwell_ms=12000.0, genre=GENRES[(position - 1) % len(GENRES)])
    assert req.request_id is not None
    return req.request_id


@pytest.fixture
def harness(model: Model) -> Iterator[Harness]:
    h = Harness(model)
    yield h
    h.close()


def test_harness_collects_every_signal_of_a_journey(harness: Harness) -> None:
    journey(harness.rt)
    assert len(harness.spans()) == 2
    assert len(harness.logs()) == 21
    assert harness.metrics()
