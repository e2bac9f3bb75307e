"""The runtime emits exactly the signals the spec declares: span tree, log records, metrics, names, units."""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from obsgen.contract import ALERT_SERIES
from obsgen.emit.prometheus.rules import RECORDING_FILE, rule_groups, rule_path
from obsgen.model import Model
from obsgen.model.naming import prometheus_series_names
from obsgen.runtime import (
    DROPPED_METRIC,
    STATE_ERRORS_METRIC,
    VIOLATIONS_METRIC,
    RequestScope,
    RuntimeConfig,
    Telemetry,
)
from obsgen.runtime.stubgen import stub_source
from opentelemetry.sdk.metrics.export import Gauge, Histogram, Sum
from opentelemetry.trace import SpanKind, StatusCode

from tests.conftest import ROOT
from tests.test_runtime_harness import ITEMS, PII_KEY, Harness, journey

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
OBSGEN_METRICS = {VIOLATIONS_METRIC, DROPPED_METRIC, STATE_ERRORS_METRIC}


@pytest.fixture
def harness(model: Model) -> Iterator[Harness]:
    h = Harness(model)
    yield h
    h.close()


def full_journey(rt: Telemetry) -> str:
    rid = journey(rt)
    rt.error(request_id=rid, component="feature_store", severity="error", error_code="FEATURE_TIMEOUT",
             message="feature store read timed out after 30 ms")
    return rid


def test_each_event_emits_exactly_the_declared_signals(harness: Harness, model: Model) -> None:
    full_journey(harness.rt)
    spans = harness.spans()
    assert sorted(s.name for s in spans) == sorted(e.span.name for e in model.events if e.span)
    logs = harness.logs()
    logged = {e.name for e in model.events if e.log_severity}
    assert {r.log_record.attributes["event_name"] for r in logs} == logged
    assert {r.log_record.event_name for r in logs} == logged
    metrics = harness.metrics()
    assert set(metrics) - OBSGEN_METRICS == {m.name for m in model.metrics}
    for m in model.metrics:
        assert metrics[m.name].unit == m.unit, m.name
        assert metrics[m.name].description == m.description, m.name
        kind = {"counter": Sum, "histogram": Histogram, "gauge": Gauge}[m.instrument]
        assert isinstance(metrics[m.name].data, kind), m.name
        if m.instrument == "counter":
            assert metrics[m.name].data.is_monotonic


def test_ranking_span_is_a_child_of_the_request_span_and_lasts_latency_ms(harness: Harness) -> None:
    rid = journey(harness.rt)
    spans = {s.name: s for s in harness.spans()}
    request, ranking = spans["recommend.request"], spans["recommend.ranking"]
    assert request.kind is SpanKind.SERVER and ranking.kind is SpanKind.INTERNAL
    assert ranking.parent is not None and ranking.parent.span_id == request.context.span_id
    assert ranking.context.trace_id == request.context.trace_id
    assert ranking.end_time - ranking.start_time == 41_500_000  # latency_ms=41.5
    assert request.attributes["request_id"] == ranking.attributes["request_id"] == rid
    assert request.attributes["k"] == 20 and list(ranking.attributes["items"]) == ITEMS


def test_ranking_outside_the_with_block_still_joins_the_request_trace(harness: Harness) -> None:
    rt = harness.rt
    scope = rt.request(user_id="u", experiment_id="ranker-v2", bucket="control", k=3)
    scope.end()
    rt.ranking(request_id=scope.request_id, latency_ms=5, coverage=1, algorithm="popularity", items=ITEMS[:3],
               cache_result="miss", fallback="popular", user_state="cold", data_age_s=1)
    spans = {s.name: s for s in harness.spans()}
    assert spans["recommend.ranking"].parent.span_id == spans["recommend.request"].context.span_id


def test_log_records_carry_event_name_request_id_and_the_request_trace(harness: Harness) -> None:
    rid = full_journey(harness.rt)
    request = next(s for s in harness.spans() if s.name == "recommend.request")
    logs = harness.logs()
    assert len(logs) == 20 + 1 + 1
    for record in logs:
        lr = record.log_record
        assert lr.attributes["request_id"] == rid
        assert lr.body == lr.event_name == lr.attributes["event_name"]
        assert lr.trace_id == request.context.trace_id and lr.span_id == request.context.span_id
        assert lr.timestamp // 1_000_000 == lr.attributes["timestamp_ms"]  # nanoseconds within the event's ms
    severities = {r.log_record.event_name: r.log_record.severity_text for r in logs}
    assert severities == {"impression": "INFO", "click": "INFO", "error": "ERROR"}


