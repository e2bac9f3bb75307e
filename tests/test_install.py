"""`pip install .` into a clean virtualenv gives a working `obsgen` with its built-in spec, which writes
nothing into the installed package (its only cache, the compiled templates, goes to the user's cache dir)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

from tests.conftest import ROOT


def test_pip_install_in_a_clean_venv_then_generate(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", str(ROOT)], capture_output=True,
                             text=True, check=False, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    [package] = env_dir.glob("lib/python*/site-packages/obsgen")
    installed = sorted(package.rglob("*"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    out = tmp_path / "x"
    run = subprocess.run([str(env_dir / "bin" / "obsgen"), "generate", "--out", str(out)], capture_output=True,
                         text=True, check=False, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert (out / "alerting" / "movie-recommender" / "alerts.yml").is_file()
    check = subprocess.run([str(env_dir / "bin" / "obsgen"), "generate", "--check", "--out", str(out)],
                           capture_output=True, text=True, check=False, env=env)
    assert check.returncode == 0, check.stdout
    assert sorted(package.rglob("*")) == installed  # nothing written into site-packages
    assert list((tmp_path / "cache" / "obsgen" / "templates").glob("*.cache"))
    assert sys.prefix != str(env_dir)
