"""The PromQL contract: every query obsgen writes selects only series the service really produces.

Dashboards-as-code most often fail by querying series that never arrive: a typo in a metric, a label
the metric does not carry, a recording rule that is not recorded. Every PromQL expression in the
dashboards (tile queries, slice queries, alert annotations), the recording rules and the alerts is
parsed with ``promql_parser`` after Grafana's variables are substituted, and each selector is checked:

* its metric is a series of a spec metric (``Metric.series_names``, OTel → Prometheus names) or a
  recording rule obsgen emits (or ``ALERTS``, which Prometheus writes for the emitted alerts);
* each matcher's label is one that series carries: the metric's labels plus ``shadow`` (and ``le`` on
  histogram buckets), or for a recording rule the labels its expression keeps plus its static labels;
* selectors of raw metrics exclude shadow traffic (``shadow!="true"``);
* ``by``/``on``/``ignoring``/``group_*`` labels exist on the series they group.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import promql_parser as pp
from obsgen.emit.grafana.annotations import alert_exprs
from obsgen.emit.grafana.queries import query_expr, variable_selector
from obsgen.emit.prometheus.rules import ALERTS_FILE, RECORDING_FILE, SLO_ALERTS_FILE, rule_groups
from obsgen.model import SHADOW_LABEL, Model
from obsgen.spec.source import Document, Path_, SpecError, dotted

GRAFANA_VALUES = {"__rate_interval": "5m", "__interval": "1m", "__interval_ms": "60000", "__range": "1d",
                  "__range_s": "86400", "__range_ms": "86400000", "__auto": "5m"}
"""Stand-ins for Grafana's built-in variables, so queries parse; any other ``$var`` becomes ``.*``."""
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z]+)?\}|([A-Za-z_][A-Za-z0-9_]*))")
ALERT_SERIES = ("ALERTS", "ALERTS_FOR_STATE")
Labels = frozenset[str]


@dataclass(frozen=True)
class Where:
    """Where an expression comes from, for the error: the spec line and what the expression is.

    A generated rule has no line of its own: ``items`` names the spec items it is built from (the alert or
    SLO, then its indicator), and the error goes to the field of the first that shows the offending name,
    else to the first item's line."""

    file: str
    line: int
    path: str
    what: str
    items: tuple[Path_, ...] = ()


@dataclass(frozen=True)
class Shape:
    """What an expression returns: its labels (``None`` when unknown) and whether it is a scalar."""

    labels: Labels | None
    scalar: bool = False


def substitute(expr: str) -> str:
    """Grafana variables replaced so the query parses: built-ins by a duration, slices by ``.*``."""
    return VARIABLE.sub(lambda m: GRAFANA_VALUES.get(m.group(1) or m.group(2), ".*"), expr)


def metric_series(model: Model) -> dict[str, Labels]:
    """Every series the spec's metrics produce, with the labels it carries."""
    out: dict[str, Labels] = {}
    for metric in model.metrics:
        labels = {model.attributes[a].label_name if a in model.attributes else a for a in metric.labels}
        labels.add(SHADOW_LABEL)
        for name in metric.series_names:
            out[name] = frozenset(labels | ({"le"} if name.endswith("_bucket") and metric.instrument == "histogram"
                                            else set()))
    return out


def _parse_once() -> Callable[[str], pp.Expr]:
    """``pp.parse`` remembering its results: the contract reads every generated rule twice (for the series it
    records and as an expression to check)."""
    parsed: dict[str, pp.Expr] = {}

    def parse(expr: str) -> pp.Expr:
        node = parsed.get(expr)
        if node is None:
            node = parsed[expr] = pp.parse(expr)
        return node

    return parse


def known_series(model: Model, parse: Callable[[str], pp.Expr] = pp.parse) -> dict[str, Labels]:
    """Metric series plus the recording rules obsgen emits and the ``ALERTS`` series of its alerts."""
    known = metric_series(model)
    groups = rule_groups(model)
    records = [rule for group in groups[RECORDING_FILE] for rule in group["rules"]]
    parsed = [(rule, parse(rule["expr"])) for rule in records]
    for _ in range(3):  # records read records: settle their labels in a few passes
        for rule, node in parsed:
            shape = _shape(node, known, lambda _: None)
            labels = (shape.labels or frozenset()) | set(rule.get("labels", {}))
            known[rule["record"]] = known.get(rule["record"], frozenset()) | labels
    alert_labels: set[str] = {"alertname", "alertstate"}
    for path in (ALERTS_FILE, SLO_ALERTS_FILE):
        for group in groups[path]:
            for rule in group["rules"]:
                alert_labels |= set(rule.get("labels", {}))
                alert_labels |= _shape(parse(rule["expr"]), known, lambda _: None).labels or set()
    known["ALERTS"] = frozenset(alert_labels)
    known["ALERTS_FOR_STATE"] = frozenset(alert_labels - {"alertstate"})
    return known


