"""The Kubernetes resources of the ``kubernetes`` target.

Each wraps a file the tree already holds (rule files, dashboards, ``alertmanager.yml``, the collector
config) byte for byte: the file's YAML is indented under the resource's field (rules, collector
config) or embedded as a literal block (dashboard JSON, the Alertmanager config), so the two targets
cannot disagree and no emitter runs twice.
"""

from __future__ import annotations

from typing import Any

from obsgen.emit import alertmanager
from obsgen.emit.grafana import dashboards
from obsgen.emit.prometheus import rules
from obsgen.emit.render import Services, Sourced, yaml_text
from obsgen.emit.stack import collector as stack_collector
from obsgen.emit.stack.ports import COLLECTOR
from obsgen.emit.stack.servers import image_tag
from obsgen.model import Model

Tree = dict[str, str]
KUBERNETES_DIR = "kubernetes"
NAME = "obsgen"
"""Name of the shared resources: the collector (the operator names its Services ``obsgen-collector…``) and
the Alertmanager whose config Secret is ``alertmanager-obsgen`` (the operator's default secret name)."""
COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib"
METRICS_PORTS = ("prometheus",)
"""Collector ports the ServiceMonitor scrapes besides the operator's ``monitoring`` port (own metrics)."""


def _body(text: str) -> list[str]:
    """The lines of a generated file after its header line."""
    return text.splitlines()[1:]


def _indented(lines: list[str], by: int) -> str:
    pad = " " * by
    return "".join(f"{pad}{line}\n" if line else "\n" for line in lines)


def _literal(key: str, text: str, by: int) -> str:
    """``key: |`` and ``text`` as a literal block scalar (the text has no tabs or leading spaces: JSON, YAML)."""
    return f"{' ' * by}{key}: |{'' if text.endswith(chr(10)) and not text.endswith(chr(10) * 2) else '-'}\n" \
        + _indented(text.splitlines(), by + 2)


def _head(origin: Sourced, data: dict[str, Any]) -> str:
    return yaml_text(origin, data)


def metadata(model: Model, name: str, **extra: Any) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "obsgen", "app.kubernetes.io/part-of": "obsgen",
              **model.kubernetes.labels}
    return {"name": name, "namespace": model.kubernetes.namespace, "labels": dict(sorted(labels.items())), **extra}


def shared_model(services: Services) -> Model:
    """Shared resources go to the namespace (and carry the labels) of the first service by name."""
    return services.models[0]


def prometheus_rule(model: Model, tree: Tree) -> str:
    """Every rule group of the service's rule files (recording rules, alerts, SLO alerts) in one resource."""
    groups: list[str] = []
    for name in rules.RULE_FILES:
        lines = _body(tree[rules.rule_path(model, name)])
        if lines and lines[0] == "groups:":
            groups += lines[1:]
    head = _head(model, {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
                         "metadata": metadata(model, f"{model.service.name}-rules")})
    return head + ("spec:\n  groups:\n" + _indented(groups, 2) if groups else "spec:\n  groups: []\n")


def dashboard_configmaps(model: Model, tree: Tree) -> dict[str, str]:
    """One ConfigMap per dashboard, labelled for Grafana's sidecar (``grafana_dashboard: "1"``) and annotated
    with its folder (``grafana_folder`` for the kube-prometheus-stack chart, ``k8s-sidecar-target-directory``
    for the sidecar's own folder setting)."""
    out = {}
    for board in model.dashboards:
        uid, folder = model.dashboard_uid(board), dashboards.folder(model, board)
        meta = metadata(model, f"dashboard-{uid}")
        meta["labels"] = {**meta["labels"], "grafana_dashboard": "1"}
        meta["annotations"] = {"grafana_folder": folder, "k8s-sidecar-target-directory": f"/tmp/dashboards/{folder}"}
        head = _head(model, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})
        text = tree[dashboards.dashboard_path(model, board)]
        out[f"{KUBERNETES_DIR}/{model.service.name}/dashboard-{uid}.yaml"] = head + "data:\n" + _literal(
            f"{uid}.json", text, 2)
    return out


def alertmanager_secret(services: Services, tree: Tree) -> str:
    """The Alertmanager config as the Secret an operator-managed ``Alertmanager`` named ``obsgen`` reads."""
    head = _head(services, {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                            "metadata": metadata(shared_model(services), f"alertmanager-{NAME}")})
    return head + "stringData:\n" + _literal("alertmanager.yaml", tree[alertmanager.ALERTMANAGER_FILE], 2)


def collector(services: Services, tree: Tree) -> str:
    """The collector config in an ``OpenTelemetryCollector`` (a Deployment); the ports its config reads from
    env references are declared, since the operator cannot infer them."""
    ports = [{"name": name.replace("_", "-"), "port": COLLECTOR.port(name), "protocol": "TCP"}
             for name in ("otlp_grpc", "otlp_http", *METRICS_PORTS)]
    head = _head(services, {"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
                            "metadata": metadata(shared_model(services), NAME),
                            "spec": {"mode": "deployment",
                                     "image": f"{COLLECTOR_IMAGE}:{image_tag('otel-collector')}",
                                     "ports": ports}})
    return head + "  config:\n" + _indented(_body(tree[stack_collector.COLLECTOR_FILE]), 4)


def service_monitor(services: Services) -> str:
    """Scrapes the collector's Services: the apps' metrics (``prometheus`` port) and the collector's own
    (the operator's ``monitoring`` port)."""
    model = shared_model(services)
    instance = f"{model.kubernetes.namespace}.{NAME}"
    return _head(services, {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": metadata(model, f"{NAME}-collector"),
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/instance": instance,
                                              "app.kubernetes.io/managed-by": "opentelemetry-operator"}},
                 "namespaceSelector": {"matchNames": [model.kubernetes.namespace]},
                 "endpoints": [{"port": port, "honorLabels": True} for port in METRICS_PORTS]
                 + [{"port": "monitoring"}]}})


def kustomization(services: Services, paths: list[str]) -> str:
    """Lists every resource; each already names its namespace and labels, so overlays can change them."""
    return _head(services, {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                            "resources": [p.removeprefix(f"{KUBERNETES_DIR}/") for p in sorted(paths)]})
