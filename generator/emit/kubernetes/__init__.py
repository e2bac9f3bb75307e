"""The ``kubernetes`` target: the same rules, dashboards, Alertmanager and collector configs as the compose
target, wrapped as resources for the Prometheus Operator, Grafana's dashboard sidecar and the
OpenTelemetry Operator, under ``kubernetes/`` with a ``kustomization.yaml`` listing them all.

Both emitters read the tree built so far (``generate.build_tree`` runs them last) and wrap its files:
per service (``emit``) a ``PrometheusRule`` with its recording rules, alerts and SLO alerts and one
``ConfigMap`` per dashboard; shared (``emit_shared``) the Alertmanager config ``Secret``, the
``OpenTelemetryCollector``, a ``ServiceMonitor`` for the collector's metrics ports, the kustomization.
"""

from __future__ import annotations

from obsgen.emit.kubernetes.resources import (
    KUBERNETES_DIR,
    Tree,
    alertmanager_secret,
    collector,
    dashboard_configmaps,
    kustomization,
    prometheus_rule,
    service_monitor,
)
from obsgen.emit.render import Services
from obsgen.model import Model


def emit(model: Model, tree: Tree) -> dict[str, str]:
    out = dashboard_configmaps(model, tree)
    out[f"{KUBERNETES_DIR}/{model.service.name}/prometheusrule.yaml"] = prometheus_rule(model, tree)
    return out


def emit_shared(services: Services, tree: Tree) -> dict[str, str]:
    out = {f"{KUBERNETES_DIR}/alertmanager-config.yaml": alertmanager_secret(services, tree),
           f"{KUBERNETES_DIR}/otel-collector.yaml": collector(services, tree),
           f"{KUBERNETES_DIR}/otel-collector-servicemonitor.yaml": service_monitor(services)}
    paths = [*out, *(p for p in tree if p.startswith(f"{KUBERNETES_DIR}/"))]
    out[f"{KUBERNETES_DIR}/kustomization.yaml"] = kustomization(services, paths)
    return out
