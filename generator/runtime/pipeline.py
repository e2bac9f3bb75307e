"""The OpenTelemetry SDK pipeline behind the runtime: resource, providers, exporters, views.

The providers are private to the runtime (never installed as globals) so the runtime cannot disturb
an application's own OpenTelemetry setup; context propagation is global anyway, so a request span still
becomes the child of whatever server span is current. None of them registers the SDK's unbounded
``atexit`` shutdown: the runtime registers its own, bounded one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from obsgen import __version__
from obsgen.model import Metric, Model
from obsgen.runtime import otlp_encode, otlp_http
from obsgen.runtime.config import RuntimeConfig, exporter_choice
from obsgen.runtime.processors import (
    BoundedBatchLogRecordProcessor,
    BoundedBatchSpanProcessor,
    BoundedExportQueue,
    sdk_log_records,
)
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import Exemplar, ExemplarReservoir, MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.util.types import Attributes

_log = logging.getLogger("obsgen.runtime")

LATENCY_UNITS = frozenset({"ns", "us", "ms", "s", "min", "h"})
SCOPE = "obsgen.runtime"


class NoExemplarReservoir(ExemplarReservoir):
    """Keeps no exemplars: for metric streams no dashboard links to a trace from."""

    def __init__(self, **_kwargs: Any) -> None:
        pass

    def offer(self, value: float, time_unix_nano: int, attributes: Attributes, context: Context) -> None:
        pass

    def collect(self, point_attributes: Attributes) -> list[Exemplar]:
        return []


def is_latency_histogram(metric: Metric) -> bool:
    """A histogram of durations: the metrics whose points carry exemplars linking to the trace."""
    return metric.instrument == "histogram" and metric.unit in LATENCY_UNITS


def views(model: Model) -> list[View]:
    """SDK Views giving each histogram the spec's explicit buckets, and exemplars to latency histograms only.

    Counters and gauges measured inside a span would otherwise each keep an exemplar reservoir, paid
    on every measurement, that no generated dashboard reads.
    """
    out = []
    for metric in model.metrics:
        if metric.instrument == "histogram":
            assert metric.buckets is not None
            aggregation = ExplicitBucketHistogramAggregation(boundaries=[float(b) for b in metric.buckets])
            out.append(View(instrument_name=metric.name, meter_name=SCOPE, aggregation=aggregation,
                            exemplar_reservoir_factory=None if is_latency_histogram(metric) else _no_exemplars))
        else:
            out.append(View(instrument_name=metric.name, meter_name=SCOPE, exemplar_reservoir_factory=_no_exemplars))
    return out


def _no_exemplars(_aggregation_type: type) -> Callable[..., NoExemplarReservoir]:
    return NoExemplarReservoir


def resource(model: Model, config: RuntimeConfig, dev_mode: bool) -> Resource:
    """``OTEL_RESOURCE_ATTRIBUTES`` + config, with service name/namespace from the spec and an instance id."""
    env_name = os.environ.get("OTEL_SERVICE_NAME", "").strip()
    if env_name and env_name != model.service.name:
        _log.warning("OTEL_SERVICE_NAME=%s is ignored: service.name comes from the spec (%s), the name every "
                     "generated rule, dashboard and collector config uses", env_name, model.service.name)
    attributes: dict[str, Any] = dict(config.resource_attributes)
    attributes["service.name"] = model.service.name
    attributes["service.namespace"] = model.service.namespace
    if config.service_instance_id:
        attributes["service.instance.id"] = config.service_instance_id
    if dev_mode:
        attributes["obsgen.dev_mode"] = True
    res = Resource.create(attributes)
    if not res.attributes.get("service.instance.id"):
        res = res.merge(Resource({"service.instance.id": str(uuid.uuid4())}))
    return res


def _otlp_exporters(config: RuntimeConfig, res: Resource) -> tuple[Callable[[], Any], Callable[[], Any],
                                                                    Callable[[], Any]]:
    """Factories for the span, log and metric exporters of the configured protocol (grpc imported lazily).

    Over OTLP/HTTP the runtime encodes its spans and log records itself (``otlp_encode``: the SDK's bytes at
    a fraction of the CPU, in steps that let the application thread have the GIL) and sends them with its
    own sender (``otlp_http``); metrics, and every signal over gRPC, use the SDK's exporters. A log exporter
    from the SDK (gRPC, ``RuntimeConfig.log_exporter``) gets SDK records (``sdk_log_records``)."""
    kwargs: dict[str, Any] = {}
    if config.export_timeout_s is not None:
        kwargs["timeout"] = config.export_timeout_s
    endpoint = config.endpoint
    if config.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        if endpoint:
            kwargs["endpoint"] = endpoint
        return (lambda: GrpcSpans(**kwargs), lambda: GrpcLogs(**kwargs), lambda: GrpcMetrics(**kwargs))

    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    def at(path: str) -> dict[str, Any]:
        # Without an explicit endpoint the exporters resolve OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT themselves.
        return {**kwargs, "endpoint": f"{endpoint.rstrip('/')}/{path}"} if endpoint else dict(kwargs)

    def own(signal: str, encode: Callable[..., list[bytes]]) -> otlp_http.OtlpHttpExporter:
        settings = otlp_http.HttpSettings.resolve(signal, endpoint, config.export_timeout_s)
        return otlp_http.OtlpHttpExporter(otlp_http.HttpSender(settings, signal), encode, otlp_http.pause)

    def spans() -> Any:
        if otlp_http.wants_sdk_exporter("traces"):
            return OTLPSpanExporter(**at("v1/traces"))
        return own("traces", otlp_encode.SpanEncoder().chunks)

    def logs() -> Any:
        if otlp_http.wants_sdk_exporter("logs"):
            return OTLPLogExporter(**at("v1/logs"))
        return own("logs", otlp_encode.LogEncoder(res, InstrumentationScope(SCOPE, __version__)).chunks)

    return spans, logs, lambda: OTLPMetricExporter(**at("v1/metrics"))


@dataclass
class Pipeline:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    queues: tuple[BoundedExportQueue[Any], ...]
    metric_exporters: tuple[Any, ...]
    logs: BoundedBatchLogRecordProcessor | None
    """The runtime's log records go here directly (``emit_later``); ``None`` when logs are not exported."""

    def force_flush(self, timeout_s: float = 30.0, metrics: bool = True) -> bool:
        deadline = time.monotonic() + timeout_s
        ok = all([q.force_flush(max(deadline - time.monotonic(), 0.0)) for q in self.queues])
        if metrics:
            remaining_ms = max(deadline - time.monotonic(), 0.0) * 1000
            ok = bool(self.meter_provider.force_flush(timeout_millis=remaining_ms)) and ok
        return ok

    def shutdown(self, timeout_s: float) -> None:
        """Flush and stop everything within ``timeout_s`` seconds, whatever state the collector is in.

        Spans, logs and metrics shut down in parallel, each with the whole budget: a collector that is
        down holds one signal's exporter in its retry back-off, and must not starve the others.
        """
        deadline = time.monotonic() + max(timeout_s, 0.0)

        def stop_metrics() -> None:
            try:
                self.meter_provider.shutdown(timeout_millis=max(deadline - time.monotonic(), 0.0) * 1000)
            except Exception as exc:  # the SDK raises when a reader failed to flush; that is not the app's problem
                _log.warning("obsgen: metrics shutdown: %s", exc)

        threads = [threading.Thread(target=q.shutdown, args=(timeout_s,), daemon=True) for q in self.queues]
        threads.append(threading.Thread(target=stop_metrics, daemon=True))
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(deadline - time.monotonic(), 0.0))
        if threads[-1].is_alive():
            for exporter in self.metric_exporters:  # abort a retry back-off still in progress
                try:
                    exporter.shutdown(timeout_millis=0)
                except Exception:
                    _log.debug("obsgen: aborting the metric exporter failed", exc_info=True)
            threads[-1].join(0.2)


