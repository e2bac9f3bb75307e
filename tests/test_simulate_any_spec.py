"""``obsgen simulate`` with a spec that is not the recommender: a small checkout (tests/fixtures/specs).

With its `simulation` section and without it (every value derived from the spec), every event passes the
runtime's strict validation and satisfies the spec's joins; the declared distributions, incidents and
kill-switch reactions show in what the runtime exported (its in-memory exporters).
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

SPEC = Path(__file__).parent / "fixtures" / "specs" / "checkout_traffic.yaml"
MEMBERS = ("checkout", "payment", "order_placed", "order_line")


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
    """Two simulated hours around the evening peak in 5 ticks (about 2,000 carts), unpaced."""
    options = {"minutes": 120, "start_minute": 18 * 60, "speedup": 14_400, "rate": 4000, "seed": 4, **options}
    r = Run(model, **options)
    r.run()
    return r


def by_checkout(r: Run) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """checkout_id → event name → its log records, in the order they were emitted."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in r.logs():
        out[record["checkout_id"]][record["event_name"]].append(record)
    return out


def assert_joins_hold(r: Run) -> None:
    """Members come after their cart, and every reference of the spec's joins points where it must."""
    seen: set[str] = set()
    for record in r.logs():
        if record["event_name"] == "cart":
            seen.add(record["checkout_id"])
        else:
            assert record["checkout_id"] in seen, f"{record['event_name']} before its cart"
    for events in by_checkout(r).values():
        (cart,) = events["cart"]
        for line in events["order_line"]:
            assert cart["skus"][line["line"] - 1] == line["sku"]  # line_in_cart
        paid = {p["payment_method"] for p in events["payment"]}
        assert paid <= {c["payment_method"] for c in events["checkout"]}  # paid_as_submitted
        assert {o["payment_method"] for o in events["order_placed"]} <= paid  # paid_with


def test_a_spec_without_a_simulation_section_simulates_valid_joined_events(shop_defaults: Model) -> None:
    assert not shop_defaults.simulation.declared
    r = run(shop_defaults)  # strict validation: any invalid event raises
    try:
        summary = r.sim.tally
        assert set(summary.events) == {e.name for e in shop_defaults.events}
        assert_joins_hold(r)
        carts = r.spans("shop.cart")
        assert len(carts) == summary.events["cart"] > 500
        # Derived values: enums uniform, numbers within the bounds, raw customer ids pseudonymised.
        regions = Counter(c["region"] for c in carts)
        assert set(regions) == {"eu", "us", "apac"} and min(regions.values()) / max(regions.values()) > 0.7
        amounts = [c["amount"] for c in r.logs() if c["event_name"] == "checkout"]
        assert amounts and all(0 <= a <= 10_000 for a in amounts)
        customers = {c["customer_id"] for c in carts}
        assert customers <= {r.rt.pseudonymize(raw) for raw in r.sim.raw_ids}
    finally:
        r.close()


def test_declared_distributions_show_in_the_exported_data(shop: Model) -> None:
    r = run(shop)
    try:
        assert_joins_hold(r)
        payments = Counter()
        for labels, count in r.metric_points("shop.payments"):
            payments[labels["payment_method"]] += count
        total = sum(payments.values())
        assert total > 1000
        for method, share in (("card", 0.7), ("wallet", 0.25), ("bank_transfer", 0.05)):
            assert payments[method] / total == pytest.approx(share, abs=0.04), method
        regions = Counter()
        for labels, count in r.metric_points("shop.carts"):
            regions[labels["region"]] += count
        assert regions["eu"] / sum(regions.values()) == pytest.approx(0.5, abs=0.05)  # the customers' regions
        logs = r.logs()
        checkouts = sum(1 for x in logs if x["event_name"] == "checkout")
        assert checkouts / r.sim.tally.events["cart"] == pytest.approx(0.6, abs=0.04)  # the step's probability
        latency = defaultdict(list)
        for x in logs:
            if x["event_name"] == "payment":
                latency[x["payment_method"]].append(x["latency_ms"])
        assert statistics.median(latency["card"]) == pytest.approx(120, rel=0.15)  # conditional values
        assert statistics.median(latency["bank_transfer"]) == pytest.approx(400, rel=0.3)
        amounts = [x["amount"] for x in logs if x["event_name"] == "checkout"]
        assert statistics.median(amounts) == pytest.approx(45, rel=0.1)
        failed = sum(1 for x in logs if x["event_name"] == "payment" and x["outcome"] == "failed")
        assert failed / total == pytest.approx(0.03, abs=0.015)
        orders = {x["checkout_id"] for x in logs if x["event_name"] == "order_placed"}
        authorised = {x["checkout_id"] for x in logs if x["event_name"] == "payment" and x["outcome"] == "authorised"}
        assert orders == authorised  # order_placed `when: {payment.outcome: authorised}`
    finally:
        r.close()


def payment_failures(r: Run) -> float:
    points = r.metric_points("shop.payments")
    failed = sum(c for labels, c in points if labels["outcome"] == "failed")
    return failed / sum(c for _, c in points)


