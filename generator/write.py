"""Writes the output tree atomically, or compares it with what is on disk (``--check``).

Every changed file is first written in full to a staging directory beside the output, then renamed into
place (``os.replace`` is atomic), and the manifest is replaced last. An error before the renames
leaves the tree untouched; a crash during them leaves only whole files, never a truncated one. A file
whose content is already right is not touched at all, so regenerating one service leaves every other
service's files exactly as they were.

The manifest (``MANIFEST``) names the owner of every file it lists: the service whose spec produced it,
or ``STACK`` for the files shared by all services. Files the previous run wrote and this one does not
are removed (stale), and drift is reported per owner.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from obsgen.emit.render import Sourced, header_text
from obsgen.spec.service import STACK

MANIFEST = ".obsgen-manifest"
"""Lists the files obsgen wrote and who produced each, so a later run can find files no spec produces any more."""


def manifest_text(origin: Sourced, owners: dict[str, str]) -> str:
    """One line per file, ``<owner> <path>``: the shared files first, then each service's, sorted."""
    lines = sorted(owners.items(), key=lambda item: (item[1] != STACK, item[1], item[0]))
    return (f"# {header_text(origin)}\n"
            f"# Each line: the service whose spec produced the file (`{STACK}`: shared by all services), its path.\n"
            + "".join(f"{owner} {path}\n" for path, owner in lines))


def manifest_entries(text: str) -> dict[str, str]:
    """Path → owner; a manifest written before owners were recorded (paths only) gives the owner ``""``."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            owner, _, path = line.rpartition(" ")
            out[path] = owner
    return out


@dataclass
class Drift:
    """What differs between the generated tree and the files on disk; each list holds ``(owner, path)``."""

    changed: list[tuple[str, str]] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)
    diff: str = ""

    @property
    def clean(self) -> bool:
        return not (self.changed or self.missing or self.stale)

    def by_owner(self) -> dict[str, dict[str, list[str]]]:
        """``{owner: {"changed"|"missing"|"stale": [path, ...]}}``, owners sorted, shared files first."""
        out: dict[str, dict[str, list[str]]] = {}
        for kind in ("changed", "missing", "stale"):
            for owner, path in getattr(self, kind):
                out.setdefault(owner, {}).setdefault(kind, []).append(path)
        return dict(sorted(out.items(), key=lambda item: (item[0] != STACK, item[0])))


@dataclass
class Written:
    """What ``write_tree`` did: files written (new or changed), files already right, stale files removed."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    """``(owner, path)`` of each stale file: written before, by a service or the stack, no longer produced."""


def _owners(tree: dict[str, str]) -> dict[str, str]:
    return manifest_entries(tree.get(MANIFEST, ""))


def _stale(tree: dict[str, str], out: Path) -> list[tuple[str, str]]:
    manifest = out / MANIFEST
    if not manifest.is_file():
        return []
    previous = manifest_entries(manifest.read_text(encoding="utf-8"))
    return [(owner, path) for path, owner in sorted(previous.items())
            if path not in tree and (out / path).is_file()]


def _current(target: Path) -> str | None:
    try:
        return target.read_text(encoding="utf-8", errors="replace") if target.is_file() else None
    except OSError:
        return None


def write_tree(tree: dict[str, str], out: Path) -> Written:
    """Write ``tree`` under ``out``: changed and new files, the manifest last; remove stale files."""
    out.mkdir(parents=True, exist_ok=True)
    result = Written(removed=_stale(tree, out))
    for path, text in tree.items():
        (result.unchanged if _current(out / path) == text else result.written).append(path)
    staging = Path(tempfile.mkdtemp(prefix=".obsgen-staging-", dir=out))
    try:
        for path in result.written:
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(tree[path])
                handle.flush()
                os.fsync(handle.fileno())
        for path in sorted(result.written, key=lambda p: p == MANIFEST):  # the manifest goes last
            destination = out / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / path, destination)
        for _, path in result.removed:
            (out / path).unlink()
            _prune_empty_dirs(out, (out / path).parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _prune_empty_dirs(root: Path, directory: Path) -> None:
    while directory != root and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def check_tree(tree: dict[str, str], out: Path) -> Drift:
    """Compare ``tree`` with the files under ``out`` without writing anything."""
    drift = Drift()
    owners = _owners(tree)
    chunks: list[str] = []
    for path, text in tree.items():
        owner = owners.get(path, STACK)  # the manifest itself belongs to the stack
        current = _current(out / path)
        if current is None:
            drift.missing.append((owner, path))
        elif current != text:
            drift.changed.append((owner, path))
            chunks.extend(difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                               f"a/{path} (on disk)", f"b/{path} (generated)"))
    drift.stale = _stale(tree, out)
    drift.diff = "".join(line if line.endswith("\n") else line + "\n" for line in chunks)
    return drift
