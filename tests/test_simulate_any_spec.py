"""``obsgen simulate`` with a spec that is not the recommender: the shop's checkout (tests/fixtures/specs).

With its `simulation` section and without it (every value derived from the spec), every event passes the
runtime's strict validation and satisfies the spec's joins; the declared distributions, incidents and
kill-switch reactions show in what the runtime exported (its in-memory exporters). Its alerts against the
traffic: tests/test_simulate_checkout.py.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.model import Model
from obsgen.spec import load_spec

from tests.support.simulation import Run
from tests.test_bad_specs import assert_reported

SPEC = Path(__file__).parent / "fixtures" / "specs" / "checkout.yaml"
SPANS = {"checkout_started": "checkout.session", "payment_authorised": "checkout.payment.authorise"}
"""Events without a log record: read from their spans."""
DECLINES = ("insufficient_funds", "card_declined", "expired_card", "fraud_suspected", "authentication_failed")


@pytest.fixture(scope="module")
def shop() -> Model:
    return load_spec(SPEC)


@pytest.fixture(scope="module")
def shop_defaults(tmp_path_factory: pytest.TempPathFactory) -> Model:
    """The same spec without its `simulation` section."""
    raw = yaml.safe_load(SPEC.read_text())
    del raw["simulation"]
    path = tmp_path_factory.mktemp("spec") / "checkout_defaults.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_spec(path)


def run(model: Model, **options: Any) -> Run:
    """Two simulated hours around the evening peak in 5 ticks (about 2,500 checkouts), unpaced."""
    options = {"minutes": 120, "start_minute": 18 * 60, "speedup": 14_400, "rate": 20_000, "seed": 4, **options}
    r = Run(model, **options)
    r.run()
    return r


def records(r: Run) -> list[dict[str, Any]]:
    """Every event the run sent, with its fields and `event_name`: log records, and spans of events without one."""
    out = r.logs()
    for event, span in SPANS.items():
        out += [{**attrs, "event_name": event} for attrs in r.spans(span)]
    return out


def by_checkout(r: Run) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """checkout_id → event name → its records."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records(r):
        if "checkout_id" in record:
            out[record["checkout_id"]][record["event_name"]].append(record)
    return out


def assert_joins_hold(r: Run) -> None:
    """Every member has its checkout; it inherits the checkout's customer, region and currency; an order names
    an authorised attempt of its checkout with that attempt's payment method (`unpaid_order`)."""
    for events in by_checkout(r).values():
        (started,) = events["checkout_started"]
        for name in ("payment_authorised", "payment_failed", "order_placed"):
            for member in events[name]:
                assert all(member[f] == started[f] for f in ("user.id", "region", "currency")), name
        paid = {(p["payment.id"], p["payment.method"]) for p in events["payment_authorised"]}
        for order in events["order_placed"]:
            assert (order["payment.id"], order["payment.method"]) in paid


def test_a_spec_without_a_simulation_section_simulates_valid_joined_events(shop_defaults: Model) -> None:
    assert not shop_defaults.simulation.declared
    r = run(shop_defaults, rate=4000)  # strict validation: any invalid event raises
    try:
        summary = r.sim.tally
        assert set(summary.events) == {e.name for e in shop_defaults.events}
        assert_joins_hold(r)
        started = r.spans("checkout.session")
        assert len(started) == summary.events["checkout_started"] > 500
        # Derived values: enums uniform, numbers within the bounds, raw customer ids pseudonymised.
        regions = Counter(c["region"] for c in started)
        assert set(regions) == {"us", "eu", "uk", "apac"} and min(regions.values()) / max(regions.values()) > 0.7
        amounts = [c["amount"] for c in started]
        assert amounts and all(a >= 0 for a in amounts)
        customers = {c["user.id"] for c in started}
        assert customers <= {r.rt.pseudonymize(raw) for raw in r.sim.raw_ids}
        assert "obsgen.data_quality.violations" not in r.metric_totals()
    finally:
        r.close()


