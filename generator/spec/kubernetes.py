"""The optional ``kubernetes`` section: where the ``--target kubernetes`` resources go and what labels
they carry (``namespace``, default ``monitoring``; ``labels``, Kubernetes label syntax)."""

from __future__ import annotations

from typing import Any

from obsgen import model as m
from obsgen.spec.reader import QUOTE_FIX, Checker, kind_of

DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
LABEL_KEY = r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"


def parse_kubernetes(c: Checker, raw: Any) -> m.Kubernetes:
    p = ("kubernetes",)
    d = c.mapping(raw, p, optional=("namespace", "labels"))
    if d is None:
        return m.Kubernetes()
    namespace = c.string(d.get("namespace", m.Kubernetes.namespace), p + ("namespace",), DNS_LABEL,
                         "namespace (a DNS label: lowercase letters, digits and -)")
    labels: dict[str, str] = {}
    raw_labels = c.mapping(d.get("labels", {}), p + ("labels",), optional=d.get("labels", {}) or ())
    for key, value in (raw_labels or {}).items():
        if c.string(key, p + ("labels", key), LABEL_KEY, "label key") is None:
            continue
        if not isinstance(value, str):  # `team: yes` would become `True`, `tier: 010` would become `8`
            c.error(p + ("labels", key), f"expected a label value, got {kind_of(value)}", QUOTE_FIX)
        elif c.string(value, p + ("labels", key), LABEL_VALUE, "label value") is not None:
            labels[key] = value
    return m.Kubernetes(namespace=namespace or m.Kubernetes.namespace, labels=m.frozen_map(labels))

