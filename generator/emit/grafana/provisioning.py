"""Grafana provisioning (``grafana/provisioning/``): the data sources and a provider for the dashboards.

Data sources get fixed uids so generated dashboards can reference them as ``{type, uid}`` objects
(Grafana 11+ rejects bare data-source names). The dashboard provider reads the folder the compose
stack mounts at ``DASHBOARDS_MOUNT``; each sub-directory (a dashboard group) becomes a Grafana folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obsgen.emit.render import Services, yaml_text
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

    @property
    def ref(self) -> dict[str, str]:
        """How a dashboard points at this data source."""
        return {"type": self.type, "uid": self.uid}


PROMETHEUS = Datasource("Prometheus", "prometheus", "prometheus", stack.PROMETHEUS.url(), default=True,
                        json_data={"httpMethod": "POST", "prometheusType": "Prometheus",
                                   "timeInterval": SCRAPE_INTERVAL})
"""``timeInterval`` is Prometheus' scrape interval: Grafana's smallest ``$__rate_interval`` is four of them
(60 s), which holds four scrapes of four fresh runtime exports (the runtime exports every 15 s by default),
so a rate panel at the shortest range neither drops to 0 nor doubles between exports."""
LOKI = Datasource("Loki", "loki", "loki", stack.LOKI.url(), json_data={"maxLines": 1000})
ALERTMANAGER = Datasource("Alertmanager", "alertmanager", "alertmanager", stack.ALERTMANAGER.url(),
                          json_data={"implementation": "prometheus", "handleGrafanaManagedAlerts": False})
DATASOURCES = (PROMETHEUS, LOKI, ALERTMANAGER)


def datasources_config() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {"name": ds.name, "type": ds.type, "uid": ds.uid, "access": "proxy", "url": ds.url,
             "isDefault": ds.default, "editable": False, "jsonData": ds.json_data}
            for ds in DATASOURCES
        ],
    }


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
    return {DATASOURCES_FILE: yaml_text(services, datasources_config()),
            DASHBOARDS_FILE: yaml_text(services, dashboards_config())}
