"""The validated, immutable model of a spec: what every emitter and the runtime read.

Nothing here does I/O; ``validate.build_model`` is the only producer. Prometheus names are derived
here once (``Metric.prom_name``), so rules, dashboards and the runtime cannot disagree on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from decimal import Decimal
from types import MappingProxyType

from obsgen.model.durations import Duration as Duration
from obsgen.model.durations import parse_duration
from obsgen.model.indicators import BUDGETED_TYPES as BUDGETED_TYPES
from obsgen.model.indicators import INDICATOR_KINDS as INDICATOR_KINDS
from obsgen.model.indicators import INDICATOR_TYPES as INDICATOR_TYPES
from obsgen.model.indicators import Gauge as Gauge
from obsgen.model.indicators import Indicator as Indicator
from obsgen.model.indicators import Mean as Mean
from obsgen.model.indicators import MetricRef as MetricRef
from obsgen.model.indicators import Quantile as Quantile
from obsgen.model.indicators import Rate as Rate
from obsgen.model.indicators import Ratio as Ratio
from obsgen.model.indicators import Share as Share
from obsgen.model.joins import Context
from obsgen.model.naming import prometheus_label_name, prometheus_metric_name, prometheus_series_names
from obsgen.model.panelids import tile_panel_id
from obsgen.model.quality import DataQuality
from obsgen.model.record import record
from obsgen.model.simulation import Simulation

SHADOW_LABEL = "shadow"
"""Label the runtime adds in shadow mode; every generated query excludes ``shadow="true"``."""

PII_CLASSES = ("none", "low", "high")
CARDINALITIES = ("low", "high")
ATTRIBUTE_TYPES = ("string", "integer", "number", "boolean", "array", "object")
FORMATS = ("uuid4", "sha256_hex", "unix_ms")
SEVERITIES = ("P1", "P2", "P3", "P4")
SEVERITY_CLASSES = ("critical", "warning", "info")
COMPARISONS = ("<", "<=", ">", ">=")
SPAN_KINDS = ("server", "client", "internal", "producer", "consumer")
LOG_SEVERITIES = ("debug", "info", "warn", "error")


def frozen_map(items: Mapping) -> Mapping:
    """A read-only mapping, so a model cannot be changed after validation."""
    return MappingProxyType(dict(items))


@record
class Attribute:
    name: str
    type: str
    description: str
    pii: str
    cardinality: str
    enum: tuple[str, ...] | None = None
    format: str | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    max_items: int | None = None
    items: str | None = None
    keys: tuple[str, ...] | None = None
    """An object attribute's allowed keys: an object with any other key is invalid (the runtime removes it)."""

    @property
    def label_name(self) -> str:
        return prometheus_label_name(self.name)

    @property
    def may_be_label(self) -> bool:
        """High-PII or high-cardinality attributes never become metric labels."""
        return self.pii != "high" and self.cardinality == "low"

    @property
    def free_text(self) -> bool:
        """A string nothing constrains (no enum, pattern or format), such as an error message: it is scrubbed."""
        return self.type == "string" and self.enum is None and self.pattern is None and self.format is None


@record
class Metric:
    name: str
    instrument: str
    unit: str
    description: str
    labels: tuple[str, ...]
    event: str
    value: str | None = None
    buckets: tuple[Decimal, ...] | None = None
    once_per: str | None = None

    @property
    def prom_name(self) -> str:
        """Base Prometheus name (histograms: without ``_bucket``/``_sum``/``_count``)."""
        return prometheus_metric_name(self.name, self.unit, self.instrument)

    @property
    def series_names(self) -> tuple[str, ...]:
        return prometheus_series_names(self.name, self.unit, self.instrument)

    @property
    def count_series(self) -> str:
        """The series that counts events: the counter itself, or a histogram's ``_count``."""
        return f"{self.prom_name}_count" if self.instrument == "histogram" else self.prom_name


@record
class Span:
    name: str
    kind: str
    parent: str | None = None
    duration_field: str | None = None


@record
class Event:
    name: str
    description: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    metrics: tuple[Metric, ...]
    example: Mapping
    span: Span | None = None
    log_severity: str | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return self.required + self.optional


@record
class Objective:
    op: str
    value: Decimal


