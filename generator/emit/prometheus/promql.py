"""PromQL building blocks shared by every emitter: selectors, numbers, record names.

Every selector excludes shadow-mode traffic, so shadow emission never moves a dashboard or alert.
Label names are taken as the spec writes them (attribute names such as ``http.route``) and written as
the Prometheus labels the OTLP translation gives them (``http_route``), here and nowhere else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal

from obsgen.model import SHADOW_LABEL, SLO, Alert, Gauge, Indicator, Mean, Model, Quantile, Rate, Ratio, Share
from obsgen.model.naming import prometheus_label_name, prometheus_metric_name


def label(name: str) -> str:
    """The Prometheus label of an attribute (``http.route`` → ``http_route``); other labels are unchanged."""
    return prometheus_label_name(name)


_REGEX_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")
"""What Go's ``regexp.QuoteMeta`` escapes: Prometheus and Loki match label values with Go's RE2 syntax."""


def string(value: str) -> str:
    """``value`` as a PromQL/LogQL string literal: double-quoted, its backslashes, quotes and control characters
    escaped (``err\\or`` → ``"err\\\\or"``), so any label value a spec declares reads back as written."""
    return json.dumps(value, ensure_ascii=False)


def matcher(name: str, values: Sequence[str]) -> str:
    """``name="v"`` for one value; for several ``name=~"a|b"``, each value matched literally (``a.b`` is not a
    regex that also matches ``aXb``)."""
    if len(values) == 1:
        return f"{name}={string(values[0])}"
    alternatives = "|".join(_REGEX_SPECIAL.sub(r"\\\1", value) for value in values)
    return f"{name}=~{string(alternatives)}"


def number(value: Decimal | int) -> str:
    """Plain decimal text for a threshold: ``Decimal('14.4') * Decimal('0.001')`` → ``0.0144``."""
    text = format(Decimal(value).normalize(), "f")
    return text


def le_matcher(boundary: Decimal) -> str:
    """Match a bucket's ``le`` whether it is written ``50`` (OTel exporters) or ``50.0`` (Prometheus 3)."""
    text = number(boundary)
    dot = r"\\."  # a regex dot, escaped once more for the PromQL string literal
    if "." in text:
        whole, fraction = text.split(".")
        return f'le=~"{whole}{dot}{fraction}0*"'
    return f'le=~"{text}({dot}0+)?"'


def selector(series: str, where: Mapping[str, tuple[str, ...]] | Mapping[str, str] = {},
             extra: tuple[str, ...] = ()) -> str:
    """``series{shadow!="true", label="v", other=~"a|b"}`` with labels in a stable order."""
    matchers = [f'{SHADOW_LABEL}!="true"']
    for name in sorted(where, key=label):
        values = where[name]
        matchers.append(matcher(label(name), (values,) if isinstance(values, str) else values))
    matchers.extend(extra)
    return f"{series}{{{', '.join(matchers)}}}"


def match_selector(record: str, match: Mapping[str, str]) -> str:
    """A recording-rule selector narrowed to label values (no shadow filter: records are clean)."""
    if not match:
        return record
    matchers = ", ".join(matcher(label(k), (match[k],)) for k in sorted(match, key=label))
    return f"{record}{{{matchers}}}"


def sum_by(labels: tuple[str, ...], expr: str) -> str:
    return f"sum by ({', '.join(map(label, labels))}) ({expr})" if labels else f"sum({expr})"


def level(labels: tuple[str, ...]) -> str:
    """The ``level`` part of ``level:metric:operations``: the labels the result keeps."""
    return "_".join(map(label, labels)) if labels else "service"


def indicator_metric(model: Model, indicator: Indicator) -> str:
    """The ``metric`` part for an indicator, with the unit suffix of the value it measures."""
    base = f"{model.service.namespace}.{indicator.name}"
    if isinstance(indicator, (Ratio, Share)):
        return base.replace(".", "_")
    return prometheus_metric_name(base, indicator.unit, "gauge")


def indicator_record(model: Model, indicator: Indicator, window: str) -> str:
    """Name of the recording rule holding the indicator's value over ``window`` (``level:metric:operations``).

    For a share indicator this is the deviation from the planned split, the value alerts compare.
    """
    metric = indicator_metric(model, indicator)
    match indicator:
        case Ratio():
            return f"{level(indicator.by)}:{metric}:ratio_rate{window}"
        case Quantile():
            return f"{level(indicator.by + ('quantile',))}:{metric}:histogram_quantile_rate{window}"
        case Mean():
            return f"{level(indicator.by)}:{metric}:mean_rate{window}"
        case Gauge():
            return f"{level(indicator.by)}:{metric}:max_over_time{window}"
        case Share():
            return f"{label(indicator.label)}:{metric}:deviation_rate{window}"
        case Rate():
            return f"{level(indicator.by)}:{metric}:rate{window}"


def share_records(model: Model, indicator: Share, window: str) -> tuple[str, str]:
    """Names of a share indicator's (actual share, planned share) records."""
    metric = indicator_metric(model, indicator)
    share_label = label(indicator.label)
    return (f"{share_label}:{metric}:share_rate{window}", f"{share_label}:{metric}:planned_share")


def slo_record(model: Model, window: str) -> str:
    """Bad-event ratio of every budgeted SLO, told apart by the ``slo`` label (as sloth does)."""
    return f"service_slo:{model.service.namespace}_slo_errors:ratio_rate{window}"


def slo_meta_record(model: Model, metric: str, operation: str) -> str:
    """An SLO's own records, told apart by ``slo``: ``service_slo:<ns>_slo_<metric>:<operation>`` such as
    ``service_slo:<ns>_slo_burn_rate:ratio_rate1h`` or ``service_slo:<ns>_slo_objective:ratio``."""
    return f"service_slo:{model.service.namespace}_slo_{metric}:{operation}"


def signal_selector(model: Model, target: Alert | SLO, window: str) -> str:
    """The recording-rule series an alert or SLO reads, narrowed by its quantile and match."""
    match = dict(target.match)
    if target.quantile is not None:
        match["quantile"] = number(target.quantile)
    return match_selector(indicator_record(model, target.indicator, window), match)
