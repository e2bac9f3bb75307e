"""The writer is all or nothing: a failure at any file-system step, or a kill mid-swap, leaves the tree as it was.

Every change a run makes on disk goes through ``obsgen.write._fs``; the tests make the n-th call fail (an
``OSError``, as a full disk or a read-only directory would) or kill the process there (a forked child that
``os._exit``s), for every n, and compare the whole tree — files, bytes and directories — with the tree before.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from obsgen import write
from obsgen.write import JOURNAL, MANIFEST, TXN_PREFIX, WriteFailed, recover, write_tree

from tests.support.specs import FIXTURES

MAX_OPS = 40
"""More than one run of the scenario below makes (``test_the_scenario_makes_fewer_than_max_ops``)."""


def manifest(*paths: str) -> str:
    return "# test manifest\n" + "".join(f"stack {path}\n" for path in paths)


OLD = {
    ".env.example": "A=1\n", ".pint.hcl": "rule {}\n", "docker-compose.yml": "services: {}\n",
    "alerting/svc/alerts.yml": "groups: [old]\n", "alerting/gone/rules.yml": "groups: []\n",
}
OLD[MANIFEST] = manifest(*OLD)
NEW = {
    ".env.example": "A=2\n", ".pint.hcl": "rule {new}\n", "docker-compose.yml": "services: {}\n",
    "alerting/svc/alerts.yml": "groups: [new]\n", "dashboards/team/board.json": "{}\n", "otel/collector.yaml": "x\n",
}
NEW[MANIFEST] = manifest(*NEW)
"""Root files changed, one unchanged, a file replaced in a folder, new folders, a stale file and its folder."""


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every directory (None) under ``root``."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def expected(tree: dict[str, str], user_files: dict[str, str]) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for path, text in {**tree, **user_files}.items():
        parts = path.split("/")
        out.update({"/".join(parts[:i]): None for i in range(1, len(parts))})
        out[path] = text.encode()
    return dict(sorted(out.items()))


@pytest.fixture()
def old_tree(tmp_path: Path) -> Path:
    write_tree(OLD, tmp_path)
    (tmp_path / "notes.txt").write_text("not obsgen's\n")
    assert snapshot(tmp_path) == expected(OLD, {"notes.txt": "not obsgen's\n"})
    return tmp_path


def failing_at(n: int, fail: Callable[[str], None]) -> Callable[..., None]:
    """An ``_fs`` that calls ``fail`` instead of its n-th operation (1-based) and runs every other one."""
    real = write._fs
    count = 0

    def fs(op: str, *args: Path | str) -> None:
        nonlocal count
        count += 1
        if count == n:
            fail(op)
        real(op, *args)

    return fs


def test_the_scenario_makes_fewer_than_max_ops(old_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ops: list[str] = []
    real = write._fs
    monkeypatch.setattr(write, "_fs", lambda op, *args: (ops.append(op), real(op, *args)))
    write_tree(NEW, old_tree)
    assert {"write", "mkdir", "link", "replace", "fsync_dir"} <= set(ops)
    assert 10 < len(ops) < MAX_OPS
    assert snapshot(old_tree) == expected(NEW, {"notes.txt": "not obsgen's\n"})


@pytest.mark.parametrize("n", range(1, MAX_OPS + 1))
def test_a_failure_at_any_step_leaves_the_tree_byte_identical(n: int, old_tree: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(old_tree)

    def disk_full(op: str) -> None:
        raise OSError(28, "No space left on device", str(old_tree / "x"))

    monkeypatch.setattr(write, "_fs", failing_at(n, disk_full))
    try:
        write_tree(NEW, old_tree)
    except WriteFailed as exc:
        assert exc.rolled_back and exc.reason == "No space left on device"
        assert snapshot(old_tree) == before
    else:  # n is past the last operation: the run completed
        assert snapshot(old_tree) == expected(NEW, {"notes.txt": "not obsgen's\n"})


@pytest.mark.parametrize("n", range(1, MAX_OPS + 1, 3))
def test_a_kill_at_any_step_is_rolled_back_by_the_next_run(n: int, old_tree: Path) -> None:
    before = snapshot(old_tree)
    pid = os.fork()
    if pid == 0:  # the child dies at its n-th operation, as with SIGKILL: no cleanup, no rollback
        try:
            write._fs = failing_at(n, lambda op: os._exit(9))
            write_tree(NEW, old_tree)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 0:  # n is past the last operation
        assert snapshot(old_tree) == expected(NEW, {"notes.txt": "not obsgen's\n"})
        return
    swapping = (old_tree / JOURNAL).is_file()
    assert recover(old_tree) is swapping
    assert snapshot(old_tree) == before  # journal and transaction directory gone too
    write_tree(NEW, old_tree)
    assert snapshot(old_tree) == expected(NEW, {"notes.txt": "not obsgen's\n"})


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[None]:
    """No entry of ``directory`` can be created, renamed or removed (root ignores modes: the immutable flag)."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode:
            pytest.skip("running as root without chattr +i: cannot make a directory read-only")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)


