"""The runtime enforces what a spec's ``joins`` and ``data_quality`` declare, for a spec that is not the recommender.

``tests/fixtures/specs/orders.yaml``: context ``order`` (root order_placed; line items, refunds and problems
join by ``order_id``) with an ``element_of`` and two ``one_of`` references, and context ``shipment`` (root
shipment_created, key not a UUID) with none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from obsgen.model import Model
from obsgen.model.quality import DataQuality
from obsgen.runtime import ContractViolation
from obsgen.spec import load_spec
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan

from tests.test_runtime_harness import Harness

SPEC = Path(__file__).parent / "fixtures" / "specs" / "orders.yaml"
CUSTOMER = "customer-31337"
SKUS = ["A-100", "B-200", "C-300"]


@pytest.fixture(scope="module")
def orders() -> Model:
    return load_spec(SPEC)


@pytest.fixture
def harness(orders: Model) -> Iterator[Harness]:
    h = Harness(orders)
    yield h
    h.close()


@pytest.fixture
def strict(orders: Model) -> Iterator[Harness]:
    h = Harness(orders, validation="strict")
    yield h
    h.close()


def place(h: Harness, **fields: Any) -> str:
    """An order of ``SKUS`` with one line item per SKU (2 units each); returns the order id."""
    with h.rt.order_placed(customer_id=CUSTOMER, currency="eur", channel="web", skus=SKUS, **fields) as order:
        for line, sku in enumerate(SKUS, start=1):
            h.rt.line_item(sku=sku, line=line, quantity=2)
    assert order.request_id is not None
    return str(order.request_id)


def logs_of(h: Harness, event: str) -> list[dict[str, Any]]:
    return [dict(r.log_record.attributes) for r in h.logs() if r.log_record.event_name == event]


def test_members_inherit_the_root_fields_and_its_span_is_their_parent(harness: Harness) -> None:
    oid = place(harness)
    assert uuid.UUID(oid).version == 4  # generated: the key's format is uuid4
    harness.rt.refund(order_id=oid, sku="B-200", quantity=2, amount=9.5)  # outside the block: by key
    (span,) = harness.spans()
    lines = logs_of(harness, "line_item")
    assert [line["sku"] for line in lines] == SKUS
    for record in [*lines, *logs_of(harness, "refund")]:
        assert record["order_id"] == oid and record["currency"] == "eur"
    assert all(line["customer_id"] == harness.rt.pseudonymize(CUSTOMER) and line["channel"] == "web"
               for line in lines)
    parents = {r.log_record.span_id for r in harness.logs()}
    assert parents == {span.context.span_id}
    assert harness.violations() == {}


def test_the_join_cache_holds_the_root_spans_identity_not_the_span(harness: Harness) -> None:
    """Members need only the root span's context; the ended SDK span (attributes and all) is not kept for the TTL."""
    oid = place(harness)
    (span,) = harness.spans()
    order = harness.rt._joined["order"].get(oid)
    assert order is not None and order.context is not None
    cached = trace.get_current_span(order.context)
    assert not isinstance(cached, ReadableSpan)  # the SDK span: attributes, events, resource
    assert cached.get_span_context() == span.context


def test_a_different_consistent_field_is_counted_or_raised(harness: Harness, strict: Harness) -> None:
    oid = place(harness)
    harness.rt.line_item(order_id=oid, sku="A-100", line=1, quantity=1, currency="usd")
    harness.rt.line_item(order_id=oid, sku="A-100", line=1, quantity=1, channel="app")  # inherited, not consistent
    assert harness.violations() == {("consistency", "line_item"): 1}
    oid = place(strict)
    with pytest.raises(ContractViolation) as info:
        strict.rt.line_item(order_id=oid, sku="A-100", line=1, quantity=1, currency="usd")
    assert (info.value.field, info.value.kind) == ("currency", "consistency")


