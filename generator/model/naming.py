"""OpenTelemetry -> Prometheus metric-name and label-name translation.

A Python port of what github.com/prometheus/otlptranslator does with the
default translation strategy ``UnderscoreEscapingWithSuffixes``. Prometheus 3's
OTLP receiver and the collector's ``prometheus`` and ``prometheusremotewrite``
exporters use that strategy by default. The rules follow the OTel spec
"Prometheus and OpenMetrics Compatibility"
(specification/compatibility/prometheus_and_openmetrics.md, section "OTLP
Metric points to Prometheus").

It exists so that generated dashboards and alerts query the series names that
actually land in Prometheus. Guessing ("dots become underscores") is wrong in
enough corner cases (unit suffixes, ``_total``, ``_ratio``, names that already
contain the unit) to give empty panels, so this module ports the Go code rule
for rule. Each private helper names the Go function it mirrors:

* metric_namer.go: ``normalizeName``, ``addUnitTokens``, ``removeItem``,
  ``isValidCompliantMetricChar``, ``unitMap`` and ``perUnitMap``;
* unit_namer.go: ``buildUnitSuffixes`` and ``cleanUpUnit``;
* label_namer.go and strconv.go: ``LabelNamer.Build``, ``sanitizeLabelName``
  and ``isReservedLabel``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from obsgen.model.units import PER_UNITS, UNITS

__all__ = [
    "INSTRUMENTS",
    "prometheus_label_name",
    "prometheus_metric_name",
    "prometheus_series_names",
]

#: OTel instrument kinds understood here. "counter" is a monotonic Sum (Go:
#: MetricTypeMonotonicCounter), "updowncounter" a non-monotonic Sum (Go:
#: MetricTypeNonMonotonicCounter), "histogram" an explicit-bucket Histogram and
#: "gauge" a Gauge.
INSTRUMENTS = ("counter", "updowncounter", "histogram", "gauge")

# metric_namer.go `unitMap` and `perUnitMap` live in the one unit table, ``obsgen.model.units``: a UCUM
# main unit becomes the Prometheus base-unit word ("1" maps to "": a dimensionless unit gives no suffix;
# only gauges get "_ratio", a separate rule in _normalize_name), and the part after "/" a singular word.
_UNIT_MAP: dict[str, str] = {otel: unit.prometheus for otel, unit in UNITS.items()}
_PER_UNIT_MAP: dict[str, str] = PER_UNITS

# Go's strings.TrimSpace trims what unicode.IsSpace accepts. Python's
# str.strip() also strips U+001C..U+001F, which Go keeps, so the set is
# spelled out here to match Go exactly.
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

_MULTIPLE_UNDERSCORES = re.compile(r"__+")

_METRIC_TYPES = {
    "counter": "monotonic_counter",
    "updowncounter": "non_monotonic_counter",
    "histogram": "histogram",
    "gauge": "gauge",
}

_HISTOGRAM_SERIES_SUFFIXES = ("_bucket", "_count", "_sum")


def _go_trim_space(text: str) -> str:
    """Go's strings.TrimSpace. It is not str.strip() because the two disagree on U+001C..U+001F."""
    start, end = 0, len(text)
    while start < end and text[start] in _GO_SPACE:
        start += 1
    while end > start and text[end - 1] in _GO_SPACE:
        end -= 1
    return text[start:end]


def _is_ascii_digit(char: str) -> bool:
    """ASCII 0-9 only. str.isdigit() also accepts other digits such as '²' and '٣'."""
    return "0" <= char <= "9"


def _is_valid_metric_char(char: str) -> bool:
    """isValidCompliantMetricChar: [a-zA-Z0-9:]. '_' is left out on purpose because it separates tokens."""
    return (
        ("a" <= char <= "z")
        or ("A" <= char <= "Z")
        or _is_ascii_digit(char)
        or char == ":"
    )


def _is_valid_label_char(char: str) -> bool:
    """isValidCompliantLabelChar: [a-zA-Z0-9]. Label names cannot contain ':'; '_' is handled separately."""
    return ("a" <= char <= "z") or ("A" <= char <= "Z") or _is_ascii_digit(char)


def _name_tokens(name: str) -> list[str]:
    """strings.FieldsFunc(name, !isValidCompliantMetricChar).

    Invalid characters and '_' both split the name, and empty pieces are
    dropped. So repeated or invalid characters collapse into one '_', and
    leading or trailing ones disappear, as the spec requires.
    """
    tokens: list[str] = []
    current: list[str] = []
    for char in name:
        if _is_valid_metric_char(char):
            current.append(char)
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tokens


def _clean_up_unit(unit: str) -> str:
    """cleanUpUnit: invalid characters become '_', runs of '_' collapse, and one leading '_' is removed.

    A trailing '_' is kept. _add_unit_tokens deals with it, as the Go code does.
    """
    replaced = "".join(char if _is_valid_metric_char(char) else "_" for char in unit)
    return _MULTIPLE_UNDERSCORES.sub("_", replaced).removeprefix("_")


