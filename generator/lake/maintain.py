"""``obsgen lake compact`` / ``tier`` / ``retain``: keep the lake's files few, cheap and no older than allowed.

Every change is planned first as a list of ``Action``s (what ``--dry-run`` prints, exactly), then applied
under the lake's lock. Windows come from the spec's ``retention`` section (``layout.Windows``):

* ``compact``: a partition's files smaller than the target size are merged into one (Snappy);
* ``tier``: partitions older than ``retention.hot`` move to the warm root, older than ``retention.warm`` to
  the cold root (any filesystem URIs); the lake keeps the same layout under each root;
* ``retain``: landing files already ingested (with ``--landing``); raw event partitions older than
  ``retention.raw_events`` are deleted, error events (the
  events logged at ``error`` severity) after ``retention.errors`` except their ``severity: critical`` rows,
  kept for ``retention.critical_errors``; rollups after ``retention.aggregates``; quarantine and late
  rows after ``retention.raw_events``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from obsgen.emit.stack.collector import LANDING_FILES
from obsgen.lake import tables
from obsgen.lake.ingest import MANIFEST
from obsgen.lake.layout import AGGREGATES, EVENTS, LATE, QUARANTINE, Lake, Windows, open_uri, partition_date
from obsgen.lake.lock import locked, replacing
from obsgen.model import Model
from pyarrow import fs as pafs

LIVE_LANDING_FILES = frozenset(f"{name}.jsonl" for name in LANDING_FILES.values())
"""The files the collector is writing now: never deleted (rotated ones are)."""

DEFAULT_TARGET_MB = 128
"""The seed's lower bound of a good file size (128 MB–1 GB)."""
SEVERITY = "severity"
CRITICAL = "critical"


@dataclass(frozen=True)
class Action:
    verb: str
    """``merge``, ``move``, ``delete`` or ``keep-critical``."""
    path: str
    detail: str
    files: tuple[str, ...] = ()
    to: str = ""

    def __str__(self) -> str:
        target = f" → {self.to}" if self.to and self.verb != "delete-landing" else ""
        return f"{self.verb} {self.path}: {self.detail}{target}"


def _dirs(lake: Lake, base: str, prefix: str) -> dict[str, str]:
    """Subdirectories ``prefix=value`` of ``base``: value → path."""
    if not lake.exists(base):
        return {}
    out = {}
    for info in lake.fs.get_file_info(pafs.FileSelector(base)):
        name = posixpath.basename(info.path)
        if info.type == pafs.FileType.Directory and name.startswith(prefix + "="):
            out[name.split("=", 1)[1]] = info.path
    return dict(sorted(out.items()))


def _partitions(lake: Lake) -> Iterable[tuple[str, str, dt.date, str]]:
    """(zone, event type or grain, date, directory) of every dated directory of the lake."""
    for zone, outer, inner in ((EVENTS, "event_type", "event_date"), (LATE, "event_type", "event_date"),
                               (AGGREGATES, "grain", "period")):
        for name, path in _dirs(lake, lake.path(zone), outer).items():
            for directory in _dirs(lake, path, inner).values():
                yield zone, name, partition_date(directory), directory
    for directory in _dirs(lake, lake.path(QUARANTINE), "ingest_date").values():
        yield QUARANTINE, "", partition_date(directory), directory


def _size(lake: Lake, files: list[str]) -> int:
    return sum(i.size or 0 for i in lake.fs.get_file_info(files))


# -- compact ------------------------------------------------------------------------------------------


def plan_compact(lake: Lake, target_mb: int = DEFAULT_TARGET_MB) -> list[Action]:
    actions = []
    for zone, _, _, directory in _partitions(lake):
        if zone != EVENTS:
            continue
        files = lake.files(directory)
        small = [f for f, i in zip(files, lake.fs.get_file_info(files), strict=True)
                 if (i.size or 0) < target_mb * 1024 * 1024]
        if len(small) > 1:
            name = "part-c" + hashlib.sha256("".join(small).encode()).hexdigest()[:15] + ".parquet"
            actions.append(Action("merge", posixpath.relpath(directory, lake.root),
                                  f"{len(small)} files, {_size(lake, small)} bytes into {name}", tuple(small),
                                  posixpath.join(directory, name)))
    return actions


# -- tier ---------------------------------------------------------------------------------------------


def plan_tier(model: Model, lake: Lake, warm: Lake, cold: Lake, today: dt.date) -> list[Action]:
    """Moves of every partition (rollups too; quarantine stays) to the tier its age belongs in, never back."""
    windows = Windows.of(model)
    order = [lake, warm, cold]
    actions = []
    for rank, source in enumerate(order[:2]):
        for zone, _, day, directory in _partitions(source):
            if zone == QUARANTINE:
                continue
            age = (today - day).days
            belongs = 2 if age > windows["warm"] else 1 if age > windows["hot"] else 0
            if belongs > rank:
                rel = posixpath.relpath(directory, source.root)
                actions.append(Action("move", f"{source.uri}/{rel}", f"{age} days old",
                                      to=f"{order[belongs].uri}/{rel}"))
    return actions


