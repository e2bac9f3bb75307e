"""Kill-switch client: ``is_active(name)`` answered from in-process flags, never from the network.

Something else flips the flags: ``set(name, active)`` from code (a later task wires Alertmanager's
webhook to it), or a JSON file re-read in the background (``watch_file``), e.g. a ConfigMap. Reading a
flag is one dict lookup under the GIL; writers replace the whole dict, so readers never see a half
update. Names come from the spec's ``kill_switches``, and an unknown name is an error, not "off":
a typo must not silently disable a safety switch.

The state file fails closed: a corrupt or truncated file is never applied (the last good state stays in
memory) and never overwritten (``save_file`` refuses), and each such file is logged once and counted in
``file_errors`` (the runtime exports it as ``obsgen.killswitch.state_errors``). Files are written with an
explicit mode (0644 by default: readable by an application running as another user), fsync'ed and
atomically replaced. After ``fork()`` the child restarts the watcher (pre-fork servers).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from obsgen.runtime import forking
from obsgen.runtime.state import DEFAULT_FILE_MODE, write_atomic

_log = logging.getLogger("obsgen.runtime")
MAX_STATE_FILE_BYTES = 1 << 20


class StateFileError(ValueError):
    """A kill-switch state file that cannot be read or is not a JSON object of booleans."""


def read_state_file(path: str | os.PathLike[str]) -> dict[str, bool]:
    """The switches in ``path``; raises ``StateFileError`` (with the reason) for a missing, unreadable,
    oversized, truncated, deeply nested or otherwise malformed file, and for one that is not a regular file."""
    try:
        # Non-blocking: opening a FIFO (or a symlink to one) for reading must not wait for a writer forever.
        with open(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise StateFileError("it is not a regular file")
            data = handle.read(MAX_STATE_FILE_BYTES + 1)
    except OSError as exc:
        raise StateFileError(f"cannot read it ({exc.strerror})") from None
    if len(data) > MAX_STATE_FILE_BYTES:
        raise StateFileError(f"it is larger than {MAX_STATE_FILE_BYTES} bytes")
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise StateFileError(f"it is not valid JSON ({exc}); truncated or corrupt") from None
    except RecursionError:  # a file of "[[[[…": a corrupt file, not a reason to kill the watcher
        raise StateFileError("it nests too deeply to be a JSON object of booleans") from None
    if not isinstance(parsed, dict) or not all(isinstance(v, bool) for v in parsed.values()):
        raise StateFileError("expected a JSON object of booleans")
    return parsed


class KillSwitchState:
    """The current value of each kill-switch the spec declares (all off at start)."""

    def __init__(self, names: Iterable[str]) -> None:
        self._flags: dict[str, bool] = dict.fromkeys(names, False)
        if not self._flags:
            _log.debug("obsgen: the spec declares no kill-switches")
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._watching: tuple[str | os.PathLike[str], float] | None = None
        self._bad: set[tuple[str, tuple[int, int] | None]] = set()
        self.file_errors = 0
        """Corrupt or unreadable state files met so far (each file version once)."""
        forking.after_fork_in_child(self, KillSwitchState._after_fork_in_child)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._flags)

    def is_active(self, name: str) -> bool:
        """Whether kill-switch ``name`` is on. Raises ``KeyError`` for a name the spec does not declare."""
        try:
            return self._flags[name]
        except KeyError:
            raise KeyError(f"unknown kill-switch {name!r}; the spec declares: {', '.join(self._flags) or '(none)'}") \
                from None

    def set(self, name: str, active: bool) -> None:
        self.update({name: active})

    def update(self, values: Mapping[str, bool]) -> None:
        """Set several switches at once (readers see all of them change together)."""
        unknown = [n for n in values if n not in self._flags]
        if unknown:
            raise KeyError(f"unknown kill-switch(es) {', '.join(map(repr, unknown))}; the spec declares: "
                           f"{', '.join(self._flags) or '(none)'}")
        with self._write_lock:
            flags = dict(self._flags)
            for name, active in values.items():
                flags[name] = bool(active)
            self._flags = flags

    def snapshot(self) -> dict[str, bool]:
        return dict(self._flags)

    def load_file(self, path: str | os.PathLike[str]) -> bool:
        """Apply a JSON object ``{"name": true|false, ...}`` from ``path``; False (state kept) if unreadable.

        A corrupt or truncated file leaves every switch as it was (the last good state), is logged as an
        error and counted in ``file_errors``. Unknown names in the file are logged and skipped, so a file
        written for a newer spec still applies.
        """
        try:
            data = read_state_file(path)
        except StateFileError as exc:
            self._report(path, f"not applied, the last good state is kept: {exc}")
            return False
        unknown = sorted(n for n in data if n not in self._flags)
        if unknown:
            _log.warning("obsgen: kill-switch file %s names unknown switches %s; ignored", path, ", ".join(unknown))
        self.update({n: v for n, v in data.items() if n in self._flags})
        return True

    def save_file(self, path: str | os.PathLike[str], mode: int = DEFAULT_FILE_MODE) -> bool:
        """Write the switches to ``path`` (``mode``, fsync'ed, atomically replaced); False if refused.

        An existing file that is corrupt is not overwritten: it may hold switches that are on, and
        writing this process's view (perhaps all off) would turn them off. Fix or remove it first.
        """
        target = Path(path)
        if target.exists():
            try:
                read_state_file(target)
            except StateFileError as exc:
                self._report(target, f"not overwritten (it may hold switches that are on): {exc}; "
                                     "fix or remove the file")
                return False
        write_atomic(target, json.dumps(self.snapshot(), sort_keys=True).encode() + b"\n", mode)
        return True

    def _report(self, path: str | os.PathLike[str], problem: str) -> None:
        """Log and count a bad state file, once per version of the file (not on every poll)."""
        key = (str(path), _signature(path))
        if key in self._bad:
            return
        self._bad.add(key)
        self.file_errors += 1
        _log.error("obsgen: kill-switch state file %s %s", path, problem)

    def watch_file(self, path: str | os.PathLike[str], interval_s: float = 5.0) -> None:
        """Re-read ``path`` at most every ``interval_s`` seconds in a daemon thread (only when it changed).

        The file is read once before this returns, so the state is current from the first call on.
        """
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.stop()
        self._stop = threading.Event()
        self._watching = (path, interval_s)
        stop = self._stop
        last = _signature(path)
        if last is not None:
            self.load_file(path)

        def poll() -> None:
            nonlocal last
            while not stop.wait(interval_s):
                current = _signature(path)
                if current is not None and current != last and self.load_file(path):
                    last = current

        self._watcher = threading.Thread(target=poll, name="obsgen-killswitch-file", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        """Stop watching a file (the flags keep their last values)."""
        self._stop.set()
        self._watching = None
        if self._watcher is not None:
            self._watcher.join(1.0)
            self._watcher = None

    def _after_fork_in_child(self) -> None:
        """Threads do not survive ``fork()``: a worker of a pre-fork server gets its own watcher (and locks)."""
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher = None
        watching = self._watching
        if watching is not None:
            self.watch_file(*watching)


def _signature(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