def test_a_read_only_alerting_folder_exits_2_with_one_line_and_changes_nothing(tmp_path: Path) -> None:
    obsgen = [sys.executable, "-m", "obsgen.cli", "generate"]
    subprocess.run([*obsgen, "--out", str(tmp_path)], check=True, capture_output=True)
    before = snapshot(tmp_path)
    with read_only(tmp_path / "alerting"):
        result = subprocess.run([*obsgen, str(FIXTURES / "specs" / "checkout.yaml"), "--out", str(tmp_path)],
                                capture_output=True, text=True)
        after = snapshot(tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("obsgen: cannot write alerting/") and "nothing was changed" in line, line
    assert "Traceback" not in result.stderr
    assert after == before


def test_check_reports_an_interrupted_run_and_generate_repairs_it(old_tree: Path) -> None:
    before = snapshot(old_tree)
    (old_tree / JOURNAL).write_text('{"txn": ".obsgen-txn-dead", "dirs": [], "entries": []}')
    (old_tree / f"{TXN_PREFIX}dead").mkdir()
    assert write.check_tree(OLD, old_tree).interrupted
    assert not write.check_tree(OLD, old_tree).clean
    assert recover(old_tree)
    assert snapshot(old_tree) == before
    assert write.check_tree(OLD, old_tree).clean


@pytest.mark.parametrize("journal", [
    {"txn": "../victim", "dirs": [], "entries": []},
    {"txn": f"{TXN_PREFIX}x/../../victim", "dirs": [], "entries": []},
    {"txn": f"{TXN_PREFIX}x", "dirs": ["../victim/sub"], "entries": []},
    {"txn": f"{TXN_PREFIX}x", "dirs": [], "entries": [{"path": "../victim/file.txt", "new": True, "old": False}]},
    {"txn": f"{TXN_PREFIX}x", "dirs": [], "entries": [{"path": "VICTIM/file.txt", "new": True, "old": False}]},
    {"txn": f"{TXN_PREFIX}x", "dirs": [], "entries": [{"path": "link/file.txt", "new": True, "old": False}]},
    {"txn": f"{TXN_PREFIX}x", "dirs": [], "entries": [{"path": ["x"], "new": True, "old": False}]},
    [],
], ids=["txn-up", "txn-through", "dir-up", "entry-up", "entry-absolute", "entry-via-link", "entry-not-text",
        "not-an-object"])
def test_a_journal_naming_paths_outside_out_is_refused_and_nothing_is_deleted(
        journal: object, old_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A rollback deletes what the journal names, and the journal is a file anyone could have put in the tree."""
    victim = tmp_path_factory.mktemp("victim")
    (victim / "sub").mkdir()
    (victim / "file.txt").write_text("precious\n")
    text = json.dumps(journal).replace("../victim", os.path.relpath(victim, old_tree)).replace("VICTIM", str(victim))
    (old_tree / JOURNAL).write_text(text)
    if "link/" in text:
        (old_tree / "link").symlink_to(victim)
    before = snapshot(old_tree)
    with pytest.raises(WriteFailed) as failed:
        write_tree(NEW, old_tree)
    assert failed.value.path == JOURNAL and not failed.value.rolled_back
    assert f"delete {JOURNAL}" in failed.value.fix
    assert snapshot(victim) == {"file.txt": b"precious\n", "sub": None}
    assert snapshot(old_tree) == before


def test_an_unusable_journal_is_one_line_saying_what_to_do(old_tree: Path) -> None:
    (old_tree / JOURNAL).write_text("not json")
    result = subprocess.run([sys.executable, "-m", "obsgen.cli", "generate", "--out", str(old_tree)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == (f"obsgen: --out {old_tree}: {JOURNAL}: the journal of an interrupted run is unreadable "
                             "(Expecting value: line 1 column 1 (char 0)) — the tree may be part old, part new: "
                             f"restore it (e.g. from version control), then delete {JOURNAL} and run again\n")


@pytest.mark.parametrize("path,reason", [("dashboards", "a file is where obsgen makes a folder"),
                                         ("otel/collector.yaml", "a folder is where obsgen writes a file")])
def test_something_in_the_way_of_a_file_or_folder_fails_the_run_and_changes_nothing(
        path: str, reason: str, old_tree: Path) -> None:
    """A file where a folder goes failed mid-swap and left a journal no later run could roll back; a folder where
    a file goes was a bare "Operation not permitted"."""
    if path == "dashboards":
        (old_tree / path).write_text("a file, not a folder\n")
    else:
        (old_tree / path).mkdir(parents=True)
    before = snapshot(old_tree)
    with pytest.raises(WriteFailed) as failed:
        write_tree(NEW, old_tree)
    assert (failed.value.path, failed.value.reason, failed.value.rolled_back) == (path, reason, True)
    assert failed.value.fix == "move it out of the way or choose another --out"
    assert snapshot(old_tree) == before
    (old_tree / path).unlink() if path == "dashboards" else (old_tree / path).rmdir()
    write_tree(NEW, old_tree)
    assert snapshot(old_tree) == expected(NEW, {"notes.txt": "not obsgen's\n"})


def test_a_failed_folder_creation_is_rolled_back_even_with_a_file_in_its_place(
        old_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file appears after the checks (another program): the rollback must not fail on it."""
    real = write._fs

    def file_first(op: str, *args: Path | str) -> None:
        if op == "mkdir" and args[0] == old_tree / "dashboards":
            (old_tree / "dashboards").write_text("raced\n")
        real(op, *args)

    monkeypatch.setattr(write, "_fs", file_first)
    with pytest.raises(WriteFailed) as failed:
        write_tree(NEW, old_tree)
    assert failed.value.rolled_back
    assert not (old_tree / JOURNAL).exists()


def test_a_failed_run_puts_back_a_dangling_symbolic_link_it_replaced(old_tree: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """It counted the link as no file at all, so the rollback deleted the new file and the link was gone."""
    (old_tree / ".env.example").unlink()
    (old_tree / ".env.example").symlink_to("nowhere")
    before = snapshot(old_tree)
    real = write._fs

    def manifest_fails(op: str, *args: Path | str) -> None:
        if op == "replace" and args[1] == old_tree / MANIFEST:  # the last swap: every other path is swapped by then
            raise OSError(28, "No space left on device", str(args[1]))
        real(op, *args)

    monkeypatch.setattr(write, "_fs", manifest_fails)
    with pytest.raises(WriteFailed) as failed:
        write_tree(NEW, old_tree)
    assert failed.value.rolled_back
    assert snapshot(old_tree) == before
    assert os.readlink(old_tree / ".env.example") == "nowhere"
