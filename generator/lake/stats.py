"""Interval and test statistics of the rollups (closed forms: both engines share them exactly)."""

from __future__ import annotations

import math

Z95 = 1.959963984540054
"""Two-sided 95 % normal quantile."""


def wilson(successes: float, trials: float, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion; None without trials or when it is no proportion."""
    if trials <= 0 or not 0 <= successes <= trials:
        return None
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    return low, 1.0 if successes == trials else min(1.0, centre + half)


def two_proportion_z(x1: float, n1: float, x0: float, n0: float) -> tuple[float, float] | None:
    """Pooled two-proportion z-test of arm 1 against arm 0: ``(z, two-sided p)``; None when undefined."""
    if n1 <= 0 or n0 <= 0 or not (0 <= x1 <= n1 and 0 <= x0 <= n0):
        return None
    pooled = (x1 + x0) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    if se == 0:
        return None
    z = (x1 / n1 - x0 / n0) / se
    return z, math.erfc(abs(z) / math.sqrt(2))
