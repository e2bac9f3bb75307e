"""A lock file per lake, so two runs that change it (ingest, rollup, compact, tier, retain) cannot collide.

Created exclusively (``O_EXCL`` locally); a lock older than ``STALE_AFTER_S`` is taken to be left by a
crashed run and is broken, with the holder named in the message.

A change of several files that must look like one (``replacing``: compaction's merged file and the files it
replaces) is recorded first in ``_state/pending.json``; whoever takes the lock next finishes it if its run was
killed half-way, so no run ever reads a partition holding the merged file and its sources (every row twice).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import time
from collections.abc import Iterable, Iterator

from obsgen.lake.layout import STATE, Lake
from pyarrow import fs as pafs

STALE_AFTER_S = 6 * 3600
PENDING = "pending.json"


class LakeLocked(RuntimeError):
    pass


def _since(held: str, info: pafs.FileInfo) -> float:
    """When the lock was taken: its holder's ``since``, else the file's modification time (a lock is empty while its
    run is writing it, and stays so if that run is killed then: as fresh as its file, not free)."""
    try:
        since = json.loads(held).get("since")
    except (ValueError, AttributeError):
        since = None
    if isinstance(since, int | float) and not isinstance(since, bool) and math.isfinite(since):
        return since
    return info.mtime_ns / 1e9 if info.mtime_ns else time.time()


@contextlib.contextmanager
def locked(lake: Lake, what: str) -> Iterator[None]:
    lake.fs.create_dir(lake.path(STATE), recursive=True)
    path = lake.path(STATE, "lock")
    holder = json.dumps({"what": what, "host": socket.gethostname(), "pid": os.getpid(), "since": time.time()})
    info = lake.fs.get_file_info(path)
    if info.type != pafs.FileType.NotFound:
        with lake.fs.open_input_stream(path) as f:
            held = f.read().decode(errors="replace")
        if time.time() - _since(held, info) < STALE_AFTER_S:
            who = " ".join(held.split())[:300] or "a run that had not written its name (starting, or killed so)"
            raise LakeLocked(f"the lake {lake.uri} is locked by {who} — wait for that run, or remove "
                             f"{path} if it crashed")
        lake.fs.delete_file(path)
    if lake.is_local:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError as exc:
            raise LakeLocked(f"the lake {lake.uri} is locked by another run ({path})") from exc
        with os.fdopen(fd, "w") as f:
            f.write(holder)
    else:  # object stores have no exclusive create: last writer wins, checked just above
        with lake.fs.open_output_stream(path) as f:
            f.write(holder.encode())
    try:
        _finish(lake)
        yield
    finally:
        lake.fs.delete_file(path)


@contextlib.contextmanager
def replacing(lake: Lake, new: str, old: Iterable[str]) -> Iterator[None]:
    """Around moving ``new`` into place and deleting the ``old`` files it replaces (under the lock): recorded
    first, so a run killed in between is finished by the next (``new`` in place: the ``old`` files deleted)."""
    lake.write_json(PENDING, {"new": new, "old": list(old)})
    yield
    lake.fs.delete_file(lake.path(STATE, PENDING))


def _finish(lake: Lake) -> None:
    """Finish what a killed run was ``replacing``: delete the old files if the new one got into place."""
    pending = lake.read_json(PENDING, None)
    if pending is None:
        return
    if lake.exists(pending["new"]):
        for path in pending["old"]:
            if lake.exists(path):
                lake.fs.delete_file(path)
    lake.fs.delete_file(lake.path(STATE, PENDING))
