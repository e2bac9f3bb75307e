"""Worked cases for obsgen.model.naming: OTel -> Prometheus name translation.

Each expectation comes from prometheus/otlptranslator's own tests or from the
OTel spec specification/compatibility/prometheus_and_openmetrics.md, and each
row's comment names its source:

* "MN:<case>": metric_namer_test.go, TestMetricNamer_Build, case name, with
  MetricNamer{UTF8Allowed: false, WithMetricSuffixes: true}.
* "MNB:<func>": metric_name_builder_test.go, which carries the cases
  inherited from opentelemetry-collector-contrib normalize_name_test.go
  (TestByte, TestOTelReceivers, ...).
* "LN": label_namer_test.go `labelTestCases`.
* "README": otlptranslator README Quick Start / MetricNamer doc comment.
* "spec": the compatibility spec, section "OTLP Metric points to Prometheus".
* "code": no upstream test exists; derived by reading metric_namer.go /
  label_namer.go, kept to pin down behaviour that surprised us.

Instrument mapping: counter = MetricTypeMonotonicCounter, updowncounter =
MetricTypeNonMonotonicCounter, gauge = MetricTypeGauge, histogram =
MetricTypeHistogram.
"""

from __future__ import annotations

import pytest
from obsgen.model.naming import (
    INSTRUMENTS,
    prometheus_label_name,
    prometheus_metric_name,
    prometheus_series_names,
)