def _build_unit_suffixes(unit: str) -> tuple[str, str]:
    """buildUnitSuffixes: split a UCUM unit on its first '/' and map each side.

    Returns (main suffix, per suffix). The per suffix already starts with
    "per_". A side that is blank or contains '{' or '}' (a UCUM annotation such
    as "{request}") gives "", which is why "{request}" adds no suffix and
    "{objects}/s" gives only "per_second".
    """
    parts = unit.split("/", 1)
    main_suffix = ""
    main_otel = _go_trim_space(parts[0])
    if main_otel and "{" not in main_otel and "}" not in main_otel:
        main_suffix = _UNIT_MAP.get(main_otel, main_otel)

    per_suffix = ""
    if len(parts) > 1 and parts[1] != "":
        per_otel = _go_trim_space(parts[1])
        if per_otel and "{" not in per_otel and "}" not in per_otel:
            per_suffix = _PER_UNIT_MAP.get(per_otel, per_otel)
        if per_suffix:
            per_suffix = "per_" + per_suffix
    return main_suffix, per_suffix


def _add_unit_tokens(tokens: list[str], main_suffix: str, per_suffix: str) -> list[str]:
    """addUnitTokens: append the unit suffixes unless the name already contains them.

    The check compares whole tokens at any position, not only at the end.
    "system.network.packets.dropped" with unit "packets" therefore stays
    "system_network_packets_dropped". Tokens never contain '_', so a suffix
    with an underscore in it, such as "per_second", never matches and is
    always appended. The Go code behaves the same way, and this port keeps it.
    """
    if main_suffix in tokens:
        main_suffix = ""

    if per_suffix == "per_":
        per_suffix = ""
    else:
        per_suffix = per_suffix.removesuffix("_")
        if per_suffix in tokens:
            per_suffix = ""

    if per_suffix:
        main_suffix = main_suffix.removesuffix("_")

    result = list(tokens)
    if main_suffix:
        result.append(main_suffix)
    if per_suffix:
        result.append(per_suffix)
    return result


def _move_to_end(tokens: list[str], token: str) -> list[str]:
    """removeItem followed by append: drop `token` everywhere in the name, then add it once at the end."""
    return [t for t in tokens if t != token] + [token]


def _normalize_name(name: str, unit: str, metric_type: str) -> str:
    """normalizeName with an empty namespace: the UnderscoreEscapingWithSuffixes path of MetricNamer.Build."""
    tokens = _name_tokens(name)

    main_suffix, per_suffix = _build_unit_suffixes(unit)
    tokens = _add_unit_tokens(
        tokens, _clean_up_unit(main_suffix), _clean_up_unit(per_suffix)
    )

    # Monotonic sums are Prometheus counters, and a counter always ends in _total.
    if metric_type == "monotonic_counter":
        tokens = _move_to_end(tokens, "total")

    # The Go code adds "_ratio" for unit "1" on gauges only, because some
    # receivers wrongly use "1" for counts. The test is on the raw unit string,
    # so " 1" or "1/s" does not count.
    if unit == "1" and metric_type == "gauge":
        tokens = _move_to_end(tokens, "ratio")

    normalized = "_".join(tokens)
    # A Prometheus metric name cannot start with a digit.
    if normalized and _is_ascii_digit(normalized[0]):
        normalized = "_" + normalized
    return normalized


def _metric_type(instrument: str) -> str:
    """Map an instrument kind to the otlptranslator MetricType it stands for. Raise ValueError for an unknown kind."""
    try:
        return _METRIC_TYPES[instrument]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown instrument {instrument!r}; expected one of {', '.join(INSTRUMENTS)}"
        ) from None


@lru_cache(maxsize=4096)  # pure, and asked for the same few names over and over
def prometheus_metric_name(otel_name: str, unit: str, instrument: str) -> str:
    """Base Prometheus name of an OTel metric (for a histogram: the name without _bucket/_sum/_count).

    This is MetricNamer{WithMetricSuffixes: true, UTF8Allowed: false}.Build,
    which is what UnderscoreEscapingWithSuffixes selects, with no namespace.
    The steps, in the Go code's order:

    1. Split the name on every character outside [a-zA-Z0-9:]. '_' counts as
       outside, so runs of invalid characters become a single '_' and leading
       or trailing ones are dropped.
    2. Append the unit suffix ("ms" -> "milliseconds", "By/s" ->
       "bytes_per_second", "{request}" -> nothing) unless a name token already
       equals it.
    3. For "counter", move or append "total" to the end.
    4. For "gauge" with unit exactly "1", move or append "ratio" to the end.
    5. Put '_' in front if the name would start with a digit.

    Raises ValueError if the result is empty (for example a name made only of
    invalid characters and no unit), matching the Go error, or if
    `instrument` is not in INSTRUMENTS.
    """
    metric_type = _metric_type(instrument)
    normalized = _normalize_name(otel_name, unit, metric_type)
    if not normalized:
        raise ValueError(
            f"normalization for metric {otel_name!r} resulted in empty name"
        )
    # Go also rejects a result made only of underscores. Tokens never contain
    # '_' and the digit guard adds '_' only before a digit, so that cannot
    # happen here. The check stays to mirror the Go code.
    if normalized.strip("_") == "":
        raise ValueError(
            f"normalization for metric {otel_name!r} resulted in invalid name {normalized!r}"
        )
    return normalized


