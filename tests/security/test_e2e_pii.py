"""Through the real collector into Loki and Prometheus: an application putting raw ids in free text,
exception messages and object attributes leaves none of them (nor their plain hashes) in what Loki returns
or in any Prometheus series. The committed stack configs, on loopback (tests/support/stack.py)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from obsgen.model import Model
from obsgen.runtime import RuntimeConfig, Telemetry

from tests.security.test_pii_scan import RAW_VALUES, leaky_traffic
from tests.support.stack import ROOT, Collector, Loki, Prometheus, started, wait_for
from tests.test_runtime_harness import PII_KEY, Harness


def needles() -> list[str]:
    out = []
    for raw in RAW_VALUES:
        data = raw.encode()
        out += [raw.lower(), hashlib.sha256(data).hexdigest(), hashlib.md5(data, usedforsecurity=False).hexdigest()]
    return out


def test_no_raw_id_reaches_loki_or_prometheus(model: Model, tmp_path: Path) -> None:
    counted = Harness(model)
    try:
        leaky_traffic(counted.rt)
        expected = len(counted.logs())  # every log record of the run must be in Loki before it is scanned
    finally:
        counted.close()
    loki = Loki(tmp_path)
    collector = Collector(tmp_path, loki.port)
    prometheus = Prometheus(tmp_path, collector, None, loki.port, [], root=ROOT)
    with started(loki, collector, prometheus, timeout=60):
        instance = f"pii-e2e-{time.time_ns()}"
        since = time.time_ns()
        rt = Telemetry(model, RuntimeConfig(pii_key=PII_KEY, endpoint=collector.endpoint, service_instance_id=instance,
                                            metric_export_interval_s=1.0, schedule_delay_s=0.2))
        try:
            leaky_traffic(rt)
            assert rt.force_flush(10)
        finally:
            rt.shutdown(5)
        query = f'{{service_name="{model.service.name}"}} | service_instance_id="{instance}"'

        def arrived() -> list[tuple[dict[str, str], str]] | None:
            found = loki.entries(query, since, time.time_ns() + 60 * 10**9)
            return found if len(found) >= expected else None

        entries = wait_for(arrived, 20, f"the run's {expected} log lines in Loki")
        wait_for(lambda: prometheus.query(f'{{instance="{instance}"}}'), 20, "the run's series in Prometheus")
        loki_text = [v.lower() for labels, line in entries for v in (*labels.values(), line)]
        prom_text = [v.lower() for label in prometheus.api("labels")
                     for v in prometheus.api(f"label/{label}/values")]
    assert len(entries) == expected > 20 and len(prom_text) > 20
    leaks = [(where, n) for where, texts in (("loki", loki_text), ("prometheus", prom_text))
             for n in needles() for t in texts if n in t]
    assert not leaks
    assert any("<user_id>" in t for t in loki_text), "the scrubbed messages did arrive"

