"""Shared fixtures: the default model, the specs every tool-backed check runs on, the repository root, and
the real tools the tests drive."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.model import Model
from obsgen.spec import load_default

from tests.support.specs import SPEC_CASES, SpecCase

ROOT = Path(__file__).resolve().parent.parent
TOOLS_BIN = Path.home() / ".cache" / "obsgen-tools" / "bin"


@pytest.fixture(scope="session")
def model() -> Model:
    return load_default()


def find_tool(name: str) -> str:
    """Path of a real tool installed by scripts/install-tools.sh; a missing tool fails the test.

    Failing rather than skipping is deliberate: a skipped check would let CI pass without the proof.
    """
    found = shutil.which(name, path=os.pathsep.join([str(TOOLS_BIN), os.environ.get("PATH", "")]))
    if found is None:
        pytest.fail(f"{name} is not installed: run scripts/install-tools.sh (the README's test command does)")
    return found


@pytest.fixture(scope="session", params=SPEC_CASES, ids=str)
def spec_case(request: pytest.FixtureRequest) -> SpecCase:
    """Each spec the generic checks run on: the built-in one and the checkout fixture (tests/support/specs.py)."""
    return request.param


@pytest.fixture(scope="module")
def spec_tree(spec_case: SpecCase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output tree of ``spec_case``, generated once per test module and spec."""
    out = tmp_path_factory.mktemp(f"tree-{spec_case.name}")
    result = CliRunner().invoke(main, ["generate", *spec_case.spec_args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out
