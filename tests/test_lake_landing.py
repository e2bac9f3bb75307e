"""The landing path end to end: ``obsgen simulate`` → runtime → the real collector (the generated
``otel/collector.yaml``, its ``file/landing`` exporter) → landing files → ``obsgen lake ingest`` → rollups.

Every event the simulation reports sent is in its partition exactly once; ingesting again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from obsgen.generate import load
from obsgen.lake import rollup
from obsgen.lake.ingest import Ingest
from obsgen.lake.layout import Lake

from tests.support.stack import Collector, free_ports, locate, obsgen


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """A short simulated run through the real collector, stopped (flushed) afterwards: landing dir, events sent."""
    locate("otelcol-obsgen")
    work = tmp_path_factory.mktemp("landing")
    collector = Collector(work, loki_port=free_ports(1)[0])  # no Loki: the landing path does not need it
    collector.start()
    try:
        summary = work / "summary.json"
        result = subprocess.run(obsgen("simulate", "--dev", "--start", "20:00", "--minutes", "60", "--no-pacing",
                                       "--rate", "20", "--export-interval", "1", "--endpoint", collector.endpoint,
                                       "--json", str(summary)), capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    finally:
        collector.stop()  # SIGTERM: the file exporter flushes and closes its files
    sent = json.loads(summary.read_text())["events"]
    assert sum(sent.values()) > 100
    return collector.landing, sent


def test_every_simulated_event_lands_in_its_partition_once(landed: tuple[Path, dict[str, int]],
                                                          tmp_path: Path) -> None:
    landing, sent = landed
    model = load(None)
    files = list((landing / model.service.name).iterdir())
    assert files and all(not f.read_bytes().startswith(b"{") for f in files)  # zstd frames, not plain JSON
    lake = Lake.at(str(tmp_path / "lake"))
    summary = Ingest(model, lake).run(str(landing))
    assert dict(summary.ingested) == sent
    assert not summary.quarantined and not summary.late
    for event, count in sent.items():
        assert pq.read_table(lake.path("events", f"event_type={event}")).num_rows == count
    again = Ingest(model, lake).run(str(landing))
    assert again.files_read == 0 and not sum(again.ingested.values())
    done = rollup.run(model, lake, "day")
    assert [start for start, _ in done] == sorted(dt.date.fromisoformat(d) for d in summary.stale_dates)
    totals = {(r["indicator"], r["slice"], r["measure"]): r["value"] for r in rollup.read(lake, "day", done[-1][0])}
    assert totals[("traffic_allocation", "bucket", "count")] is not None