def test_metric_attributes_are_only_the_declared_labels_and_absent_optional_labels_are_omitted(
        harness: Harness, model: Model) -> None:
    full_journey(harness.rt)
    metrics = harness.metrics()
    for m in model.metrics:
        for point in metrics[m.name].data.data_points:
            assert set(point.attributes) <= set(m.labels), (m.name, point.attributes)
    (click,) = metrics["recsys.clicks"].data.data_points
    # the journey's click names no provider and the request has none to inherit: the label is left out
    assert dict(click.attributes) == {"bucket": "treatment", "surface": "home", "genre": "action",
                                      "engagement_type": "save"}
    (request,) = metrics["recsys.requests"].data.data_points
    assert dict(request.attributes) == {"bucket": "treatment", "cohort": "engaged", "user_state": "warm",
                                        "region": "eu", "surface": "home"}


def test_histograms_use_the_spec_buckets(harness: Harness, model: Model) -> None:
    full_journey(harness.rt)
    metrics = harness.metrics()
    for m in model.metrics:
        if m.instrument == "histogram":
            assert m.buckets is not None
            (point,) = metrics[m.name].data.data_points
            assert list(point.explicit_bounds) == [float(b) for b in m.buckets], m.name


def test_latency_histogram_exemplars_link_to_the_ranking_span(harness: Harness) -> None:
    journey(harness.rt)
    ranking = next(s for s in harness.spans() if s.name == "recommend.ranking")
    metrics = harness.metrics()
    (point,) = metrics["recsys.ranking.duration"].data.data_points
    (exemplar,) = point.exemplars
    assert (exemplar.trace_id, exemplar.span_id) == (ranking.context.trace_id, ranking.context.span_id)
    assert exemplar.value == 41.5
    (coverage,) = metrics["recsys.ranking.coverage"].data.data_points
    assert not coverage.exemplars  # not a latency: no exemplar
    for point in metrics["recsys.requests"].data.data_points:
        assert not point.exemplars


def test_value_fields_are_measured_and_arrays_counted_by_length(harness: Harness) -> None:
    rt = harness.rt
    with rt.request(user_id="u", experiment_id="ranker-v2", bucket="control", k=20):
        rt.ranking(latency_ms=12.0, coverage=0.9, algorithm="hybrid", items=ITEMS[:15], cache_result="hit",
                   fallback="none", user_state="warm", data_age_s=321.0)
    metrics = harness.metrics()
    assert metrics["recsys.ranking.slots.requested"].data.data_points[0].value == 20
    assert metrics["recsys.ranking.slots.filled"].data.data_points[0].value == 15
    assert metrics["recsys.data.age"].data.data_points[0].value == 321.0
    assert metrics["recsys.ranking.duration"].data.data_points[0].sum == 12.0
    assert metrics["recsys.ranking.coverage"].data.data_points[0].sum == pytest.approx(0.9)


def test_once_per_counts_a_session_and_an_engaged_request_only_once(harness: Harness) -> None:
    rt = harness.rt
    journey(rt, session="s-1", clicks=(1, 2))
    journey(rt, session="s-1", clicks=(5,))
    journey(rt, session="s-2", clicks=())
    metrics = harness.metrics()
    assert sum(p.value for p in metrics["recsys.sessions"].data.data_points) == 2
    assert sum(p.value for p in metrics["recsys.requests"].data.data_points) == 3
    assert sum(p.value for p in metrics["recsys.clicks"].data.data_points) == 3
    assert sum(p.value for p in metrics["recsys.requests.engaged"].data.data_points) == 2


def test_request_without_session_counts_no_session(harness: Harness) -> None:
    with harness.rt.request(user_id="u", experiment_id="ranker-v2", bucket="control", k=5):
        pass
    assert harness.points("recsys.sessions") == []
    assert len(harness.points("recsys.requests")) == 1


def test_shadow_mode_marks_every_span_log_and_metric_point(model: Model) -> None:
    h = Harness(model, shadow=True)
    try:
        full_journey(h.rt)
        h.rt.impression(request_id=str(uuid.uuid4()), canonical_id="tt1", position=1, surface="home",
                        user_id="u", session_id="s", experiment_id="ranker-v2", bucket="control")  # a violation
        for span in h.spans():
            assert span.attributes["shadow"] == "true", span.name
        for record in h.logs():
            assert record.log_record.attributes["shadow"] == "true"
        metrics = h.metrics()
        assert VIOLATIONS_METRIC in metrics and DROPPED_METRIC in metrics
        for name, metric in metrics.items():
            for point in metric.data.data_points:
                assert point.attributes.get("shadow") == "true", name
    finally:
        h.close()


def _exported_series(h: Harness) -> set[str]:
    """Prometheus series names of what the runtime exported, translated from the exported data's own types."""
    series: set[str] = set()
    for name, metric in h.metrics().items():
        data = metric.data
        if isinstance(data, Histogram):
            instrument = "histogram"
        elif isinstance(data, Sum):
            instrument = "counter" if data.is_monotonic else "updowncounter"
        else:
            instrument = "gauge"
        series.update(prometheus_series_names(name, metric.unit, instrument))
    return series


