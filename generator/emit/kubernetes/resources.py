"""The Kubernetes resources of the ``kubernetes`` target, as plain data (``render`` dumps them)."""

from __future__ import annotations

from typing import Any

import yaml
from obsgen.emit import alertmanager
from obsgen.emit.grafana import dashboards
from obsgen.emit.prometheus import rules
from obsgen.emit.render import Services
from obsgen.emit.stack import collector as stack_collector
from obsgen.emit.stack.ports import COLLECTOR
from obsgen.emit.stack.servers import image_tag
from obsgen.model import Model

KUBERNETES_DIR = "kubernetes"
NAME = "obsgen"
"""Name of the shared resources: the collector (its Service becomes ``obsgen-collector``) and the
Alertmanager whose config Secret is ``alertmanager-obsgen`` (the operator's default secret name)."""
COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib"
METRICS_PORTS = ("prometheus",)
"""Collector ports the ServiceMonitor scrapes besides the operator's ``monitoring`` port (own metrics)."""


def _shared_model(services: Services) -> Model:
    """Shared resources go to the namespace (and carry the labels) of the first service by name."""
    return services.models[0]


def metadata(model: Model, name: str, **extra: Any) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "obsgen", "app.kubernetes.io/part-of": "obsgen",
              **model.kubernetes.labels}
    return {"name": name, "namespace": model.kubernetes.namespace, "labels": dict(sorted(labels.items())), **extra}


def prometheus_rule(model: Model) -> dict[str, Any]:
    """Every rule group of the service (recording rules, alerts, SLO alerts) in one ``PrometheusRule``."""
    groups = [group for text in rules.emit(model).values() for group in yaml.safe_load(text)["groups"]]
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
            "metadata": metadata(model, f"{model.service.name}-rules"), "spec": {"groups": groups}}


def dashboard_configmaps(model: Model) -> dict[str, dict[str, Any]]:
    """One ConfigMap per dashboard, labelled for Grafana's sidecar (``grafana_dashboard: "1"``) and annotated
    with its folder (``grafana_folder`` for the kube-prometheus-stack chart, ``k8s-sidecar-target-directory``
    for the sidecar's own folder setting)."""
    out, texts = {}, dashboards.emit(model)
    for board in model.dashboards:
        uid, folder = model.dashboard_uid(board), dashboards.folder(model, board)
        meta = metadata(model, f"dashboard-{uid}")
        meta["labels"] = {**meta["labels"], "grafana_dashboard": "1"}
        meta["annotations"] = {"grafana_folder": folder, "k8s-sidecar-target-directory": f"/tmp/dashboards/{folder}"}
        text = texts[dashboards.dashboard_path(model, board)]
        out[f"{KUBERNETES_DIR}/{model.service.name}/dashboard-{uid}.yaml"] = {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {f"{uid}.json": text}}
    return out


def alertmanager_secret(services: Services) -> dict[str, Any]:
    """The Alertmanager config as the Secret an operator-managed ``Alertmanager`` named ``obsgen`` reads."""
    text = alertmanager.emit(services)[alertmanager.ALERTMANAGER_FILE]
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": metadata(_shared_model(services), f"alertmanager-{NAME}"),
            "stringData": {"alertmanager.yaml": text}}


def collector(services: Services) -> dict[str, Any]:
    """The compose target's collector config in an ``OpenTelemetryCollector`` (a Deployment); the ports
    its config reads from env references are declared, since the operator cannot infer them."""
    config = yaml.safe_load(stack_collector.emit(services)[stack_collector.COLLECTOR_FILE])
    ports = [{"name": name.replace("_", "-"), "port": COLLECTOR.port(name), "protocol": "TCP"}
             for name in ("otlp_grpc", "otlp_http", *METRICS_PORTS)]
    return {"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
            "metadata": metadata(_shared_model(services), NAME),
            "spec": {"mode": "deployment", "image": f"{COLLECTOR_IMAGE}:{image_tag('otel-collector')}",
                     "ports": ports, "config": config}}


def service_monitor(services: Services) -> dict[str, Any]:
    """Scrapes the collector's Services: the apps' metrics (``prometheus`` port) and the collector's own
    (the operator's ``monitoring`` port)."""
    model = _shared_model(services)
    instance = f"{model.kubernetes.namespace}.{NAME}"
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": metadata(model, f"{NAME}-collector"),
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/instance": instance,
                                                  "app.kubernetes.io/managed-by": "opentelemetry-operator"}},
                     "namespaceSelector": {"matchNames": [model.kubernetes.namespace]},
                     "endpoints": [{"port": port, "honorLabels": True} for port in METRICS_PORTS]
                     + [{"port": "monitoring"}]}}


def kustomization(paths: list[str]) -> dict[str, Any]:
    """Lists every resource; each already names its namespace and labels, so overlays can change them."""
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": [p.removeprefix(f"{KUBERNETES_DIR}/") for p in paths]}
