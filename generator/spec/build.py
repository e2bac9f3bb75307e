"""Raw spec document → validated immutable ``Model``: the sections in dependency order, every error at once.

Each section has its own module (``service``, ``attributes``, ``events``, ``joins``, ``quality``,
``indicators``, ``slos``, ``alerts``, ``routing``, ``dashboards``, ``simulation``, ``kubernetes``,
``stack``); this one orders them and passes what later sections reference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from obsgen import model as m
from obsgen.model.quality import DataQuality
from obsgen.model.simulation import Simulation
from obsgen.spec.alerts import parse_alerts
from obsgen.spec.attributes import parse_attributes
from obsgen.spec.dashboards import declared_names, parse_dashboards
from obsgen.spec.events import parse_events
from obsgen.spec.indicators import parse_indicators
from obsgen.spec.joins import parse_joins
from obsgen.spec.kubernetes import parse_kubernetes
from obsgen.spec.quality import parse_data_quality
from obsgen.spec.quoted import check_quoted_numbers
from obsgen.spec.reader import MISSING, Checker, shown
from obsgen.spec.routing import parse_routing, stand_in_routing
from obsgen.spec.service import parse_kill_switches, parse_retention, parse_service
from obsgen.spec.simulation import parse_simulation
from obsgen.spec.sloboard import slo_dashboard
from obsgen.spec.slos import parse_slos
from obsgen.spec.source import Document, SpecError, SpecInvalid
from obsgen.spec.stack import parse_stack


@dataclass(frozen=True)
class Reading:
    """What a spec reads as: the model of its valid parts, every error, and the names it declares that have
    errors (so later checks do not report a second, follow-on error about them)."""

    model: m.Model | None
    errors: list[SpecError]
    tolerated: tuple[str, ...] = ()
    """Prometheus name stems of series the spec declares but the model leaves out for their errors."""


def build_model(doc: Document, source: str) -> m.Model:
    """Validate ``doc``; raise ``SpecInvalid`` with every problem found, or return the model."""
    reading = read_model(doc, source)
    if reading.errors or reading.model is None:
        raise SpecInvalid(reading.errors)
    return reading.model


def read_model(doc: Document, source: str) -> Reading:
    """Every section of ``doc`` read, errors collected; the model holds the valid parts (with stand-ins for an
    invalid ``service`` or ``routing``), so the PromQL contract can check them in the same run."""
    c = Checker(doc)
    top = c.mapping(doc.data, (), required=("version", "service", "attributes", "events", "indicators", "routing"),
                    optional=("alerts", "slos", "kill_switches", "retention", "dashboards", "joins", "data_quality",
                              "simulation", "kubernetes", "stack"))
    if top is None:
        return Reading(None, c.errors)
    if "version" in top and top["version"] != 1:
        c.error(("version",), f"unsupported spec version: {shown(top['version'])}", "set `version: 1`")
    service = parse_service(c, top.get("service", MISSING))
    attributes = parse_attributes(c, top.get("attributes", {}))
    events = parse_events(c, top.get("events", {}), attributes)
    declared = declared_names(doc.data)
    c.mark_broken("an event", top.get("events"), [e.name for e in events])
    c.mark_broken("a metric", declared["metrics"], [metric.name for event in events for metric in event.metrics])
    joins = parse_joins(c, top.get("joins", {}), events, attributes)
    data_quality = parse_data_quality(c, top.get("data_quality", {}), events, attributes, joins)
    metrics = {metric.name: metric for event in events for metric in event.metrics}
    indicators = parse_indicators(c, top.get("indicators", {}), metrics, attributes)
    c.mark_broken("an indicator", top.get("indicators"), indicators)
    kill_switches = parse_kill_switches(c, top.get("kill_switches", {}))
    c.mark_broken("a kill-switch", top.get("kill_switches"), kill_switches)
    dashboards = parse_dashboards(c, top.get("dashboards", {}), indicators)
    slos = parse_slos(c, top.get("slos", {}), indicators, attributes)
    c.mark_broken("an SLO", top.get("slos"), [s.name for s in slos])
    routing = parse_routing(c, top.get("routing", MISSING), kill_switches)
    alerts = parse_alerts(c, top.get("alerts", {}), indicators, attributes, kill_switches, dashboards,
                        service, routing)
    check_quoted_numbers(c, slos, alerts)
    c.mark_broken("an alert", top.get("alerts"), [a.name for a in alerts])
    retention = parse_retention(c, top.get("retention", {}))
    kubernetes = parse_kubernetes(c, top.get("kubernetes", {}))
    stack = parse_stack(c, top.get("stack", {}))
    simulation = parse_simulation(c, top.get("simulation"), events, attributes, joins, indicators, kill_switches,
                                  {a.name: a for a in alerts})
    model = m.Model(source=source, service=service or STAND_IN_SERVICE, attributes=m.frozen_map(attributes),
                    events=tuple(events), indicators=tuple(indicators.values()), slos=tuple(slos),
                    alerts=tuple(alerts), kill_switches=m.frozen_map(kill_switches),
                    routing=routing or stand_in_routing(), retention=m.frozen_map(retention),
                    dashboards=tuple(dashboards), joins=tuple(joins), data_quality=data_quality,
                    simulation=simulation, kubernetes=kubernetes, stack=stack)
    if not c.errors:
        return Reading(_with_slo_board(model), [])
    model = _with_slo_board(_valid_parts(model, c.errors))
    tolerated = _left_out(model, declared, events_lost=bool(c.broken["an event"]))
    return Reading(model, sorted(c.errors, key=lambda e: e.line), tolerated)


def _with_slo_board(model: m.Model) -> m.Model:
    """``model`` with its generated SLO dashboard beside the spec's, so it is checked like them."""
    board = slo_dashboard(model)
    return model if board is None else replace(model, dashboards=(*model.dashboards, board))


