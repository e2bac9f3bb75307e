"""Writes the output tree atomically, or compares it with what is on disk (``--check``).

A run is one transaction over every file it touches, root files and the manifest included:

1. every new or changed file is written in full and fsynced under ``.obsgen-txn-*/new/`` inside the output
   directory (the same file system, so renames are atomic);
2. a journal (``.obsgen-journal``) naming every path the run replaces, creates or removes is fsynced;
3. each path is swapped: its previous version is hard-linked into ``.obsgen-txn-*/old/`` (a stale file is
   moved there), then the new file is renamed over it, the manifest last;
4. the journal is deleted — the commit — and the transaction directory removed.

If any step fails, every swapped path is restored from ``old/``, files and directories the run created are
removed, and ``WriteFailed`` is raised: the tree is byte for byte as before. If the process dies mid-swap,
the journal stays behind and the next run (``recover``) rolls the tree back from it before writing. Runs on
one directory take turns (``flock`` on the directory), so a live run's journal is never taken for a dead
one's. A file whose content is already right is not touched at all, so regenerating one service leaves
every other service's files exactly as they were.

The manifest (``MANIFEST``) names the owner of every file it lists: the service whose spec produced it,
or ``STACK`` for the files shared by all services. Files the previous run wrote and this one does not
are removed (stale), and drift is reported per owner.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

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


def inside(path: str) -> bool:
    """Whether ``path`` names a file below the output directory: relative, without ``..``. The manifest and the
    journal are files on disk, as hostile as any input: a path of theirs that leaves ``--out`` is never used."""
    posix = PurePosixPath(path)
    return bool(posix.parts) and not posix.is_absolute() and ".." not in posix.parts


def manifest_entries(text: str) -> dict[str, str]:
    """Path → owner; a manifest written before owners were recorded (paths only) gives the owner ``""``.

    Lines naming a path outside the output directory are left out: obsgen never wrote there."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            owner, _, path = line.rpartition(" ")
            if inside(path):
                out[path] = owner
    return out


def read_manifest(out: Path) -> dict[str, str]:
    """The entries of the manifest under ``out`` (none when there is no readable one); undecodable bytes cannot
    match a path obsgen writes, so they are replaced rather than refused. An entry whose folder is a symbolic
    link leading out of ``out`` is left out: removing it as stale, or showing it in a diff, would reach there."""
    manifest = out / MANIFEST
    if not manifest.is_file():
        return {}
    return {path: owner for path, owner in manifest_entries(manifest.read_text(encoding="utf-8", errors="replace"))
            .items() if _reached(out, path)}


def _reached(out: Path, path: str) -> bool:
    """Whether ``out / path`` stays inside ``out`` once the symbolic links of its folders are followed."""
    return inside(path) and Path(os.path.realpath((out / path).parent)).is_relative_to(os.path.realpath(out))


@dataclass
class Drift:
    """What differs between the generated tree and the files on disk; each list holds ``(owner, path)``."""

    changed: list[tuple[str, str]] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    stale: list[tuple[str, str]] = field(default_factory=list)
    diff: str = ""
    interrupted: bool = False
    """A run died while swapping files in (its journal is there): the tree may be part old, part new."""

    @property
    def clean(self) -> bool:
        return not (self.changed or self.missing or self.stale or self.interrupted)

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
    previous = read_manifest(out)
    return [(owner, path) for path, owner in sorted(previous.items())
            if path not in tree and (out / path).is_file()]


SYMLINK_TEXT = "(a symbolic link, not followed: obsgen writes a plain file here)\n"
"""What a generated file's path reads as when it is a symbolic link: its target may be any file (a link to
``/proc/self/environ`` committed in a pull request), and ``--check`` and ``diff`` print what they read."""


def current_text(target: Path) -> str | None:
    """The text at a generated file's path; None if there is none; ``SYMLINK_TEXT`` for a symbolic link."""
    try:
        if target.is_symlink():
            return SYMLINK_TEXT
        return target.read_text(encoding="utf-8", errors="replace") if target.is_file() else None
    except OSError:
        return None


JOURNAL = ".obsgen-journal"
"""Present only while a run swaps files in: it names the transaction directory and every path touched."""
TXN_PREFIX = ".obsgen-txn-"


class WriteFailed(Exception):
    """A path of the tree could not be written. ``rolled_back``: the tree is as before the run; if not, the
    journal is still there and the next run (or ``recover``) restores it."""

    def __init__(self, path: str, reason: str, rolled_back: bool, fix: str = ""):
        self.path, self.reason, self.rolled_back, self.fix = path, reason, rolled_back, fix
        """``fix``: what the user must do when running again cannot help (an unusable journal)."""
        super().__init__(f"{path}: {reason}")


