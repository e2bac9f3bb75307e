"""The dashboard worker (``obsgen.offload``): same files as in-process, and a dead worker changes nothing.

Each check runs in a fresh interpreter: this test session has imported grafanalib already, and a worker is
only started where it has not been (nor is one forked from a test process's threads).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from obsgen.offload import ENV

from tests.support.specs import FIXTURES

GENERATE = """
import sys
from obsgen.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print("grafanalib" in sys.modules)
"""
KILLED = """
import os, signal, sys
from pathlib import Path
from obsgen.generate import build_tree, load_all
from obsgen.offload import DashboardWorker
worker = DashboardWorker.start()
assert worker is not None
os.kill(worker.pid, signal.SIGKILL)  # the worker dies before it gets the models
models = load_all([Path(sys.argv[1])])
with_dead_worker = build_tree(models, worker=worker)
print(with_dead_worker == build_tree(models) and any(p.startswith("dashboards/") for p in with_dead_worker))
"""
MULTICORE = sys.platform.startswith("linux") and len(os.sched_getaffinity(0)) > 1
"""Where ``obsgen.offload`` starts a worker at all."""


def run(code: str, *args: str, worker: bool = True) -> str:
    env = {**os.environ, ENV: "1" if worker else "0"}
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=True)
    return result.stdout.splitlines()[-1]


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_worker_writes_the_same_tree_as_one_process(tmp_path: Path) -> None:
    spec = str(FIXTURES / "specs" / "checkout.yaml")
    parent_imported = run(GENERATE, "generate", spec, "--out", str(tmp_path / "worker"))
    assert run(GENERATE, "generate", spec, "--out", str(tmp_path / "inline"), worker=False) == "True"
    assert tree(tmp_path / "worker") == tree(tmp_path / "inline")
    assert any(path.startswith("dashboards/") for path in tree(tmp_path / "worker"))
    if MULTICORE:  # the dashboards came from the worker: this process never imported grafanalib
        assert parent_imported == "False"


@pytest.mark.skipif(not MULTICORE, reason="no worker is started on one CPU")
def test_a_dead_worker_leaves_the_dashboards_to_this_process() -> None:
    assert run(KILLED, str(FIXTURES / "specs" / "checkout.yaml")) == "True"