METRIC_CASES = [
    # --- the headline cases -------------------------------------------------
    # README: "http.server.request.duration" s histogram -> (myapp_)http_server_request_duration_seconds
    (
        "http.server.request.duration",
        "s",
        "histogram",
        "http_server_request_duration_seconds",
    ),
    # spec: "Dropping the portions of the Unit within brackets"; MNB:TestOTelReceivers
    # bigip.virtual_server.request.count {requests} counter -> ..._total (same shape)
    ("recsys.requests", "{request}", "counter", "recsys_requests_total"),
    (
        "bigip.virtual_server.request.count",
        "{requests}",
        "counter",
        "bigip_virtual_server_request_count_total",
    ),
    # MNB:TestOTelReceivers system.cpu.utilization 1 gauge -> system_cpu_utilization_ratio
    ("system.memory.utilization", "1", "gauge", "system_memory_utilization_ratio"),
    ("system.cpu.utilization", "1", "gauge", "system_cpu_utilization_ratio"),
    # MN:"http.request.duration/Prometheus-style"
    ("http.request.duration", "ms", "histogram", "http_request_duration_milliseconds"),
    # counter with a time unit: unit suffix comes before _total (spec: "The unit suffix
    # comes before any type-specific suffixes"); MNB:TestOTelReceivers system.disk.operation_time
    (
        "system.disk.operation_time",
        "s",
        "counter",
        "system_disk_operation_time_seconds_total",
    ),
    # same rule, ms
    ("process.cpu.time", "ms", "counter", "process_cpu_time_milliseconds_total"),
    # --- name already carries the unit / type suffix ------------------------
    # MN:"metric name already contains unit suffix"
    ("response_time_seconds", "s", "gauge", "response_time_seconds"),
    # MNB:TestByteCounter
    (
        "network_transmitted_bytes_total",
        "By",
        "counter",
        "network_transmitted_bytes_total",
    ),
    ("system.io", "By", "counter", "system_io_bytes_total"),
    # MN:"metric name already contains total suffix"
    ("requests_total", "", "counter", "requests_total"),
    # MN:"metric name already contains ratio suffix"; MNB:TestRatio hw.fan.speed_ratio
    ("cpu_usage_ratio", "1", "gauge", "cpu_usage_ratio"),
    ("hw.fan.speed_ratio", "1", "gauge", "hw_fan_speed_ratio"),
    # MNB:TestBrokenUnit - the unit is skipped if it is ANY token of the name, not just the last
    (
        "system.network.packets.dropped",
        "packets",
        "gauge",
        "system_network_packets_dropped",
    ),
    ("system.network.packets", "packets", "counter", "system_network_packets_total"),
    (
        "system.network.dropped",
        "packets",
        "counter",
        "system_network_dropped_packets_total",
    ),
    # code: removeItem drops a "total" token anywhere and re-appends it at the end
    ("total.requests", "", "counter", "requests_total"),
    # MNB:TestPercent - "ratio" in the name is NOT the unit "percent", so both stay
    (
        "broken.metric.success_ratio",
        "%",
        "gauge",
        "broken_metric_success_ratio_percent",
    ),
    # --- "/" units ------------------------------------------------------------
    # MNB:TestOTelReceivers mongodbatlas.process.network.io By/s; MN:"metric with complex per unit"
    (
        "mongodbatlas.process.network.io",
        "By/s",
        "gauge",
        "mongodbatlas_process_network_io_bytes_per_second",
    ),
    ("throughput", "By/s", "gauge", "throughput_bytes_per_second"),
    # MNB:TestOTelReceivers GiBy/h and {assertions}/s (annotation dropped, per part kept)
    (
        "mongodbatlas.process.oplog.rate",
        "GiBy/h",
        "gauge",
        "mongodbatlas_process_oplog_rate_gibibytes_per_hour",
    ),
    (
        "mongodbatlas.process.asserts",
        "{assertions}/s",
        "gauge",
        "mongodbatlas_process_asserts_per_second",
    ),
    # MNB:TestOTelReceivers {scanned}/{returned} -> no suffix at all
    (
        "mongodbatlas.process.db.query_targeting.scanned_per_returned",
        "{scanned}/{returned}",
        "gauge",
        "mongodbatlas_process_db_query_targeting_scanned_per_returned",
    ),
    # MNB:TestPer - main unit passes through unmapped; "m" is meters as main unit
    ("broken.metric.speed", "km/h", "gauge", "broken_metric_speed_km_per_hour"),
    (
        "astro.light.speed_limit",
        "m/s",
        "gauge",
        "astro_light_speed_limit_meters_per_second",
    ),
    # MNB:TestPer "invalid per unit": per part cleans to nothing -> dropped
    ("broken.metric.speed", "km/°", "gauge", "broken_metric_speed_km"),
    # MN:"metric with per unit" / README namespace example minus the namespace
    ("requests", "1/s", "gauge", "requests_per_second"),
    ("requests", "1/s", "counter", "requests_per_second_total"),
    # MN:"metric with unknown per unit", "metric with special chars in unit"
    ("custom", "1/custom_unit", "gauge", "custom_per_custom_unit"),
    (
        "custom_metric",
        "unit@with#special/chars",
        "gauge",
        "custom_metric_unit_with_special_per_chars",
    ),
    # MN:"metric with empty per unit", "metric with whitespace in unit", "metric with only slash"
    ("metric", "By/", "gauge", "metric_bytes"),
    ("metric", " By / s ", "gauge", "metric_bytes_per_second"),
    ("metric", "/", "gauge", "metric"),
    # MNB:TestPer / TestNonStandardUnit - ':' survives in units, "_1" is kept
    (
        "system.network.dropped",
        "non/standard:_1",
        "gauge",
        "system_network_dropped_non_per_standard:_1",
    ),
    (
        "system.network.dropped",
        "nonstandard:_1",
        "gauge",
        "system_network_dropped_nonstandard:_1",
    ),
    # code: the per suffix "per_second" contains "_" so it never equals a name token and
    # is appended even if the name already spells it out (only whole tokens are compared)
    ("requests.per.second", "1/s", "gauge", "requests_per_second_per_second"),
    # --- "1" is ratio for gauges only ---------------------------------------
    # MNB:TestRatio objects 1 counter; MN:"counter with unit 1 does not get ratio suffix"
    ("objects", "1", "counter", "objects_total"),
    # MN:"http.requests/Prometheus-style"
    ("http.requests", "1", "counter", "http_requests_total"),
    # code: `unit == "1" && metricType == MetricTypeGauge` - not for up-down counters / histograms
    ("system.cpu.share", "1", "updowncounter", "system_cpu_share"),
    ("payload.fraction", "1", "histogram", "payload_fraction"),
    # MNB:TestOTelReceivers system.cpu.load_average.15m
    ("system.cpu.load_average.15m", "1", "gauge", "system_cpu_load_average_15m_ratio"),
    # --- up-down counters never get _total ----------------------------------
    # MN:"non-monotonic counter metric type"
    ("active_connections", "", "updowncounter", "active_connections"),
    (
        "http.server.active_requests",
        "{request}",
        "updowncounter",
        "http_server_active_requests",
    ),
    (
        "db.client.connection.count",
        "{connection}",
        "updowncounter",
        "db_client_connection_count",
    ),
    ("system.memory.usage", "By", "updowncounter", "system_memory_usage_bytes"),
    # MNB:TestByte
    ("system.filesystem.usage", "By", "gauge", "system_filesystem_usage_bytes"),
    # --- character escaping ------------------------------------------------
    # MNB:TestWhiteSpaces - surrounding whitespace in name and unit disappears
    (
        "\t system.filesystem.usage       ",
        "  By\t",
        "gauge",
        "system_filesystem_usage_bytes",
    ),
    # MNB:TestEmpty
    ("test.metric.spaces", "   \t  ", "gauge", "test_metric_spaces"),
    # MNB:TestBuildCompliantMetricNameWithSuffixes
    ("3.14 digits", "", "gauge", "_3_14_digits"),
    (
        "envoy__rule_engine_zlib_buf_error",
        "",
        "gauge",
        "envoy_rule_engine_zlib_buf_error",
    ),
    (":foo::bar", "", "counter", ":foo::bar_total"),
    (
        "metric_with_字符_foreign_characters",
        "",
        "counter",
        "metric_with_foreign_characters_total",
    ),
    ("system.io", "foo/bar", "counter", "system_io_foo_per_bar_total"),
    ("temperature", "%*()°:C", "gauge", "temperature_:C"),
    # MN:"metric with multiple underscores normalized" (spec: collapse consecutive "_")
    (
        "metric__with__multiple__underscores",
        "unit__multiple__underscores",
        "gauge",
        "metric_with_multiple_underscores_unit_multiple_underscores",
    ),
    # MN:"metric with special characters replaced" (no unit, gauge)
    ("metric@with#special$chars", "", "gauge", "metric_with_special_chars"),
    # MNB:TestOTelReceivers unknown unit words are appended as-is
    (
        "apache.current_connections",
        "connections",
        "gauge",
        "apache_current_connections",
    ),
    ("apache.workers", "connections", "gauge", "apache_workers_connections"),
]


