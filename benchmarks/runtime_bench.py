"""Benchmark: the obsgen runtime against hand-written OpenTelemetry SDK code doing the same work.

Workload, one recommendation journey: request (k=20) -> ranking -> 20 impressions -> 1 click on the
built-in spec, i.e. 23 events, 2 spans, 21 log records and about 29 metric measurements, exported
over OTLP http/protobuf to a local sink (a child process that accepts and discards, on a free
127.0.0.1 port). The baseline is an idiomatic SDK script that produces the same spans, log records and
metric points (same attributes, pseudonymised ids, explicit buckets, exemplars on the millisecond
histograms only) with the SDK's own BatchSpanProcessor/BatchLogRecordProcessor.

Reported, per round and as medians: journeys/s, the wall-clock ratio obsgen/baseline and the ratio of the
application thread's CPU time (goals <= 1.00), the export requests of each signal; then the
p50/p99 time an application thread spends inside one emit call with the endpoint up and down (down =
a closed loopback port), plus spans/log records dropped. See benchmarks/README.md.

    .venv/bin/python benchmarks/runtime_bench.py [--journeys 2000] [--rounds 5] [--rate 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import hmac
import json
import multiprocessing
import os
import platform
import random
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from obsgen.runtime import RuntimeConfig, Telemetry
from obsgen.runtime.pipeline import NoExemplarReservoir
from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

K = 20
EVENTS_PER_JOURNEY = 1 + 1 + K + 1
EXPERIMENT = "ranker-v2"
QUEUE, BATCH, DELAY_S, METRIC_INTERVAL_S = 2048, 512, 1.0, 5.0
PII_KEY = os.urandom(32).hex()  # raw random bytes may start or end with whitespace: a refused key


# -- the sink -------------------------------------------------------------------------------------------

class _SinkHandler(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports and discards them, counting bytes per signal (GET /stats)."""

    protocol_version = "HTTP/1.1"
    received: dict[str, int] = {}

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received[self.path] = self.received.get(self.path, 0) + len(body)
        self.received[self.path + "#requests"] = self.received.get(self.path + "#requests", 0) + 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps(self.received).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


def _serve_sink(conn: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SinkHandler)
    conn.send(server.server_address[1])
    server.serve_forever()


def start_sink() -> tuple[multiprocessing.Process, str]:
    """An OTLP/HTTP sink in a child process (so it does not compete for this process's GIL)."""
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(target=_serve_sink, args=(child,), daemon=True)
    proc.start()
    return proc, f"http://127.0.0.1:{parent.recv()}"


def sink_stats(endpoint: str) -> dict[str, int]:
    from urllib.request import urlopen

    with urlopen(f"{endpoint}/stats", timeout=5) as response:
        return json.loads(response.read())


def closed_endpoint() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


# -- the workload ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Journey:
    user: str
    session: str
    bucket: str
    cohort: str
    user_state: str
    region: str
    surface: str
    device: str
    latency_ms: float
    coverage: float
    algorithm: str
    items: list[str]
    cache: str
    fallback: str
    data_age_s: float
    genres: list[str]
    providers: list[str]
    visible_ms: list[float]
    click_position: int
    engagement: str
    dwell_ms: float


def journeys(n: int, seed: int = 7) -> list[Journey]:
    rng = random.Random(seed)
    genres = ["action", "comedy", "documentary", "drama", "family", "horror", "romance", "scifi", "thriller", "other"]
    providers = ["netflix", "prime_video", "disney_plus", "hulu", "max", "apple_tv", "other"]
    out = []
    for i in range(n):
        out.append(Journey(
            user=f"user-{rng.randrange(50_000)}", session=f"session-{i // 3}-{rng.randrange(10**9)}",
            bucket=rng.choice(["control", "treatment"]), cohort=rng.choice(["new", "casual", "engaged", "power"]),
            user_state=rng.choice(["warm", "warm", "cold"]), region=rng.choice(["na", "eu", "apac", "latam"]),
            surface=rng.choice(["home", "search", "detail"]), device=rng.choice(["web", "ios", "android", "tv"]),
            latency_ms=rng.uniform(5, 120), coverage=rng.uniform(0.9, 1.0),
            algorithm=rng.choice(["collaborative", "content_based", "hybrid"]),
            items=[f"tt{rng.randrange(10**7):07d}" for _ in range(K)], cache=rng.choice(["hit", "hit", "miss"]),
            fallback=rng.choice(["none"] * 9 + ["popular"]), data_age_s=rng.uniform(10, 600),
            genres=[rng.choice(genres) for _ in range(K)], providers=[rng.choice(providers) for _ in range(K)],
            visible_ms=[rng.uniform(100, 5000) for _ in range(K)], click_position=rng.randrange(1, K + 1),
            engagement=rng.choice(["click", "save", "play", "trailer"]), dwell_ms=rng.uniform(1000, 100_000)))
    return out


