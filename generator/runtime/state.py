"""Bounded, expiring in-process state: what the runtime remembers between calls.

Everything the runtime keeps per request or per session lives in an ``ExpiringLRU``: a size cap and a
time-to-live, so a service that runs for months, or a flood of one-off session ids, cannot grow it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class ExpiringLRU(Generic[V]):
    """A thread-safe mapping with at most ``maxsize`` entries, each living ``ttl_s`` seconds after its write.

    Reads do not extend an entry's life: a request id is only worth remembering for as long as its
    later events can arrive. When full, the least recently written entry is evicted.
    Expired entries are dropped lazily, from the oldest end, on every write.
    """

    __slots__ = ("_clock", "_data", "_lock", "maxsize", "ttl_s")

    def __init__(self, maxsize: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        self.maxsize = maxsize
        self.ttl_s = ttl_s
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            with self._lock:
                current = self._data.get(key)
                if current is not None and current[0] <= self._clock():
                    del self._data[key]
            return None
        return entry[1]

    def put(self, key: Hashable, value: V) -> None:
        now = self._clock()
        with self._lock:
            data = self._data
            data[key] = (now + self.ttl_s, value)
            data.move_to_end(key)
            self._trim(now)

    def add(self, key: Hashable, value: V) -> bool:
        """Store ``value`` unless ``key`` is already present and alive; True when it was stored.

        This is the "first time seen" test behind ``once_per`` metrics, done under one lock so two
        threads reporting the same session cannot both count it.
        """
        now = self._clock()
        with self._lock:
            data = self._data
            entry = data.get(key)
            if entry is not None and entry[0] > now:
                return False
            data[key] = (now + self.ttl_s, value)
            data.move_to_end(key)
            self._trim(now)
            return True

    def _trim(self, now: float) -> None:
        data = self._data
        while len(data) > self.maxsize:
            data.popitem(last=False)
        while data:
            expires, _ = next(iter(data.values()))
            if expires > now:
                break
            data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return self.get(key) is not None

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