def expressions(model: Model) -> Iterator[tuple[str, Where]]:
    """Every PromQL expression obsgen writes, with where it comes from."""
    for board in model.dashboards:
        file = board.spec_file or model.source
        indicators = {i.name for i in model.indicators}
        metrics = {metric.name for metric in model.metrics}
        for tile in board.tiles:
            if tile.datasource != "prometheus":
                continue  # LogQL is not PromQL: Loki checks its own stream selectors
            for query in tile.queries:
                if query.indicator is not None and query.indicator not in indicators:
                    continue  # the indicator has errors of its own
                yield query_expr(model, query), Where(file, query.line, query.path + (".expr" if query.expr else
                                                                                      ".indicator"),
                                                      f"tile `{board.name}/{tile.id}`")
        for variable in board.variables:
            if variable.metric not in metrics:
                continue  # the metric has errors of its own
            yield variable_selector(model, variable), Where(file, variable.line, variable.path,
                                                            f"variable `${variable.name}` of `{board.name}`")
        for tile, expr in alert_exprs(model, board):
            yield expr, Where(file, tile.line, tile.path, f"the alert annotation of tile `{board.name}/{tile.id}`")
    origins = rule_origins(model)
    for path, groups in rule_groups(model).items():
        for group in groups:
            for rule in group["rules"]:
                name = rule.get("record") or rule.get("alert")
                items = origins.get(group["name"]) or origins.get(rule.get("alert", ""), ())
                yield rule["expr"], Where(model.source, 1, dotted(items[0]) if items else path,
                                          f"generated rule `{name}` ({path})", items)


def rule_origins(model: Model) -> dict[str, tuple[Path_, ...]]:
    """The spec items each generated rule comes from, by rule group (``rules.rule_groups``) or, in the one
    group of the spec's alerts, by alert name: the item itself, then its indicator."""
    ns = model.service.namespace
    out: dict[str, tuple[Path_, ...]] = {}
    for indicator in model.indicators:
        out[f"{ns}-indicator-{indicator.name}"] = (("indicators", indicator.name),)
    for slo in model.slos:
        items = (("slos", slo.name), ("indicators", slo.indicator.name))
        out[f"{ns}-slo-{slo.name}"] = out[f"{ns}-slo-alerts-{slo.name}"] = items
    for alert in model.alerts:
        out[alert.name] = (("alerts", alert.name), ("indicators", alert.indicator.name))
    return out


def check(model: Model, doc: Document | None = None, tolerated: tuple[str, ...] = ()) -> list[SpecError]:
    """Every contract violation, as spec errors that name the tile (or variable, or rule) and its line.

    With ``doc``, an error about a name inside a multi-line query names the line of that name. Unknown
    series whose names start with (or name a recording rule of) a ``tolerated`` stem are not reported:
    they belong to spec items left out of a model for errors of their own (``spec.build.Reading``).
    """
    parse = _parse_once()
    known = known_series(model, parse)
    errors: list[SpecError] = []
    seen: set[tuple[str, int, str]] = set()
    for expr, where in expressions(model):
        def report(problem: str, fix: str, token: str = "", where: Where = where) -> None:
            file, line, path = _located(where, doc, token)
            key = (path, line, problem)
            if key not in seen:
                seen.add(key)
                errors.append(SpecError(file, line, path, f"{where.what}: {problem}", fix))
        try:
            node = parse(substitute(expr))
        except ValueError as exc:
            report(f"the query does not parse as PromQL ({_first_line(exc)})", "fix the PromQL syntax")
            continue
        _shape(node, _Known(known, tolerated), lambda issue: report(*issue))
    return errors


def _located(where: Where, doc: Document | None, token: str) -> tuple[str, int, str]:
    """File, line and path of an error about ``token`` in the expression of ``where``."""
    if doc is None:
        return where.file, where.line, where.path
    if not where.items:
        return where.file, doc.token_line(where.path, token, where.line), where.path
    for item in where.items:
        found = doc.token_field(item, token)
        if found is not None:
            return doc.source, found[1], dotted(found[0])
    return doc.source, doc.line_of(where.items[0]), where.path


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class _Known(dict[str, Labels]):
    """The known series; a name of a series that a spec item with errors would produce is left unchecked."""

    def __init__(self, known: dict[str, Labels], tolerated: tuple[str, ...]):
        super().__init__(known)
        self.tolerated = tolerated

    def excused(self, name: str) -> bool:
        return any(name.startswith(base) or f":{base}" in name for base in self.tolerated)


Report = Callable[[tuple[str, ...]], None]


