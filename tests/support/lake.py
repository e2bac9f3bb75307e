"""Landing files as the collector's file exporter writes them, and a lake day whose rollups are known exactly.

``landing_file`` encodes events the way ``otel/collector.yaml``'s ``file/landing`` does (OTLP JSON, each
message zstd-compressed behind a 4-byte big-endian length): log records for logged events, spans for the
others, so ``obsgen lake ingest`` reads a test's file exactly as it reads the collector's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from obsgen.model import Model


def _any(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_any(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": _any(v)} for k, v in value.items()]}}
    return {"stringValue": str(value)}


def _attrs(fields: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any(v)} for k, v in fields.items()]


def landing_file(model: Model, events: list[tuple[str, dict[str, Any]]], per_message: int = 50,
                 compress: bool = True) -> bytes:
    by_name = {e.name: e for e in model.events}
    resource = {"attributes": _attrs({"service.name": model.service.name})}
    out = bytearray()
    for start in range(0, len(events), per_message):
        logs, spans = [], []
        for name, fields in events[start:start + per_message]:
            event = by_name[name]
            stamp = fields.get("timestamp_ms")  # the signal's time; a payload of a wrong type has none
            ts = str(int(stamp) * 1_000_000) if type(stamp) in (int, float) and abs(stamp) < 1e15 else "0"
            if event.log_severity:
                logs.append({"timeUnixNano": ts, "body": {"stringValue": name}, "eventName": name,
                             "attributes": _attrs({**fields, "event_name": name})})
            else:
                assert event.span is not None
                spans.append({"name": event.span.name, "startTimeUnixNano": ts, "endTimeUnixNano": ts,
                              "attributes": _attrs(fields)})
        messages = []
        if logs:
            messages.append({"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": logs}]}]})
        if spans:
            messages.append({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]})
        for message in messages:
            data = json.dumps(message).encode()
            if not compress:
                out += data + b"\n"
                continue
            frame = pa.compress(data, codec="zstd", asbytes=True)
            out += struct.pack(">I", len(frame)) + frame
    return bytes(out)


def write_landing(model: Model, landing: Path, name: str, events: list[tuple[str, dict[str, Any]]],
                  landed: dt.datetime) -> Path:
    """A landing file of ``events`` in the service's folder, its modification time ``landed``."""
    folder = landing / model.service.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(landing_file(model, events))
    stamp = landed.timestamp()
    import os

    os.utime(path, (stamp, stamp))
    return path


def ms(day: dt.date, second: int = 0) -> int:
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1000) + second * 1000


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def rid(n: int) -> str:
    return str(uuid.UUID(int=n, version=4))


@dataclass
class Truth:
    """A day of the built-in spec's events, chosen so every rollup below is known exactly."""

    day: dt.date
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


ARMS = {"control": (100, 10), "treatment": (100, 25)}
"""Per arm: requests, and how many of them get one engagement (on their first impression)."""
IMPRESSIONS_PER_REQUEST = 2
ERRORS = {"error": 3, "critical": 1, "warning": 4}


def truth_day(day: dt.date) -> Truth:
    truth = Truth(day)
    n = 0
    for arm, (requests, engaged) in ARMS.items():
        for i in range(requests):
            n += 1
            request_id, user, session = rid(n), sha(f"user{n}"), sha(f"session{n // 2}-{arm}")
            common = {"request_id": request_id, "user_id": user, "experiment_id": "exp-1", "bucket": arm}
            t = n * 60
            items = [f"tt{n:05d}", f"tt{n + 1:05d}", f"tt{n + 2:05d}"]
            latency = float(n)  # 1 … 200 ms: the quantiles are known exactly
            truth.latencies.append(latency)
            truth.events.append(("request", {**common, "session_id": session, "timestamp_ms": ms(day, t), "k": 3,
                                             "surface": "home", "user_state": "warm"}))
            truth.events.append(("ranking", {**common, "timestamp_ms": ms(day, t + 1), "k": 3, "latency_ms": latency,
                                             "coverage": 0.9, "algorithm": "hybrid", "items": items,
                                             "cache_result": "hit", "fallback": "none", "user_state": "warm",
                                             "data_age_s": 10.0}))
            for position in range(1, IMPRESSIONS_PER_REQUEST + 1):
                truth.events.append(("impression", {**common, "session_id": session, "timestamp_ms": ms(day, t + 2),
                                                    "canonical_id": items[position - 1], "position": position,
                                                    "surface": "home"}))
            if i < engaged:
                truth.events.append(("click", {**common, "session_id": session, "timestamp_ms": ms(day, t + 3),
                                               "canonical_id": items[0], "position": 1, "engagement_type": "click"}))
    # One orphan engagement: an item the request never showed.
    truth.events.append(("click", {"request_id": rid(1), "user_id": sha("user1"), "session_id": sha("session0-control"),
                                   "experiment_id": "exp-1", "bucket": "control", "timestamp_ms": ms(day, 100),
                                   "canonical_id": "tt99999", "position": 1, "engagement_type": "save"}))
    k = 0
    for severity, count in ERRORS.items():
        for _ in range(count):
            k += 1
            truth.events.append(("error", {"timestamp_ms": ms(day, 5000 + k), "component": "ranker",
                                           "severity": severity, "error_code": "RANKER_TIMEOUT",
                                           "message": "timed out", "bucket": "treatment"}))
    return truth
