"""Writes the output tree atomically, or compares it with what is on disk (``--check``).

Every file is first written in full to a staging directory beside the output, then renamed into
place (``os.replace`` is atomic), and the manifest is replaced last. An error before the renames
leaves the tree untouched; a crash during them leaves only whole files, never a truncated one.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from obsgen.emit.render import header_text
from obsgen.model import Model

MANIFEST = ".obsgen-manifest"
"""Lists the files obsgen wrote, so a later run can find files the spec no longer produces."""


def manifest_text(model: Model, tree: dict[str, str]) -> str:
    return f"# {header_text(model)}\n" + "".join(f"{path}\n" for path in sorted(tree))


def manifest_paths(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@dataclass
class Drift:
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    diff: str = ""

    @property
    def clean(self) -> bool:
        return not (self.changed or self.missing or self.stale)


def _previous_paths(out: Path) -> list[str]:
    manifest = out / MANIFEST
    if not manifest.is_file():
        return []
    return manifest_paths(manifest.read_text(encoding="utf-8"))


def write_tree(tree: dict[str, str], out: Path) -> list[str]:
    """Write ``tree`` under ``out``; return the stale files removed (written before, no longer produced)."""
    out.mkdir(parents=True, exist_ok=True)
    stale = [p for p in _previous_paths(out) if p not in tree and (out / p).is_file()]
    staging = Path(tempfile.mkdtemp(prefix=".obsgen-staging-", dir=out))
    try:
        for path, text in tree.items():
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        for path in sorted(tree, key=lambda p: p == MANIFEST):  # the manifest goes last
            destination = out / path
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / path, destination)
        for path in stale:
            (out / path).unlink()
            _prune_empty_dirs(out, (out / path).parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return stale


def _prune_empty_dirs(root: Path, directory: Path) -> None:
    while directory != root and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def check_tree(tree: dict[str, str], out: Path) -> Drift:
    """Compare ``tree`` with the files under ``out`` without writing anything."""
    drift = Drift()
    chunks: list[str] = []
    for path, text in tree.items():
        target = out / path
        if not target.is_file():
            drift.missing.append(path)
            continue
        current = target.read_text(encoding="utf-8", errors="replace")
        if current != text:
            drift.changed.append(path)
            chunks.extend(difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                               f"a/{path} (on disk)", f"b/{path} (generated)"))
    drift.stale = [p for p in _previous_paths(out) if p not in tree and (out / p).is_file()]
    drift.diff = "".join(line if line.endswith("\n") else line + "\n" for line in chunks)
    return drift
