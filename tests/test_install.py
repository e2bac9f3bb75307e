"""`pip install .` into a clean virtualenv gives a working `obsgen` with its built-in spec."""

from __future__ import annotations

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
    out = tmp_path / "x"
    run = subprocess.run([str(env_dir / "bin" / "obsgen"), "generate", "--out", str(out)], capture_output=True,
                         text=True, check=False, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (out / "alerting" / "movie-recommender" / "alerts.yml").is_file()
    check = subprocess.run([str(env_dir / "bin" / "obsgen"), "generate", "--check", "--out", str(out)],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout
    assert sys.prefix != str(env_dir)