@pytest.mark.parametrize(("otel_name", "unit", "instrument", "expected"), METRIC_CASES)
def test_prometheus_metric_name(
    otel_name: str, unit: str, instrument: str, expected: str
) -> None:
    assert prometheus_metric_name(otel_name, unit, instrument) == expected


# MN: one case per unitMap / perUnitMap entry ("metric with days unit", ..., "metric with per year unit").
UNIT_SUFFIX_CASES = [
    ("d", "days"),
    ("h", "hours"),
    ("min", "minutes"),
    ("s", "seconds"),
    ("ms", "milliseconds"),
    ("us", "microseconds"),
    ("ns", "nanoseconds"),
    ("By", "bytes"),
    ("KiBy", "kibibytes"),
    ("MiBy", "mebibytes"),
    ("GiBy", "gibibytes"),
    ("TiBy", "tibibytes"),
    ("KBy", "kilobytes"),
    ("MBy", "megabytes"),
    ("GBy", "gigabytes"),
    ("TBy", "terabytes"),
    ("m", "meters"),
    ("V", "volts"),
    ("A", "amperes"),
    ("J", "joules"),
    ("W", "watts"),
    ("g", "grams"),
    ("Cel", "celsius"),
    ("Hz", "hertz"),
    ("%", "percent"),
    ("1/s", "per_second"),
    ("1/m", "per_minute"),
    ("1/h", "per_hour"),
    ("1/d", "per_day"),
    ("1/w", "per_week"),
    ("1/mo", "per_month"),
    ("1/y", "per_year"),
]


@pytest.mark.parametrize(("unit", "suffix"), UNIT_SUFFIX_CASES)
def test_unit_suffix_table(unit: str, suffix: str) -> None:
    assert prometheus_metric_name("foo", unit, "gauge") == f"foo_{suffix}"


