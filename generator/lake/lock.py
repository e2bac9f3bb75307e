"""A lock file per lake, so two runs that change it (ingest, rollup, compact, tier, retain) cannot collide.

Created exclusively (``O_EXCL`` locally); a lock older than ``STALE_AFTER_S`` is taken to be left by a
crashed run and is broken, with the holder named in the message.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator

from obsgen.lake.layout import STATE, Lake
from pyarrow import fs as pafs

STALE_AFTER_S = 6 * 3600


class LakeLocked(RuntimeError):
    pass


@contextlib.contextmanager
def locked(lake: Lake, what: str) -> Iterator[None]:
    lake.fs.create_dir(lake.path(STATE), recursive=True)
    path = lake.path(STATE, "lock")
    holder = json.dumps({"what": what, "host": socket.gethostname(), "pid": os.getpid(), "since": time.time()})
    info = lake.fs.get_file_info(path)
    if info.type != pafs.FileType.NotFound:
        with lake.fs.open_input_stream(path) as f:
            held = f.read().decode(errors="replace")
        since = json.loads(held).get("since", 0) if held.startswith("{") else 0
        if time.time() - since < STALE_AFTER_S:
            raise LakeLocked(f"the lake {lake.uri} is locked by {held} — wait for that run, or remove "
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
        yield
    finally:
        lake.fs.delete_file(path)
