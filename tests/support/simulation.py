"""A simulation against a runtime exporting into memory: every span, log record and metric point it caused."""

from __future__ import annotations

from typing import Any

from obsgen.model import Model
from obsgen.runtime import RuntimeConfig, Telemetry
from obsgen.simulate import Simulation, SimulationConfig
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

PII_KEY = b"simulate-test-key-0123456789abcdef"


class Run:
    """A simulation against a runtime exporting into memory (strict validation: any bad event raises)."""

    def __init__(self, model: Model, validation: str = "strict", **options: Any) -> None:
        self.spans_out, self.logs_out, self.reader = InMemorySpanExporter(), InMemoryLogRecordExporter(), \
            InMemoryMetricReader()
        self.rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, validation=validation,  # type: ignore[arg-type]
                                                 span_exporter=self.spans_out, log_exporter=self.logs_out,
                                                 metric_readers=[self.reader], max_queue_size=1_000_000))
        options.setdefault("pace", False)
        self.sim = Simulation(self.rt, SimulationConfig(**options))

    def run(self, **kwargs: Any) -> Any:
        summary = self.sim.run(**kwargs)
        self.rt.force_flush()
        return summary

    def spans(self, name: str) -> list[dict[str, Any]]:
        return [dict(s.attributes or {}) for s in self.spans_out.get_finished_spans() if s.name == name]

    def logs(self) -> list[dict[str, Any]]:
        return [dict(r.log_record.attributes or {}) for r in self.logs_out.get_finished_logs()]

    def metric_totals(self) -> dict[str, float]:
        data = self.reader.get_metrics_data()
        out: dict[str, float] = {}
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out[metric.name] = sum(getattr(p, "count", None) if hasattr(p, "bucket_counts") else p.value
                                           for p in metric.data.data_points)
        return out

    def close(self) -> None:
        self.rt.shutdown()

    def metric_points(self, name: str) -> list[tuple[dict[str, Any], float]]:
        """(attributes, count or value) of each data point of metric ``name``."""
        data = self.reader.get_metrics_data()
        return [(dict(p.attributes or {}), p.count if hasattr(p, "bucket_counts") else p.value)
                for rm in (data.resource_metrics if data else ()) for sm in rm.scope_metrics
                for metric in sm.metrics if metric.name == name for p in metric.data.data_points]