def prometheus_series_names(
    otel_name: str, unit: str, instrument: str
) -> tuple[str, ...]:
    """Every series name the metric produces: histogram -> (base_bucket, base_count, base_sum); others -> (base,).

    An explicit-bucket histogram becomes a classic Prometheus histogram (spec
    section "Histograms"): the base name plus "_bucket" (with "le"), "_count"
    and "_sum". Counters, up-down counters and gauges give one series under
    the base name. "_total" is already part of a counter's base name.
    "_created" series are not listed because Prometheus's OTLP receiver does
    not write them by default.
    """
    base = prometheus_metric_name(otel_name, unit, instrument)
    if instrument == "histogram":
        return tuple(base + suffix for suffix in _HISTOGRAM_SERIES_SUFFIXES)
    return (base,)


def _is_reserved_label(name: str) -> tuple[bool, str]:
    """isReservedLabel: "__x__" (at least 4 characters) is reserved. Returns the inner part without the '__' markers."""
    if len(name) < 4 or not name.startswith("__") or not name.endswith("__"):
        return False, ""
    return True, name[2:-2]


def _sanitize_label_name(name: str, preserve_multiple_underscores: bool) -> str:
    """sanitizeLabelName: every character outside [a-zA-Z0-9] becomes '_'.

    With preserve_multiple_underscores each character becomes its own '_', so
    "a..b" gives "a__b". Without it, consecutive replaced characters
    (including '_') collapse into one, and a reserved "__x__" name keeps its
    '__' markers around the collapsed middle part.
    """
    if preserve_multiple_underscores:
        return "".join(char if _is_valid_label_char(char) else "_" for char in name)

    is_reserved, inner = _is_reserved_label(name)
    if is_reserved:
        name = inner
    out: list[str] = ["__"] if is_reserved else []
    prev_was_underscore = False
    for char in name:
        if _is_valid_label_char(char):
            out.append(char)
            prev_was_underscore = False
        elif not prev_was_underscore:
            out.append("_")
            prev_was_underscore = True
    if is_reserved:
        out.append("__")
    return "".join(out)


@lru_cache(maxsize=4096)  # pure, and asked for the same few names over and over
def prometheus_label_name(
    otel_attribute: str,
    *,
    underscore_label_sanitization: bool = True,
    preserve_multiple_underscores: bool = True,
) -> str:
    """Prometheus label name of an OTel attribute key (dots -> underscores etc.).

    This is LabelNamer{UTF8Allowed: false}.Build. Every character outside
    [a-zA-Z0-9] becomes '_' ("service.name" -> "service_name"). A name that
    then starts with a digit gets a "key_" prefix ("123label" ->
    "key_123label").

    The keyword defaults match Prometheus 3's OTLP receiver
    (config.DefaultOTLPConfig sets ``label_name_underscore_sanitization`` and
    ``label_name_preserve_multiple_underscores`` to true "for backwards
    compatibility"):

    * underscore_label_sanitization=True: a name that starts with exactly one
      '_' gets a "key" prefix ("_foo" -> "key_foo"). Names starting with "__"
      are left alone.
    * preserve_multiple_underscores=True: each invalid character becomes its
      own '_' ("a..b" -> "a__b").

    Pass both as False for the spec-literal behaviour of otlptranslator's zero
    value LabelNamer{}, which collapses runs of '_' and keeps a leading '_'.
    The collector's prometheus exporter uses underscore_label_sanitization=False
    and preserve_multiple_underscores=True unless a feature gate is enabled.
    Everyday attribute keys ("service.name", "http.request.method") give the
    same result under every setting.

    Raises ValueError for an empty key, or when the result would be only
    underscores (for example "__", or a key written only in non-Latin script),
    matching the Go errors.
    """
    if not otel_attribute:
        raise ValueError("label name is empty")

    normalized = _sanitize_label_name(otel_attribute, preserve_multiple_underscores)

    if _is_ascii_digit(normalized[0]):
        normalized = "key_" + normalized
    elif (
        underscore_label_sanitization
        and normalized.startswith("_")
        and not normalized.startswith("__")
    ):
        normalized = "key" + normalized

    if normalized.strip("_") == "":
        raise ValueError(
            f"normalization for label name {otel_attribute!r} resulted in invalid name {normalized!r}"
        )
    return normalized
