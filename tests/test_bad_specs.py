"""Every kind of bad spec gives `FILE:LINE: field.path: problem — fix`, exit code 2, and writes nothing."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.spec import default_spec_text

DEFAULT_TEXT = default_spec_text()
DEFAULT = yaml.safe_load(DEFAULT_TEXT)
ERROR_LINE = re.compile(
    r"^(?P<file>[^:]+\.yaml):(?P<line>\d+): (?P<path>\(top level\)|\S+): (?P<problem>.+) — (?P<fix>.+)$")


def metric(spec: dict, name: str) -> dict:
    return next(m for e in spec["events"].values() for m in e["metrics"] if m["name"] == name)


Mutation = Callable[[dict], Any]

# (id, mutation of the default spec, field path expected in an error, words expected in the problem)
CASES: list[tuple[str, Mutation, str, str]] = [
    ("unknown-top-level-key", lambda s: s.update(versoin=1), "versoin", "unknown key"),
    ("unsupported-version", lambda s: s.update(version=2), "version", "unsupported spec version"),
    ("missing-section", lambda s: s.pop("routing"), "(top level)", "missing required key `routing`"),
    ("unknown-attribute-key", lambda s: s["attributes"]["bucket"].update(pii_class="low"),
     "attributes.bucket.pii_class", "unknown key"),
    ("bad-pii-class", lambda s: s["attributes"]["region"].update(pii="secret"), "attributes.region.pii",
     "not one of none, low, high"),
    ("service-runbook-url-fragment",
     lambda s: s["service"].update(runbook_url="https://runbooks.example.com/recsys#top"),
     "service.runbook_url", "holds a fragment"),
    ("pii-high-not-a-string", lambda s: s["attributes"]["user_id"].update(type="integer"),
     "attributes.user_id.type", "leaves the process as its pseudonym"),
    ("enum-marked-high-cardinality", lambda s: s["attributes"]["cohort"].update(cardinality="high"),
     "attributes.cohort.cardinality", "bounded cardinality"),
    ("buckets-not-numbers", lambda s: metric(s, "recsys.ranking.duration").update(buckets="fast"),
     "events.ranking.metrics[0].buckets", "non-empty list of numbers"),
    ("buckets-not-increasing", lambda s: metric(s, "recsys.ranking.duration").update(buckets=[5, 50, 10]),
     "events.ranking.metrics[0].buckets", "strictly increasing"),
    ("high-pii-label", lambda s: metric(s, "recsys.requests")["labels"].append("user_id"),
     "events.request.metrics[0].labels[5]", "high-PII"),
    ("high-cardinality-label", lambda s: metric(s, "recsys.requests")["labels"].append("request_id"),
     "events.request.metrics[0].labels[5]", "high-cardinality"),
    ("label-not-an-event-field", lambda s: metric(s, "recsys.requests")["labels"].append("genre"),
     "events.request.metrics[0].labels[5]", "not a field of event `request`"),
    ("label-not-an-attribute", lambda s: metric(s, "recsys.requests")["labels"].append("colour"),
     "events.request.metrics[0].labels[5]", "not an attribute declared under `attributes`"),
    ("histogram-without-buckets", lambda s: metric(s, "recsys.ranking.coverage").pop("buckets"),
     "events.ranking.metrics[1]", "needs `buckets`"),
    ("metric-name-not-otel-style", lambda s: metric(s, "recsys.clicks").update(name="Recsys.Clicks"),
     "events.click.metrics[0].name", "not a valid OTel metric name"),
    ("metric-value-not-numeric", lambda s: metric(s, "recsys.ranking.duration").update(value="algorithm"),
     "events.ranking.metrics[0].value", "not a number"),
    ("example-breaks-schema", lambda s: s["events"]["request"]["example"].update(bucket="blue"),
     "events.request.example.bucket", "example value is invalid"),
    ("example-missing-required", lambda s: s["events"]["click"]["example"].pop("engagement_type"),
     "events.click.example", "lacks required field `engagement_type`"),
    ("indicator-on-undeclared-metric", lambda s: s["indicators"]["errors"]["numerator"].update(metric="recsys.errorz"),
     "indicators.errors.numerator.metric", "not a metric declared under `events`"),
    ("where-on-missing-label", lambda s: s["indicators"]["errors"]["numerator"].update(where={"region": ["eu"]}),
     "indicators.errors.numerator.where.region", "not a label of metric `recsys.errors`"),
    ("where-value-not-in-enum", lambda s: s["indicators"]["errors"]["numerator"].update(where={"severity": ["fatal"]}),
     "indicators.errors.numerator.where.severity[0]", "not a value of `severity`"),
    ("planned-split-not-one", lambda s: s["indicators"]["traffic_allocation"]["planned"].update(control=0.6),
     "indicators.traffic_allocation.planned", "add up to 1.1"),
    ("alert-on-undeclared-indicator", lambda s: s["alerts"]["RecsysErrorRateHigh"].update(indicator="error_ratio"),
     "alerts.RecsysErrorRateHigh.indicator", "not an indicator declared under `indicators`"),
    ("alert-bad-severity", lambda s: s["alerts"]["RecsysCoverageLow"].update(severity="P5"),
     "alerts.RecsysCoverageLow.severity", "not one of P1, P2, P3, P4"),
    ("alert-bad-for", lambda s: s["alerts"]["RecsysCoverageLow"].update({"for": "10 minutes"}),
     "alerts.RecsysCoverageLow.for", "not a duration"),
    ("alert-threshold-not-number", lambda s: s["alerts"]["RecsysCoverageLow"].update(threshold="95%"),
     "alerts.RecsysCoverageLow.threshold", "expected a number"),
    ("alert-unknown-kill-switch", lambda s: s["alerts"]["RecsysErrorRateHigh"].update(kill_switch="reboot"),
     "alerts.RecsysErrorRateHigh.kill_switch", "not a kill-switch declared under `kill_switches`"),
    ("alert-unknown-tile", lambda s: s["alerts"]["RecsysErrorRateHigh"].update(dashboard_tile="health/nope"),
     "alerts.RecsysErrorRateHigh.dashboard_tile", "`health/nope` is not a tile of the spec's dashboards"),
    ("alert-quantile-not-recorded", lambda s: s["alerts"]["RecsysRankingLatencyHigh"].update(quantile=0.9),
     "alerts.RecsysRankingLatencyHigh.quantile", "does not compute quantile 0.9"),
    ("alert-quantile-between-buckets", lambda s: s["alerts"]["RecsysRankingLatencyHigh"].update(threshold=120),
     "alerts.RecsysRankingLatencyHigh.threshold", "not an inner bucket boundary"),
    ("alert-match-on-unsplit-label", lambda s: s["alerts"]["RecsysCoverageLow"].update(match={"bucket": "control"}),
     "alerts.RecsysCoverageLow.match.bucket", "not split by `bucket`"),
    ("alert-templated-summary", lambda s: s["alerts"]["RecsysCoverageLow"].update(summary="Coverage {{ $value }}"),
     "alerts.RecsysCoverageLow.summary", "templated"),
    ("slo-budget-on-gauge", lambda s: s["slos"]["data_freshness"].update(error_budget={"period": "30d"}),
     "slos.data_freshness.error_budget", "no good/bad events"),
    ("slo-latency-objective-off-bucket", lambda s: s["slos"]["latency_p95_warm"]["objective"].update(value=60),
     "slos.latency_p95_warm.objective.value", "not a bucket boundary"),
    ("routing-missing-severity", lambda s: s["routing"]["severities"].pop("P4"),
     "routing.severities", "P4 names no `receiver` and there are several receivers"),
    ("repeat-after-escalation", lambda s: s["routing"]["severities"]["P1"].update(repeat_interval="1h"),
     "routing.severities.P1.repeat_interval", "longer than the escalation time"),
    ("route-to-unknown-receiver", lambda s: s["routing"]["severities"]["P2"].update(receiver="pager"),
     "routing.severities.P2.receiver", "not a receiver declared under `routing.receivers`"),
    ("kill-switch-webhook-without-token", lambda s: s["routing"]["kill_switch_webhook"].pop("bearer_token_file"),
     "routing.kill_switch_webhook", "missing required key `bearer_token_file`"),
    ("credentials-in-url", lambda s: s["routing"]["receivers"]["oncall-page"].update(url="http://u:pw@pager/x"),
     "routing.receivers.oncall-page.url", "not a valid URL without credentials"),
    # ratios over several metrics, rate indicators, success objectives, dotted attribute names
    ("ratio-terms-empty-list", lambda s: s["indicators"]["errors"].update(numerator=[]),
     "indicators.errors.numerator", "non-empty list"),
    ("ratio-term-on-gauge", lambda s: s["indicators"]["errors"].update(
        denominator=[{"metric": "recsys.requests"}, {"metric": "recsys.data.age"}]),
     "indicators.errors.denominator[1].metric", "cannot use gauge `recsys.data.age`"),
    ("ratio-term-where-on-missing-label", lambda s: s["indicators"]["errors"].update(
        denominator=[{"metric": "recsys.requests"}, {"metric": "recsys.sessions", "where": {"region": ["eu"]}}]),
     "indicators.errors.denominator[1].where.region", "not a label of metric `recsys.sessions`"),
    ("split-label-missing-on-one-term", lambda s: s["indicators"]["errors"].update(by=["region"]),
     "indicators.errors.by[0]", "not a label of metric `recsys.errors`"),
    ("rate-on-gauge", lambda s: s["indicators"].update(
        age_rate={"kind": "rate", "description": "d", "metric": "recsys.data.age"}),
     "indicators.age_rate.metric", "a rate indicator cannot use gauge"),
    ("rate-where-value-not-in-enum", lambda s: s["indicators"].update(
        blue_rate={"kind": "rate", "description": "d", "metric": "recsys.requests", "where": {"bucket": ["blue"]}}),
     "indicators.blue_rate.where.bucket[0]", "not a value of `bucket`"),
    ("rate-with-quantiles", lambda s: s["indicators"].update(
        q_rate={"kind": "rate", "description": "d", "metric": "recsys.requests", "quantiles": [0.5]}),
     "indicators.q_rate.quantiles", "unknown key"),
    ("success-objective-not-a-ratio-value", lambda s: s["slos"]["error_rate"].update(
        objective={"op": ">=", "value": 99.9}),
     "slos.error_rate.objective.value", "between 0 and 1"),
    ("latency-budget-lower-bound", lambda s: s["slos"]["latency_p95_warm"]["objective"].update(op=">="),
     "slos.latency_p95_warm.objective.op", "upper bound on latency"),
    ("alert-below-zero-never-fires", lambda s: s["alerts"]["RecsysCoverageLow"].update(threshold=0),
     "alerts.RecsysCoverageLow.threshold", "`< 0` never holds"),
    ("attribute-name-not-otel-style", lambda s: s["attributes"].update({"Http.Route": s["attributes"]["region"]}),
     "attributes.Http.Route", "not a valid attribute name"),
    ("attributes-share-a-prometheus-label", lambda s: s["attributes"].update(
        {"user.state": s["attributes"]["user_state"]}),
     "attributes.user.state", "both the Prometheus label `user_state`"),
]

# Issue 9: inputs that once ended in tracebacks or silently broken output. Each names the exact field path,
# words of the problem and words of the fix.
FIXED_CASES: list[tuple[str, Mutation, str, str, str]] = [
    ("pattern-bad-regex", lambda s: s["attributes"]["locale"].update(pattern="([a-z]{2}"),
     "attributes.locale.pattern", "not a valid regular expression: missing )", "fix the pattern"),
    ("pattern-a-number", lambda s: s["attributes"]["locale"].update(pattern=42),
     "attributes.locale.pattern", "expected a non-empty string, got a number (42)", "write a text value"),
    ("max-length-lots", lambda s: s["attributes"]["message"].update(max_length="lots"),
     "attributes.message.max_length", "expected a whole number, got the string `lots`", "write a whole number"),
    ("max-length-zero", lambda s: s["attributes"]["message"].update(max_length=0),
     "attributes.message.max_length", "0 is below the minimum 1", "use a value >= 1"),
    ("max-items-a-list", lambda s: s["attributes"]["items"].update(max_items=[100]),
     "attributes.items.max_items", "expected a whole number, got a list", "write a whole number"),
    ("minimum-above-maximum", lambda s: s["attributes"]["position"].update(minimum=200),
     "attributes.position.maximum", "maximum 100 is below minimum 200", "swap them"),
    ("attribute-description-a-mapping", lambda s: s["attributes"]["region"].update(description={"en": "Region"}),
     "attributes.region.description", "expected text, got a mapping", "write the text as a (quoted) string"),
    ("deleted-attribute-still-required", lambda s: s["attributes"].pop("timestamp_ms"),
     "events.request.required[2]", "`timestamp_ms` is not an attribute declared under `attributes`",
     "declare it under `attributes` first"),
    ("deleted-attribute-still-a-label", lambda s: s["attributes"].pop("surface"),
     "events.request.metrics[0].labels[4]", "`surface` is not an attribute declared under `attributes`",
     "use one of those names"),
    ("dashboard-tile-a-mapping", lambda s: s["alerts"]["RecsysCoverageLow"].update(dashboard_tile={}),
     "alerts.RecsysCoverageLow.dashboard_tile", "a mapping is not a tile of the spec's dashboards",
     "write `dashboard/tile-id`"),
    ("dashboard-tile-a-list", lambda s: s["alerts"]["RecsysCoverageLow"].update(dashboard_tile=["health"]),
     "alerts.RecsysCoverageLow.dashboard_tile", "a list is not a tile", "write `dashboard/tile-id`"),
    ("metric-value-a-list", lambda s: metric(s, "recsys.ranking.duration").update(value=["latency_ms"]),
     "events.ranking.metrics[0].value", "a list is not a field of event `ranking`", "name a numeric field"),
    ("metric-once-per-a-mapping", lambda s: metric(s, "recsys.requests").update(once_per={"a": 1}),
     "events.request.metrics[0].once_per", "a mapping is not a field of event `request`", "name the join key"),
    ("span-duration-field-a-list", lambda s: s["events"]["request"]["span"].update(duration_field=["k"]),
     "events.request.span.duration_field", "a list is not a field of event `request`", "name a numeric field"),
    ("event-description-a-mapping", lambda s: s["events"]["request"].update(description={"text": "x"}),
     "events.request.description", "expected text, got a mapping", "write the text as a (quoted) string"),
    ("metric-description-a-number", lambda s: metric(s, "recsys.requests").update(description=3),
     "events.request.metrics[0].description", "expected text, got a number (3)", "write the text"),
    ("alert-description-a-list", lambda s: s["alerts"]["RecsysCoverageLow"].update(description=["a", "b"]),
     "alerts.RecsysCoverageLow.description", "expected text, got a list", "write the text as a (quoted) string"),
    ("alert-summary-a-mapping", lambda s: s["alerts"]["RecsysCoverageLow"].update(summary={"a": 1}),
     "alerts.RecsysCoverageLow.summary", "expected a non-empty string, got a mapping", "write a text value"),
    ("indicator-description-nothing", lambda s: s["indicators"]["coverage"].update(description=None),
     "indicators.coverage.description", "expected text, got nothing", "write the text"),
    ("slo-description-a-boolean", lambda s: s["slos"]["error_rate"].update(description=True),
     "slos.error_rate.description", "expected text, got a boolean (True)", "write the text"),
    ("service-description-a-list", lambda s: s["service"].update(description=["x"]),
     "service.description", "expected text, got a list", "write the text"),
    ("retention-key-misspelt", lambda s: s["retention"].update(raw_event=s["retention"].pop("raw_events")),
     "retention.raw_event", "unknown key", "did you mean `raw_events`?"),
    ("retention-key-unknown", lambda s: s["retention"].update(forever="10y"),
     "retention.forever", "unknown key", "allowed keys: raw_events, aggregates, errors, critical_errors, metrics"),
    ("retention-not-a-duration", lambda s: s["retention"].update(metrics="a month"),
     "retention.metrics", "`a month` is not a duration", "write a Prometheus duration"),
    ("threshold-negative-on-a-ratio", lambda s: s["alerts"]["RecsysErrorRateHigh"].update(threshold=-0.5),
     "alerts.RecsysErrorRateHigh.threshold", "`> -0.5` always holds: a ratio is never negative",
     "use a positive threshold"),
    ("threshold-negative-on-a-mean", lambda s: s["alerts"]["RecsysCoverageLow"].update(threshold=-1),
     "alerts.RecsysCoverageLow.threshold", "`< -1` never holds: a mean is never negative",
     "use a positive threshold"),
    ("threshold-above-one-on-a-fraction", lambda s: s["alerts"]["RecsysCoverageLow"].update(
        indicator="cache_hits", op=">", threshold=1.5),
     "alerts.RecsysCoverageLow.threshold", "`> 1.5` never holds: the numerator counts events of the denominator",
     "use a threshold between 0 and 1"),
    ("threshold-one-always-holds-on-a-fraction", lambda s: s["alerts"]["RecsysCoverageLow"].update(
        indicator="cache_hits", op="<=", threshold=1),
     "alerts.RecsysCoverageLow.threshold", "`<= 1` always holds", "use a threshold between 0 and 1"),
    ("severities-left-out-with-two-receivers", lambda s: s["routing"].pop("severities"),
     "routing.severities", "P1, P2, P3, P4 name no `receiver` and there are several receivers",
     "add `default_receiver:` under `routing`"),
    ("default-receiver-unknown", lambda s: s["routing"].update(default_receiver="pager"),
     "routing.default_receiver", "`pager` is not a receiver declared under `routing.receivers`",
     "use one of those names"),
    ("kill-switches-without-webhook", lambda s: s["routing"].pop("kill_switch_webhook"),
     "routing", "missing required key `kill_switch_webhook`: the spec has kill_switches", "add `kill_switch_webhook:"),
    ("severity-p5-route", lambda s: s["routing"]["severities"].update(P5=s["routing"]["severities"]["P4"]),
     "routing.severities.P5", "`P5` is not one of P1, P2, P3, P4", "use one of P1, P2, P3, P4"),
    ("route-timing-not-a-duration", lambda s: s["routing"]["severities"]["P3"].update(group_wait=[1]),
     "routing.severities.P3.group_wait", "expected a duration, got a list", "write a Prometheus duration"),
    ("example-a-list", lambda s: s["events"]["click"].update(example=[1]),
     "events.click.example", "expected a mapping, got a list", "write it as `key: value` lines"),
    ("example-undeclared-field", lambda s: s["events"]["click"]["example"].update(colour="red"),
     "events.click.example.colour", "field is not declared by the event", "remove it from the example"),
    ("version-a-mapping", lambda s: s.update(version={"major": 1}),
     "version", "unsupported spec version: a mapping", "set `version: 1`"),
    ("event-a-string", lambda s: s["events"].update(click="a click"),
     "events.click", "expected a mapping, got the string `a click`", "write it as `key: value` lines"),
    ("indicator-kind-a-list", lambda s: s["indicators"]["coverage"].update(kind=["mean"]),
     "indicators.coverage.kind", "a list is not one of ratio, quantile", "use one of ratio, quantile"),
    ("tile-query-not-promql", lambda s: s["dashboards"]["health"]["tiles"][0]["queries"][1].update(
        expr="sum(rate(recsys_requests_total[5m]"),
     "dashboards.health.tiles[0].queries[1].expr", "does not parse as PromQL", "fix the PromQL syntax"),
    ("variable-metric-a-mapping", lambda s: s["dashboards"]["health"]["variables"]["bucket"].update(
        metric={"name": "x"}),
     "dashboards.health.variables.bucket.metric", "expected the name of a metric, got a mapping",
     "write a name from `events`"),
    ("slo-objective-value-a-word", lambda s: s["slos"]["error_rate"]["objective"].update(value="high"),
     "slos.error_rate.objective.value", "expected a number, got the string `high`", "write a number"),
    ("slo-window-forever", lambda s: s["slos"]["error_rate"].update(window="forever"),
     "slos.error_rate.window", "`forever` is not a duration", "write a Prometheus duration"),
    ("join-key-a-list", lambda s: s["joins"]["request"].update(key=["request_id"]),
     "joins.request.key", "a list is not a field of event `request`", "name the join key field"),
    ("quality-event-a-mapping", lambda s: s["data_quality"]["report"].update(event={"name": "error"}),
     "data_quality.report.event", "expected the name of an event, got a mapping", "write a name from `events`"),
    ("diurnal-low-lots", lambda s: s["simulation"]["diurnal"].update(low="lots"),
     "simulation.diurnal.low", "expected a number, got the string `lots`", "write a number"),
    ("service-a-list", lambda s: s.update(service=["movie-recommender"]),
     "service", "expected a mapping, got a list", "write it as `key: value` lines"),
    # Session 4 (audit-spec): text that once reached generated files the real tools refuse, or silently changed.
    ("alert-description-unknown-template", lambda s: s["alerts"]["RecsysCoverageLow"].update(
        description="Coverage {{ $value }} on {{ .Labels.x }}"),
     "alerts.RecsysCoverageLow.description", "`{{ $value }}` is not a template obsgen can render",
     "use only {{ $value | humanize }}"),
    ("alert-description-unclosed-template", lambda s: s["alerts"]["RecsysCoverageLow"].update(description="a {{ b"),
     "alerts.RecsysCoverageLow.description", "`{{ b` is not a template obsgen can render", "{{ \"{{\" }}"),
    ("runbook-url-template", lambda s: s["service"].update(runbook_url="https://runbooks.example.com/{{ $labels.x }}"),
     "service.runbook_url", "is not a valid URL", "percent-encode spaces, quotes, braces"),
    ("alert-runbook-url-quote", lambda s: s["alerts"]["RecsysCoverageLow"].update(runbook_url='https://r.example.com/"x'),
     "alerts.RecsysCoverageLow.runbook_url", "is not a valid URL", "percent-encode"),
    ("grafana-url-trailing-slash", lambda s: s["service"].update(grafana_url="https://grafana.example.com/"),
     "service.grafana_url", "is not a valid URL", "without a trailing /"),
    ("receiver-url-lone-percent", lambda s: s["routing"]["receivers"]["oncall-page"].update(url="http://pager/a%zz"),
     "routing.receivers.oncall-page.url", "`http://pager/a%zz` is not a valid URL without credentials",
     "a lone %"),
    ("receiver-url-unclosed-ipv6", lambda s: s["routing"]["kill_switch_webhook"].update(url="http://[::1/kill"),
     "routing.kill_switch_webhook.url", "is not a valid URL without credentials", "http(s)://host[:port]/path"),
    ("enum-norway", lambda s: s["attributes"]["region"]["enum"].append(False),
     "attributes.region.enum[4]", "expected a name, got a boolean (False)", "YAML reads unquoted yes, no"),
    ("where-value-octal", lambda s: s["indicators"]["errors"]["numerator"].update(where={"severity": [8]}),
     "indicators.errors.numerator.where.severity[0]", "expected a name, got a number (8)", "quote it"),
    ("kubernetes-label-yes", lambda s: s.update(kubernetes={"labels": {"team": True, "tier": 8}}),
     "kubernetes.labels.team", "expected a label value, got a boolean (True)", "quote it"),
    ("group-by-not-a-label-name", lambda s: s["routing"].update(group_by=["alertname", "http.route"]),
     "routing.group_by[1]", "`http.route` is not a Prometheus label name", "the label of `http.route` is `http_route`"),
    ("group-by-every-label-and-others", lambda s: s["routing"].update(group_by=["alertname", "..."]),
     "routing.group_by[1]", "`...` (every label) cannot be listed with other labels", "write `[...]` alone"),
    ("slack-channel-template", lambda s: s["routing"]["receivers"].update(
        chat={"slack": {"api_url_file": "/etc/alertmanager/secrets/slack", "channel": "#alerts-{{.Foo"}}),
     "routing.receivers.chat.slack.channel", "starts an Alertmanager template", "remove the braces"),
    ("email-to-template", lambda s: s["routing"]["receivers"].update(
        mail={"email": {"to": "{{.x}}@example.com", "from": "am@example.com", "smarthost": "smtp:25"}}),
     "routing.receivers.mail.email.to", "starts an Alertmanager template", "remove the braces"),
    ("pattern-lookahead", lambda s: s["attributes"]["locale"].update(pattern="^(?!xx)[a-z]{2}-[A-Z]{2}$"),
     "attributes.locale.pattern", "`(?!` in `^(?!xx)[a-z]{2}-[A-Z]{2}$` is Python-only", "use no lookarounds"),
    ("pattern-backreference", lambda s: s["attributes"]["locale"].update(pattern=r"^([a-z])\1$"),
     "attributes.locale.pattern", "`\\1` in", "back-references"),
    ("pattern-possessive", lambda s: s["attributes"]["locale"].update(pattern="^[a-z]++$"),
     "attributes.locale.pattern", "`++` in", "possessive quantifiers"),
    ("simulation-template-a-gigabyte-wide", lambda s: s["simulation"]["populations"]["title"]["id"].update(
        template="tt{n:0999999999d}"),
     "simulation.populations.title.id.template", "the format spec `0999999999d` is too wide",
     "use widths and precisions up to 64"),
    ("simulation-template-nested-width", lambda s: s["simulation"]["populations"]["title"]["id"].update(
        template="tt{n:{seed}}"),
     "simulation.populations.title.id.template", "the format spec `{seed}` is too wide", "no nested fields"),
    ("simulation-field-template-lone-brace", lambda s: s["simulation"]["steps"][0]["fields"]["message"].update(
        template="upstream {"),
     "simulation.steps[0].fields.message.template", "the template does not format (Single '{'",
     "double a literal brace"),
    ("quality-template-a-gigabyte-wide", lambda s: s["data_quality"]["report"]["values"].update(
        message="{event:>999999999}"),
     "data_quality.report.values.message", "the format spec `>999999999` is too wide", "up to 64"),
    ("service-name-newline-and-bidi", lambda s: s["service"].update(name="a\nb\u202ec"),
     "service.name", "`a\\nb\\u202ec` is not a valid service name", "use a value matching"),
]

SPEC_LINES = DEFAULT_TEXT.splitlines(keepends=True)


def _with_line(after: str, line: str) -> str:
    """The built-in spec with ``line`` inserted after the first line that starts with ``after``."""
    i = next(i for i, text in enumerate(SPEC_LINES) if text.startswith(after))
    return "".join(SPEC_LINES[:i + 1] + [line] + SPEC_LINES[i + 1:])


FIXED_TEXT_CASES: list[tuple[str, str, str, str, str]] = [
    ("threshold-infinite", DEFAULT_TEXT.replace("    threshold: 0.01\n", "    threshold: .inf\n", 1),
     "alerts.RecsysErrorRateHigh.threshold", "`.inf` is not a finite number", "write a finite number"),
    ("example-nan", DEFAULT_TEXT.replace("      k: 20\n", "      k: .nan\n", 1),
     "events.request.example.k", "`.nan` is not a finite number", "write a finite number"),
    ("bucket-negative-infinity", DEFAULT_TEXT.replace("buckets: [5, 10,", "buckets: [-.inf, 5, 10,", 1),
     "events.ranking.metrics[0].buckets[0]", "`-.inf` is not a finite number", "write a finite number"),
    ("python-object-tag", DEFAULT_TEXT.replace("version: 1\n", "version: !!python/object/apply:os.system [ls]\n", 1),
     "version", "YAML tag `!!python/object/apply:os.system` is not supported", "remove the tag"),
    ("merge-key", _with_line("  RecsysCoverageLow:", "    <<: {for: 5m}\n"),
     "alerts.RecsysCoverageLow.<<", "YAML merge keys (`<<: *anchor`) are not supported", "write the keys out"),
    ("duplicate-event", _with_line("events:", "  ranking: {description: again}\n"),
     "events.ranking", "duplicate key", "remove one of the two entries"),
    ("non-string-key", DEFAULT_TEXT + "1: one\n", "(top level)", "key `1` is not a string", "quote the key"),
    ("top-level-a-list", "- version: 1\n", "(top level)", "expected a mapping, got a list", "write it as `key: value`"),
    ("tab-indentation", DEFAULT_TEXT.replace("  name: movie-recommender", "\tname: movie-recommender", 1),
     "(top level)", "YAML syntax error", "fix the YAML syntax at this line"),
    ("two-documents", DEFAULT_TEXT + "---\nversion: 1\n",
     "(top level)", "the file holds more than one YAML document", "keep one spec per file"),
    ("alias-bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)),
     "(top level)", "expands to more than 50,000 values", "use fewer aliases"),
    ("deep-nesting", "".join("  " * i + f"k{i}:\n" for i in range(200)),
     "(top level)", "nested more than 64 levels deep", "flatten the structure"),
    ("integer-beyond-python-limit", DEFAULT_TEXT.replace("    threshold: 0.01\n", f"    threshold: {'9' * 5000}\n"),
     "alerts.RecsysErrorRateHigh.threshold", "cannot be read as int", "write a plain value"),
]

TEXT_CASES: list[tuple[str, str, str, str]] = [
    ("yaml-syntax-error", DEFAULT_TEXT.replace("  bucket: {type: string,", "  bucket: {type: [string,", 1),
     "(top level)", "YAML syntax error"),
    ("duplicate-key", DEFAULT_TEXT.replace("version: 1\n", "version: 1\nversion: 1\n", 1), "version",
     "duplicate key"),
    ("empty-file", "", "(top level)", "expected a mapping"),
]


def run_bad(tmp_path: Path, text: str) -> tuple[int, list[str], Path]:
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", str(spec), "--out", str(out)])
    return result.exit_code, result.stderr.splitlines(), out


def assert_reported(tmp_path: Path, text: str, path: str, words: str) -> None:
    code, lines, out = run_bad(tmp_path, text)
    assert code == 2
    errors = [ERROR_LINE.match(line) for line in lines[:-1]]
    assert errors and all(errors), lines
    assert lines[-1].endswith("nothing was written.")
    assert any(e["path"] == path and words in e["problem"] for e in errors if e), lines
    assert not out.exists(), "a bad spec must not write anything"


@pytest.mark.parametrize("case_id,mutate,path,words", CASES, ids=[c[0] for c in CASES])
def test_bad_spec_is_reported(tmp_path: Path, case_id: str, mutate: Mutation, path: str, words: str) -> None:
    spec = copy.deepcopy(DEFAULT)
    mutate(spec)
    assert_reported(tmp_path, yaml.safe_dump(spec, sort_keys=False), path, words)


@pytest.mark.parametrize("case_id,text,path,words", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_bad_spec_text_is_reported(tmp_path: Path, case_id: str, text: str, path: str, words: str) -> None:
    assert_reported(tmp_path, text, path, words)


def assert_fixed(tmp_path: Path, text: str, path: str, problem: str, fix: str) -> None:
    code, lines, out = run_bad(tmp_path, text)
    assert code == 2, lines
    assert not any("Traceback" in line for line in lines)
    errors = [ERROR_LINE.match(line) for line in lines[:-1]]
    assert errors and all(errors), lines
    assert len(set(lines)) == len(lines), "one error per problem"
    assert any(e["path"] == path and problem in e["problem"] and fix in e["fix"] for e in errors if e), lines
    assert not out.exists(), "a bad spec must not write anything"


@pytest.mark.parametrize("case_id,mutate,path,problem,fix", FIXED_CASES, ids=[c[0] for c in FIXED_CASES])
def test_input_that_once_crashed_is_reported_with_path_and_fix(tmp_path: Path, case_id: str, mutate: Mutation,
                                                               path: str, problem: str, fix: str) -> None:
    spec = copy.deepcopy(DEFAULT)
    mutate(spec)
    assert_fixed(tmp_path, yaml.safe_dump(spec, sort_keys=False), path, problem, fix)


@pytest.mark.parametrize("case_id,text,path,problem,fix", FIXED_TEXT_CASES, ids=[c[0] for c in FIXED_TEXT_CASES])
def test_yaml_that_once_crashed_is_reported_with_path_and_fix(tmp_path: Path, case_id: str, text: str, path: str,
                                                              problem: str, fix: str) -> None:
    assert_fixed(tmp_path, text, path, problem, fix)


def test_there_are_at_least_40_distinct_bad_specs_with_fix_hints() -> None:
    assert len({c[0] for c in FIXED_CASES} | {c[0] for c in FIXED_TEXT_CASES}) >= 40
    assert len({c[0] for c in CASES} | {c[0] for c in TEXT_CASES}) >= 25


def test_error_line_points_at_the_offending_line(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace("labels: [bucket, cohort, user_state, region, surface]",
                                "labels: [bucket, cohort, user_state, region, surface, user_id]", 1)
    code, lines, _ = run_bad(tmp_path, text)
    assert code == 2
    line_no = next(i for i, line in enumerate(text.splitlines(), 1) if "surface, user_id]" in line)
    assert lines[0].startswith(f"{tmp_path / 'bad.yaml'}:{line_no}: events.request.metrics[0].labels[5]: ")


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    spec = copy.deepcopy(DEFAULT)
    spec["alerts"]["RecsysCoverageLow"]["severity"] = "P9"
    spec["attributes"]["region"]["pii"] = "secret"
    spec["routing"]["severities"].pop("P3")
    code, lines, _ = run_bad(tmp_path, yaml.safe_dump(spec, sort_keys=False))
    assert code == 2
    assert len(lines) == 4  # three errors and the summary


def test_missing_spec_file_is_reported_in_the_same_form(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2
    assert ERROR_LINE.match(result.stderr.splitlines()[0])


def test_structural_reference_and_contract_errors_come_in_one_run(tmp_path: Path) -> None:
    spec = copy.deepcopy(DEFAULT)
    spec["alerts"]["RecsysCoverageLow"]["severity"] = "P9"  # structure
    spec["slos"]["error_rate"]["indicator"] = "error_ratio"  # reference
    tile = spec["dashboards"]["health"]["tiles"][0]
    tile["queries"][1]["expr"] = tile["queries"][1]["expr"].replace("duration_milliseconds", "duraton_milliseconds")
    code, lines, _ = run_bad(tmp_path, yaml.safe_dump(spec, sort_keys=False))
    assert code == 2
    paths = [m["path"] for line in lines[:-1] if (m := ERROR_LINE.match(line))]
    assert paths == ["slos.error_rate.indicator", "alerts.RecsysCoverageLow.severity",
                     "dashboards.health.tiles[0].queries[1].expr"], lines


def test_an_error_inside_a_multi_line_query_names_the_line_of_the_offending_token(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace('duration_milliseconds_bucket{shadow!="true", bucket=~"$bucket"}',
                                'duration_milliseconds_bucket{shadow!="true", buckt=~"$bucket"}', 1)
    code, lines, _ = run_bad(tmp_path, text)
    assert code == 2
    token_line = next(i for i, line in enumerate(text.splitlines(), 1) if "buckt=~" in line)
    assert text.splitlines()[token_line - 2].strip() == "- expr: |-", "the token is on the block's first line"
    assert lines[0].startswith(f"{tmp_path / 'bad.yaml'}:{token_line}: dashboards.health.tiles[0].queries[1].expr: ")
    assert "has no label `buckt`" in lines[0]


def test_an_undeclared_slice_inside_a_multi_line_query_names_its_line(tmp_path: Path) -> None:
    text = DEFAULT_TEXT.replace('bucket=~"$bucket"}[$__rate', 'bucket=~"$buckets"}[$__rate', 1)
    code, lines, _ = run_bad(tmp_path, text)
    assert code == 2
    token_line = next(i for i, line in enumerate(text.splitlines(), 1) if "$buckets" in line)
    assert lines[0].startswith(f"{tmp_path / 'bad.yaml'}:{token_line}: "), lines
    assert "`$buckets` is not a variable of this dashboard" in lines[0]
    assert "did you mean `$bucket`?" in lines[0]


def test_a_name_declared_with_errors_is_not_reported_again_where_it_is_used(tmp_path: Path) -> None:
    spec = copy.deepcopy(DEFAULT)
    spec["indicators"]["coverage"]["kind"] = "average"  # alerts, SLOs and tiles read `coverage`
    spec["events"]["click"] = "a click"  # indicators, tiles and the joins read its metrics and fields
    code, lines, _ = run_bad(tmp_path, yaml.safe_dump(spec, sort_keys=False))
    assert code == 2
    paths = [m["path"] for line in lines[:-1] if (m := ERROR_LINE.match(line))]
    assert "indicators.coverage.kind" in paths and "events.click" in paths
    assert not [p for p in paths if p.startswith(("alerts.", "slos.", "dashboards."))], lines


def test_every_message_reads_as_english(tmp_path: Path) -> None:
    """Messages built from a section name and a noun once read "is not a declared dashboards tiles"."""
    spec = copy.deepcopy(DEFAULT)
    spec["alerts"]["RecsysErrorRateHigh"]["dashboard_tile"] = "health/nope"
    spec["alerts"]["RecsysErrorRateHigh"]["kill_switch"] = "reboot"
    spec["slos"]["error_rate"]["indicator"] = "error_ratio"
    _, lines, _ = run_bad(tmp_path, yaml.safe_dump(spec, sort_keys=False))
    text = "\n".join(lines)
    assert "`health/nope` is not a tile of the spec's dashboards" in text
    assert "`reboot` is not a kill-switch declared under `kill_switches`" in text
    assert "`error_ratio` is not an indicator declared under `indicators`" in text
    assert not re.search(r"a declared \w+s\b|declared dashboards tiles|\{'|\['", text), text
