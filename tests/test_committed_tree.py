"""The generated trees committed in the repository are current: CI fails on drift, as users' CI would."""

from __future__ import annotations

from click.testing import CliRunner
from obsgen.cli import main

from tests.support.specs import SpecCase


def test_committed_generated_tree_is_current(spec_case: SpecCase) -> None:
    result = CliRunner().invoke(main, ["generate", *spec_case.spec_args, "--check", "--out", str(spec_case.committed)])
    assert result.exit_code == 0, (f"committed output of {spec_case} is stale; run `obsgen generate "
                                   f"{' '.join(spec_case.spec_args)} --out {spec_case.committed}`\n"
                                   + result.output[-3000:])
