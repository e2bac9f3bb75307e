"""Bounded, expiring in-process state, and state files written so every reader sees a whole one.

Everything the runtime keeps per request or per session lives in an ``ExpiringLRU``: a size cap, an
optional byte budget and a time-to-live, so a service that runs for months, a flood of one-off session
ids or large payloads cannot grow it. ``write_atomic`` writes a file another process (another user)
reads: explicit mode, fsync'ed, atomically replaced.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

V = TypeVar("V")
DEFAULT_FILE_MODE = 0o644
"""State files are readable by group and others: an application running as another user than the writer
(the kill-switch receiver) must see the switches. Pass ``mode=0o640`` and share a group to narrow it."""


class ExpiringLRU(Generic[V]):
    """A thread-safe mapping with at most ``maxsize`` entries, each living ``ttl_s`` seconds after its write.

    Reads do not extend an entry's life: a request id is only worth remembering for as long as its
    later events can arrive. When full (``maxsize`` entries, or ``max_bytes`` charged: each entry's
    ``sizeof(value)`` at write, plus what ``charge`` adds as it grows, plus its key's ``approximate_size``), the least
    recently written entries are evicted. Expired entries are dropped lazily, from the
    oldest end, on every write.
    """

    __slots__ = ("_bytes", "_clock", "_data", "_lock", "_sizeof", "max_bytes", "maxsize", "ttl_s")

    def __init__(self, maxsize: int, ttl_s: float, clock: Callable[[], float] = time.monotonic, *,
                 max_bytes: int | None = None, sizeof: Callable[[V], int] | None = None) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        if max_bytes is not None and (max_bytes < 1 or sizeof is None):
            raise ValueError("max_bytes must be at least 1 and comes with sizeof")
        self.maxsize = maxsize
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._sizeof = sizeof if max_bytes is not None else None
        self._bytes = 0
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[float, V, int]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        """Bytes charged for the entries held (0 without a byte budget)."""
        return self._bytes

    def get(self, key: Hashable) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            with self._lock:
                current = self._data.get(key)
                if current is not None and current[0] <= self._clock():
                    self._bytes -= self._data.pop(key)[2]
            return None
        return entry[1]

    def _size(self, key: Hashable, value: V) -> int:
        """What an entry is charged: its value's ``sizeof`` and its key (a client may choose a huge one)."""
        return self._sizeof(value) + approximate_size(key) if self._sizeof is not None else 0

    def put(self, key: Hashable, value: V) -> None:
        now = self._clock()
        size = self._size(key, value)
        with self._lock:
            self._store(key, value, size, now)

    def charge(self, key: Hashable, delta: int) -> None:
        """Add ``delta`` bytes to a live entry's charge (a value that grew in place), evicting to stay in budget."""
        if self._sizeof is None or not delta:
            return
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return
            self._data[key] = (entry[0], entry[1], entry[2] + delta)  # keeps its place in the order
            self._bytes += delta
            if self._bytes > self.max_bytes:  # type: ignore[operator]
                self._trim(self._clock())

    def add(self, key: Hashable, value: V) -> bool:
        """Store ``value`` unless ``key`` is already present and alive; True when it was stored.

        This is the "first time seen" test behind ``once_per`` metrics, done under one lock so two
        threads reporting the same session cannot both count it.
        """
        now = self._clock()
        with self._lock:
            entry = self._data.get(key)
            if entry is not None and entry[0] > now:
                return False
            self._store(key, value, self._size(key, value), now)
            return True

    def _store(self, key: Hashable, value: V, size: int, now: float) -> None:
        data = self._data
        old = data.get(key)
        if old is not None:
            self._bytes -= old[2]
        data[key] = (now + self.ttl_s, value, size)
        data.move_to_end(key)
        self._bytes += size
        self._trim(now)

    def _trim(self, now: float) -> None:
        data = self._data
        budget = self.max_bytes
        while len(data) > self.maxsize or (budget is not None and self._bytes > budget and len(data) > 1):
            self._bytes -= data.popitem(last=False)[1][2]
        while data:
            expires = next(iter(data.values()))[0]
            if expires > now:
                break
            self._bytes -= data.popitem(last=False)[1][2]

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return self.get(key) is not None

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0


def approximate_size(value: Any, depth: int = 0) -> int:
    """Rough bytes of a JSON-like value in memory (CPython object overheads included), for byte budgets."""
    kind = type(value)
    if kind is str:
        return 49 + len(value)
    if kind is int or kind is float or kind is bool or value is None:
        return 32  # the hot path's values: exact types first, the ABC checks below cost a microsecond each
    if isinstance(value, str):
        return 49 + len(value)
    if isinstance(value, Mapping):
        return 64 + sum(approximate_size(k, depth + 1) + approximate_size(v, depth + 1) for k, v in value.items()) \
            if depth < 8 else 64
    if isinstance(value, list | tuple | set | frozenset):
        return 56 + sum(8 + approximate_size(v, depth + 1) for v in value) if depth < 8 else 56
    return 32


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = DEFAULT_FILE_MODE) -> None:
    """Replace ``path`` with ``data``: readers see the old file or the new one, never a part of either.

    The new file is created beside it with exactly ``mode`` (the umask does not narrow it), written and
    fsync'ed, renamed over ``path``, and the directory is fsync'ed so the rename survives a crash.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