def test_declared_distributions_show_in_the_exported_data(shop: Model) -> None:
    r = run(shop)
    try:
        assert_joins_hold(r)
        methods = Counter()
        for labels, count in r.metric_points("shop.payments.authorised") + r.metric_points("shop.payments.failed"):
            methods[labels["payment.method"]] += count
        total = sum(methods.values())
        assert total > 1500
        for method, share in (("card", 0.55), ("apple_pay", 0.15), ("paypal", 0.10), ("bank_transfer", 0.08)):
            assert methods[method] / total == pytest.approx(share, abs=0.04), method  # the customers' methods
        regions = Counter()
        for labels, count in r.metric_points("shop.cart.updates"):
            regions[labels["region"]] += count
        assert regions["us"] / sum(regions.values()) == pytest.approx(0.45, abs=0.05)
        tally = r.sim.tally.events
        assert tally["cart_updated"] / tally["checkout_started"] == pytest.approx(3, rel=0.1)  # the roots' rates
        all_records = records(r)
        latency = defaultdict(list)
        for x in all_records:
            if x["event_name"] == "payment_authorised":
                latency[x["payment.method"]].append(x["latency_ms"])
        assert statistics.median(latency["card"]) == pytest.approx(380, rel=0.15)  # conditional values
        assert statistics.median(latency["apple_pay"]) == pytest.approx(250, rel=0.15)
        amounts = [x["amount"] for x in all_records if x["event_name"] == "checkout_started"]
        assert statistics.median(amounts) == pytest.approx(65, rel=0.1)
        failed = [x for x in all_records if x["event_name"] == "payment_failed"]
        declined = sum(1 for x in failed if x["error.type"] in DECLINES)
        assert declined / tally["checkout_started"] == pytest.approx(0.06, abs=0.015)  # the step's probability
        # payment_authorised after a failed attempt: 60% of the 85% (`adjust` with an `event.field` condition).
        retried = [events for events in by_checkout(r).values() if events["payment_failed"]]
        paid_after = sum(1 for events in retried if events["payment_authorised"]) / len(retried)
        assert paid_after == pytest.approx(0.85 * 0.6, abs=0.1)
        for events in by_checkout(r).values():  # order_placed `when: {payment_authorised.payment.method: ...}`
            assert len(events["order_placed"]) <= len(events["payment_authorised"])
    finally:
        r.close()


def payment_success(r: Run) -> float:
    authorised = sum(c for _, c in r.metric_points("shop.payments.authorised"))
    ours = sum(c for labels, c in r.metric_points("shop.payments.failed")
               if labels["error.type"] in ("provider_timeout", "provider_error"))
    return authorised / (authorised + ours)


def test_an_incident_raises_the_bad_fraction_of_its_indicator(shop: Model) -> None:
    healthy, outage = run(shop), run(shop, incidents=("provider-outage",))
    try:
        assert payment_success(healthy) >= 0.99  # the SLO holds
        assert payment_success(outage) < 0.7  # its alert (< 95%) fires
        assert_joins_hold(outage)
    finally:
        healthy.close()
        outage.close()


def test_incidents_add_latency_and_stop_events(shop: Model) -> None:
    slow = run(shop, incidents=("slow-provider", "orders-down"))
    try:
        latency = defaultdict(list)
        for x in records(slow):
            if x["event_name"] == "payment_authorised":
                latency[x["payment.method"]].append(x["latency_ms"])
        assert statistics.median(latency["card"]) == pytest.approx(4 * 380, rel=0.15)
        assert statistics.median(latency["apple_pay"]) == pytest.approx(4 * 250, rel=0.15)
        assert "order_placed" not in slow.sim.tally.events and slow.sim.tally.events["payment_authorised"] > 1000
    finally:
        slow.close()


def test_a_kill_switch_reaction_applies_while_the_switch_is_on(shop: Model) -> None:
    r = Run(shop, minutes=120, start_minute=18 * 60, speedup=7200, rate=10_000, seed=4)  # 10 ticks

    def flip(tick: int) -> None:
        if tick == 4:
            r.rt.kill_switches.set("disable_multi_currency", True)

    r.run(on_tick=flip)
    try:
        while_on = r.sim.tally.while_on["disable_multi_currency"]["checkout_started"]["currency"]
        assert sum(while_on.values()) > 500 and set(while_on) == {"USD"}
        assert r.sim.tally.count("checkout_started", "currency")["EUR"] > 100  # before the switch
        # Members inherit the root's currency: the payments of the switched checkouts are in USD too.
        assert set(r.sim.tally.while_on["disable_multi_currency"]["payment_authorised"]["currency"]) == {"USD"}
    finally:
        r.close()


def test_the_same_seed_sends_the_same_events(shop: Model) -> None:
    def events(seed: int) -> list[tuple[Any, ...]]:
        r = run(shop, minutes=30, seed=seed, rate=4000)
        try:
            return [tuple(sorted((k, str(v)) for k, v in x.items()
                                 if k not in ("timestamp_ms", "trace_id", "span_id", "checkout_id", "cart_id",
                                              "payment.id")))
                    for x in r.logs()]
        finally:
            r.close()

    first = events(5)
    assert len(first) > 200
    assert events(5) == first
    assert events(6) != first