SERIES_CASES = [
    # spec "Histograms": {name}_bucket / {name}_count / {name}_sum
    (
        "http.server.request.duration",
        "s",
        "histogram",
        (
            "http_server_request_duration_seconds_bucket",
            "http_server_request_duration_seconds_count",
            "http_server_request_duration_seconds_sum",
        ),
    ),
    # histogram of a counted thing: annotation dropped, no _total
    (
        "rpc.server.requests_per_rpc",
        "{count}",
        "histogram",
        (
            "rpc_server_requests_per_rpc_bucket",
            "rpc_server_requests_per_rpc_count",
            "rpc_server_requests_per_rpc_sum",
        ),
    ),
    ("recsys.requests", "{request}", "counter", ("recsys_requests_total",)),
    ("system.memory.utilization", "1", "gauge", ("system_memory_utilization_ratio",)),
    (
        "http.server.active_requests",
        "{request}",
        "updowncounter",
        ("http_server_active_requests",),
    ),
]


@pytest.mark.parametrize(("otel_name", "unit", "instrument", "expected"), SERIES_CASES)
def test_prometheus_series_names(
    otel_name: str, unit: str, instrument: str, expected: tuple[str, ...]
) -> None:
    assert prometheus_series_names(otel_name, unit, instrument) == expected


@pytest.mark.parametrize(
    "instrument", ["summary", "exponential_histogram", "Counter", "", None]
)
def test_unknown_instrument_rejected(instrument: str) -> None:
    with pytest.raises(ValueError, match="unknown instrument"):
        prometheus_metric_name("foo", "", instrument)
    with pytest.raises(ValueError, match="unknown instrument"):
        prometheus_series_names("foo", "", instrument)


def test_instruments_constant() -> None:
    assert INSTRUMENTS == ("counter", "updowncounter", "histogram", "gauge")
    for instrument in INSTRUMENTS:
        assert prometheus_metric_name("a.b", "", instrument)


@pytest.mark.parametrize(
    ("otel_name", "unit"), [("@#$%", ""), ("", ""), ("...", "{x}")]
)
def test_empty_metric_name_rejected(otel_name: str, unit: str) -> None:
    # MN:"metric name with only special characters" -> "" (Build returns an error in Go).
    with pytest.raises(ValueError, match="empty name"):
        prometheus_metric_name(otel_name, unit, "gauge")


def test_invalid_name_rescued_by_unit() -> None:
    # code: the empty check runs after suffixes are added, so a unit alone can make a name.
    assert prometheus_metric_name("...", "s", "gauge") == "seconds"


# ---------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------

LABEL_CASES_DEFAULT = [
    # spec "Metric Attributes": invalid characters -> "_"
    ("service.name", "service_name"),
    ("http.request.method", "http_request_method"),
    ("k8s.pod.name", "k8s_pod_name"),
    ("http.response.status_code", "http_response_status_code"),
    # LN: label.with.dots / label:with:colons / capitals / special chars
    ("label.with.dots", "label_with_dots"),
    ("label:with:colons", "label_with_colons"),
    ("LabelWithCapitalLetters", "LabelWithCapitalLetters"),
    ("label!with&special$chars)", "label_with_special_chars_"),
    # LN: leading digit -> "key_" prefix
    ("123label", "key_123label"),
    ("3d.model", "key_3d_model"),
    # LN: single leading underscore -> "key" prefix (UnderscoreLabelSanitization, Prometheus default)
    ("_label_starting_with_underscore", "key_label_starting_with_underscore"),
    (".foo", "key_foo"),
    # LN: two leading underscores are left alone
    ("__label_starting_with_2underscores", "__label_starting_with_2underscores"),
    ("__name__", "__name__"),
    # LN: PreserveMultipleUnderscores (Prometheus default) keeps runs of "_" - one per rune
    ("label__with__double__underscores", "label__with__double__underscores"),
    ("label.name__with&&special##chars", "label_name__with__special__chars"),
    ("label_with_foreign_characters_字符", "label_with_foreign_characters___"),
    ("trailing_underscores___", "trailing_underscores___"),
    ("__reserved__label__name__", "__reserved__label__name__"),
]


@pytest.mark.parametrize(("attribute", "expected"), LABEL_CASES_DEFAULT)
def test_prometheus_label_name_prometheus_defaults(
    attribute: str, expected: str
) -> None:
    assert prometheus_label_name(attribute) == expected


