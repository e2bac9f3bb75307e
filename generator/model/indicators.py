"""Indicator kinds as a typed union: one frozen dataclass per kind, matched on by every consumer.

What every kind shares (``name``, ``description``, ``by``, ``unit``, the metrics it reads) is uniform;
what only one kind has (a ratio's numerator terms, a quantile's quantiles, a share's planned split)
lives on that kind alone, so an emitter cannot read a field that does not apply. Adding a kind means
one class here and one ``case`` in each ``match`` (type checkers flag the ones that are missed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from obsgen.model.record import record
from obsgen.model.units import per_second

if TYPE_CHECKING:
    from obsgen.model import Metric


def _empty() -> Mapping:
    return MappingProxyType({})


@record
class MetricRef:
    """A metric as an indicator uses it, optionally narrowed by label values (keyed by attribute name)."""

    metric: Metric
    where: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)


@record(kw_only=True)
class _Common:
    """What every indicator kind has."""

    kind: ClassVar[str]
    """The spec's ``kind:`` value, for messages; code matches on the class, never on this."""
    name: str
    description: str
    by: tuple[str, ...] = ()
    """Attributes the indicator is split by (Prometheus labels via ``prometheus_label_name``)."""

    @property
    def unit(self) -> str:
        """OTel unit of the indicator's value; ``1`` for fractions."""
        return "1"


@record(kw_only=True)
class Ratio(_Common):
    """Sum of the numerators' event rates over the sum of the denominators' (each term with its own ``where``)."""

    kind: ClassVar[str] = "ratio"
    numerators: tuple[MetricRef, ...]
    denominators: tuple[MetricRef, ...]

    @property
    def refs(self) -> tuple[MetricRef, ...]:
        """Every metric the indicator reads (each must carry the ``by`` labels)."""
        return self.numerators + self.denominators


@record(kw_only=True)
class _OneMetric(_Common):
    metric: MetricRef

    @property
    def refs(self) -> tuple[MetricRef, ...]:
        return (self.metric,)


@record(kw_only=True)
class _Measured(_OneMetric):
    """A kind whose value is in the unit of the metric it reads."""

    @property
    def unit(self) -> str:
        return self.metric.metric.unit


@record(kw_only=True)
class Quantile(_Measured):
    """Quantiles of a histogram, one series per quantile."""

    kind: ClassVar[str] = "quantile"
    quantiles: tuple[Decimal, ...]


@record(kw_only=True)
class Mean(_Measured):
    """A histogram's sum over its count."""

    kind: ClassVar[str] = "mean"


@record(kw_only=True)
class Gauge(_Measured):
    """The highest value of a gauge (or up-down counter) over the window."""

    kind: ClassVar[str] = "gauge"


@record(kw_only=True)
class Share(_OneMetric):
    """Each value of ``label``'s share of a counter, as relative deviation from the ``planned`` split."""

    kind: ClassVar[str] = "share"
    label: str
    planned: Mapping[str, Decimal] = field(default_factory=_empty)


@record(kw_only=True)
class Rate(_OneMetric):
    """Events per second: a counter's rate, or a histogram's observation count's."""

    kind: ClassVar[str] = "rate"

    @property
    def unit(self) -> str:
        """``{order}/s`` for a counter of ``{order}``; a histogram (or a plain ``1`` count) counts its events."""
        metric = self.metric.metric
        counted = metric.unit if metric.instrument == "counter" and metric.unit != "1" else f"{{{metric.event}}}"
        return per_second(counted)


Indicator: TypeAlias = Ratio | Quantile | Mean | Gauge | Share | Rate
INDICATOR_TYPES: tuple[type[Indicator], ...] = (Ratio, Quantile, Mean, Gauge, Share, Rate)
INDICATOR_KINDS = tuple(t.kind for t in INDICATOR_TYPES)
BUDGETED_TYPES = (Ratio, Quantile)
"""Kinds that count good and bad events, so an SLO on them can have an error budget."""