class Timer:
    """Accumulates the nanoseconds each emit call takes (per-call timing runs only)."""

    def __init__(self) -> None:
        self.samples: list[int] = []


def obsgen_journey(rt: Any, j: Journey, timer: Timer | None = None) -> None:
    """What an application writes with the runtime: one call per event, ids inherited from the request."""
    if timer is None:
        with rt.request(user_id=j.user, session_id=j.session, experiment_id=EXPERIMENT, bucket=j.bucket, k=K,
                        cohort=j.cohort, user_state=j.user_state, region=j.region, surface=j.surface,
                        device_type=j.device) as req:
            rt.ranking(latency_ms=j.latency_ms, coverage=j.coverage, algorithm=j.algorithm, alpha=0.7, items=j.items,
                       cache_result=j.cache, fallback=j.fallback, data_age_s=j.data_age_s)
        rid = req.request_id
        for i in range(K):
            rt.impression(request_id=rid, canonical_id=j.items[i], position=i + 1, visible_ms=j.visible_ms[i],
                          genre=j.genres[i], provider=j.providers[i])
        p = j.click_position
        rt.click(request_id=rid, canonical_id=j.items[p - 1], position=p, engagement_type=j.engagement,
                 dwell_ms=j.dwell_ms, genre=j.genres[p - 1], provider=j.providers[p - 1])
        return
    clock, samples = time.perf_counter_ns, timer.samples
    t0 = clock()
    req = rt.request(user_id=j.user, session_id=j.session, experiment_id=EXPERIMENT, bucket=j.bucket, k=K,
                     cohort=j.cohort, user_state=j.user_state, region=j.region, surface=j.surface, device_type=j.device)
    req.__enter__()
    t1 = clock()
    rt.ranking(latency_ms=j.latency_ms, coverage=j.coverage, algorithm=j.algorithm, alpha=0.7, items=j.items,
               cache_result=j.cache, fallback=j.fallback, data_age_s=j.data_age_s)
    t2 = clock()
    req.__exit__(None, None, None)
    t3 = clock()
    samples += (t1 - t0 + t3 - t2, t2 - t1)
    rid = req.request_id
    for i in range(K):
        t0 = clock()
        rt.impression(request_id=rid, canonical_id=j.items[i], position=i + 1, visible_ms=j.visible_ms[i],
                      genre=j.genres[i], provider=j.providers[i])
        samples.append(clock() - t0)
    p = j.click_position
    t0 = clock()
    rt.click(request_id=rid, canonical_id=j.items[p - 1], position=p, engagement_type=j.engagement,
             dwell_ms=j.dwell_ms, genre=j.genres[p - 1], provider=j.providers[p - 1])
    samples.append(clock() - t0)