def test_a_member_naming_an_unknown_context_is_counted_under_the_context_kind(harness: Harness,
                                                                             orders: Model) -> None:
    stranger = str(uuid.uuid4())
    harness.rt.refund(order_id=stranger, sku="A-100", quantity=1, amount=1.0, currency="eur")
    harness.rt.parcel_scanned(shipment_id="SHP-9999", carrier="dhl", parcel=1)
    harness.rt.problem(order_id=stranger, component="checkout", problem_code="CARD_DECLINED", detail="declined")
    assert harness.violations() == {("unknown_order", "refund"): 1, ("unknown_shipment", "parcel_scanned"): 1}
    relaxed = Harness(orders, check_unknown_contexts=False)
    try:
        relaxed.rt.parcel_scanned(shipment_id="SHP-9999", carrier="dhl", parcel=1)
        assert relaxed.violations() == {} and len(relaxed.logs()) == 1
    finally:
        relaxed.close()


def test_element_of_needs_the_value_at_the_index_of_the_target_array(harness: Harness, strict: Harness) -> None:
    oid = place(harness)
    harness.rt.line_item(order_id=oid, sku="B-200", line=2, quantity=1)  # skus[1]: fine
    harness.rt.line_item(order_id=oid, sku="B-200", line=1, quantity=1)  # another line's SKU
    harness.rt.line_item(order_id=oid, sku="B-200", line=4, quantity=1)  # past the order's SKUs
    assert harness.violations() == {("line_sku", "line_item"): 2}
    oid = place(strict)
    with pytest.raises(ContractViolation) as info:
        strict.rt.line_item(order_id=oid, sku="C-300", line=1, quantity=1)
    assert (info.value.field, info.value.kind) == ("sku", "line_sku")


def test_element_of_is_broken_when_the_target_event_was_not_seen(harness: Harness) -> None:
    # a dropped root is remembered for its valid key only: its array never reached the context
    with harness.rt.order_placed(customer_id=CUSTOMER, currency="eur", channel="fax", skus=SKUS):
        harness.rt.line_item(sku="A-100", line=1, quantity=1)
    assert harness.violations() == {("validity", "order_placed"): 1, ("line_sku", "line_item"): 1}


def test_one_of_needs_a_value_seen_in_the_context(harness: Harness, strict: Harness) -> None:
    oid = place(harness)
    harness.rt.refund(order_id=oid, sku="A-100", quantity=2, amount=10.0)  # a line of this order
    harness.rt.refund(order_id=oid, sku="Z-999", quantity=2, amount=10.0)  # no such line
    assert harness.violations() == {("refund_of_unknown_line", "refund"): 1}
    oid = place(strict)
    with pytest.raises(ContractViolation) as info:
        strict.rt.refund(order_id=oid, sku="Z-999", quantity=2, amount=10.0)
    assert (info.value.field, info.value.kind) == ("sku", "refund_of_unknown_line")


def test_one_of_with_same_compares_only_target_events_with_the_same_value(harness: Harness) -> None:
    oid = place(harness)
    harness.rt.line_item(order_id=oid, sku="A-100", line=1, quantity=5)  # A-100 now seen with 2 and 5
    harness.rt.refund(order_id=oid, sku="A-100", quantity=5, amount=1.0)
    harness.rt.refund(order_id=oid, sku="B-200", quantity=5, amount=1.0)  # B-200 was ordered twice, not 5 times
    harness.rt.refund(order_id=oid, sku="Z-999", quantity=5, amount=1.0)  # no line: only the other reference
    assert harness.violations() == {("refund_quantity", "refund"): 1, ("refund_of_unknown_line", "refund"): 1}


def test_each_context_keeps_only_what_its_references_need(harness: Harness) -> None:
    oid = place(harness)
    with harness.rt.shipment_created(shipment_id="SHP-0001", carrier="dhl"):
        pass
    order = harness.rt._joined["order"].get(oid)
    assert order is not None and sorted(map(repr, order.memory)) == sorted(map(repr, [
        tuple(SKUS), set(SKUS), {"A-100": 2, "B-200": 2, "C-300": 2}]))
    shipment = harness.rt._joined["shipment"].get("SHP-0001")
    assert shipment is not None and shipment.memory == []


