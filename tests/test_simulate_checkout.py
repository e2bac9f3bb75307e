"""The checkout spec's `simulation` section against its own alerts and SLOs (tests/fixtures/specs/checkout.yaml).

Default traffic keeps every alert quiet and every SLO met; each incident with `fires` moves the indicator of
every alert it lists past that alert's threshold; the failover kill-switch makes payment failures drop. The
indicators are evaluated on the metrics the runtime exported (in memory) the way the generated rules compute
them (tests/support/indicators.py); tests/test_e2e_stack.py runs the incidents through the real stack.
"""

from __future__ import annotations

import pytest
from obsgen.model import Model

from tests.support.indicators import alert_values, firing, slo_holds, slo_values
from tests.support.simulation import Run
from tests.support.specs import CHECKOUT

MINUTES, SPEEDUP, RATE = 120, 14_400, 40_000
"""Two simulated hours around the evening peak in 5 ticks (about 5,000 checkouts), unpaced."""
WALL_SECONDS = MINUTES * 60 / SPEEDUP
"""What the run lasts on the wall clock when paced: the time base of a `rate` indicator."""


@pytest.fixture(scope="module")
def checkout() -> Model:
    return CHECKOUT.model


def run(model: Model, *incidents: str) -> Run:
    r = Run(model, minutes=MINUTES, start_minute=18 * 60, speedup=SPEEDUP, rate=RATE, seed=21, incidents=incidents)
    r.run()  # strict validation: an invalid event or a broken join raises
    return r


@pytest.fixture(scope="module")
def healthy(checkout: Model) -> Run:
    r = run(checkout)
    yield r
    r.close()


def test_default_traffic_is_valid_and_has_no_data_quality_violations(checkout: Model, healthy: Run) -> None:
    assert set(healthy.sim.tally.events) == {e.name for e in checkout.events}
    totals = healthy.metric_totals()
    assert "obsgen.data_quality.violations" not in totals
    assert not [r for r in healthy.logs() if r.get("component") == "telemetry"]  # no data-quality report
    assert totals["shop.checkouts.started"] > 4000


def test_default_traffic_keeps_every_alert_quiet(checkout: Model, healthy: Run) -> None:
    for alert in checkout.alerts:
        values = alert_values(healthy, alert, WALL_SECONDS)
        assert values, f"{alert.name}: no data"
        assert not firing(healthy, alert, WALL_SECONDS), f"{alert.name} fires: {values}"


def test_default_traffic_meets_every_slo(checkout: Model, healthy: Run) -> None:
    for slo in checkout.slos:
        assert slo_holds(healthy, slo, WALL_SECONDS), f"{slo.name}: {slo_values(healthy, slo, WALL_SECONDS)}"


def test_the_spec_has_incidents_for_the_p1_kill_switch_alert_latency_and_orders(checkout: Model) -> None:
    fired = {a for i in checkout.simulation.incidents for a in i.fires}
    alerts = {a.name: a for a in checkout.alerts}
    assert any(alerts[a].severity == "P1" and alerts[a].kill_switch for a in fired)
    assert any(type(alerts[a].indicator).__name__ == "Quantile" for a in fired)
    assert any(type(alerts[a].indicator).__name__ == "Rate" and alerts[a].when_absent for a in fired)


@pytest.mark.parametrize("incident", [i.name for i in CHECKOUT.model.simulation.incidents if i.fires])
def test_each_incident_moves_the_alerts_it_fires_past_their_threshold(checkout: Model, healthy: Run,
                                                                        incident: str) -> None:
    spec = next(i for i in checkout.simulation.incidents if i.name == incident)
    alerts = {a.name: a for a in checkout.alerts}
    r = run(checkout, incident)
    try:
        for name in spec.fires:
            alert = alerts[name]
            values = alert_values(r, alert, WALL_SECONDS)
            assert firing(r, alert, WALL_SECONDS), f"{incident}: {name} stays quiet: {values}"
            assert not firing(healthy, alert, WALL_SECONDS)
    finally:
        r.close()


def payment_success(values: dict[str, dict[str, int]]) -> float:
    """From the tally's per-event value counts: authorised ÷ (authorised + failed on our or the provider's side)."""
    authorised = sum(values["payment_authorised"]["payment.method"].values())
    failed = values["payment_failed"]["error.type"]
    ours = failed["provider_timeout"] + failed["provider_error"]
    return authorised / (authorised + ours)


def test_failing_over_the_payment_provider_makes_failures_drop(checkout: Model) -> None:
    r = Run(checkout, minutes=MINUTES, start_minute=18 * 60, speedup=7200, rate=6000, seed=21,
            incidents=("provider-outage",))  # 10 ticks

    def flip(tick: int) -> None:
        if tick == 4:
            r.rt.kill_switches.set("failover_payment_provider", True)

    r.run(on_tick=flip)
    try:
        tally = r.sim.tally
        during = tally.while_on["failover_payment_provider"]
        assert set(during["payment_authorised"]["payment.provider"]) == {"stripe", "paypal"}
        assert payment_success(during) > 0.99  # the SLO holds again
        everything = {e: tally.values[e] for e in ("payment_authorised", "payment_failed")}
        assert payment_success(everything) < 0.9  # the outage before the switch
    finally:
        r.close()
