"""The generated SLO dashboard of a service with budgeted SLOs: budget left, time to exhaustion, burn rates.

Built as a model ``Dashboard`` beside the spec's own, so the Grafana emitter, the PromQL contract, the
real-Prometheus check and dashboard-linter treat it exactly like them. It reads only the SLO recording
rules (``service_slo:<ns>_slo_*``) and shows each SLO's burn-rate alerts as annotations.
"""

from __future__ import annotations

from decimal import Decimal

from obsgen import model as m

BOARD_NAME = "slo"
BURN_WINDOWS = ("1h", "6h", "3d")
"""Burn rates drawn: the page's and the ticket's long windows (each pair's short window only gates)."""


def _record(model: m.Model, metric: str, operation: str) -> str:
    # The names of obsgen.emit.prometheus.promql.slo_meta_record/slo_record (not imported: the spec reader
    # must not load emitters); tests/test_slo_board.py checks they agree.
    return f"service_slo:{model.service.namespace}_slo_{metric}:{operation}"


def slo_dashboard(model: m.Model) -> m.Dashboard | None:
    """None without budgeted SLOs, or when the spec already has a dashboard named ``slo``."""
    slos = [s for s in model.slos if s.budget_period is not None]
    if not slos or any(d.name == BOARD_NAME for d in model.dashboards):
        return None
    names = tuple(s.name for s in slos)
    periods = sorted({s.budget_period for s in slos if s.budget_period}, key=lambda d: d.seconds)
    green = m.ThresholdStep("green")
    remaining = tuple(m.TileQuery(legend="{{slo}}", instant=True,
                                  expr=_record(model, "error_budget_remaining", f"ratio_rate{p.text}"))
                      for p in periods)
    exhaustion = tuple(m.TileQuery(
        legend="{{slo}}", instant=True,
        expr=(f"clamp_min({_record(model, 'error_budget_remaining', f'ratio_rate{p.text}')}, 0) * {p.seconds}\n"
              f"/ on (service, slo) {_record(model, 'burn_rate', 'ratio_rate1h')}")) for p in periods)
    tiles = (
        m.Tile(id="budget", title="Error budget remaining", panel="stat", unit="percentunit", row="Budget",
               description="Share of each SLO's error budget left over its period (negative: overspent).",
               queries=remaining, slos=names, width=8,
               thresholds=(m.ThresholdStep("red"), m.ThresholdStep("orange", Decimal(0)),
                           m.ThresholdStep("green", Decimal("0.25")))),
        m.Tile(id="exhaustion", title="Time to exhaustion at the 1h burn rate", panel="stat", unit="s",
               row="Budget", width=8, queries=exhaustion, thresholds=(m.ThresholdStep("red"),
                                                                      m.ThresholdStep("orange", Decimal(86400)),
                                                                      m.ThresholdStep("green", Decimal(604800))),
               description="Budget left divided by the last hour's burn rate: when it runs out at this pace."),
        m.Tile(id="objectives", title="Objectives", panel="stat", unit="percentunit", row="Budget", width=8,
               queries=(m.TileQuery(legend="{{slo}}", instant=True, expr=_record(model, "objective", "ratio")),),
               thresholds=(green,), description="Each SLO's objective: the share of good events it promises."),
        m.Tile(id="burn", title="Burn rate", unit="none", row="Burn rates",
               description="Bad-event ratio divided by the budget: 1 spends the budget exactly over the period; "
                           "the page fires above 14.4 (1h) or 6 (6h), the ticket above 3 (1d) or 1 (3d).",
               queries=tuple(m.TileQuery(legend=f"{{{{slo}}}} over {w}",
                                         expr=_record(model, "burn_rate", f"ratio_rate{w}")) for w in BURN_WINDOWS),
               slos=names, thresholds=(green, m.ThresholdStep("orange", Decimal(1)),
                                       m.ThresholdStep("red", Decimal(6)))),
        m.Tile(id="bad-ratio", title="Bad-event ratio", unit="percentunit", row="Burn rates",
               description="Share of bad events over 5 minutes, per SLO.",
               queries=(m.TileQuery(legend="{{slo}}", expr=_record(model, "errors", "ratio_rate5m")),),
               thresholds=(green,)),
    )
    return m.Dashboard(name=BOARD_NAME, title=f"{model.service.name} SLOs", refresh=m.parse_duration("1m"),
                       tiles=tiles, time=m.parse_duration("1d"),
                       description="Generated from the spec's budgeted SLOs: error budget and burn rates.")