def test_two_contexts_nest_and_each_member_takes_its_own_key(harness: Harness) -> None:
    with harness.rt.order_placed(customer_id=CUSTOMER, currency="usd", channel="app", skus=SKUS) as order:
        with harness.rt.shipment_created(shipment_id="SHP-0002", carrier="ups") as shipment:
            harness.rt.parcel_scanned(parcel=1)
            harness.rt.line_item(sku="A-100", line=1, quantity=1)
    (scan,) = logs_of(harness, "parcel_scanned")
    (line,) = logs_of(harness, "line_item")
    assert (scan["shipment_id"], scan["carrier"]) == ("SHP-0002", "ups")
    assert (line["order_id"], line["currency"]) == (order.request_id, "usd")
    spans = {s.name: s for s in harness.spans()}
    assert shipment.request_id == "SHP-0002"
    assert spans["shipment.create"].parent.span_id == spans["order.place"].context.span_id  # the current span
    assert harness.violations() == {}


def test_a_key_that_is_not_a_uuid_is_never_generated(harness: Harness) -> None:
    harness.rt.shipment_created(carrier="dhl").end()
    assert harness.violations() == {("completeness", "shipment_created"): 1}
    assert harness.spans() == []


def test_the_declared_report_event_describes_what_was_dropped_or_repaired(harness: Harness) -> None:
    oid = place(harness)
    harness.rt.line_item(order_id=oid, sku="A-100", line=1, quantity=0, channel="web")  # dropped
    harness.rt.refund(order_id=oid, sku="A-100", quantity=2, amount=1.0, currency="gbp")  # repaired
    assert harness.violations() == {("validity", "line_item"): 1, ("validity", "refund"): 1}
    reports = logs_of(harness, "problem")
    assert [(r["component"], r["problem_code"], r["order_id"]) for r in reports] == [
        ("monitoring", "BAD_EVENT", oid), ("monitoring", "BAD_EVENT", oid)]
    assert reports[0]["detail"] == "validity: line_item dropped (quantity must be >= 1)"
    assert reports[0]["channel"] == "web"  # copied from the offending event
    assert reports[1]["detail"].startswith("validity: refund repaired by removing the field (currency ")


def test_a_missing_field_is_reported_with_the_kind_value(harness: Harness) -> None:
    harness.rt.shipment_created(shipment_id="SHP-0003").end()
    (report,) = logs_of(harness, "problem")
    assert (report["problem_code"], report["detail"]) == (
        "MISSING_FIELD", "completeness: shipment_created dropped (carrier is required)")
    assert "order_id" not in report


def test_without_a_report_declared_violations_are_counted_and_nothing_is_emitted(orders: Model) -> None:
    h = Harness(replace(orders, data_quality=DataQuality()))
    try:
        h.rt.shipment_created(shipment_id="SHP-0003").end()
        assert h.violations() == {("completeness", "shipment_created"): 1}
        assert h.logs() == []
    finally:
        h.close()


def test_without_joins_nothing_is_joined_or_counted(orders: Model) -> None:
    h = Harness(replace(orders, joins=()))
    try:
        oid = str(uuid.uuid4())
        with h.rt.order_placed(order_id=oid, customer_id=CUSTOMER, currency="eur", channel="web", skus=SKUS):
            h.rt.line_item(order_id=oid, customer_id=CUSTOMER, currency="usd", sku="Z-999", line=9, quantity=1)
        h.rt.refund(order_id=str(uuid.uuid4()), sku="Q-000", quantity=7, amount=1.0)
        assert h.violations() == {}
        assert "channel" not in logs_of(h, "line_item")[0]  # nothing inherited
        h.rt.line_item(sku="A-100", line=1, quantity=1)  # no key from the block, none inherited: incomplete
        assert h.violations() == {("completeness", "line_item"): 1}
    finally:
        h.close()
