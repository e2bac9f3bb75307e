"""The ``kubernetes`` target: the same rules, dashboards, Alertmanager and collector configs as the compose
target, wrapped as resources for the Prometheus Operator, Grafana's dashboard sidecar and the
OpenTelemetry Operator, under ``kubernetes/`` with a ``kustomization.yaml`` listing them all.

Per service (``emit``): a ``PrometheusRule`` with its recording rules, alerts and SLO alerts, and one
``ConfigMap`` per dashboard. Shared (``emit_shared``): the Alertmanager config ``Secret``, the
``OpenTelemetryCollector``, a ``ServiceMonitor`` for the collector's metrics ports, the kustomization.
Each resource reads the compose target's file of the same content, so the two targets never disagree.
"""

from __future__ import annotations

from obsgen.emit.kubernetes.resources import (
    KUBERNETES_DIR,
    alertmanager_secret,
    collector,
    dashboard_configmaps,
    kustomization,
    prometheus_rule,
    service_monitor,
)
from obsgen.emit.render import Services, yaml_text
from obsgen.model import Model


def emit(model: Model) -> dict[str, str]:
    out = {path: yaml_text(model, resource) for path, resource in dashboard_configmaps(model).items()}
    out[f"{KUBERNETES_DIR}/{model.service.name}/prometheusrule.yaml"] = yaml_text(model, prometheus_rule(model))
    return out


def emit_shared(services: Services) -> dict[str, str]:
    out = {f"{KUBERNETES_DIR}/alertmanager-config.yaml": yaml_text(services, alertmanager_secret(services)),
           f"{KUBERNETES_DIR}/otel-collector.yaml": yaml_text(services, collector(services)),
           f"{KUBERNETES_DIR}/otel-collector-servicemonitor.yaml": yaml_text(services, service_monitor(services))}
    paths = sorted([*out, *(p for model in services.models for p in emit(model))])
    out[f"{KUBERNETES_DIR}/kustomization.yaml"] = yaml_text(services, kustomization(paths))
    return out