@record
class SLO:
    name: str
    description: str
    indicator: Indicator
    objective: Objective
    window: Duration
    quantile: Decimal | None = None
    match: Mapping[str, str] = field(default_factory=lambda: frozen_map({}))
    budget_period: Duration | None = None
    alert_delay: Duration | None = None
    """A ``for`` on the SLO's burn-rate alerts: detection comes this much later (none by default)."""

    @property
    def counts_good(self) -> bool:
        """A lower bound (``>=``) on a ratio: the ratio counts good events, and bad ones are ``1 - ratio``."""
        return isinstance(self.indicator, Ratio) and self.objective.op in (">", ">=")

    @property
    def error_budget(self) -> Decimal:
        """Allowed share of bad events: 1 - q for a quantile, 1 - objective for a success ratio, else the
        (bad-event) ratio objective itself. Decimal arithmetic: 1 - 0.999 is exactly 0.001."""
        if isinstance(self.indicator, Quantile):
            assert self.quantile is not None
            return 1 - self.quantile
        return 1 - self.objective.value if self.counts_good else self.objective.value


@record
class Alert:
    name: str
    summary: str
    description: str
    indicator: Indicator
    op: str
    threshold: Decimal
    for_: Duration
    window: Duration
    severity: str
    runbook_url: str
    quantile: Decimal | None = None
    match: Mapping[str, str] = field(default_factory=lambda: frozen_map({}))
    kill_switch: str | None = None
    when_absent: bool = False
    dashboard_tile: str | None = None


@record
class SeverityRoute:
    severity: str
    severity_class: str
    response: Duration
    receiver: str
    group_wait: Duration
    group_interval: Duration
    repeat_interval: Duration
    escalation: Duration | None = None


RECEIVER_KINDS = ("webhook", "pagerduty", "slack", "email")


@record
class Receiver:
    """A webhook (its bearer token read from a file), or a PagerDuty, Slack or e-mail integration whose
    secret (routing key, webhook URL, SMTP password) is likewise only ever a file path."""

    name: str
    url: str = ""
    """The webhook URL; for PagerDuty an optional Events API v2 URL (else PagerDuty's own)."""
    bearer_token_file: str | None = None
    kind: str = "webhook"
    options: Mapping[str, str] = field(default_factory=lambda: frozen_map({}))
    """Non-secret settings of the kind: Slack's ``channel``; e-mail's ``to``, ``from``, ``smarthost``,
    ``auth_username``, ``require_tls``."""
    secret_file: str | None = None
    """``routing_key_file`` (PagerDuty), ``api_url_file`` (Slack) or ``auth_password_file`` (e-mail)."""

    @property
    def secret_files(self) -> tuple[str, ...]:
        return tuple(f for f in (self.bearer_token_file, self.secret_file) if f)


@record
class Routing:
    group_by: tuple[str, ...]
    severities: tuple[SeverityRoute, ...]
    receivers: tuple[Receiver, ...]
    kill_switch_webhook: Receiver | None
    """Only when the spec has kill-switches: their alerts also go to this receiver."""

    @property
    def all_receivers(self) -> tuple[Receiver, ...]:
        """The severity receivers, then the kill-switch webhook if there is one."""
        webhook = (self.kill_switch_webhook,) if self.kill_switch_webhook is not None else ()
        return self.receivers + webhook

    def route(self, severity: str) -> SeverityRoute:
        return next(r for r in self.severities if r.severity == severity)


PANEL_TYPES = ("timeseries", "stat", "gauge", "bargauge", "table", "heatmap", "state-timeline", "logs", "text")
"""Grafana's current panel types; legacy ones (graph, singlestat) are never generated."""
QUERY_FORMATS = ("time_series", "table", "heatmap")
LOKI_PANEL_TYPES = ("logs",)
GRAFANA_UNITS = (
    "none", "short", "percent", "percentunit", "sci", "locale", "bool", "bool_yes_no", "bool_on_off",
    "ns", "µs", "ms", "s", "m", "h", "d", "dtdurationms", "dtdurations", "dthms", "dtdhms", "clockms", "clocks",
    "hertz", "cps", "ops", "reqps", "rps", "wps", "iops", "cpm", "opm", "rpm", "wpm",
    "bytes", "decbytes", "bits", "decbits", "kbytes", "mbytes", "gbytes", "Bps", "bps",
    "dateTimeAsIso", "dateTimeFromNow", "string",
)
"""Grafana unit ids a tile may use (a subset of Grafana's value formats that dashboard-linter knows)."""


@record
class TileQuery:
    """One query of a tile: PromQL/LogQL as written (``expr``) or an indicator's recording rule."""

    legend: str
    expr: str | None = None
    indicator: str | None = None
    """Indicator name: the query reads its recording rule over ``window``, narrowed by ``match``."""
    window: str = "5m"
    match: Mapping[str, str] = field(default_factory=lambda: frozen_map({}))
    instant: bool = False
    format: str = "time_series"
    unit: str | None = None
    """Grafana unit of this query's series when it differs from the tile's (drawn on a right axis)."""
    line: int = field(default=0, compare=False)
    path: str = field(default="", compare=False)


