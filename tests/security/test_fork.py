"""Pre-fork servers (gunicorn/uWSGI with preload): each worker sees kill-switches, exports under its own
``service.instance.id`` and starts from zero, never re-exporting the parent's counts."""

from __future__ import annotations

import json
import multiprocessing
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from obsgen.model import Model

from tests.test_runtime_harness import Harness

SWITCH = "disable_experiment"
REQUEST = {"user_id": "user-1", "experiment_id": "ranker-v2", "bucket": "control", "k": 3}


def _requests_counted(h: Harness) -> float:
    return sum(p.value for p in h.points("recsys.requests"))


def _worker(h: Harness, go: Event, results: Queue[dict[str, Any]]) -> None:
    """Runs in a forked child: wait for the switch the parent turns on after the fork, then emit and report."""
    go.wait(10)
    deadline = time.monotonic() + 10
    while not h.rt.is_active(SWITCH) and time.monotonic() < deadline:
        time.sleep(0.02)
    h.rt.request(**REQUEST).end()
    spans = [s for s in h.spans() if s.name == "recommend.request"]
    results.put({"instance": h.rt.resource.attributes["service.instance.id"], "switch": h.rt.is_active(SWITCH),
                 "span_instances": sorted({s.resource.attributes["service.instance.id"] for s in spans[-1:]}),
                 "requests": _requests_counted(h)})


def test_forked_workers_see_switches_and_export_as_distinct_instances(model: Model, tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({SWITCH: False}))
    h = Harness(model)
    try:
        h.rt.kill_switches.watch_file(state_file, interval_s=0.05)
        for _ in range(3):
            h.rt.request(**REQUEST).end()
        parent_id = h.rt.resource.attributes["service.instance.id"]
        ctx = multiprocessing.get_context("fork")
        go, results = ctx.Event(), ctx.Queue()
        workers = [ctx.Process(target=_worker, args=(h, go, results)) for _ in range(2)]
        for w in workers:
            w.start()
        h.rt.kill_switches.set(SWITCH, True)
        assert h.rt.kill_switches.save_file(state_file)  # after the fork: only a watcher can tell the children
        go.set()
        seen = [results.get(timeout=30) for _ in workers]
        for w in workers:
            w.join(10)
        assert [w.exitcode for w in workers] == [0, 0]
    finally:
        h.rt.kill_switches.stop()
        h.close()
    assert all(r["switch"] for r in seen), "every worker's watcher runs and saw the switch"
    instances = [r["instance"] for r in seen]
    assert len({parent_id, *instances}) == 3 and all(i.startswith(f"{parent_id}-") for i in instances)
    assert [r["span_instances"] for r in seen] == [[i] for i in instances]
    assert [r["requests"] for r in seen] == [1, 1], "a worker counts its own requests, not the parent's three"
