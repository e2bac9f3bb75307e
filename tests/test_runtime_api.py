"""The runtime's public surface: event names that would clash with it, and attribute names that are not
Python identifiers (``sales.channel`` is the keyword ``sales_channel``)."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from obsgen.model import Model, frozen_map
from obsgen.model.reserved import RESERVED_EVENT_NAMES
from obsgen.runtime import Telemetry
from obsgen.runtime.stubgen import stub_source
from obsgen.spec import load_spec

from tests.test_bad_specs import DEFAULT, assert_reported
from tests.test_runtime_harness import Harness
from tests.test_runtime_joins import CUSTOMER, SKUS, SPEC


def test_reserved_event_names_cover_every_public_attribute_of_telemetry(model: Model) -> None:
    h = Harness(model)
    try:
        public = {name for name in dir(h.rt) if not name.startswith("_")} - set(h.rt.events)
        assert public <= set(RESERVED_EVENT_NAMES), sorted(public - set(RESERVED_EVENT_NAMES))
        assert not hasattr(h.rt, "session_depth")
    finally:
        h.close()


@pytest.mark.parametrize("name", ["emit", "shutdown", "events", "model", "config"])
def test_validate_rejects_an_event_named_like_the_runtime_api(tmp_path: Path, name: str) -> None:
    spec = copy.deepcopy(DEFAULT)
    spec["events"][name] = spec["events"].pop("error")
    spec["data_quality"]["report"]["event"] = name
    assert_reported(tmp_path, yaml.safe_dump(spec, sort_keys=False), f"events.{name}", "clashes with the runtime")


def renamed(model: Model, old: str, new: str) -> Model:
    """``model`` with attribute ``old`` called ``new`` everywhere (the spec reader may not accept dots yet)."""
    def names(items: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(new if n == old else n for n in items)

    def keys(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
        return frozen_map({(new if k == old else k): v for k, v in mapping.items()})

    attributes = {k: replace(a, name=new) if a.name == old else a for k, a in keys(model.attributes).items()}
    events = tuple(replace(e, required=names(e.required), optional=names(e.optional), example=keys(e.example),
                           metrics=tuple(replace(m, labels=names(m.labels)) for m in e.metrics))
                   for e in model.events)
    joins = tuple(replace(c, inherit=names(c.inherit), consistent=names(c.consistent)) for c in model.joins)
    report = model.data_quality.report
    assert report is not None
    quality = replace(model.data_quality, report=replace(report, copy=names(report.copy)))
    return replace(model, attributes=frozen_map(attributes), events=events, joins=joins, data_quality=quality)


@pytest.fixture(scope="module")
def dotted() -> Model:
    return renamed(load_spec(SPEC), "channel", "sales.channel")


@pytest.fixture
def harness(dotted: Model) -> Iterator[Harness]:
    h = Harness(dotted)
    yield h
    h.close()


def test_a_dotted_attribute_is_a_keyword_with_underscores(harness: Harness) -> None:
    params = inspect.signature(harness.rt.order_placed).parameters
    assert "sales_channel" in params and "sales.channel" not in params
    with harness.rt.order_placed(customer_id=CUSTOMER, currency="eur", sales_channel="app", skus=SKUS):
        harness.rt.line_item(sku="A-100", line=1, quantity=1)  # inherits sales.channel
    harness.rt.emit("problem", component="checkout", problem_code="CARD_DECLINED", detail="x",
                    **{"sales.channel": "web"})  # the attribute name itself works too
    (span,) = harness.spans()
    assert span.attributes["sales.channel"] == "app" and "sales_channel" not in span.attributes
    logs = {r.log_record.event_name: dict(r.log_record.attributes) for r in harness.logs()}
    assert logs["line_item"]["sales.channel"] == "app" and logs["problem"]["sales.channel"] == "web"
    (point,) = harness.points("shop.orders")
    assert dict(point.attributes) == {"sales.channel": "app"}
    assert harness.violations() == {}


def test_a_dotted_attribute_is_checked_under_its_keyword_name_too(harness: Harness) -> None:
    with harness.rt.order_placed(customer_id=CUSTOMER, currency="eur", sales_channel="fax", skus=SKUS):
        pass
    assert harness.violations() == {("validity", "order_placed"): 1}
    (report,) = [dict(r.log_record.attributes) for r in harness.logs()]
    assert "(sales.channel must be one of web, app)" in report["detail"]


def test_the_typed_facade_of_a_dotted_spec_is_valid_python(dotted: Model, tmp_path: Path) -> None:
    source = stub_source(dotted)
    assert "sales_channel: SalesChannel," in source and "sales_channel: SalesChannel | None = None," in source
    assert 'SalesChannel = Literal["web", "app"]' in source
    namespace: dict[str, Any] = {}
    exec(compile(source, "facade.py", "exec"), namespace)  # noqa: S102 - our own generated code
    assert issubclass(namespace["OrderServiceTelemetry"], Telemetry)


@pytest.mark.parametrize("name", ["no_such_event", "", "x" * 10_000, 42, ("request",)])
def test_an_undeclared_event_name_is_dropped_in_production_and_an_error_in_strict(model: Model, name: Any) -> None:
    """``emit`` by name is where an app may pass a client's word: production mode never raises into the app."""
    production = Harness(model, validation="production")
    try:
        assert production.rt.emit(name, user_id="u") is None
        assert production.spans() == [] and production.logs() == []
    finally:
        production.rt.shutdown()
    strict = Harness(model, validation="strict")
    try:
        with pytest.raises(KeyError, match="declares no event"):
            strict.rt.emit(name, user_id="u")
    finally:
        strict.rt.shutdown()
