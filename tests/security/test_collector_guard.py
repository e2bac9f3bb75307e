"""The collector's PII guard with the real collector (issue 10 part 4): every spelling, alias and place of a
high-PII key — resource attributes, span events, nested maps, string and map log bodies — leaves it only
as a pseudonym or not at all, and what it removed is counted."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from obsgen.emit.render import Services
from obsgen.emit.stack import collector

from tests.support.specs import SpecCase
from tests.support.stack import Service, free_ports, http, locate, wait_for

RAW = "raw-alice-4242"
RAW_TEXT = "sess-ALICE-77"
HASHED = "ab" * 32
MARKER = "guard-" + uuid.uuid4().hex[:8]


def s(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def kv(key: str, *values: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "value": {"kvlistValue": {"values": list(values)}}}


def spellings(name: str) -> list[str]:
    """Other spellings of a high-PII attribute (``user_id`` → ``User_Id``, ``userId``, ``user.id``, ``USER-ID``)
    and its semantic-convention aliases."""
    words = re.split(r"[._-]", name)
    forms = ["_".join(w.capitalize() for w in words), words[0] + "".join(w.capitalize() for w in words[1:]),
             ".".join(words), "-".join(words).upper()]
    return sorted({*forms, *collector.SEMCONV_ALIASES.get("_".join(words), ())} - {name})


@dataclass(frozen=True)
class Hostile:
    name: str
    """The spec's high-PII attribute the payloads hide raw values of."""

    @property
    def other(self) -> str:
        """Another spelling of the name."""
        return spellings(self.name)[0]

    def attributes(self) -> list[dict[str, Any]]:
        """Every way a raw id can hide in an attribute map; the spec's own key holds a pseudonym (kept)."""
        words = re.split(r"[._-]", self.name)
        return [
            *(s(form, RAW) for form in spellings(self.name)), s(self.name, HASHED),
            kv("filters", kv("owner", s(self.other, RAW), s("team", "ok")), s("sort", "asc")),
            s("note", f"lookup failed for {self.name}={RAW} {'.'.join(w.title() for w in words)}: {RAW_TEXT}"),
            s("payload", json.dumps({self.other: RAW, "q": "x"})),
            {"key": "attempts", "value": {"intValue": "3"}},
            s("marker", MARKER),
        ]

    def resource(self) -> dict[str, Any]:
        return {"attributes": [s("service.name", "guard-test"), *(s(form, RAW) for form in spellings(self.name))]}

    def payloads(self) -> dict[str, dict[str, Any]]:
        now = time.time_ns()
        dotted = ".".join(re.split(r"[._-]", self.name))
        span = {"traceId": uuid.uuid4().hex, "spanId": uuid.uuid4().hex[:16], "name": "guarded", "kind": 2,
                "startTimeUnixNano": str(now - 1000), "endTimeUnixNano": str(now), "attributes": self.attributes(),
                "events": [{"timeUnixNano": str(now), "name": "exception",
                            "attributes": [s("exception.message", f"no profile for {dotted}={RAW}"),
                                           s(dotted, RAW), s("marker", MARKER)]}]}
        logs = [{"timeUnixNano": str(now), "attributes": self.attributes(),
                 "body": {"stringValue": f'login {self.name}={RAW} "{self.other}": "{RAW_TEXT}"'}},
                {"timeUnixNano": str(now), "body": {"kvlistValue": {"values": [
                    s(self.other, RAW), kv("ctx", s(dotted, RAW)), s("msg", f"{dotted}: {RAW}")]}},
                 "attributes": [s("marker", MARKER)]},
                {"timeUnixNano": str(now), "body": {"stringValue": "request"},
                 "attributes": [s(self.name, HASHED), s("clean", "yes"), s("marker", MARKER)]}]
        point = {"timeUnixNano": str(now), "startTimeUnixNano": str(now - 10**9), "asInt": "1",
                 "attributes": [s(self.other, RAW), s(dotted, RAW), s("marker", MARKER)]}
        return {
            "traces": {"resourceSpans": [{"resource": self.resource(), "scopeSpans": [{"spans": [span]}]}]},
            "logs": {"resourceLogs": [{"resource": self.resource(), "scopeLogs": [{"logRecords": logs}]}]},
            "metrics": {"resourceMetrics": [{"resource": self.resource(), "scopeMetrics": [{"metrics": [
                {"name": "guard_test", "sum": {"aggregationTemporality": 2, "isMonotonic": True,
                                               "dataPoints": [point]}}]}]}]},
        }