class Baseline:
    """Idiomatic hand-written OpenTelemetry: the same signals, no validation, no join checks."""

    def __init__(self, endpoint: str, queue: int = QUEUE) -> None:
        resource = Resource.create({"service.name": "movie-recommender", "service.namespace": "recsys",
                                    "service.instance.id": str(uuid.uuid4())})
        self.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"), max_queue_size=queue,
            schedule_delay_millis=DELAY_S * 1000, max_export_batch_size=BATCH))
        self.logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        self.logger_provider.add_log_record_processor(BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=f"{endpoint}/v1/logs"), max_queue_size=queue,
            schedule_delay_millis=DELAY_S * 1000, max_export_batch_size=BATCH))

        def no_exemplars(_aggregation: type) -> type:
            return NoExemplarReservoir

        def histogram(name: str, bounds: list[float], exemplars: bool) -> View:
            return View(instrument_name=name, aggregation=ExplicitBucketHistogramAggregation(bounds),
                        exemplar_reservoir_factory=None if exemplars else no_exemplars)

        views = [
            histogram("recsys.ranking.duration", [5, 10, 25, 50, 75, 100, 150, 200, 300, 500, 1000, 2500], True),
            histogram("recsys.ranking.coverage", [0.5, 0.8, 0.9, 0.95, 0.99, 1], False),
            histogram("recsys.click.dwell", [1000, 5000, 15000, 60000, 300000, 1800000], True),
            View(instrument_name="recsys.requests*", exemplar_reservoir_factory=no_exemplars),
            View(instrument_name="recsys.sessions", exemplar_reservoir_factory=no_exemplars),
            View(instrument_name="recsys.ranking.slots.*", exemplar_reservoir_factory=no_exemplars),
            View(instrument_name="recsys.data.age", exemplar_reservoir_factory=no_exemplars),
        ]
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"),
                                               export_interval_millis=METRIC_INTERVAL_S * 1000)
        self.meter_provider = MeterProvider([reader], resource=resource, views=views, shutdown_on_exit=False)
        self.tracer = self.tracer_provider.get_tracer("movie-recommender")
        self.logger = self.logger_provider.get_logger("movie-recommender")
        meter = self.meter_provider.get_meter("movie-recommender")
        self.requests = meter.create_counter("recsys.requests", unit="{request}")
        self.sessions = meter.create_counter("recsys.sessions", unit="{session}")
        self.duration = meter.create_histogram("recsys.ranking.duration", unit="ms")
        self.coverage = meter.create_histogram("recsys.ranking.coverage", unit="1")
        self.requested = meter.create_counter("recsys.ranking.slots.requested", unit="{slot}")
        self.filled = meter.create_counter("recsys.ranking.slots.filled", unit="{slot}")
        self.age = meter.create_gauge("recsys.data.age", unit="s")
        self.impressions = meter.create_counter("recsys.impressions", unit="{impression}")
        self.clicks = meter.create_counter("recsys.clicks", unit="{click}")
        self.engaged = meter.create_counter("recsys.requests.engaged", unit="{request}")
        self.dwell = meter.create_histogram("recsys.click.dwell", unit="ms")
        self.seen_sessions: set[str] = set()
        self.engaged_requests: set[str] = set()

    def journey(self, j: Journey, timer: Timer | None = None) -> None:
        clock = time.perf_counter_ns
        samples = timer.samples if timer is not None else None
        t0 = clock()
        user = hmac.new(PII_KEY.encode(), j.user.encode(), hashlib.sha256).hexdigest()
        session = hmac.new(PII_KEY.encode(), j.session.encode(), hashlib.sha256).hexdigest()
        rid = str(uuid.uuid4())
        now_ms = time.time_ns() // 1_000_000
        request = {"request_id": rid, "user_id": user, "session_id": session, "timestamp_ms": now_ms,
                   "experiment_id": EXPERIMENT, "bucket": j.bucket, "k": K, "cohort": j.cohort,
                   "user_state": j.user_state, "region": j.region, "surface": j.surface, "device_type": j.device}
        span = self.tracer.start_span("recommend.request", kind=SpanKind.SERVER, attributes=request)
        with trace.use_span(span, end_on_exit=False):
            self.requests.add(1, {"bucket": j.bucket, "cohort": j.cohort, "user_state": j.user_state,
                                  "region": j.region, "surface": j.surface})
            if session not in self.seen_sessions:
                self.seen_sessions.add(session)
                self.sessions.add(1, {"bucket": j.bucket, "cohort": j.cohort})
            t1 = clock()
            end = time.time_ns()
            ranking = {"request_id": rid, "user_id": user, "timestamp_ms": end // 1_000_000,
                       "experiment_id": EXPERIMENT, "bucket": j.bucket, "k": K, "latency_ms": j.latency_ms,
                       "coverage": j.coverage, "algorithm": j.algorithm, "alpha": 0.7, "items": j.items,
                       "cache_result": j.cache, "fallback": j.fallback, "user_state": j.user_state,
                       "data_age_s": j.data_age_s}
            child = self.tracer.start_span("recommend.ranking", kind=SpanKind.INTERNAL, attributes=ranking,
                                           start_time=end - int(j.latency_ms * 1_000_000))
            child.end(end_time=end)
            ctx = trace.set_span_in_context(child)
            self.duration.record(j.latency_ms, {"bucket": j.bucket, "user_state": j.user_state,
                                                "algorithm": j.algorithm, "cache_result": j.cache,
                                                "fallback": j.fallback}, context=ctx)
            self.coverage.record(j.coverage, {"bucket": j.bucket, "algorithm": j.algorithm})
            self.requested.add(K, {"bucket": j.bucket})
            self.filled.add(len(j.items), {"bucket": j.bucket})
            self.age.set(j.data_age_s, {"algorithm": j.algorithm})
            t2 = clock()
        span.end()
        request_ctx = trace.set_span_in_context(span)
        if samples is not None:
            samples += (t1 - t0 + clock() - t2, t2 - t1)
        for i in range(K):
            t0 = clock()
            ts = time.time_ns() // 1_000_000
            self.impressions.add(1, {"bucket": j.bucket, "surface": j.surface, "genre": j.genres[i],
                                     "provider": j.providers[i], "device_type": j.device})
            self.logger.emit(
                timestamp=ts * 1_000_000, context=request_ctx, severity_number=SeverityNumber.INFO,
                severity_text="INFO", body="impression", event_name="impression",
                attributes={"request_id": rid, "user_id": user, "session_id": session, "timestamp_ms": ts,
                            "experiment_id": EXPERIMENT, "bucket": j.bucket, "canonical_id": j.items[i],
                            "position": i + 1, "surface": j.surface, "visible_ms": j.visible_ms[i],
                            "device_type": j.device, "genre": j.genres[i], "provider": j.providers[i],
                            "event_name": "impression"})
            if samples is not None:
                samples.append(clock() - t0)
        t0 = clock()
        p = j.click_position
        ts = time.time_ns() // 1_000_000
        self.clicks.add(1, {"bucket": j.bucket, "surface": j.surface, "genre": j.genres[p - 1],
                            "provider": j.providers[p - 1], "engagement_type": j.engagement})
        if rid not in self.engaged_requests:
            self.engaged_requests.add(rid)
            self.engaged.add(1, {"bucket": j.bucket})
        self.dwell.record(j.dwell_ms, {"engagement_type": j.engagement}, context=request_ctx)
        self.logger.emit(
            timestamp=ts * 1_000_000, context=request_ctx, severity_number=SeverityNumber.INFO, severity_text="INFO",
            body="click", event_name="click",
            attributes={"request_id": rid, "user_id": user, "session_id": session, "timestamp_ms": ts,
                        "experiment_id": EXPERIMENT, "bucket": j.bucket, "canonical_id": j.items[p - 1],
                        "position": p, "engagement_type": j.engagement, "dwell_ms": j.dwell_ms,
                        "surface": j.surface, "device_type": j.device, "genre": j.genres[p - 1],
                        "provider": j.providers[p - 1], "event_name": "click"})
        if samples is not None:
            samples.append(clock() - t0)

    def flush(self) -> None:
        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown(timeout_millis=5000)


