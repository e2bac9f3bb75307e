"""Kill-switch state files: readable by an application running as another user, written whole, and failing
closed when corrupt (the last good state kept, the file never overwritten, the problem logged and counted)."""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from obsgen.model import Model
from obsgen.runtime import STATE_ERRORS_METRIC, KillSwitchState
from obsgen.runtime.killswitch import StateFileError, read_state_file
from obsgen.runtime.killswitch_receiver import KillSwitchReceiver, alert_switches
from obsgen.runtime.state import write_atomic

from tests.test_runtime_harness import Harness

SWITCH = "disable_experiment"
NOBODY = 65534


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's tmp_path is 0700, root's own)."""
    path = Path(tempfile.mkdtemp(prefix="obsgen-state-"))
    path.chmod(0o755)
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def test_state_files_are_written_with_an_explicit_mode_whatever_the_umask(shared_dir: Path, model: Model) -> None:
    state = KillSwitchState(model.kill_switches)
    state.set(SWITCH, True)
    old = os.umask(0o077)
    try:
        assert state.save_file(shared_dir / "state.json")
        assert state.save_file(shared_dir / "narrow.json", mode=0o640)
    finally:
        os.umask(old)
    mode = stat.S_IMODE((shared_dir / "state.json").stat().st_mode)
    assert mode == 0o644 and mode & stat.S_IRGRP and mode & stat.S_IROTH
    assert stat.S_IMODE((shared_dir / "narrow.json").stat().st_mode) == 0o640
    assert json.loads((shared_dir / "state.json").read_text())[SWITCH] is True
    assert [p.name for p in shared_dir.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_writes_are_fsynced_and_atomic(shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[bool] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = shared_dir / "state.json"
    write_atomic(target, b"{}")
    inode = target.stat().st_ino
    write_atomic(target, b'{"a": true}')
    assert synced == [False, True, False, True]  # the file, then its directory, each time
    assert target.stat().st_ino != inode  # replaced by rename, never rewritten in place


def _read_as(uid: int, path: Path, names: tuple[str, ...]) -> str:
    """Load ``path`` into a fresh state in a forked child running as ``uid``; what the child saw."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_end)
            os.setgid(uid)
            os.setuid(uid)
            state = KillSwitchState(names)
            verdict = "on" if state.load_file(path) and state.is_active(SWITCH) else "not applied"
            os.write(write_end, verdict.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        seen = pipe.read()
    os.waitpid(pid, 0)
    return seen


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another user needs root (CI runs as root)")
def test_an_application_running_as_another_user_reads_the_switches(shared_dir: Path, model: Model) -> None:
    writer = KillSwitchState(model.kill_switches)
    writer.set(SWITCH, True)
    assert writer.save_file(shared_dir / "state.json")
    assert _read_as(NOBODY, shared_dir / "state.json", model.kill_switches) == "on"
    assert writer.save_file(shared_dir / "private.json", mode=0o600)  # what mkstemp used to make
    assert _read_as(NOBODY, shared_dir / "private.json", model.kill_switches) == "not applied"


@pytest.mark.parametrize("content", [b'{"disable_experiment": tr', b"", b"\xff\xfe", b'["disable_experiment"]',
                                     b'{"disable_experiment": "yes"}', b"[" * 100_000],
                         ids=["truncated", "empty", "not-utf8", "a-list", "not-a-boolean", "nested-100000-deep"])
def test_a_corrupt_file_keeps_the_last_good_state_and_is_never_overwritten(
        tmp_path: Path, model: Model, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.json"
    state = KillSwitchState(model.kill_switches)
    path.write_text(json.dumps({SWITCH: True}))
    assert state.load_file(path) and state.is_active(SWITCH)
    path.write_bytes(content)
    with caplog.at_level("ERROR", logger="obsgen.runtime"):
        assert not state.load_file(path)
        assert not state.load_file(path)  # polled again: logged and counted once per version of the file
    assert state.is_active(SWITCH), "the last good state stays in memory"
    assert state.file_errors == 1 and caplog.text.count("last good state is kept") == 1
    state.set(SWITCH, False)
    assert not state.save_file(path)
    assert path.read_bytes() == content, "a corrupt file may hold switches that are on: never overwritten"


def test_the_watcher_outlives_a_deeply_nested_file_and_applies_the_next_good_one(tmp_path: Path, model: Model) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"[" * 100_000)  # json.loads raises RecursionError on it, not ValueError
    state = KillSwitchState(model.kill_switches)
    state.watch_file(path, interval_s=0.02)  # must not raise into the application
    try:
        assert state.file_errors == 1 and not state.is_active(SWITCH)
        write_atomic(path, json.dumps({SWITCH: True}).encode(), 0o644)
        assert _eventually(lambda: state.is_active(SWITCH)), "the watcher died on the corrupt file"
    finally:
        state.stop()


def test_a_fifo_as_state_file_is_refused_without_blocking(tmp_path: Path, model: Model) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "state.json").symlink_to(fifo)
    state = KillSwitchState(model.kill_switches)
    for path in (fifo, tmp_path / "state.json"):
        started = threading.Thread(target=state.watch_file, args=(path, 60.0), daemon=True)
        started.start()
        started.join(10)  # opening a FIFO for reading used to wait for a writer forever
        assert not started.is_alive(), f"watch_file({path.name}) blocked on a FIFO"
        state.stop()
        with pytest.raises(StateFileError, match="not a regular file"):
            read_state_file(path)
    assert state.file_errors == 2 and not state.save_file(fifo)


def _eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_receiver_starting_over_a_corrupt_file_does_not_write_all_off(tmp_path: Path, model: Model) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b'{"disable_experiment": true, "pause_')
    receiver = KillSwitchReceiver(KillSwitchState(model.kill_switches), "token", alert_switches(model),
                                  state_file=path)
    receiver.start()
    try:
        assert path.read_bytes() == b'{"disable_experiment": true, "pause_'
        assert receiver.state.file_errors >= 1
    finally:
        receiver.stop()


def test_a_receiver_restarting_keeps_latched_switches(tmp_path: Path, model: Model) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({SWITCH: True}))
    receiver = KillSwitchReceiver(KillSwitchState(model.kill_switches), "token", alert_switches(model),
                                  state_file=path)
    receiver.start()
    try:
        assert receiver.state.is_active(SWITCH) and json.loads(path.read_text())[SWITCH] is True
    finally:
        receiver.stop()


def test_corrupt_state_files_are_reported_as_a_metric(tmp_path: Path, model: Model) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"{")
    h = Harness(model)
    try:
        h.rt.kill_switches.watch_file(path, interval_s=60)
        (point,) = h.points(STATE_ERRORS_METRIC)
        assert point.value == 1
    finally:
        h.rt.kill_switches.stop()
        h.close()
