"""Kill-switch client: in-process flags named by the spec, set from code or a watched JSON file."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from obsgen.model import Model
from obsgen.runtime import KillSwitchState

from tests.test_runtime_harness import Harness


def wait_for(condition: object, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def test_the_runtime_knows_the_spec_kill_switches_all_off_at_start(model: Model) -> None:
    h = Harness(model)
    try:
        assert set(h.rt.kill_switches.names) == set(model.kill_switches)
        assert not any(h.rt.is_active(name) for name in model.kill_switches)
        h.rt.kill_switches.set("disable_experiment", True)
        assert h.rt.is_active("disable_experiment") and not h.rt.is_active("disable_cache")
    finally:
        h.close()


def test_an_unknown_kill_switch_is_an_error_not_off(model: Model) -> None:
    state = KillSwitchState(model.kill_switches)
    with pytest.raises(KeyError, match="disable_experiment"):
        state.is_active("disable_experimnet")
    with pytest.raises(KeyError):
        state.set("nope", True)


def test_an_update_changes_several_switches_at_once(model: Model) -> None:
    state = KillSwitchState(model.kill_switches)
    seen: list[tuple[bool, bool]] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            snap = state.snapshot()
            seen.append((snap["disable_cache"], snap["use_cached_recommendations"]))

    t = threading.Thread(target=reader)
    t.start()
    for _ in range(200):
        state.update({"disable_cache": True, "use_cached_recommendations": True})
        state.update({"disable_cache": False, "use_cached_recommendations": False})
    stop.set()
    t.join()
    assert set(seen) <= {(True, True), (False, False)}


def test_a_watched_file_is_applied_at_once_and_re_read_when_it_changes(model: Model, tmp_path: Path) -> None:
    path = tmp_path / "killswitches.json"
    path.write_text(json.dumps({"use_cached_recommendations": True}))
    state = KillSwitchState(model.kill_switches)
    state.watch_file(path, interval_s=0.05)
    try:
        assert state.is_active("use_cached_recommendations")  # read before watch_file returns
        path.write_text(json.dumps({"use_cached_recommendations": False, "pause_experiment": True,
                                    "from_a_newer_spec": True}))
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
        assert wait_for(lambda: state.is_active("pause_experiment"))
        assert not state.is_active("use_cached_recommendations")
        path.write_text("{not json")  # a broken write keeps the last good state
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 2_000_000))
        time.sleep(0.2)
        assert state.is_active("pause_experiment")
    finally:
        state.stop()


def test_a_missing_file_leaves_the_switches_as_they_are(model: Model, tmp_path: Path) -> None:
    state = KillSwitchState(model.kill_switches)
    state.set("disable_cache", True)
    state.watch_file(tmp_path / "absent.json", interval_s=0.05)
    try:
        time.sleep(0.1)
        assert state.is_active("disable_cache")
    finally:
        state.stop()


def test_a_shared_state_can_be_given_to_the_runtime(model: Model) -> None:
    state = KillSwitchState(model.kill_switches)
    h = Harness(model, kill_switches=state)
    try:
        state.set("disable_experiment", True)
        assert h.rt.is_active("disable_experiment")
    finally:
        h.close()
