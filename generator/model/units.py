"""OTel (UCUM) units, declared once: their Prometheus name suffix and their Grafana unit.

``naming`` builds metric names from the ``prometheus`` column (otlptranslator's ``unitMap`` and
``perUnitMap``); dashboards take a tile's unit from the ``grafana`` column; alert descriptions format
values with ``humanize_function``. A unit missing from the table keeps its own text as the Prometheus
suffix and is drawn as Grafana's plain ``short`` number.
"""

from __future__ import annotations

from obsgen.model.record import record


@record
class Unit:
    prometheus: str
    """Base-unit word in Prometheus metric names (otlptranslator metric_namer.go ``unitMap``)."""
    grafana: str = "short"
    """Grafana unit id of a value in this unit."""


UNITS: dict[str, Unit] = {
    # Time
    "d": Unit("days", "d"),
    "h": Unit("hours", "h"),
    "min": Unit("minutes", "m"),
    "s": Unit("seconds", "s"),
    "ms": Unit("milliseconds", "ms"),
    "us": Unit("microseconds", "µs"),
    "ns": Unit("nanoseconds", "ns"),
    # Bytes
    "By": Unit("bytes", "bytes"),
    "KiBy": Unit("kibibytes"),
    "MiBy": Unit("mebibytes"),
    "GiBy": Unit("gibibytes"),
    "TiBy": Unit("tibibytes"),
    "KBy": Unit("kilobytes"),
    "MBy": Unit("megabytes"),
    "GBy": Unit("gigabytes"),
    "TBy": Unit("terabytes"),
    # SI
    "m": Unit("meters"),
    "V": Unit("volts"),
    "A": Unit("amperes"),
    "J": Unit("joules"),
    "W": Unit("watts"),
    "g": Unit("grams"),
    # Misc: "1" (dimensionless) gives no suffix; only gauges get "_ratio", a rule of its own in naming.
    "Cel": Unit("celsius"),
    "Hz": Unit("hertz", "hertz"),
    "1": Unit("", "percentunit"),
    "%": Unit("percent", "percent"),
}

PER_UNITS: dict[str, str] = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
    "mo": "month",
    "y": "year",
}
"""The part after ``/`` as a singular word (otlptranslator ``perUnitMap``): ``By/s`` → ``bytes_per_second``.
Here ``m`` means minute, not meter."""

PER_SECOND_GRAFANA = {"{request}": "reqps", "{requests}": "reqps", "By": "Bps"}
"""Grafana unit of ``X/s`` by ``X``; any other per-second rate is drawn as ``ops`` (operations per second)."""
PER_SECOND_DEFAULT = "ops"


def per_second(unit: str) -> str:
    """The unit of a counter's per-second rate: ``{order}`` → ``{order}/s``, ``1`` (a plain count) → ``1/s``."""
    return f"{unit}/s"


def grafana_unit(unit: str) -> str:
    """Grafana unit id of a value in OTel ``unit``: ``ms`` → ``ms``, ``1`` → ``percentunit``, ``{x}/s`` → ``ops``."""
    if unit.endswith("/s"):
        return PER_SECOND_GRAFANA.get(unit[:-2], PER_SECOND_DEFAULT)
    return UNITS[unit].grafana if unit in UNITS else "short"


def humanize_function(unit: str) -> str:
    """Prometheus template function that formats a value in ``unit`` for people."""
    return {"1": "humanizePercentage", "s": "humanizeDuration"}.get(unit, "humanize")


def display(unit: str) -> str:
    """Unit text after a humanized number: UCUM annotations lose their braces (``{order}/s`` → ``order/s``)."""
    return unit.replace("{", "").replace("}", "")
