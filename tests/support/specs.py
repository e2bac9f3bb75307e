"""The specs every tool-backed check runs on: the built-in one and the checkout fixture of another domain.

A ``SpecCase`` names a spec, its model, where its generated tree is committed, and the synthetic day
the real-Prometheus proof feeds it. Generic tests take names (alerts, tiles, files) from the model or
the emitters, never from literals, so a third spec is one more entry in ``SPEC_CASES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from obsgen.generate import load
from obsgen.model import Model

from tests.support.synthetic import Day, RecommenderDay

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


@dataclass(frozen=True)
class SpecCase:
    name: str
    spec: Path | None
    """The spec file; None for the built-in spec."""
    committed: Path
    """Where the spec's generated tree is committed in the repository."""
    day: type[Day]
    """The synthetic day's traffic model (``Day`` derives one from the model alone)."""

    @cached_property
    def model(self) -> Model:
        return load(self.spec)

    @property
    def spec_args(self) -> list[str]:
        """The SPEC argument of ``obsgen generate``/``validate`` (none for the built-in spec)."""
        return [] if self.spec is None else [str(self.spec)]

    def __str__(self) -> str:
        return self.name


BUILTIN = SpecCase("movie-recommender", None, ROOT, RecommenderDay)
CHECKOUT = SpecCase("checkout", FIXTURES / "specs" / "checkout.yaml", FIXTURES / "trees" / "checkout", Day)
SPEC_CASES = (BUILTIN, CHECKOUT)