# -- retain -------------------------------------------------------------------------------------------


def error_events(model: Model) -> tuple[set[str], set[str]]:
    """Error events (logged at ``error`` severity) and those of them that can be ``severity: critical``."""
    errors = [e for e in model.events if e.log_severity == "error"]
    critical = {e.name for e in errors if SEVERITY in e.fields and CRITICAL in (model.attributes[SEVERITY].enum or ())}
    return {e.name for e in errors}, critical


def plan_landing(lake: Lake, landing_uri: str) -> list[Action]:
    """Landing files the manifest says were ingested, unchanged since: nothing more can be read from them.

    The live file (the exporter's current ``path``) is never deleted; rotated files are complete."""
    landing_fs, root = open_uri(landing_uri)
    root = posixpath.normpath(root)
    actions = []
    for digest, entry in sorted(lake.read_json(MANIFEST, {}).items(), key=lambda kv: kv[1]["path"]):
        path = posixpath.normpath(entry["path"])
        if posixpath.commonpath([root, path]) != root:  # the manifest is a file in the lake: never trusted to
            continue  # name what is deleted outside the landing zone given
        info = landing_fs.get_file_info(path)
        if info.type != pafs.FileType.File or posixpath.basename(info.path) in LIVE_LANDING_FILES:
            continue
        if info.size == entry["bytes"] and (info.mtime_ns or 0) // 1_000_000 <= entry["landed_ms"]:
            actions.append(Action("delete-landing", info.path, f"ingested (sha256 {digest[:12]}…)",
                                  to=landing_uri))
    return actions


def plan_retain(model: Model, lake: Lake, today: dt.date) -> list[Action]:
    w = Windows.of(model)
    errors, critical = error_events(model)
    actions = []
    for zone, name, day, directory in _partitions(lake):
        age = (today - day).days
        rel = posixpath.relpath(directory, lake.root)
        if zone == AGGREGATES:
            window, why = w["aggregates"], "retention.aggregates"
        elif zone == EVENTS and name in errors:
            if age > w["errors"] and name in critical and age <= w["critical_errors"]:
                actions.append(Action("keep-critical", rel, f"{age} days old > retention.errors {w['errors']}d: "
                                      f"only {SEVERITY}={CRITICAL} rows kept (retention.critical_errors "
                                      f"{w['critical_errors']}d)", tuple(lake.files(directory))))
                continue
            window = w["critical_errors"] if name in critical else w["errors"]
            why = "retention.critical_errors" if name in critical else "retention.errors"
        else:
            window, why = w["raw_events"], "retention.raw_events"
        if age > window:
            actions.append(Action("delete", rel, f"{age} days old > {why} {window}d"))
    return actions


# -- apply --------------------------------------------------------------------------------------------


def apply(lake: Lake, actions: list[Action], tiers: dict[str, Lake] | None = None) -> None:
    with locked(lake, "maintain"):
        for action in actions:
            if action.verb == "merge":
                table = pads.dataset(list(action.files), format="parquet", filesystem=lake.fs).to_table()
                table = table.sort_by([(tables.EVENT_MS, "ascending")])
                tmp = action.to + ".tmp"
                pq.write_table(table, tmp, filesystem=lake.fs, compression="snappy")
                with replacing(lake, action.to, action.files):
                    lake.fs.move(tmp, action.to)
                    for f in action.files:
                        lake.fs.delete_file(f)
            elif action.verb == "delete":
                lake.fs.delete_dir(lake.path(action.path))
            elif action.verb == "delete-landing":
                open_uri(action.to)[0].delete_file(action.path)
            elif action.verb == "keep-critical":
                _keep_critical(lake, list(action.files))
            elif action.verb == "move":
                _move(action, tiers or {})


def _keep_critical(lake: Lake, files: list[str]) -> None:
    for path in files:
        table = pq.read_table(path, filesystem=lake.fs)
        kept = table.filter(pc.equal(table[SEVERITY], CRITICAL))
        if kept.num_rows == table.num_rows:
            continue
        if kept.num_rows == 0:
            lake.fs.delete_file(path)
        else:
            pq.write_table(kept, path + ".tmp", filesystem=lake.fs, compression="snappy")
            lake.fs.move(path + ".tmp", path)


def _move(action: Action, tiers: dict[str, Lake]) -> None:
    source = next(t for uri, t in tiers.items() if action.path.startswith(uri + "/"))
    target = next(t for uri, t in tiers.items() if action.to.startswith(uri + "/"))
    rel = action.path[len(source.uri) + 1:]
    src, dst = source.path(rel), target.path(rel)
    target.fs.create_dir(dst, recursive=True)
    pafs.copy_files(src, dst, source_filesystem=source.fs, destination_filesystem=target.fs)
    source.fs.delete_dir(src)