def _raw_series(expr: str) -> set[str]:
    """Identifiers written right before `{` in a PromQL expression: the raw series it selects (not the
    ``ALERTS`` Prometheus writes, which an SLO alert carrying a spec alert reads)."""
    return {name for name in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr)
            if ":" not in name and name not in ALERT_SERIES}


def test_every_series_the_generated_rules_query_is_produced_by_a_journey(harness: Harness, model: Model) -> None:
    full_journey(harness.rt)
    produced = _exported_series(harness)
    queried = {name for rules in rule_groups(model).values() for group in rules for rule in group["rules"]
               for name in _raw_series(rule["expr"])}
    committed = ROOT / rule_path(model, RECORDING_FILE)
    if committed.exists():
        for group in yaml.safe_load(committed.read_text())["groups"]:
            for rule in group["rules"]:
                queried |= _raw_series(rule["expr"])
    assert queried, "found no raw series in the recording rules"
    assert queried <= produced, sorted(queried - produced)
    # and the model's own view of those names agrees with what was exported
    assert {s for m in model.metrics for s in m.series_names} <= produced


def test_resource_names_the_service_from_the_spec_and_always_has_an_instance_id(
        harness: Harness, model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    res = harness.rt.resource.attributes
    assert res["service.name"] == model.service.name and res["service.namespace"] == model.service.namespace
    assert UUID4.match(str(res["service.instance.id"]))
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,service.instance.id=pod-7")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "something-else")
    other = Harness(model)
    try:
        attrs = other.rt.resource.attributes
        assert attrs["deployment.environment"] == "staging" and attrs["service.instance.id"] == "pod-7"
        assert attrs["service.name"] == model.service.name
        full_journey(other.rt)
        assert other.spans()[0].resource.attributes["service.instance.id"] == "pod-7"
    finally:
        other.close()


def test_event_methods_have_typed_keyword_signatures(harness: Harness, model: Model) -> None:
    for event in model.events:
        sig = inspect.signature(getattr(harness.rt, event.name))
        assert list(sig.parameters) == list(event.fields), event.name
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in sig.parameters.values())
    request = inspect.signature(harness.rt.request)
    assert request.return_annotation is RequestScope
    assert request.parameters["user_id"].default is inspect.Parameter.empty
    assert request.parameters["request_id"].default is None  # generated when absent
    assert request.parameters["k"].annotation is int
    assert "treatment" in str(request.parameters["bucket"].annotation)
    ranking = inspect.signature(harness.rt.ranking)
    assert ranking.parameters["user_id"].default is None  # inherited from the request
    assert ranking.parameters["latency_ms"].default is inspect.Parameter.empty
    assert harness.rt.request.__doc__ and "recommend.request" in harness.rt.request.__doc__


def test_the_typed_facade_for_the_built_in_spec_is_current(model: Model) -> None:
    from obsgen.demo.movie_recommender import facade as movie_recommender

    assert Path(movie_recommender.__file__).read_text() == stub_source(model, default_spec=True)
    rt = movie_recommender.telemetry(RuntimeConfig(pii_key=PII_KEY, metric_readers=[], span_exporter=None))
    try:
        assert isinstance(rt, movie_recommender.MovieRecommenderTelemetry)
        assert set(movie_recommender.KILL_SWITCHES) == set(model.kill_switches)
    finally:
        rt.shutdown(0.5)


def test_request_ids_are_generated_as_unique_uuid4(harness: Harness) -> None:
    ids = set()
    for _ in range(200):
        with harness.rt.request(user_id="u", experiment_id="ranker-v2", bucket="control", k=1) as req:
            assert req.request_id is not None and UUID4.match(req.request_id)
            ids.add(req.request_id)
    assert len(ids) == 200


def test_an_exception_leaving_the_request_block_marks_the_span_without_leaking_the_message(
        harness: Harness) -> None:
    with pytest.raises(KeyError):
        with harness.rt.request(user_id="u", experiment_id="ranker-v2", bucket="control", k=1):
            raise KeyError("no profile for alice@example.com from 10.1.2.3")
    (span,) = harness.spans()
    assert span.status.status_code is StatusCode.ERROR
    (event,) = span.events
    assert event.attributes["exception.type"] == "builtins.KeyError"
    message = str(event.attributes["exception.message"])
    assert "alice" not in message and "10.1.2.3" not in message and "<email>" in message


def test_the_current_request_is_visible_inside_the_block(harness: Harness) -> None:
    assert harness.rt.current_request() is None
    with harness.rt.request(user_id="u", experiment_id="ranker-v2", bucket="control", k=1) as req:
        assert harness.rt.current_request() is req
    assert harness.rt.current_request() is None
