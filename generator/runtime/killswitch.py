"""Kill-switch client: ``is_active(name)`` answered from in-process flags, never from the network.

Something else flips the flags: ``set(name, active)`` from code (a later task wires Alertmanager's
webhook to it), or a JSON file re-read in the background (``watch_file``), e.g. a ConfigMap. Reading a
flag is one dict lookup under the GIL; writers replace the whole dict, so readers never see a half
update. Names come from the spec's ``kill_switches``, and an unknown name is an error, not "off":
a typo must not silently disable a safety switch.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

_log = logging.getLogger("obsgen.runtime")


class KillSwitchState:
    """The current value of each kill-switch the spec declares (all off at start)."""

    def __init__(self, names: Iterable[str]) -> None:
        self._flags: dict[str, bool] = dict.fromkeys(names, False)
        if not self._flags:
            _log.debug("obsgen: the spec declares no kill-switches")
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

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

        Unknown names in the file are logged and skipped, so a file written for a newer spec still applies.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            _log.warning("obsgen: kill-switch file %s not applied: %s", path, exc)
            return False
        if not isinstance(data, dict) or not all(isinstance(v, bool) for v in data.values()):
            _log.warning("obsgen: kill-switch file %s not applied: expected a JSON object of booleans", path)
            return False
        unknown = sorted(n for n in data if n not in self._flags)
        if unknown:
            _log.warning("obsgen: kill-switch file %s names unknown switches %s; ignored", path, ", ".join(unknown))
        self.update({n: v for n, v in data.items() if n in self._flags})
        return True

    def watch_file(self, path: str | os.PathLike[str], interval_s: float = 5.0) -> None:
        """Re-read ``path`` at most every ``interval_s`` seconds in a daemon thread (only when it changed).

        The file is read once before this returns, so the state is current from the first call on.
        """
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.stop()
        self._stop = threading.Event()
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
        if self._watcher is not None:
            self._watcher.join(1.0)
            self._watcher = None


def _signature(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
