"""SLO metadata records and the generated SLO board (issue 12 part 4). The board passes the same checks as
the spec's dashboards (contract, real Prometheus, dashboard-linter) because it is one of
``model.dashboards``; here: what it holds, and that it reads records the rules really emit."""

from __future__ import annotations

from obsgen.emit.prometheus import promql as q
from obsgen.emit.prometheus import rules
from obsgen.model import Model
from obsgen.spec.sloboard import BOARD_NAME

from tests.support.specs import SpecCase


def test_each_budgeted_slo_records_objective_budget_left_and_burn_rate_per_window(spec_case: SpecCase) -> None:
    model = spec_case.model
    records = {(r["record"], r["labels"].get("slo")) for g in rules.rule_groups(model)[rules.RECORDING_FILE]
               for r in g["rules"]}
    for slo in (s for s in model.slos if s.budget_period is not None):
        expected = [q.slo_meta_record(model, "objective", "ratio"),
                    q.slo_meta_record(model, "error_budget_remaining", f"ratio_rate{slo.budget_period}"),
                    q.slo_record(model, slo.budget_period.text),
                    *(q.slo_meta_record(model, "burn_rate", f"ratio_rate{w.text}") for w in rules.slo_windows())]
        assert all((name, slo.name) in records for name in expected), slo.name


def test_the_slo_board_reads_only_emitted_records_and_shows_the_burn_alerts(model: Model) -> None:
    board = next(b for b in model.dashboards if b.name == BOARD_NAME)
    emitted = {r["record"] for g in rules.rule_groups(model)[rules.RECORDING_FILE] for r in g["rules"]}
    exprs = [query.expr or "" for tile in board.tiles for query in tile.queries]
    read = {word for expr in exprs for word in expr.replace("(", " ").replace(",", " ").split()
            if word.startswith("service_slo:")}
    assert read and read <= emitted, read - emitted
    assert [t.title for t in board.tiles] == ["Error budget remaining", "Time to exhaustion at the 1h burn rate",
                                              "Objectives", "Burn rate", "Bad-event ratio"]
    budgeted = tuple(s.name for s in model.slos if s.budget_period is not None)
    assert next(t for t in board.tiles if t.id == "burn").slos == budgeted  # their alerts as annotations
