"""The JSON Schema (draft 2020-12) of the spec format, for editors: completion, hovers and key checks as you type.

It describes the shape the readers in ``obsgen.spec`` accept — every section, every key, the value types and
closed choices — with ``additionalProperties: false`` wherever a reader rejects unknown keys. It does not
repeat the cross-reference checks (a metric naming a declared attribute, a query selecting produced series):
``obsgen validate`` does those. ``obsgen schema`` prints it; the copy committed as ``SCHEMA_FILE`` is what the
``yaml-language-server`` modeline of ``obsgen init`` points at (``tests/test_spec_schema.py`` keeps the two
equal and checks the schema against what the readers read).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from obsgen import model as m
from obsgen.model.naming import INSTRUMENTS
from obsgen.model.quality import REPORTED_KINDS
from obsgen.spec import kubernetes, reader, routing
from obsgen.spec.dashboards import COLOR
from obsgen.spec.service import RETENTION_KEYS
from obsgen.spec.simulation import KINDS as VALUE_KINDS

SCHEMA_FILE = Path(__file__).parent / "data" / "obsgen-spec.schema.json"
SCHEMA_ID = "urn:obsgen:spec:1"

Schema = dict[str, Any]

TEXT: Schema = {"type": "string", "minLength": 1}
NUMBER: Schema = {"type": "number"}
BOOLEAN: Schema = {"type": "boolean"}
SCALAR: Schema = {"type": ["string", "number", "boolean"]}
DURATION: Schema = {"type": "string", "pattern": r"^[0-9]+(ms|s|m|h|d|w|y)$",
                    "description": "A single-unit Prometheus duration: 30s, 5m, 1h, 2d."}
URL: Schema = {"type": "string", "pattern": r"^https?://\S+$"}


def _full(pattern: str) -> Schema:
    return {"type": "string", "pattern": f"^(?:{pattern})$"}


def one_of(values: tuple[str, ...] | list[str]) -> Schema:
    return {"enum": list(values)}


def names(pattern: str | None = None) -> Schema:
    """A list of names without duplicates."""
    return {"type": "array", "items": _full(pattern) if pattern else TEXT, "uniqueItems": True}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None, description: str = "") -> Schema:
    """A mapping with exactly these keys (unknown keys are errors, as in the readers)."""
    out: Schema = {"type": "object", "properties": {**required, **(optional or {})}, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    if description:
        out["description"] = description
    return out


def by_name(value: Schema, pattern: str | None = None, description: str = "") -> Schema:
    """A mapping from names (matching ``pattern``) to ``value``."""
    out: Schema = {"type": "object", "additionalProperties": value}
    if pattern:
        out["propertyNames"] = {"pattern": f"^(?:{pattern})$"}
    if description:
        out["description"] = description
    return out


def ref(name: str) -> Schema:
    return {"$ref": f"#/$defs/{name}"}


# --- sections ---------------------------------------------------------------------------------------------------

SERVICE = obj({"name": _full(r"[a-z][a-z0-9-]*"), "namespace": _full(reader.NAME), "runbook_url": URL,
               "grafana_url": URL}, {"description": {"type": "string"}},
              "The service: its name (folders, labels), namespace (prefix of indicator names) and links.")

ATTRIBUTE = obj(
    {"type": one_of(m.ATTRIBUTE_TYPES), "pii": one_of(m.PII_CLASSES), "cardinality": one_of(m.CARDINALITIES),
     "description": TEXT},
    {"enum": names(), "format": one_of(m.FORMATS), "pattern": TEXT, "minimum": NUMBER, "maximum": NUMBER,
     "max_length": {"type": "integer", "minimum": 0}, "max_items": {"type": "integer", "minimum": 0},
     "items": one_of(m.ATTRIBUTE_TYPES[:3]), "keys": {**names(), "minItems": 1}})

METRIC = obj(
    {"name": _full(reader.METRIC_NAME), "instrument": one_of(INSTRUMENTS), "unit": _full(reader.UNIT),
     "description": TEXT, "labels": names(reader.ATTRIBUTE_NAME)},
    {"value": _full(reader.ATTRIBUTE_NAME), "buckets": {"type": "array", "items": NUMBER, "minItems": 1},
     "once_per": _full(reader.ATTRIBUTE_NAME)})

EVENT = obj(
    {"description": TEXT, "required": names(reader.ATTRIBUTE_NAME), "metrics": {"type": "array", "items": METRIC}},
    {"example": {"type": "object", "description": "A sample event; it must pass the event's schema."},
     "optional": names(reader.ATTRIBUTE_NAME),
     "span": obj({"name": _full(reader.METRIC_NAME), "kind": one_of(m.SPAN_KINDS)},
                 {"parent": _full(reader.NAME), "duration_field": _full(reader.ATTRIBUTE_NAME)}),
     "log": obj({"severity": one_of(m.LOG_SEVERITIES)})})

WHERE = by_name({"type": "array", "items": TEXT, "minItems": 1}, reader.ATTRIBUTE_NAME,
                "Label values the metric is narrowed to.")
METRIC_TERM = obj({"metric": _full(reader.METRIC_NAME)}, {"where": WHERE})
INDICATOR_KEYS: dict[str, tuple[dict[str, Schema], dict[str, Schema]]] = {
    "ratio": ({"numerator": ref("terms"), "denominator": ref("terms")}, {}),
    "quantile": ({"metric": _full(reader.METRIC_NAME),
                  "quantiles": {"type": "array", "items": NUMBER, "minItems": 1}}, {}),
    "mean": ({"metric": _full(reader.METRIC_NAME)}, {}),
    "gauge": ({"metric": _full(reader.METRIC_NAME)}, {}),
    "share": ({"metric": _full(reader.METRIC_NAME), "label": _full(reader.ATTRIBUTE_NAME),
               "planned": by_name({"type": "number", "minimum": 0, "maximum": 1})}, {}),
    "rate": ({"metric": _full(reader.METRIC_NAME)}, {"where": WHERE}),
}
INDICATOR: Schema = {"oneOf": [
    obj({"kind": {"const": kind}, "description": TEXT, **required}, {"by": names(reader.ATTRIBUTE_NAME), **optional})
    for kind, (required, optional) in INDICATOR_KEYS.items()]}

MATCH = by_name(TEXT, reader.ATTRIBUTE_NAME, "Label values of the indicator's `by`.")
OBJECTIVE = obj({"op": one_of(m.COMPARISONS), "value": NUMBER})
SLO = obj({"description": TEXT, "indicator": _full(reader.NAME), "objective": OBJECTIVE, "window": DURATION},
          {"quantile": NUMBER, "match": MATCH, "error_budget": obj({"period": DURATION}, {"alert_delay": DURATION})})

ALERT = obj(
    {"summary": TEXT, "indicator": _full(reader.NAME), "op": one_of(m.COMPARISONS), "threshold": NUMBER,
     "for": DURATION, "severity": one_of(m.SEVERITIES)},
    {"description": {"type": "string"}, "quantile": NUMBER, "match": MATCH, "window": DURATION,
     "kill_switch": _full(reader.NAME), "when_absent": BOOLEAN, "runbook_url": URL,
     "dashboard_tile": _full(f"{reader.SLUG}/{reader.SLUG}")})

WEBHOOK = obj({"url": URL}, {"bearer_token_file": _full(r"/\S+")})
INTEGRATION_FIELD = {"url": URL, "require_tls": BOOLEAN}
RECEIVER = {"anyOf": [WEBHOOK, *(
    obj({kind: obj({k: INTEGRATION_FIELD.get(k, _full(r"/\S+") if k.endswith("_file") else TEXT) for k in required},
                   {k: INTEGRATION_FIELD.get(k, _full(r"/\S+") if k.endswith("_file") else TEXT) for k in optional})})
    for kind, (required, optional, _) in sorted(routing.INTEGRATIONS.items()))]}
ROUTING = obj({"receivers": by_name(RECEIVER, r"[a-z][a-z0-9-]*")}, {
    "group_by": {**names(), "minItems": 1},
    "default_receiver": _full(r"[a-z][a-z0-9-]*"),
    "severities": {"type": "object", "additionalProperties": False, "properties": {severity: obj(
        {}, {"class": one_of(m.SEVERITY_CLASSES), "response": DURATION, "receiver": _full(r"[a-z][a-z0-9-]*"),
             "group_wait": DURATION, "group_interval": DURATION, "repeat_interval": DURATION,
             "escalation": DURATION}) for severity in m.SEVERITIES}},
    "kill_switch_webhook": obj({"url": URL, "bearer_token_file": _full(r"/\S+")}),
})

QUERY_MATCH = by_name({"type": ["string", "number"]}, f"{reader.ATTRIBUTE_NAME}|quantile",
                      "Label values of the indicator's `by` (and `quantile` of a quantile indicator).")
QUERY = obj({}, {"expr": TEXT, "indicator": _full(reader.NAME), "legend": TEXT, "window": DURATION,
                 "match": QUERY_MATCH,
                 "instant": BOOLEAN, "format": one_of(m.QUERY_FORMATS), "unit": one_of(m.GRAFANA_UNITS)})
TILE_OPTIONAL: dict[str, Schema] = {
    "panel": one_of(m.PANEL_TYPES), "description": TEXT, "unit": one_of(m.GRAFANA_UNITS), "row": TEXT,
    "queries": {"type": "array", "items": QUERY}, "slos": names(reader.NAME),
    "thresholds": {"type": "array", "items": obj({"color": _full(COLOR)}, {"value": NUMBER})},
    "mappings": {"type": "array", "items": obj({"value": SCALAR, "text": TEXT, "color": _full(COLOR)})},
    "width": {"type": "integer", "minimum": 1, "maximum": 24},
    "height": {"type": "integer", "minimum": 1, "maximum": 40},
    "min": NUMBER, "max": NUMBER, "stack": BOOLEAN, "content": TEXT}
DASHBOARD = obj(
    {"title": TEXT, "refresh": DURATION,
     "tiles": {"type": "array", "items": obj({"id": _full(reader.SLUG), "title": TEXT, "description": TEXT},
                                             TILE_OPTIONAL)}},
    {"time": DURATION, "folder": _full(reader.SLUG), "description": TEXT,
     "variables": by_name(obj({"metric": _full(reader.METRIC_NAME)}, {"label": _full(reader.ATTRIBUTE_NAME),
                                                                        "title": TEXT}), reader.NAME)})

FIELD_REF = obj({"event": _full(reader.NAME), "field": _full(reader.ATTRIBUTE_NAME)})
JOIN = obj({"root": _full(reader.NAME), "key": _full(reader.ATTRIBUTE_NAME)},
           {"inherit": names(reader.ATTRIBUTE_NAME), "consistent": names(reader.ATTRIBUTE_NAME),
            "require_known": names(reader.NAME),
            "references": by_name(obj(
                {"event": _full(reader.NAME), "field": _full(reader.ATTRIBUTE_NAME)},
                {"one_of": obj(FIELD_REF["properties"], {"same": _full(reader.ATTRIBUTE_NAME)}),
                 "element_of": obj(FIELD_REF["properties"], {"index": _full(reader.ATTRIBUTE_NAME)})}),
                reader.NAME)})

DATA_QUALITY = obj({}, {"report": obj({"event": _full(reader.NAME)}, {
    "values": by_name({"anyOf": [SCALAR, obj({kind: SCALAR for kind in REPORTED_KINDS})]}, reader.ATTRIBUTE_NAME),
    "copy": names(reader.ATTRIBUTE_NAME)})})

# --- simulation: value specs (`{value: 3}`, `{choice: [a, b]}`, …) and the overrides of incidents and switches ---

CONDITIONS = by_name({"anyOf": [SCALAR, {"type": "array", "items": SCALAR}]}, description="field: value(s)")
VALUE_SPEC = obj({}, {
    "when": CONDITIONS, "value": SCALAR, "choice": {"type": "array", "minItems": 1},
    "weights": by_name({"type": "number", "minimum": 0}),
    "uniform": {"type": "array", "items": NUMBER, "minItems": 2, "maxItems": 2},
    "normal": obj({"mean": NUMBER, "sd": NUMBER}), "lognormal": obj({"median": NUMBER, "sigma": NUMBER}),
    "template": TEXT, "sample": _full(reader.NAME), "copy": _full(reader.ATTRIBUTE_NAME),
    "age": obj({"start": NUMBER}, {"every": NUMBER, "offset": NUMBER}), "omit": {"const": True},
    "count": ref("value_spec"), "min": NUMBER, "max": NUMBER, "present": {"type": "number", "minimum": 0, "maximum": 1},
    "round": {"type": "integer", "minimum": 0},
    "adjust": {"type": "array", "items": obj({}, {"when": CONDITIONS, "probability": NUMBER, "times": NUMBER,
                                                   "field": _full(reader.ATTRIBUTE_NAME), "power": NUMBER,
                                                   "plus": ref("value_spec")})}},
    f"One of {', '.join(VALUE_KINDS)} (or none: derived from the attribute), with optional modifiers.")
CASES: Schema = {"anyOf": [ref("value_spec"), {"type": "array", "items": ref("value_spec")}]}
CHANCE: Schema = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, ref("value_spec")]}
FIELDS = by_name(ref("cases"), description="field (or event.field) → value spec, or a list of them (first match)")
OVERRIDE_KEYS: dict[str, Schema] = {
    "when": CONDITIONS, "share": {"type": "number", "minimum": 0, "maximum": 1}, "fields": FIELDS,
    "steps": by_name(CHANCE), "scale": by_name(NUMBER), "add": by_name(NUMBER), "stop": names(reader.NAME),
    "bad_fraction": obj({"indicator": _full(reader.NAME), "value": NUMBER})}
ID_SPEC = obj({"field": _full(reader.ATTRIBUTE_NAME), "template": TEXT})
SIMULATION = obj({}, {
    "diurnal": obj({}, {"peak": _full(r"[0-9]{1,2}:[0-9]{2}"), "low": {"type": "number", "minimum": 0, "maximum": 1}}),
    "populations": by_name(obj(
        {"size": {"type": "number", "minimum": 1}, "id": ID_SPEC},
        {"fields": FIELDS, "activity": CASES,
         "session": obj(ID_SPEC["properties"], {"end": NUMBER, "open": {"type": "number", "minimum": 1}})}),
        reader.NAME),
    "roots": by_name(obj({}, {"peak_per_s": {"type": "number", "minimum": 0}, "population": _full(reader.NAME)}),
                     reader.NAME),
    "fields": FIELDS,
    "steps": {"type": "array", "items": obj({"event": _full(reader.NAME)}, {
        "name": _full(reader.NAME), "count": ref("value_spec"), "probability": CHANCE, "per": TEXT,
        "limit": CASES, "when": CONDITIONS, "fields": FIELDS, "ends_context": BOOLEAN})},
    "incidents": by_name(obj({}, {"description": {"type": "string"}, "fires": names(reader.ALERT_NAME),
                                  **OVERRIDE_KEYS}), reader.SLUG),
    "kill_switches": by_name(obj({}, OVERRIDE_KEYS), reader.NAME),
}, "Synthetic traffic for `obsgen simulate`.")


KUBERNETES = obj({}, {"namespace": _full(kubernetes.DNS_LABEL),
                     "labels": {"type": "object", "propertyNames": _full(kubernetes.LABEL_KEY),
                                "additionalProperties": _full(kubernetes.LABEL_VALUE)}},
                 "Where the `--target kubernetes` resources go (namespace, default monitoring) and their labels.")

STACK = obj({}, {"tls": BOOLEAN},
            "How the generated stack runs: tls serves Prometheus and Alertmanager over HTTPS (obsgen secrets init "
            "makes a private CA and the server certificate, or keeps yours) and every client checks the CA.")


def spec_schema() -> Schema:
    """The whole schema, keys in a stable order."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "obsgen spec (version 1)",
        "description": "One service's telemetry: events, metrics, indicators, SLOs, alerts, routing and "
                       "dashboards. Generated by `obsgen schema`; `obsgen validate` also checks the references.",
        **obj({"version": {"const": 1}, "service": SERVICE,
               "attributes": by_name(ATTRIBUTE, reader.ATTRIBUTE_NAME, "Every field an event may carry."),
               "events": by_name(EVENT, reader.NAME), "indicators": by_name(INDICATOR, reader.NAME),
               "routing": ROUTING},
              {"alerts": by_name(ALERT, reader.ALERT_NAME), "slos": by_name(SLO, reader.NAME),
               "kill_switches": by_name(TEXT, reader.NAME),
               "retention": obj({}, {key: DURATION for key in RETENTION_KEYS}),
               "dashboards": by_name(DASHBOARD, reader.SLUG),
               "joins": by_name(JOIN, reader.NAME),
               "data_quality": DATA_QUALITY, "simulation": SIMULATION, "kubernetes": KUBERNETES,
               "stack": STACK}),
        "$defs": {"terms": {"anyOf": [METRIC_TERM, {"type": "array", "items": METRIC_TERM, "minItems": 1}]},
                  "value_spec": VALUE_SPEC, "cases": CASES},
    }


def schema_text() -> str:
    """``spec_schema()`` as the committed file spells it."""
    return json.dumps(spec_schema(), indent=2, ensure_ascii=False) + "\n"