@pytest.fixture(scope="module")
def hostile(spec_case: SpecCase) -> Hostile:
    return Hostile(collector.pii_attributes(Services((spec_case.model,)))[-1])


@pytest.fixture(scope="module")
def exported(spec_tree: Path, hostile: Hostile, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """What the generated collector config (processors unchanged, every exporter replaced by a file) exports."""
    work = tmp_path_factory.mktemp("guard")
    config = yaml.safe_load((spec_tree / collector.COLLECTOR_FILE).read_text())
    config["exporters"] = {f"file/{signal}": {"path": str(work / f"{signal}.json")}
                           for signal in ("traces", "metrics", "logs")}
    pipelines = config["service"]["pipelines"]
    config["service"]["pipelines"] = {signal: {**pipelines[signal], "exporters": [f"file/{signal}"]}
                                      for signal in ("traces", "metrics", "logs")}
    grpc, http_port, prom, health, telemetry = free_ports(5)
    env = {"OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc}", "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
           "OTELCOL_PROMETHEUS_ENDPOINT": f"127.0.0.1:{prom}", "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{health}",
           "OTELCOL_TELEMETRY_HOST": "127.0.0.1", "OTELCOL_TELEMETRY_PORT": str(telemetry)}
    path = work / "collector.yaml"
    path.write_text(yaml.safe_dump(config))
    service = Service("otelcol-obsgen", [locate("otelcol-obsgen"), f"--config={path}"], work / "otelcol.log",
                      f"http://127.0.0.1:{health}/", env).start()
    try:
        for signal, payload in hostile.payloads().items():
            status, body = http(f"http://127.0.0.1:{http_port}/v1/{signal}", json.dumps(payload).encode(),
                                {"Content-Type": "application/json"})
            assert status == 200, body

        def written() -> dict[str, str] | None:
            out = {sig: (work / f"{sig}.json").read_text() if (work / f"{sig}.json").exists() else ""
                   for sig in ("traces", "metrics", "logs")}
            return out if all(MARKER in text for text in out.values()) else None

        yield wait_for(written, 30, "the file exporters")
    finally:
        service.stop()


@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_no_raw_id_leaves_the_collector(exported: dict[str, str], signal: str) -> None:
    text = exported[signal]
    assert RAW not in text and RAW_TEXT not in text, text


@pytest.mark.parametrize("signal", ["traces", "logs"])
def test_the_pseudonymised_key_and_harmless_data_are_kept(exported: dict[str, str], hostile: Hostile,
                                                         signal: str) -> None:
    text = exported[signal]
    assert f'{{"key":"{hostile.name}","value":{{"stringValue":"{HASHED}"}}}}' in text, "a pseudonym passes"
    assert '"attempts"' in text and '"filters.sort"' in text and '"filters.owner.team"' in text
    assert f"lookup failed for {hostile.name}=[redacted]" in text


@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_what_the_guard_removed_is_counted(exported: dict[str, str], signal: str) -> None:
    counts = [int(a["value"]["intValue"]) for a in attributes(json.loads(exported[signal].splitlines()[0]))
              if a["key"] == collector.GUARD_COUNT_ATTRIBUTE]
    assert counts and all(c > 0 for c in counts), counts
    if signal == "traces":
        assert max(counts) >= 6, counts  # the span: 4 spellings, the nested key, redacted text


def attributes(node: Any) -> Iterator[dict[str, Any]]:
    """Every attribute entry anywhere in an OTLP/JSON document."""
    if isinstance(node, dict):
        if "key" in node and "value" in node:
            yield node
        for value in node.values():
            yield from attributes(value)
    elif isinstance(node, list):
        for item in node:
            yield from attributes(item)



def test_a_clean_record_is_left_alone_and_not_counted(exported: dict[str, str], hostile: Hostile) -> None:
    records = [r for line in exported["logs"].splitlines() for rl in json.loads(line)["resourceLogs"]
               for sl in rl["scopeLogs"] for r in sl["logRecords"]]
    clean = next(r for r in records if any(a["key"] == "clean" for a in r["attributes"]))
    assert clean["body"] == {"stringValue": "request"}
    assert {a["key"]: a["value"] for a in clean["attributes"]} == {
        hostile.name: {"stringValue": HASHED}, "clean": {"stringValue": "yes"}, "marker": {"stringValue": MARKER}}
