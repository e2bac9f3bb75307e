"""Conflicts between the specs generated into one tree: what two services may not both declare.

Each spec is valid on its own; together they share one Prometheus, one Alertmanager and one Grafana,
where some names are global. Every error names both files: it is reported at the later spec's line,
and its message points at the earlier one.

* service names: they name the services' folders, routes and ``service`` label values;
* alert names, including the SLO burn-rate alerts obsgen names after ``service.namespace`` and the SLO:
  Alertmanager groups and inhibits by ``alertname``, and ``promtool`` tests select by it;
* Prometheus series names of metrics: two services' samples would mix in one series name;
* dashboard uids (service + dashboard name, truncated to Grafana's 40 characters), which also name the
  dashboards' files;
* ``service.grafana_url``: the tree runs one Grafana, and alerts link to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from obsgen.emit.prometheus.rules import budgeted_slos, slo_alert_name
from obsgen.model import Metric, Model
from obsgen.spec.source import Document, Path_, SpecError, dotted


@dataclass(frozen=True)
class Spec:
    """A loaded spec: its model and the document its lines come from."""

    doc: Document
    model: Model


@dataclass(frozen=True)
class Claim:
    """A name one spec declares at a line."""

    spec: Spec
    path: Path_

    @property
    def where(self) -> str:
        return f"{self.spec.doc.source}:{self.spec.doc.line_of(self.path)}"


def _metric_path(doc: Document, metric: Metric) -> Path_:
    raw = doc.data["events"][metric.event].get("metrics", [])
    index = next(i for i, m in enumerate(raw) if isinstance(m, dict) and m.get("name") == metric.name)
    return ("events", metric.event, "metrics", index, "name")


def _service(spec: Spec) -> Iterator[tuple[str, Path_]]:
    yield spec.model.service.name, ("service", "name")


def _alerts(spec: Spec) -> Iterator[tuple[str, Path_]]:
    for alert in spec.model.alerts:
        yield alert.name, ("alerts", alert.name)
    for slo in budgeted_slos(spec.model):
        yield slo_alert_name(spec.model, slo), ("slos", slo.name)


def _series(spec: Spec) -> Iterator[tuple[str, Path_]]:
    for metric in spec.model.metrics:
        for series in metric.series_names:
            yield series, _metric_path(spec.doc, metric)


def _dashboards(spec: Spec) -> Iterator[tuple[str, Path_]]:
    for board in spec.model.dashboards:
        yield spec.model.dashboard_uid(board), ("dashboards", board.name)


KINDS = (
    ("service name", _service,
     "give each service its own name: it names the service's folders, routes and `service` label"),
    ("alert name", _alerts,
     "rename one alert (or, for an SLO burn-rate alert, the SLO or service.namespace): alert names are global "
     "in Alertmanager"),
    ("Prometheus series", _series,
     "rename one metric: both services' samples would land in one series name"),
    ("dashboard uid", _dashboards,
     "rename one dashboard: its uid (service + name, first 40 characters) must be unique in Grafana"),
)


def check(specs: list[Spec]) -> list[SpecError]:
    """Every name two specs both claim, and every spec whose ``grafana_url`` differs from the first one's."""
    errors: list[SpecError] = []
    for kind, names, fix in KINDS:
        seen: dict[str, Claim] = {}
        for spec in specs:
            for name, path in names(spec):
                first = seen.setdefault(name, Claim(spec, path))
                if first.spec is not spec:
                    errors.append(SpecError(spec.doc.source, spec.doc.line_of(path), dotted(path),
                                            f"{kind} `{name}` is also declared by {first.where} "
                                            f"(service {first.spec.model.service.name})", fix))
    if specs:
        first = Claim(specs[0], ("service", "grafana_url"))
        url = specs[0].model.service.grafana_url
        for spec in specs[1:]:
            if spec.model.service.grafana_url != url:
                path = ("service", "grafana_url")
                errors.append(SpecError(spec.doc.source, spec.doc.line_of(path), dotted(path),
                                        f"`{spec.model.service.grafana_url}` differs from `{url}` in {first.where}",
                                        "use one Grafana URL in every spec generated into one tree: the tree "
                                        "provisions one Grafana"))
    return errors