SPEC: str | None = None
"""--spec: another copy of the built-in spec (the default is the packaged one)."""


def obsgen_runtime(endpoint: str, queue: int = QUEUE) -> Telemetry:
    config = RuntimeConfig(pii_key=PII_KEY, endpoint=endpoint, protocol="http/protobuf", max_queue_size=queue,
                           max_export_batch_size=BATCH, schedule_delay_s=DELAY_S,
                           metric_export_interval_s=METRIC_INTERVAL_S)
    return Telemetry.from_spec(SPEC, config) if SPEC else Telemetry.from_default(config)


# -- measurement ------------------------------------------------------------------------------------------

class Capture:
    """An exporter keeping what the export queue hands it (the runtime's queued log records, unbuilt)."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def export(self, batch: list[Any]) -> bool:
        self.batches.append(list(batch))
        return True

    def shutdown(self) -> None:
        pass


def encoding_cost(n_journeys: int, rounds: int) -> list[dict[str, float]]:
    """CPU µs per log record and per span (``time.process_time``; nothing else runs meanwhile) to turn the
    runtime's queued records and spans of ``n_journeys`` journeys into OTLP request bytes, in batches of
    ``BATCH``: the SDK's way (build SDK records, ``encode_logs``/``encode_spans``, serialize: what the
    runtime did before) and the runtime's own encoders, which must give the same bytes."""
    from obsgen import __version__
    from obsgen.runtime import otlp_encode
    from obsgen.runtime.pipeline import SCOPE
    from obsgen.runtime.processors import sdk_log_records
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    capture, span_capture = Capture(), Capture()
    config = RuntimeConfig(pii_key=PII_KEY, log_exporter=capture, span_exporter=span_capture, metric_readers=[],
                           max_queue_size=n_journeys * K * 2, max_export_batch_size=BATCH, schedule_delay_s=60)
    rt = Telemetry.from_spec(SPEC, config) if SPEC else Telemetry.from_default(config)
    logs = rt._pipeline.logs
    assert logs is not None
    logs.queue._prepare = None  # keep the queued tuples as they are
    for j in journeys(n_journeys, seed=5):
        obsgen_journey(rt, j)
    rt.force_flush(metrics=False)
    rt.shutdown(1.0)
    batches = capture.batches
    records = sum(map(len, batches))
    scope = InstrumentationScope(SCOPE, __version__)
    resource = rt._pipeline.tracer_provider.resource
    build = sdk_log_records(resource, scope)
    span_batches = span_capture.batches
    spans = sum(map(len, span_batches))
    out = []
    for _ in range(rounds):
        start = time.process_time()
        sdk = [encode_logs(build(b)).SerializeToString() for b in batches]
        mid = time.process_time()
        encoder = otlp_encode.LogEncoder(resource, scope)
        own = [b"".join(encoder.chunks(b)) for b in batches]
        end = time.process_time()
        assert own == sdk, "the runtime's encoding differs from the SDK's"
        sdk_spans = [encode_spans(b).SerializeToString() for b in span_batches]
        span_mid = time.process_time()
        span_encoder = otlp_encode.SpanEncoder()
        own_spans = [b"".join(span_encoder.chunks(b)) for b in span_batches]
        span_end = time.process_time()
        assert own_spans == sdk_spans, "the runtime's span encoding differs from the SDK's"
        out.append({"records": records, "sdk_us": (mid - start) / records * 1e6, "own_us": (end - mid) / records * 1e6,
                    "spans": spans, "sdk_span_us": (span_mid - end) / spans * 1e6,
                    "own_span_us": (span_end - span_mid) / spans * 1e6})
    return out