def build(model: Model, config: RuntimeConfig, res: Resource) -> Pipeline:
    assert config.max_queue_size and config.max_export_batch_size and config.schedule_delay_s is not None
    span_exporter, log_exporter, metric_exporter = _otlp_exporters(config, res)
    queue_options = {"max_queue_size": config.max_queue_size, "max_export_batch_size": config.max_export_batch_size,
                     "schedule_delay_s": config.schedule_delay_s}

    metric_exporters: list[Any] = []
    readers: Sequence[MetricReader]
    if config.metric_readers is not None:
        readers = list(config.metric_readers)
    elif exporter_choice("metrics") == "none":
        readers = []
    else:
        exporter = metric_exporter()
        metric_exporters.append(exporter)
        assert config.metric_export_interval_s is not None
        readers = [PeriodicExportingMetricReader(exporter, export_interval_millis=config.metric_export_interval_s
                                                 * 1000)]
    meter_provider = MeterProvider(metric_readers=readers, resource=res, views=views(model),
                                   exemplar_filter=TraceBasedExemplarFilter(), shutdown_on_exit=False)

    tracer_provider = TracerProvider(resource=res, shutdown_on_exit=False)
    queues: list[BoundedExportQueue[Any]] = []
    log_processor = None
    chosen = config.span_exporter or (span_exporter() if exporter_choice("traces") == "otlp" else None)
    if chosen is not None:
        span_processor = BoundedBatchSpanProcessor(chosen, **queue_options)
        tracer_provider.add_span_processor(span_processor)
        queues.append(span_processor.queue)
    chosen = config.log_exporter or (log_exporter() if exporter_choice("logs") == "otlp" else None)
    if chosen is not None:
        own = isinstance(chosen, otlp_http.OtlpHttpExporter)
        log_processor = BoundedBatchLogRecordProcessor(
            chosen, None if own else sdk_log_records(res, InstrumentationScope(SCOPE, __version__)), **queue_options)
        queues.append(log_processor.queue)
    return Pipeline(tracer_provider, meter_provider, tuple(queues), tuple(metric_exporters),
                    log_processor)