# LN `labelTestCases`, all four LabelNamer configurations:
# (label, collapse/no-key, collapse/key, preserve/no-key, preserve/key)
LABEL_MATRIX = [
    (
        "label:with:colons",
        "label_with_colons",
        "label_with_colons",
        "label_with_colons",
        "label_with_colons",
    ),
    (
        "label_with_foreign_characters_字符",
        "label_with_foreign_characters_",
        "label_with_foreign_characters_",
        "label_with_foreign_characters___",
        "label_with_foreign_characters___",
    ),
    (".foo", "_foo", "key_foo", "_foo", "key_foo"),
    ("123label", "key_123label", "key_123label", "key_123label", "key_123label"),
    (
        "_label_starting_with_underscore",
        "_label_starting_with_underscore",
        "key_label_starting_with_underscore",
        "_label_starting_with_underscore",
        "key_label_starting_with_underscore",
    ),
    (
        "__label_starting_with_2underscores",
        "_label_starting_with_2underscores",
        "key_label_starting_with_2underscores",
        "__label_starting_with_2underscores",
        "__label_starting_with_2underscores",
    ),
    (
        "label__with__double__underscores",
        "label_with_double_underscores",
        "label_with_double_underscores",
        "label__with__double__underscores",
        "label__with__double__underscores",
    ),
    (
        "label.name__with&&special##chars",
        "label_name_with_special_chars",
        "label_name_with_special_chars",
        "label_name__with__special__chars",
        "label_name__with__special__chars",
    ),
    # reserved __x__: collapsing keeps the __ markers but collapses the middle
    (
        "__reserved__label__name__",
        "__reserved_label_name__",
        "__reserved_label_name__",
        "__reserved__label__name__",
        "__reserved__label__name__",
    ),
    (
        "trailing_underscores___",
        "trailing_underscores_",
        "trailing_underscores_",
        "trailing_underscores___",
        "trailing_underscores___",
    ),
]


@pytest.mark.parametrize(
    ("attribute", "collapse_plain", "collapse_key", "preserve_plain", "preserve_key"),
    LABEL_MATRIX,
)
def test_prometheus_label_name_all_configs(
    attribute: str,
    collapse_plain: str,
    collapse_key: str,
    preserve_plain: str,
    preserve_key: str,
) -> None:
    def build(key: bool, preserve: bool) -> str:
        return prometheus_label_name(
            attribute,
            underscore_label_sanitization=key,
            preserve_multiple_underscores=preserve,
        )

    # otlptranslator LabelNamer{} (spec-literal)
    assert build(False, False) == collapse_plain
    assert build(True, False) == collapse_key
    # collector prometheus exporter default
    assert build(False, True) == preserve_plain
    # Prometheus 3 OTLP receiver default
    assert build(True, True) == preserve_key


# (attribute, underscore_label_sanitization, preserve_multiple_underscores, expected or None=error)
LABEL_ERROR_CASES = [
    # LN: "" -> "label name is empty" in every configuration
    ("", True, True, None),
    ("", False, False, None),
    # LN: "__" -> invalid "_" (LabelNamer{}) / "__" (PreserveMultipleUnderscores)
    ("__", False, False, None),
    ("__", False, True, None),
    # Prometheus default: "__" starts with "__", so no key prefix
    ("__", True, True, None),
    # code: collapsing gives "_", and the "key" prefix is added BEFORE the only-underscores
    # check, so with sanitization on the name survives as "key_"
    ("__", True, False, "key_"),
    # LN: "ようこそ" -> invalid "_" / "____"
    ("ようこそ", False, False, None),
    ("ようこそ", True, True, None),
    ("ようこそ", True, False, "key_"),  # code: same ordering as above
    # code: "___" starts with "__", so no prefix, only underscores
    ("...", True, True, None),
]


@pytest.mark.parametrize(
    ("attribute", "key", "preserve", "expected"), LABEL_ERROR_CASES
)
def test_degenerate_labels(
    attribute: str, key: bool, preserve: bool, expected: str | None
) -> None:
    def build() -> str:
        return prometheus_label_name(
            attribute,
            underscore_label_sanitization=key,
            preserve_multiple_underscores=preserve,
        )

    if expected is None:
        with pytest.raises(ValueError):
            build()
    else:
        assert build() == expected