def test_an_incident_raises_the_bad_fraction_of_its_indicator(shop: Model) -> None:
    healthy, outage = run(shop), run(shop, incidents=("payment-outage",))
    try:
        assert payment_failures(healthy) < 0.05  # payment_success >= 95%: the SLO holds
        assert payment_failures(outage) == pytest.approx(0.4 + 0.6 * 0.03, abs=0.04)  # its alert (< 90%) fires
        assert_joins_hold(outage)
    finally:
        healthy.close()
        outage.close()


def test_incidents_add_latency_and_stop_events(shop: Model) -> None:
    slow = run(shop, incidents=("slow-wallets", "orders-down"))
    try:
        latency = defaultdict(list)
        for x in slow.logs():
            if x["event_name"] == "payment":
                latency[x["payment_method"]].append(x["latency_ms"])
        assert statistics.median(latency["wallet"]) == pytest.approx(600, rel=0.15)
        assert statistics.median(latency["card"]) == pytest.approx(120, rel=0.15)
        assert "order_placed" not in slow.sim.tally.events and "order_line" not in slow.sim.tally.events
    finally:
        slow.close()


def test_a_kill_switch_reaction_applies_while_the_switch_is_on(shop: Model) -> None:
    r = Run(shop, minutes=120, start_minute=18 * 60, speedup=7200, rate=2000, seed=4)  # 10 ticks

    def flip(tick: int) -> None:
        if tick == 4:
            r.rt.kill_switches.set("disable_wallets", True)

    r.run(on_tick=flip)
    try:
        while_on = r.sim.tally.while_on["disable_wallets"]["payment"]["payment_method"]
        assert sum(while_on.values()) > 100 and "wallet" not in while_on
        assert r.sim.tally.count("payment", "payment_method")["wallet"] > 50  # before the switch
    finally:
        r.close()


def test_the_same_seed_sends_the_same_events(shop: Model) -> None:
    def events(seed: int) -> list[tuple[Any, ...]]:
        r = run(shop, minutes=30, seed=seed)
        try:
            return [tuple(sorted((k, str(v)) for k, v in x.items() if k not in ("timestamp_ms", "trace_id", "span_id")))
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
    args = ["simulate", str(SPEC), "--dev", "--minutes", "60", "--speedup", "36000", "--no-pacing", "--rate", "500"]
    result = CliRunner().invoke(main, [*args, "--set", "region=apac", "--json", "-"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["set"] == {"region": "apac"}
    assert summary["values"]["cart"]["region"] == {"apac": summary["events"]["cart"]} and summary["journeys"] > 10
    for bad, words in ((["--set", "region=mars"], "use one of eu, us, apac"),
                       (["--set", "colour=red"], "FIELD=VALUE with a field of the spec"),
                       (["--incident", "error-burst"], "choose from payment-outage, slow-wallets, orders-down")):
        result = CliRunner().invoke(main, [*args, *bad])
        assert result.exit_code == 2 and words in result.stderr, result.output


# --- the section's errors ------------------------------------------------------------------------------------


CASES: list[tuple[str, Any, str, str]] = [
    ("sample-unknown-population", lambda s: s["fields"]["skus"].update(sample="products"),
     "simulation.fields.skus.sample", "not a declared simulation.population"),
    ("value-not-in-enum", lambda s: s["fields"].update(outcome={"weights": {"authorised": 0.9, "declined": 0.1}}),
     "simulation.fields.outcome.weights.declined", "not a value of `outcome`"),
    ("two-kinds", lambda s: s["fields"]["amount"].update(value=3), "simulation.fields.amount",
     "takes one of"),
    ("unknown-field", lambda s: s["fields"].update(colour={"value": "red"}), "simulation.fields.colour",
     "not a field of any event"),
    ("event-field-unknown", lambda s: s["fields"].update({"cart.amount": {"value": 3}}),
     "simulation.fields.cart.amount", "not a field of event `cart`"),
    ("step-not-a-member", lambda s: s["steps"].append({"event": "cart"}), "simulation.steps[4].event",
     "not a member of any context"),
    ("per-not-an-array", lambda s: s["steps"][3].update(per="cart.region"), "simulation.steps[3].per",
     "not an array field"),
    ("incident-unknown-step", lambda s: s["incidents"]["orders-down"].update(steps={"refund": 0.5}),
     "simulation.incidents.orders-down.steps.refund", "not a declared simulation.step"),
    ("bad-fraction-not-a-ratio",
     lambda s: s["incidents"]["payment-outage"]["bad_fraction"].update(indicator="payment_latency"),
     "simulation.incidents.payment-outage.bad_fraction.indicator", "not a ratio"),
    ("reaction-unknown-switch", lambda s: s["kill_switches"].update(disable_cards={}),
     "simulation.kill_switches.disable_cards", "not a declared kill_switch"),
    ("template-does-not-format", lambda s: s["populations"]["product"]["id"].update(template="sku-{index}"),
     "simulation.populations.product.id.template", "does not format"),
    ("bad-peak", lambda s: s.update(diurnal={"peak": "25:00"}), "simulation.diurnal.peak", "not a time of day"),
]


@pytest.mark.parametrize("case_id,mutate,path,words", CASES, ids=[c[0] for c in CASES])
def test_bad_simulation_sections_are_reported(tmp_path: Path, case_id: str, mutate: Any, path: str,
                                              words: str) -> None:
    spec = yaml.safe_load(SPEC.read_text())
    mutate(spec["simulation"])
    assert_reported(tmp_path, yaml.safe_dump(spec, sort_keys=False), path, words)