@record
class ThresholdStep:
    color: str
    value: Decimal | None = None
    """``None`` for the base step (everything below the first value)."""


@record
class ValueMapping:
    value: str
    text: str
    color: str


@record
class Variable:
    """A dashboard slice: a multi-select ``$name`` over the values of ``label`` on ``metric``."""

    name: str
    label: str
    metric: str
    title: str
    line: int = field(default=0, compare=False)
    path: str = field(default="", compare=False)


@record
class Tile:
    id: str
    title: str
    panel: str = "timeseries"
    description: str = ""
    unit: str = "none"
    row: str | None = None
    queries: tuple[TileQuery, ...] = ()
    slos: tuple[str, ...] = ()
    """SLO names whose objectives become the panel's thresholds (and whose burn alerts it shows)."""
    thresholds: tuple[ThresholdStep, ...] = ()
    mappings: tuple[ValueMapping, ...] = ()
    width: int | None = None
    height: int | None = None
    min: Decimal | None = None
    max: Decimal | None = None
    stack: bool = False
    content: str = ""
    """Markdown of a text tile."""
    line: int = field(default=0, compare=False)
    path: str = field(default="", compare=False)

    @property
    def datasource(self) -> str:
        return "loki" if self.panel in LOKI_PANEL_TYPES else "prometheus"

    @property
    def panel_id(self) -> int:
        """Stable panel id, derived from the tile id: links to the panel survive inserting other tiles."""
        return tile_panel_id(self.id)


@record
class Dashboard:
    name: str
    title: str
    refresh: Duration
    tiles: tuple[Tile, ...]
    time: Duration = parse_duration("6h")
    """Default time range, ending now."""
    folder: str = ""
    """Grafana folder (dashboard group) the dashboard is provisioned into; empty = the service name."""
    description: str = ""
    variables: tuple[Variable, ...] = ()
    spec_file: str = field(default="", compare=False)
    """The spec file as its errors name it, so later checks (the PromQL contract) can point at lines."""


@record
class Service:
    name: str
    namespace: str
    description: str
    runbook_url: str
    grafana_url: str


@record
class Kubernetes:
    """Where the ``--target kubernetes`` resources of a service go (spec section ``kubernetes``)."""

    namespace: str = "monitoring"
    labels: Mapping[str, str] = field(default_factory=lambda: frozen_map({}))
    """Added to every resource's ``metadata.labels``."""


@record
class Stack:
    """How the generated stack runs (spec section ``stack``)."""

    tls: bool = False
    """Prometheus and Alertmanager serve HTTPS (certificates from ``obsgen secrets init``) and every client of
    theirs uses ``https`` and checks the stack's CA."""


@record
class Model:
    source: str
    """How the spec is named in generated headers: stable across machines."""
    service: Service
    attributes: Mapping[str, Attribute]
    events: tuple[Event, ...]
    indicators: tuple[Indicator, ...]
    slos: tuple[SLO, ...]
    alerts: tuple[Alert, ...]
    kill_switches: Mapping[str, str]
    routing: Routing
    retention: Mapping[str, Duration]
    dashboards: tuple[Dashboard, ...]
    joins: tuple[Context, ...] = ()
    """How events relate (contexts, inherited and consistent fields, references): see ``model.joins``."""
    data_quality: DataQuality = DataQuality()
    """Where the runtime reports the events it drops or repairs: see ``model.quality``."""
    simulation: Simulation = Simulation()
    """Synthetic traffic for ``obsgen simulate`` (none declared: derived from the rest of the spec)."""
    kubernetes: Kubernetes = Kubernetes()
    stack: Stack = Stack()

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return tuple(m for e in self.events for m in e.metrics)

    def dashboard_uid(self, dashboard: Dashboard) -> str:
        return f"{self.service.name}-{dashboard.name}"[:40]

    def tile_url(self, ref: str) -> str:
        """Grafana URL of a tile ``dashboard/tile``, opening that panel."""
        board_name, tile_id = ref.split("/", 1)
        board = next(d for d in self.dashboards if d.name == board_name)
        tile = next(t for t in board.tiles if t.id == tile_id)
        uid = self.dashboard_uid(board)
        return f"{self.service.grafana_url}/d/{uid}/{uid}?viewPanel={tile.panel_id}"