def _selector(node: pp.VectorSelector, known: dict[str, Labels], report: Report) -> Shape:
    matchers = list(node.matchers.matchers)
    name = node.name or next((m.value for m in matchers if m.name == "__name__" and m.op == pp.MatchOp.Equal), None)
    if name is None:
        report(("a selector does not name its metric", "select one series by name, e.g. metric{label=\"x\"}",
                "{"))
        return Shape(None)
    if name not in known:
        if isinstance(known, _Known) and known.excused(name):
            return Shape(None)
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f"did you mean `{close[0]}`?" if close else "name a series of a metric declared under events"
        report((f"`{name}` is neither a series of a spec metric nor a recording rule obsgen emits",
                f"fix the name ({hint})", name))
        return Shape(None)
    labels = known[name]
    for matcher in matchers:
        if matcher.name != "__name__" and matcher.name not in labels:
            close = difflib.get_close_matches(matcher.name, sorted(labels), n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"it has {', '.join(sorted(labels)) or 'no labels'}"
            report((f"`{name}` has no label `{matcher.name}`", f"match a label the series carries ({hint})",
                    matcher.name))
    raw = name not in ALERT_SERIES and ":" not in name
    if raw and SHADOW_LABEL in labels and not any(m.name == SHADOW_LABEL and m.op == pp.MatchOp.NotEqual
                                                  and m.value == "true" for m in matchers):
        report((f"`{name}` is selected without excluding shadow traffic",
                f'add {SHADOW_LABEL}!="true" to the selector so shadow emission never moves the panel', name))
    return Shape(labels)


def _shape(node: pp.Expr, known: dict[str, Labels], report: Report) -> Shape:
    """The labels ``node`` returns, reporting unknown series and grouping labels on the way."""
    if isinstance(node, pp.VectorSelector):
        return _selector(node, known, report)
    if isinstance(node, pp.MatrixSelector):
        return _selector(node.vector_selector, known, report)
    if isinstance(node, (pp.ParenExpr, pp.SubqueryExpr, pp.UnaryExpr)):
        return _shape(node.expr, known, report)
    if isinstance(node, (pp.NumberLiteral, pp.StringLiteral)):
        return Shape(frozenset(), scalar=True)
    if isinstance(node, pp.AggregateExpr):
        return _aggregate(node, known, report)
    if isinstance(node, pp.Call):
        return _call(node, known, report)
    if isinstance(node, pp.BinaryExpr):
        return _binary(node, known, report)
    return Shape(None)


def _aggregate(node: pp.AggregateExpr, known: dict[str, Labels], report: Report) -> Shape:
    if node.param is not None:
        _shape(node.param, known, report)
    inner = _shape(node.expr, known, report).labels
    op = str(node.op)
    modifier = node.modifier
    if op in ("topk", "bottomk", "limitk", "limit_ratio"):
        return Shape(inner)
    if modifier is None:
        return Shape(frozenset())
    labels = frozenset(modifier.labels)
    if inner is not None:
        for label in sorted(labels - inner):
            keyword = "by" if modifier.type == pp.AggModifierType.By else "without"
            report((f"`{op} {keyword} ({label})` names a label its input does not have",
                    f"group by labels the input keeps ({', '.join(sorted(inner)) or 'none'})", label))
    if modifier.type == pp.AggModifierType.By:
        return Shape(labels)
    return Shape(None if inner is None else inner - labels)


def _call(node: pp.Call, known: dict[str, Labels], report: Report) -> Shape:
    args = [_shape(arg, known, report) for arg in node.args]
    name = node.func.name
    if name in ("vector", "time", "scalar", "pi"):
        return Shape(frozenset(), scalar=name != "vector")
    vector = next((s for s, arg in zip(args, node.args, strict=True)
                   if not isinstance(arg, (pp.NumberLiteral, pp.StringLiteral))), Shape(frozenset()))
    if name == "histogram_quantile":
        return Shape(None if vector.labels is None else vector.labels - {"le"})
    if name in ("label_replace", "label_join"):
        destination = node.args[1]
        added = {destination.val} if isinstance(destination, pp.StringLiteral) else set()
        return Shape(None if vector.labels is None else vector.labels | added)
    if name in ("absent", "absent_over_time"):
        return Shape(frozenset())
    return Shape(vector.labels)


def _binary(node: pp.BinaryExpr, known: dict[str, Labels], report: Report) -> Shape:
    lhs, rhs = _shape(node.lhs, known, report), _shape(node.rhs, known, report)
    if lhs.scalar and rhs.scalar:
        return Shape(frozenset(), scalar=True)
    if lhs.scalar or rhs.scalar:
        return rhs if lhs.scalar else lhs
    op = str(node.op)
    modifier = node.modifier
    matching = modifier.matching if modifier is not None else None
    either = None if lhs.labels is None or rhs.labels is None else lhs.labels | rhs.labels
    if matching is not None and either is not None:
        for label in sorted(set(matching.labels) - either):
            report((f"`on/ignoring ({label})` names a label neither side of `{op}` has",
                    f"match on labels the operands carry ({', '.join(sorted(either)) or 'none'})", label))
    if op == "or":
        return Shape(either)
    if op in ("and", "unless"):
        return lhs
    card = modifier.card if modifier is not None else None
    include = frozenset(modifier.group_labels or ()) if modifier is not None else frozenset()
    if card == pp.VectorMatchCardinality.ManyToOne:
        return Shape(None if lhs.labels is None else lhs.labels | include)
    if card == pp.VectorMatchCardinality.OneToMany:
        return Shape(None if rhs.labels is None else rhs.labels | include)
    if lhs.labels is None or matching is None:
        return lhs
    if matching.type == pp.LabelModifierType.Include:
        return Shape(frozenset(matching.labels))
    return Shape(lhs.labels - set(matching.labels))