def test_simulate_takes_a_spec_and_set_fixes_a_field(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRACES", "LOGS", "METRICS"):
        monkeypatch.setenv(f"OTEL_{name}_EXPORTER", "none")
    args = ["simulate", str(SPEC), "--dev", "--minutes", "60", "--speedup", "36000", "--no-pacing", "--rate", "800"]
    result = CliRunner().invoke(main, [*args, "--set", "region=apac", "--json", "-"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["set"] == {"region": "apac"}
    events = summary["events"]
    assert summary["values"]["checkout_started"]["region"] == {"apac": events["checkout_started"]}
    assert summary["values"]["cart_updated"]["region"] == {"apac": events["cart_updated"]} and summary["journeys"] > 10
    incidents = ", ".join(i.name for i in load_spec(SPEC).simulation.incidents)
    for bad, words in ((["--set", "region=mars"], "use one of us, eu, uk, apac"),
                       (["--set", "colour=red"], "FIELD=VALUE with a field of the spec"),
                       (["--incident", "error-burst"], f"choose from {incidents}")):
        result = CliRunner().invoke(main, [*args, *bad])
        assert result.exit_code == 2 and words in result.stderr, result.output


# --- the section's errors ------------------------------------------------------------------------------------


CASES: list[tuple[str, Any, str, str]] = [
    ("sample-unknown-population", lambda s: s["fields"].update(cart_id={"sample": "carts"}),
     "simulation.fields.cart_id.sample", "not a population declared under `simulation.populations`"),
    ("value-not-in-enum",
     lambda s: s["fields"].update(shipping_method={"weights": {"standard": 0.9, "drone": 0.1}}),
     "simulation.fields.shipping_method.weights.drone", "not a value of `shipping_method`"),
    ("two-kinds", lambda s: s["fields"]["amount"].update(value=3), "simulation.fields.amount",
     "takes one of"),
    ("unknown-field", lambda s: s["fields"].update(colour={"value": "red"}), "simulation.fields.colour",
     "not a field of any event"),
    ("unknown-dotted-field", lambda s: s["fields"].update({"payment.currency": {"value": "USD"}}),
     "simulation.fields.payment.currency", "not a field of any event"),
    ("event-field-unknown", lambda s: s["fields"].update({"cart_updated.amount": {"value": 3}}),
     "simulation.fields.cart_updated.amount", "not a field of event `cart_updated`"),
    ("step-not-a-member", lambda s: s["steps"].append({"event": "cart_updated"}), "simulation.steps[6].event",
     "not a member of any context"),
    ("per-not-an-array", lambda s: s["steps"][5].update(per="checkout_started.region"), "simulation.steps[5].per",
     "not an array field"),
    ("incident-unknown-step", lambda s: s["incidents"]["orders-down"].update(steps={"refund": 0.5}),
     "simulation.incidents.orders-down.steps.refund", "not a step declared under `simulation.steps`"),
    ("bad-fraction-not-a-ratio",
     lambda s: s["incidents"]["provider-outage"].update(bad_fraction={"indicator": "payment_latency", "value": 0.4}),
     "simulation.incidents.provider-outage.bad_fraction.indicator", "not a ratio"),
    ("bad-fraction-over-two-events",
     lambda s: s["incidents"]["provider-outage"].update(bad_fraction={"indicator": "payment_success", "value": 0.4}),
     "simulation.incidents.provider-outage.bad_fraction.indicator", "not a ratio whose numerator selects"),
    ("fires-unknown-alert", lambda s: s["incidents"]["orders-down"].update(fires=["CheckoutNoOrder"]),
     "simulation.incidents.orders-down.fires[0]", "`CheckoutNoOrder` is not an alert declared under `alerts`"),
    ("fires-on-a-reaction", lambda s: s["kill_switches"]["disable_multi_currency"].update(fires=["CheckoutNoOrders"]),
     "simulation.kill_switches.disable_multi_currency.fires", "unknown key"),
    ("reaction-unknown-switch", lambda s: s["kill_switches"].update(disable_cards={}),
     "simulation.kill_switches.disable_cards", "not a kill-switch declared under `kill_switches`"),
    ("template-does-not-format",
     lambda s: s["populations"]["customer"]["id"].update(template="customer-{index}"),
     "simulation.populations.customer.id.template", "does not format"),
    ("bad-peak", lambda s: s.update(diurnal={"peak": "25:00"}), "simulation.diurnal.peak", "not a time of day"),
]


@pytest.mark.parametrize("case_id,mutate,path,words", CASES, ids=[c[0] for c in CASES])
def test_bad_simulation_sections_are_reported(tmp_path: Path, case_id: str, mutate: Any, path: str,
                                              words: str) -> None:
    spec = yaml.safe_load(SPEC.read_text())
    mutate(spec["simulation"])
    assert_reported(tmp_path, yaml.safe_dump(spec, sort_keys=False), path, words)
