"""Grafana provisioning (``grafana/provisioning/``): the data sources and a provider for the dashboards.

Data sources get fixed uids so generated dashboards can reference them as ``{type, uid}`` objects
(Grafana 11+ rejects bare data-source names). The dashboard provider reads the folder the compose
stack mounts at ``DASHBOARDS_MOUNT``; each sub-directory (a dashboard group) becomes a Grafana folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obsgen.emit.render import Services, yaml_text
from obsgen.emit.stack import credentials
from obsgen.emit.stack import ports as stack
from obsgen.emit.stack.servers import SCRAPE_INTERVAL

DATASOURCES_FILE = "grafana/provisioning/datasources/datasources.yml"
DASHBOARDS_FILE = "grafana/provisioning/dashboards/dashboards.yml"
DASHBOARDS_MOUNT = "/var/lib/grafana/dashboards"
"""Where Grafana sees the generated ``dashboards/`` folder (the compose stack mounts it there)."""


@dataclass(frozen=True)
class Datasource:
    name: str
    type: str
    uid: str
    url: str
    default: bool = False
    json_data: dict[str, Any] = field(default_factory=dict)
    secure_json_data: dict[str, str] = field(default_factory=dict)
    """Grafana encrypts these; ``$__file{path}`` reads a compose secret when the data source is provisioned."""
    basic_auth_password: str | None = None
    """The secret holding this data source's basic-auth password (user ``credentials.BASIC_AUTH_USER``)."""

    @property
    def ref(self) -> dict[str, str]:
        """How a dashboard points at this data source."""
        return {"type": self.type, "uid": self.uid}


TRACE_ID = "trace_id"
"""The trace id's name on an exemplar (the collector's Prometheus exporter) and in Loki's structured metadata
(Loki's OTLP ingestion): the key both links to Jaeger follow."""

JAEGER = Datasource("Jaeger", "jaeger", "jaeger", stack.JAEGER.url())
PROMETHEUS = Datasource("Prometheus", "prometheus", "prometheus", stack.PROMETHEUS.url(), default=True,
                        json_data={"httpMethod": "POST", "prometheusType": "Prometheus",
                                   "exemplarTraceIdDestinations": [{"name": TRACE_ID, "datasourceUid": JAEGER.uid}],
                                   "timeInterval": SCRAPE_INTERVAL},
                        basic_auth_password=credentials.PROMETHEUS_PASSWORD)
LOKI = Datasource("Loki", "loki", "loki", stack.LOKI.url(), json_data={
    "maxLines": 1000, "httpHeaderName1": credentials.LOKI_TENANT_HEADER,
    # ``$$`` keeps Grafana's provisioning from expanding ${__value.raw} as an environment variable.
    "derivedFields": [{"name": TRACE_ID, "matcherType": "label", "matcherRegex": TRACE_ID,
                       "datasourceUid": JAEGER.uid, "url": "$${__value.raw}", "urlDisplayLabel": "Trace"}]},
                  secure_json_data={"httpHeaderValue1": credentials.LOKI_TENANT})
"""Prometheus' ``timeInterval`` is its scrape interval: Grafana's smallest ``$__rate_interval`` is four of them
(60 s), which holds four scrapes of four fresh runtime exports (the runtime exports every 15 s by default),
so a rate panel at the shortest range neither drops to 0 nor doubles between exports."""
ALERTMANAGER = Datasource("Alertmanager", "alertmanager", "alertmanager", stack.ALERTMANAGER.url(),
                          json_data={"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
                          basic_auth_password=credentials.ALERTMANAGER_PASSWORD)
DATASOURCES = (PROMETHEUS, LOKI, ALERTMANAGER, JAEGER)


def _datasource(ds: Datasource, tls: bool) -> dict[str, Any]:
    """One data source; with ``tls``, those behind a web config (basic auth) are reached over HTTPS, their
    certificate checked against the stack's CA."""
    https = tls and ds.basic_auth_password is not None
    url = ds.url.replace("http://", "https://", 1) if https else ds.url
    json_data = {**ds.json_data, "tlsAuthWithCACert": True} if https else ds.json_data
    entry: dict[str, Any] = {"name": ds.name, "type": ds.type, "uid": ds.uid, "access": "proxy", "url": url,
                             "isDefault": ds.default, "editable": False, "jsonData": json_data}
    secure = dict(ds.secure_json_data)
    if ds.basic_auth_password:
        entry |= {"basicAuth": True, "basicAuthUser": credentials.BASIC_AUTH_USER}
        secure["basicAuthPassword"] = f"$__file{{{credentials.mounted(ds.basic_auth_password)}}}"
    if https:
        secure["tlsCACert"] = f"$__file{{{credentials.mounted(credentials.TLS_CA)}}}"
    if secure:
        entry["secureJsonData"] = secure
    return entry


def datasources_config(tls: bool = False) -> dict[str, Any]:
    return {"apiVersion": 1, "datasources": [_datasource(ds, tls) for ds in DATASOURCES]}


def dashboards_config() -> dict[str, Any]:
    """One file provider for every service; ``foldersFromFilesStructure`` turns ``dashboards/<folder>/`` into
    a Grafana folder."""
    return {
        "apiVersion": 1,
        "providers": [{
            "name": "obsgen",
            "orgId": 1,
            "type": "file",
            "disableDeletion": True,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 30,
            "options": {"path": DASHBOARDS_MOUNT, "foldersFromFilesStructure": True},
        }],
    }


def emit(services: Services) -> dict[str, str]:
    return {DATASOURCES_FILE: yaml_text(services, datasources_config(services.tls)),
            DASHBOARDS_FILE: yaml_text(services, dashboards_config())}
