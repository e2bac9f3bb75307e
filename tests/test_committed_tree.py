"""The generated tree committed in the repository is current: CI fails on drift, as users' CI would."""

from __future__ import annotations

from click.testing import CliRunner
from obsgen.cli import main

from tests.conftest import ROOT


def test_committed_generated_tree_is_current() -> None:
    result = CliRunner().invoke(main, ["generate", "--check", "--out", str(ROOT)])
    assert result.exit_code == 0, "committed output is stale; run `obsgen generate`\n" + result.output[-3000:]
