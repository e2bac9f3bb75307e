"""Raw spec document → validated immutable ``Model``: the sections in dependency order, every error at once.

Each section has its own module (``service``, ``attributes``, ``events``, ``joins``, ``quality``,
``indicators``, ``slos``, ``alerts``, ``routing``, ``dashboards``, ``simulation``); this one orders them and
passes what later sections reference.
"""

from __future__ import annotations

import dataclasses

from obsgen import model as m
from obsgen.spec.alerts import parse_alerts
from obsgen.spec.attributes import parse_attributes
from obsgen.spec.dashboards import parse_dashboards
from obsgen.spec.events import parse_events
from obsgen.spec.indicators import parse_indicators
from obsgen.spec.joins import parse_joins
from obsgen.spec.kubernetes import parse_kubernetes
from obsgen.spec.quality import parse_data_quality
from obsgen.spec.quoted import check_quoted_numbers
from obsgen.spec.reader import MISSING, Checker
from obsgen.spec.routing import parse_routing
from obsgen.spec.service import parse_kill_switches, parse_retention, parse_service
from obsgen.spec.simulation import parse_simulation
from obsgen.spec.sloboard import slo_dashboard
from obsgen.spec.slos import parse_slos
from obsgen.spec.source import Document, SpecInvalid


def build_model(doc: Document, source: str) -> m.Model:
    """Validate ``doc``; raise ``SpecInvalid`` with every problem found, or return the model."""
    c = Checker(doc)
    top = c.mapping(doc.data, (), required=("version", "service", "attributes", "events", "indicators",
                                             "alerts", "routing"),
                    optional=("slos", "kill_switches", "retention", "dashboards", "joins", "data_quality",
                              "simulation", "kubernetes"))
    if top is None:
        raise SpecInvalid(c.errors)
    if "version" in top and top["version"] != 1:
        c.error(("version",), f"unsupported spec version {top['version']!r}", "set `version: 1`")
    service = parse_service(c, top.get("service", MISSING))
    attributes = parse_attributes(c, top.get("attributes", {}))
    events = parse_events(c, top.get("events", {}), attributes)
    joins = parse_joins(c, top.get("joins", {}), events, attributes)
    data_quality = parse_data_quality(c, top.get("data_quality", {}), events, attributes, joins)
    metrics = {metric.name: metric for event in events for metric in event.metrics}
    indicators = parse_indicators(c, top.get("indicators", {}), metrics, attributes)
    kill_switches = parse_kill_switches(c, top.get("kill_switches", {}))
    dashboards = parse_dashboards(c, top.get("dashboards", {}), indicators)
    slos = parse_slos(c, top.get("slos", {}), indicators, attributes)
    routing = parse_routing(c, top.get("routing", MISSING))
    alerts = parse_alerts(c, top.get("alerts", {}), indicators, attributes, kill_switches, dashboards,
                        service, routing)
    check_quoted_numbers(c, slos, alerts)
    retention = parse_retention(c, top.get("retention", {}))
    kubernetes = parse_kubernetes(c, top.get("kubernetes", {}))
    simulation = parse_simulation(c, top.get("simulation"), events, attributes, joins, indicators, kill_switches,
                                  {a.name: a for a in alerts})
    if c.errors or service is None or routing is None:
        raise SpecInvalid(sorted(c.errors, key=lambda e: e.line))
    model = m.Model(source=source, service=service, attributes=m.frozen_map(attributes),
                    events=tuple(events), indicators=tuple(indicators.values()), slos=tuple(slos),
                    alerts=tuple(alerts), kill_switches=m.frozen_map(kill_switches), routing=routing,
                    retention=m.frozen_map(retention), dashboards=tuple(dashboards), joins=tuple(joins),
                    data_quality=data_quality, simulation=simulation, kubernetes=kubernetes)
    board = slo_dashboard(model)  # generated beside the spec's dashboards, checked like them
    return model if board is None else dataclasses.replace(model, dashboards=(*model.dashboards, board))