def _write_synced(target: Path, text: str) -> None:
    with open(target, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_FS_OPS: dict[str, Callable[..., object]] = {
    "write": _write_synced, "mkdir": os.mkdir, "link": os.link, "replace": os.replace, "fsync_dir": _fsync_dir}


def _fs(op: str, *args: Path | str) -> None:
    """Every change a run makes on disk goes through here (tests make each one fail in turn)."""
    _FS_OPS[op](*args)


@dataclass
class _Entry:
    """One path of a transaction: ``new`` if the run puts a file there, ``old`` if one was there before."""

    path: str
    new: bool
    old: bool


def _missing_dirs(out: Path, paths: list[str]) -> list[str]:
    """Directories the run must create for ``paths``, parents before children."""
    missing: set[str] = set()
    for path in paths:
        parent = Path(path).parent
        while parent != Path(".") and not (out / parent).is_dir():
            missing.add(parent.as_posix())
            parent = parent.parent
    return sorted(missing, key=lambda d: (d.count("/"), d))


def write_tree(tree: dict[str, str], out: Path) -> Written:
    """Write ``tree`` under ``out``: changed and new files, the manifest last; remove stale files.

    All or nothing: raises ``WriteFailed`` with the tree as it was before the call.
    """
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        return _write(tree, out)


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One run at a time per output directory (another waits): a second run would take the first one's journal
    for an interrupted run's and roll it back."""
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write(tree: dict[str, str], out: Path) -> Written:
    recover(out)
    result = Written(removed=_stale(tree, out))
    for path, text in tree.items():
        (result.unchanged if current_text(out / path) == text else result.written).append(path)
    if not (result.written or result.removed):
        return result
    _nothing_in_the_way(out, result.written)
    txn = Path(tempfile.mkdtemp(prefix=TXN_PREFIX, dir=out))
    try:
        written = sorted(result.written, key=lambda p: p == MANIFEST)  # the manifest goes last
        entries = [_Entry(path, True, os.path.lexists(out / path)) for path in written]  # a dangling link too
        entries += [_Entry(path, False, True) for _, path in result.removed]
        dirs = _missing_dirs(out, written)
        for directory in ["new", "old"] + [f"new/{d}" for d in _missing_dirs(txn / "new", written)]:
            _fs("mkdir", txn / directory)
        for path in written:
            _fs("write", txn / "new" / path, tree[path])
        _fs("write", txn / JOURNAL, json.dumps({"txn": txn.name, "dirs": dirs,
                                                "entries": [vars(e) for e in entries]}))
    except OSError as exc:
        shutil.rmtree(txn, ignore_errors=True)
        raise WriteFailed(_relative(exc, out), exc.strerror or str(exc), rolled_back=True) from None
    except BaseException:
        shutil.rmtree(txn, ignore_errors=True)
        raise
    try:
        _swap(out, txn, entries, dirs)
    except BaseException as exc:
        rolled_back = _rollback(out, txn, entries, dirs)
        if isinstance(exc, OSError):
            raise WriteFailed(_relative(exc, out), exc.strerror or str(exc), rolled_back) from None
        raise
    (out / JOURNAL).unlink()  # the commit point: from here on the new tree stands
    shutil.rmtree(txn, ignore_errors=True)
    for _, path in result.removed:
        _prune_empty_dirs(out, (out / path).parent)
    return result


def _nothing_in_the_way(out: Path, paths: list[str]) -> None:
    """Refuse, before anything is staged, a folder where a file goes or something else where a folder goes (the
    swap would fail with a bare EPERM or EEXIST)."""
    fix = "move it out of the way or choose another --out"
    for path in paths:
        if (out / path).is_dir():
            raise WriteFailed(path, "a folder is where obsgen writes a file", True, fix)
    for folder in _missing_dirs(out, paths):
        if os.path.lexists(out / folder):
            raise WriteFailed(folder, "a file is where obsgen makes a folder", True, fix)


def _swap(out: Path, txn: Path, entries: list[_Entry], dirs: list[str]) -> None:
    _fs("replace", txn / JOURNAL, out / JOURNAL)
    _fs("fsync_dir", out)
    for directory in dirs:
        _fs("mkdir", out / directory)
    for entry in entries:
        target, backup = out / entry.path, txn / "old" / entry.path
        if entry.old:
            backup.parent.mkdir(parents=True, exist_ok=True)
            # a link keeps the previous version while the target stays whole; a stale file simply moves
            _fs("link" if entry.new else "replace", target, backup)
        if entry.new:
            _fs("replace", txn / "new" / entry.path, target)
    for directory in sorted({(out / e.path).parent for e in entries}):
        _fs("fsync_dir", directory)


def _rollback(out: Path, txn: Path, entries: list[_Entry], dirs: list[str]) -> bool:
    """Put back every previous version, remove what the run created; True when done (journal and txn gone)."""
    try:
        for entry in reversed(entries):
            target, backup = out / entry.path, txn / "old" / entry.path
            if entry.old and os.path.lexists(backup):
                if not (os.path.lexists(target) and _same(backup, target)):  # else never swapped: leave it
                    os.replace(backup, target)
            elif not entry.old and os.path.lexists(target):
                target.unlink()
        for directory in reversed(dirs):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):  # never made, or a file was in the way
                (out / directory).rmdir()
        _fsync_dir(out)
        (out / JOURNAL).unlink(missing_ok=True)
    except OSError:
        return False
    shutil.rmtree(txn, ignore_errors=True)
    return True