def run(kind: str, endpoint: str, work: list[Journey], warmup: list[Journey], per_call: bool = False,
        sink: str | None = None, queue: int = QUEUE, flush: bool = False, rate: float | None = None
        ) -> dict[str, Any]:
    """One timed run. ``flush``: the window ends when every span and log record has been exported.
    ``rate``: start at most this many journeys a second (the application sleeps in between)."""
    timer = Timer() if per_call else None
    step: Callable[[Journey], None]
    if kind == "obsgen":
        rt = obsgen_runtime(endpoint, queue)
        step = functools.partial(obsgen_journey, rt, timer=timer)
        drain: Callable[[], object] = functools.partial(rt.force_flush, metrics=False)
        stop: Callable[[], None] = functools.partial(rt.shutdown, 5.0)
    else:
        base = Baseline(endpoint, queue)
        step = functools.partial(base.journey, timer=timer)
        drain, stop = base.flush, base.shutdown
    for j in warmup:
        step(j)
    drain()
    if timer is not None:
        timer.samples.clear()
    before = sink_stats(sink) if sink else {}
    dropped_before = dict(rt.dropped) if kind == "obsgen" else {}
    start, cpu_start, app_start = time.perf_counter(), time.process_time(), time.thread_time()
    for i, j in enumerate(work):
        if rate:
            pause = start + i / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        step(j)
    app_cpu = time.thread_time() - app_start
    if flush:
        drain()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    during = sink_stats(sink) if sink else {}
    dropped = ({k: v - dropped_before.get(k, 0) for k, v in rt.dropped.items()} if kind == "obsgen" else None)
    t_stop = time.perf_counter()
    stop()
    out: dict[str, Any] = {"seconds": elapsed, "journeys_per_s": len(work) / elapsed,
                           "us_per_event": elapsed / (len(work) * EVENTS_PER_JOURNEY) * 1e6,
                           "cpu_us_per_journey": cpu / len(work) * 1e6,
                           "app_thread_cpu_us_per_journey": app_cpu / len(work) * 1e6,
                           "shutdown_s": time.perf_counter() - t_stop}
    if sink:
        delta = {k.rsplit("/", 1)[-1]: during.get(k, 0) - before.get(k, 0) for k in sorted(during)}
        out["kib_delivered"] = {k: v // 1024 for k, v in delta.items() if "#" not in k}
        out["export_requests"] = {k.split("#")[0]: v for k, v in delta.items() if "#" in k}
    if dropped is not None:
        out["dropped"] = dropped
    if timer is not None:
        samples = sorted(timer.samples)
        out["emit_us_p50"] = samples[len(samples) // 2] / 1000
        out["emit_us_p99"] = samples[int(len(samples) * 0.99)] / 1000
        out["emit_us_max"] = samples[-1] / 1000
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--journeys", type=int, default=2000, help="journeys per timed run (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="baseline/obsgen run pairs (default 5)")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="journeys/s for the paced emit-latency runs (default 100, i.e. 2300 events/s)")
    parser.add_argument("--latency-journeys", type=int, default=1500,
                        help="journeys per emit-latency run (default 1500; 0 skips the emit-latency runs)")
    parser.add_argument("--encode-journeys", type=int, default=500,
                        help="journeys whose log records the encoding-cost rounds encode (default 500; 0 skips)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--spec", help="spec file to load instead of the built-in one (same events expected)")
    args = parser.parse_args(argv)
    global SPEC
    SPEC = args.spec
    print("uptime:", os.popen("uptime").read().strip(), file=sys.stderr)
    cost = encoding_cost(args.encode_journeys, args.rounds) if args.encode_journeys else []
    for r, c in enumerate(cost):
        print(f"encoding, round {r + 1}: {c['records']} log records of the runtime to OTLP bytes, CPU per record: "
              f"SDK (build + encode_logs) {c['sdk_us']:.1f} us, the runtime's encoder {c['own_us']:.1f} us; "
              f"{c['spans']} spans, CPU per span: SDK (encode_spans) {c['sdk_span_us']:.1f} us, the runtime's "
              f"encoder {c['own_span_us']:.1f} us (same bytes)", file=sys.stderr, flush=True)
    sink, up = start_sink()
    down = closed_endpoint()
    work, warmup = journeys(args.journeys), journeys(200, seed=11)
    results: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(),
                               "cpus": os.cpu_count(), "journeys": args.journeys, "rounds": args.rounds,
                               "log_encoding_cpu_us_per_record": cost}
    try:
        pairs = []
        for r in range(args.rounds):
            order = ("baseline", "obsgen") if r % 2 == 0 else ("obsgen", "baseline")
            # Queues hold a whole run and the window ends at the flush, so both export everything they emit.
            pair = {kind: run(kind, up, work, warmup, sink=up, queue=len(work) * K * 2, flush=True)
                    for kind in order}
            pairs.append(pair)
            b, o = pair["baseline"], pair["obsgen"]
            print(f"round {r + 1}: journeys/s baseline {b['journeys_per_s']:.0f} obsgen {o['journeys_per_s']:.0f}; "
                  f"wall ratio {b['journeys_per_s'] / o['journeys_per_s']:.3f}, app-thread CPU ratio "
                  f"{o['app_thread_cpu_us_per_journey'] / b['app_thread_cpu_us_per_journey']:.3f} "
                  f"({o['app_thread_cpu_us_per_journey']:.0f} vs {b['app_thread_cpu_us_per_journey']:.0f} us/journey), "
                  f"process CPU ratio {o['cpu_us_per_journey'] / b['cpu_us_per_journey']:.3f}; requests "
                  f"baseline {b['export_requests']} obsgen {o['export_requests']}; KiB baseline {b['kib_delivered']} "
                  f"obsgen {o['kib_delivered']}", file=sys.stderr, flush=True)
        base_jps = statistics.median(p["baseline"]["journeys_per_s"] for p in pairs)
        obs_jps = statistics.median(p["obsgen"]["journeys_per_s"] for p in pairs)

        def paired(key: str, invert: bool = False) -> list[float]:
            return [(p["baseline"][key] / p["obsgen"][key]) if invert else (p["obsgen"][key] / p["baseline"][key])
                    for p in pairs]

        wall, cpu, app = paired("journeys_per_s", True), paired("cpu_us_per_journey"), \
            paired("app_thread_cpu_us_per_journey")
        results["throughput"] = {
            "baseline_journeys_per_s": base_jps, "obsgen_journeys_per_s": obs_jps,
            "baseline_us_per_event": 1e6 / (base_jps * EVENTS_PER_JOURNEY),
            "obsgen_us_per_event": 1e6 / (obs_jps * EVENTS_PER_JOURNEY),
            "ratio_obsgen_over_baseline": statistics.median(wall),
            "ratios_per_round": wall,
            "cpu_ratio_obsgen_over_baseline": statistics.median(cpu),
            "app_thread_cpu_ratio_obsgen_over_baseline": statistics.median(app),
            "app_thread_cpu_ratios_per_round": app,
            "export_requests_per_round": [{k: p[k]["export_requests"] for k in ("baseline", "obsgen")} for p in pairs],
            "baseline_cpu_us_per_journey": statistics.median(p["baseline"]["cpu_us_per_journey"] for p in pairs),
            "obsgen_cpu_us_per_journey": statistics.median(p["obsgen"]["cpu_us_per_journey"] for p in pairs),
            "rounds": pairs,
            "baseline_app_thread_cpu_us_per_journey": statistics.median(
                p["baseline"]["app_thread_cpu_us_per_journey"] for p in pairs),
            "obsgen_app_thread_cpu_us_per_journey": statistics.median(
                p["obsgen"]["app_thread_cpu_us_per_journey"] for p in pairs),
            "obsgen_dropped_last_round": pairs[-1]["obsgen"]["dropped"],
            "kib_delivered_last_round": {k: pairs[-1][k]["kib_delivered"] for k in ("baseline", "obsgen")},
        }
        paced = work[:args.latency_journeys]
        results["emit_latency"] = {} if not paced else {
            f"{kind}_endpoint_{state}{'' if rate else '_unpaced'}": run(kind, endpoint, paced, warmup,
                                                                        per_call=True, rate=rate)
            for rate in (args.rate, None) for kind in ("obsgen", "baseline")
            for state, endpoint in (("up", up), ("down", down))
        }
    finally:
        sink.terminate()
    t = results["throughput"]
    print(f"\nthroughput ({args.journeys} journeys x {args.rounds} rounds, median):")
    print(f"  baseline  {t['baseline_journeys_per_s']:8.0f} journeys/s  {t['baseline_us_per_event']:6.1f} us/event")
    print(f"  obsgen    {t['obsgen_journeys_per_s']:8.0f} journeys/s  {t['obsgen_us_per_event']:6.1f} us/event")
    print(f"  ratio obsgen/baseline, time per journey (median of paired rounds): "
          f"{t['ratio_obsgen_over_baseline']:.3f}  (goal <= 1.00); rounds: "
          + ", ".join(f"{r:.3f}" for r in t["ratios_per_round"]))
    print(f"  ratio of CPU time, whole process (app + export threads): {t['cpu_ratio_obsgen_over_baseline']:.3f}")
    print(f"  ratio of CPU time, application thread only: {t['app_thread_cpu_ratio_obsgen_over_baseline']:.3f} "
          f"({t['obsgen_app_thread_cpu_us_per_journey']:.0f} vs {t['baseline_app_thread_cpu_us_per_journey']:.0f} "
          "us per journey; goal <= 1.00); rounds: "
          + ", ".join(f"{r:.3f}" for r in t["app_thread_cpu_ratios_per_round"]))
    print("  export requests per round (baseline | obsgen): " + "; ".join(
        f"{r['baseline']} | {r['obsgen']}" for r in t["export_requests_per_round"]))
    print(f"  CPU per journey, whole process: obsgen {t['obsgen_cpu_us_per_journey']:.0f} us, baseline "
          f"{t['baseline_cpu_us_per_journey']:.0f} us (the part not on the application thread is export)")
    print(f"time an app thread spends in one emit call ({args.latency_journeys} journeys; paced at {args.rate:g} "
          "journeys/s, then unpaced):")
    for name, r in results["emit_latency"].items():
        extra = f"  dropped {r['dropped']}" if "dropped" in r else ""
        print(f"  {name:32s} p50 {r['emit_us_p50']:7.1f} us  p99 {r['emit_us_p99']:7.1f} us  "
              f"max {r['emit_us_max']:8.1f} us  shutdown {r['shutdown_s']:5.2f} s{extra}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
