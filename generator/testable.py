"""Every alert and SLO the spec accepts gets promtool tests that can pass.

The generated tests synthesise input series on both sides of each threshold (``emit.prometheus.ruletests``).
The spec readers reject the thresholds no signal of an indicator's kind can reach (a negative ratio, a
fraction above 1); this check is the backstop for the combinations they cannot see: it builds each alert's
and SLO's test cases and reports, at the threshold or objective, any that cannot be built or would write
input promtool refuses (a counter that decreases).
"""

from __future__ import annotations

from obsgen.emit.prometheus.rules import budgeted_slos
from obsgen.emit.prometheus.ruletests import Case, alert_cases, proof_slo, slo_cases
from obsgen.model import Model
from obsgen.spec.source import Document, Path_, SpecError, dotted


def _problem(cases: list[Case]) -> str | None:
    for case in cases:
        for series in case.series:
            if "+-" in series["values"]:
                return f"its test would need a counter that decreases ({series['series']} {series['values']})"
    return None


def check(model: Model, doc: Document) -> list[SpecError]:
    """Alerts and SLOs whose tests cannot be generated, as errors at their threshold or objective."""
    errors: list[SpecError] = []

    def report(path: Path_, problem: str, fix: str) -> None:
        errors.append(SpecError(doc.source, doc.line_of(path), dotted(path), problem, fix))

    for alert in model.alerts:
        path: Path_ = ("alerts", alert.name, "threshold")
        try:
            problem = _problem(alert_cases(model, alert))
        except (AssertionError, ArithmeticError, ValueError, KeyError, IndexError):
            problem = "no series of the indicator can be put on both sides of it"
        if problem:
            report(path, f"`{alert.op} {alert.threshold}` cannot be tested: {problem}",
                   f"use a threshold the {alert.indicator.kind} indicator `{alert.indicator.name}` reaches and leaves")
    for slo in budgeted_slos(model):
        path = ("slos", slo.name, "objective")
        try:
            problem = _problem(slo_cases(model, slo, proofs=slo is proof_slo(model)))
        except (AssertionError, ArithmeticError, ValueError, KeyError, IndexError):
            problem = "no series of the indicator can be put on both sides of it"
        if problem:
            report(path, f"the objective cannot be tested: {problem}",
                   "use an objective the indicator reaches and leaves")
    return errors