def _same(a: Path, b: Path) -> bool:
    """One file system entry (a hard link of it), links not followed: a backed-up symbolic link may dangle."""
    first, second = os.lstat(a), os.lstat(b)
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def recover(out: Path) -> bool:
    """Roll back a run that died while swapping files into ``out`` (its journal is still there), and remove
    leftover transaction directories. True if a run was rolled back.

    Raises ``WriteFailed`` if the journal cannot be read or the rollback cannot complete.
    """
    journal = out / JOURNAL
    found = journal.is_file()
    if found:
        txn, entries, dirs = _read_journal(journal)
        if not _rollback(out, out / txn, entries, dirs):
            raise WriteFailed(JOURNAL, "cannot roll back an interrupted run", rolled_back=False)
    for leftover in out.glob(f"{TXN_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return found


def _read_journal(journal: Path) -> tuple[str, list[_Entry], list[str]]:
    """The transaction directory, entries and created directories a journal names, each checked to lie inside
    the output directory: a rollback deletes what they name, and a journal is a file anyone could have put there."""
    fix = (f"the tree may be part old, part new: restore it (e.g. from version control), then delete {JOURNAL} "
           "and run again")
    try:
        data = json.loads(journal.read_text(encoding="utf-8"))
        txn, dirs = data["txn"], data["dirs"]
        entries = [_Entry(e["path"], e["new"], e["old"]) for e in data["entries"]]
        paths = [txn, *dirs, *(e.path for e in entries)]
        if not (all(isinstance(p, str) for p in paths) and all(isinstance(b, bool) for e in entries
                                                               for b in (e.new, e.old))):
            raise TypeError("a path that is not a string or a flag that is not true/false")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WriteFailed(JOURNAL, f"the journal of an interrupted run is unreadable ({exc})", False, fix) from None
    outside = [p for p in paths if not _reached(journal.parent, p)]
    if outside or "/" in txn or not txn.startswith(TXN_PREFIX):
        raise WriteFailed(JOURNAL, "the journal of an interrupted run names paths outside the output directory "
                          f"({', '.join(outside[:3]) or txn})", False, fix)
    return txn, entries, list(dirs)


def _relative(exc: OSError, out: Path) -> str:
    """The output path an OS error concerns, relative to ``out``; a staged or backed-up file is named by its
    target (``.obsgen-txn-*/new/<path>`` → ``<path>``), and a target is preferred to a staging path."""
    named: list[tuple[bool, str]] = []
    for name in (exc.filename2, exc.filename):
        if name is None:
            continue
        try:
            parts = Path(name).relative_to(out).parts
        except ValueError:
            return str(name)
        staged = bool(parts) and parts[0].startswith(TXN_PREFIX)
        named.append((staged, "/".join(parts[2:] if staged else parts) or "."))
    return min(named)[1] if named else "."


def _prune_empty_dirs(root: Path, directory: Path) -> None:
    while directory != root and not directory.is_symlink() and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def check_tree(tree: dict[str, str], out: Path) -> Drift:
    """Compare ``tree`` with the files under ``out`` without writing anything."""
    drift = Drift()
    owners = _owners(tree)
    chunks: list[str] = []
    for path, text in tree.items():
        owner = owners.get(path, STACK)  # the manifest itself belongs to the stack
        current = current_text(out / path)
        if current is None:
            drift.missing.append((owner, path))
        elif current != text:
            drift.changed.append((owner, path))
            chunks.extend(difflib.unified_diff(current.splitlines(keepends=True), text.splitlines(keepends=True),
                                               f"a/{path} (on disk)", f"b/{path} (generated)"))
    drift.stale = _stale(tree, out)
    drift.interrupted = (out / JOURNAL).is_file()
    drift.diff = "".join(line if line.endswith("\n") else line + "\n" for line in chunks)
    return drift
