"""Where the lake keeps what, on any filesystem pyarrow can open (local paths, ``file://``, ``s3://``, ``gs://``,
``hdfs://``; any fsspec URI too when fsspec is installed), and the spec's windows that govern it."""

from __future__ import annotations

import datetime as dt
import json
import os
import posixpath
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from obsgen.model import Model
from pyarrow import fs as pafs

EVENTS = "events"
QUARANTINE = "quarantine"
LATE = "late"
AGGREGATES = "aggregates"
STATE = "_state"
GRAINS = ("day", "week", "month")

DEFAULT_WINDOWS_DAYS = {"late_arrival": 2, "raw_events": 90, "aggregates": 400, "errors": 30,
                        "critical_errors": 90, "hot": 30, "warm": 90}
"""The seed's windows, used where the spec's ``retention`` section does not declare the key."""


def open_uri(uri: str) -> tuple[pafs.FileSystem, str]:
    """A filesystem and the path on it; a plain path is a local one (made absolute)."""
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    try:
        return pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, ValueError):
        import fsspec  # an optional dependency: only for schemes pyarrow does not know
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        fsspec_fs, path = fsspec.core.url_to_fs(uri)
        return PyFileSystem(FSSpecHandler(fsspec_fs)), path


def partition_date(directory: str) -> dt.date:
    """The date a ``key=YYYY-MM-DD`` directory of the lake stands for (a clear error for one the lake did not make,
    e.g. Spark's ``__HIVE_DEFAULT_PARTITION__``)."""
    value = posixpath.basename(directory).split("=", 1)[1]
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"the lake's directory {directory} is not named for a date (YYYY-MM-DD) — move it out of "
                         "the lake") from None


@dataclass(frozen=True)
class Windows:
    """The spec's ``retention`` windows in days (the seed's defaults where a key is missing)."""

    days: dict[str, int]

    @classmethod
    def of(cls, model: Model) -> Windows:
        days = dict(DEFAULT_WINDOWS_DAYS)
        for key, duration in model.retention.items():
            days[key] = max(1, round(duration.seconds / 86400))
        return cls(days)

    def __getitem__(self, key: str) -> int:
        return self.days[key]


@dataclass(frozen=True)
class Lake:
    """A lake root: ``events/``, ``quarantine/``, ``late/``, ``aggregates/`` and ``_state/`` under one URI."""

    fs: pafs.FileSystem
    root: str
    uri: str

    @classmethod
    def at(cls, uri: str) -> Lake:
        filesystem, root = open_uri(uri)
        return cls(filesystem, root.rstrip("/"), uri)

    def path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def url(self, path: str) -> str:
        """A path under the root as an engine's SQL names it: local, the path; else the lake's URI and the rest
        (the filesystem's paths lack the scheme, and for HDFS the host)."""
        return path if self.is_local else self.uri.split("?", 1)[0].rstrip("/") + path[len(self.root):]

    def partition(self, event: str, date: dt.date) -> str:
        return self.path(EVENTS, f"event_type={event}", f"event_date={date.isoformat()}")

    def aggregate(self, grain: str, period: dt.date) -> str:
        return self.path(AGGREGATES, f"grain={grain}", f"period={period.isoformat()}")

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    # -- small files --------------------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def read_json(self, name: str, default: Any) -> Any:
        """A state file: always a JSON object (``default`` when there is none)."""
        path = self.path(STATE, name)
        if not self.exists(path):
            return default
        with self.fs.open_input_stream(path) as f:
            data = f.read()
        try:
            value = json.loads(data.decode())
        except ValueError as e:
            raise ValueError(f"the lake's state file {path} is not JSON ({e}) — restore it, or remove it") from e
        if not isinstance(value, dict):
            raise ValueError(f"the lake's state file {path} is not a JSON object — restore it, or remove it")
        return value

    def write_json(self, name: str, value: Any) -> None:
        """Written to a temporary name, then moved: a crash leaves the previous state, never half a file."""
        self.fs.create_dir(self.path(STATE), recursive=True)
        tmp = self.path(STATE, f".{name}.tmp")
        with self.fs.open_output_stream(tmp) as f:
            f.write(json.dumps(value, indent=1, sort_keys=True).encode())
        self.fs.move(tmp, self.path(STATE, name))

    def files(self, path: str, suffix: str = ".parquet") -> list[str]:
        if not self.exists(path):
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(path, recursive=True))
        return sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(suffix))

    def partitions(self, event: str) -> dict[dt.date, str]:
        """The event's date partitions: date → directory."""
        base = self.path(EVENTS, f"event_type={event}")
        if not self.exists(base):
            return {}
        out = {}
        for info in self.fs.get_file_info(pafs.FileSelector(base)):
            name = posixpath.basename(info.path)
            if info.type == pafs.FileType.Directory and name.startswith("event_date="):
                out[partition_date(info.path)] = info.path
        return dict(sorted(out.items()))
