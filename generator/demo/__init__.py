"""Built-in demo services: specs and what goes with them (typed facades).

``BUILTIN`` is the demo that ``obsgen`` uses when no spec is named.
"""

from __future__ import annotations

from obsgen.demo import movie_recommender as BUILTIN  # noqa: N812

__all__ = ["BUILTIN"]