STAND_IN_SERVICE = m.Service("service", "service", "", "https://runbooks.invalid", "https://grafana.invalid")
"""Used only to check the rest of a spec whose ``service`` section has errors; never emitted."""


def _left_out(model: m.Model, declared: dict[str, dict[str, Any]], events_lost: bool) -> tuple[str, ...]:
    """Name stems of the series and recording rules of declared metrics, indicators and SLOs not in ``model``.

    When an event is not even a mapping (``events_lost``), its metrics are unknown: every stem is tolerated."""
    if events_lost:
        return ("",)
    ns = model.service.namespace
    metrics = set(declared["metrics"]) - {metric.name for metric in model.metrics}
    indicators = set(declared["indicators"]) - {i.name for i in model.indicators}
    slos = [f"{ns}.slo_errors"] if set(declared["slos"]) - {s.name for s in model.slos} else []
    return tuple(sorted(name.replace(".", "_") for name in [*metrics, *(f"{ns}.{i}" for i in indicators), *slos]))


def _valid_parts(model: m.Model, errors: list[SpecError]) -> m.Model:
    """``model`` without the items that have errors, or that read one that has: what the contract may check.

    The section readers keep an item with errors (so references to it do not cascade into more errors);
    the emitters behind the contract assume every item is valid, so such items are left out here.
    """
    bad = [e.path for e in errors]

    def clean(path: str) -> bool:
        return not any(b == path or b.startswith((path + ".", path + "[")) for b in bad)

    events = tuple(e for e in model.events if clean(f"events.{e.name}"))
    metrics = {metric.name for event in events for metric in event.metrics}
    indicators = tuple(i for i in model.indicators
                       if clean(f"indicators.{i.name}") and all(r.metric.name in metrics for r in i.refs))
    names = {i.name for i in indicators}
    dashboards = tuple(replace(d, tiles=tuple(t for t in d.tiles if clean(t.path)),
                               variables=tuple(v for v in d.variables if v.metric in metrics))
                       for d in model.dashboards if clean(f"dashboards.{d.name}"))
    tiles = {f"{d.name}/{t.id}" for d in dashboards for t in d.tiles}
    alerts = tuple(a if a.dashboard_tile in tiles or a.dashboard_tile is None else replace(a, dashboard_tile=None)
                   for a in model.alerts if clean(f"alerts.{a.name}") and a.indicator.name in names)
    return replace(model, events=events, indicators=indicators, dashboards=dashboards, alerts=alerts,
                   slos=tuple(s for s in model.slos if clean(f"slos.{s.name}") and s.indicator.name in names),
                   joins=(), data_quality=DataQuality(), simulation=Simulation())
