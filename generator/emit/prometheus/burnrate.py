"""Exact, minute-by-minute arithmetic of the burn-rate alerts: when they fire and when they reset.

The generated promtool tests and the README's detection table both come from here, so the numbers a
reader sees are the ones promtool checks. The model is the one the rules implement:

* counters are sampled every minute (minute ``m`` closes the interval ``(m-1, m]`` with bad ratio
  ``r_m``) and every series starts at minute 0;
* a window of ``W`` minutes evaluated at minute ``t`` holds the samples from ``t-W`` (Prometheus 2:
  the range is closed on the left) or ``t-W+1`` (Prometheus 3: open on the left) up to ``t``; the
  ratio of two rates over the same samples is the mean bad ratio of the intervals between them
  (extrapolation scales numerator and denominator alike);
* a pair holds when both windows are above its threshold and the long window has history: its
  short-window record existed ``long - short`` ago (``present_over_time(… offset …)``), which is the
  same minute under both range conventions;
* an alert of one severity fires while any of its pairs holds (after the SLO's ``alert_delay``, if any).

``scenario`` picks the baseline of a test so that both range conventions give the same answer at every
minute and no window ever sits exactly on a threshold (where float rounding would decide), so the tests
pass on Prometheus 2.x and 3.x alike.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

Run = tuple[Fraction, int]
"""A bad-event ratio held for a number of minutes."""
BASELINES = tuple(Fraction(n, 20) for n in range(10, 0, -1))
"""Candidate baselines, as shares of the error budget: 0.05 % for a 0.1 % budget first, then lower."""
BASELINE_DIGITS = 10**7
"""Computed baselines are rounded to 7 decimals (then checked like the others)."""


@dataclass(frozen=True)
class Pair:
    """One window pair of one SLO, in minutes, with its bad-event ratio threshold."""

    long: int
    short: int
    threshold: Fraction
    severity: str

    @property
    def label(self) -> str:
        return f"{minutes_text(self.long)}/{minutes_text(self.short)}"


def fraction(value: Decimal) -> Fraction:
    return Fraction(value)


def minutes_text(minutes: int) -> str:
    """``90`` → ``1h30m``, ``2880`` → ``2d``; the duration style of the spec."""
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    text = (f"{days}d" if days else "") + (f"{hours}h" if hours else "") + (f"{mins}m" if mins else "")
    return text or "0m"


class Timeline:
    """Per-minute bad ratios with prefix sums, so any window's mean is two lookups (integers over one
    common denominator: Fractions would make a week of minutes slow)."""

    def __init__(self, runs: Sequence[Run]) -> None:
        self.scale = math.lcm(*(r.denominator for r, _ in runs))
        self.sums = [0]
        for ratio, minutes in runs:
            base, step = self.sums[-1], int(ratio * self.scale)
            self.sums.extend([base + step * i for i in range(1, minutes + 1)])

    @property
    def end(self) -> int:
        """The last sampled minute."""
        return len(self.sums) - 1

    def window(self, t: int, width: int, open_left: bool) -> Fraction | None:
        first = max(0, t - width + int(open_left))
        if t - first < 1:
            return None  # fewer than two samples: rate() has no value
        return Fraction(self.sums[t] - self.sums[first], (t - first) * self.scale)

    def signs(self, width: int, open_left: bool, threshold: Fraction) -> list[int | None]:
        """Per minute, the sign of (window mean - threshold), None without a value; integers only.

        A window spans ``span`` samples back: from minute ``span`` on, its sum is ``sums[t] - sums[t - span]``
        (built-in ``map``s over whole lists: a week of minutes per pair and scenario); before, it starts at 0."""
        sums, num, den = self.sums, threshold.numerator * self.scale, threshold.denominator
        n, span = len(sums), width - int(open_left)
        if span < 1:
            return [None] * n
        head: list[int | None] = [None]
        head += [((d := sums[t] * den - num * t) > 0) - (d < 0) for t in range(1, min(span, n))]
        limit = num * span
        return head + [(d > limit) - (d < limit) for d in map(den.__mul__, map(operator.sub, sums[span:], sums))]


def pair_states(timeline: Timeline, pair: Pair, open_left: bool) -> tuple[list[bool], int]:
    """Per minute whether the pair holds, and the first minute a window met the threshold exactly (a tie
    float rounding would decide; ``end + 1`` if none). Before ``long - short + 1`` the long window lacks
    history: the short-window record did not exist ``long - short`` ago."""
    long, short = (timeline.signs(w, open_left, pair.threshold) for w in (pair.long, pair.short))
    guard = max(0, pair.long - pair.short + 1)
    above = {1}.__contains__
    holds = [False] * min(guard, len(long))
    holds += map(operator.and_, map(above, long[guard:]), map(above, short[guard:]))
    ties = [signs.index(0) for signs in (long, short) if 0 in signs]
    return holds, min(ties, default=timeline.end + 1)


def _any(columns: Sequence[list[bool]]) -> list[bool]:
    """Per minute, whether any of ``columns`` (per-minute states of equal length) holds."""
    if len({len(column) for column in columns}) > 1:
        raise ValueError("per-minute states of different lengths")
    return functools.reduce(lambda a, b: list(map(operator.or_, a, b)), columns) if columns else []


def _delayed(holds: Sequence[bool], delay: int) -> list[bool]:
    """Firing per minute of a condition with ``for: delay`` (Prometheus: held since ``delay`` minutes)."""
    if delay == 0:  # the common case (no ``alert_delay``): firing while it holds
        return list(map(bool, holds))
    out, since = [], None
    for t, on in enumerate(holds):
        since = (t if since is None else since) if on else None
        out.append(since is not None and t - since >= delay)
    return out


def firing(timeline: Timeline, pairs: Sequence[Pair], delay: int = 0, open_left: bool = True) -> list[bool]:
    """Per minute 0..end: whether the alert of these pairs (one severity) is firing."""
    per_pair = [pair_states(timeline, p, open_left)[0] for p in pairs]
    return _delayed(_any(per_pair), delay)


def threshold_firing(timeline: Timeline, window: int, threshold: Fraction, delay: int,
                     open_left: bool = True) -> list[bool]:
    """A static ``ratio over window > threshold for delay`` alert on the same bad ratio."""
    return _delayed([sign == 1 for sign in timeline.signs(window, open_left, threshold)], delay)


def starts(states: Sequence[bool]) -> list[int]:
    """The minutes an alert goes from silent to firing."""
    return [t for t, on in enumerate(states) if on and (t == 0 or not states[t - 1])]


def first_start(states: list[bool]) -> list[int]:
    """``starts(states)[:1]``: the first minute firing is the first start (searched in C)."""
    return [states.index(True)] if True in states else []


@dataclass(frozen=True)
class Scenario:
    """Input runs (bad-event ratios) and each severity's firing per minute under Prometheus 3's range
    convention; ``closed`` under Prometheus 2's. Their firing starts agree; resets may differ by a minute."""

    name: str
    runs: tuple[Run, ...]
    states: dict[str, list[bool]]
    closed: dict[str, list[bool]]

    def agree(self, t: int) -> bool:
        return all(self.states[s][t] == self.closed[s][t] for s in self.states)


def _aligned_baselines(budget: Fraction, pairs: Sequence[Pair], shape: Sequence[tuple[Fraction | None, int]]
                       ) -> Iterator[Fraction]:
    """Baselines under which a step from the baseline to the shape's first burn crosses each pair's long
    window threshold at the same minute under both range conventions.

    With a full window of ``n`` intervals (Prometheus 3; Prometheus 2 sees ``n + 1``), ``k`` minutes into
    a burn ``r`` over baseline ``b`` the mean exceeds ``θ`` once ``k > n·x`` with ``x = (θ-b)/(r-b)``
    (Prometheus 2: ``k > (n+1)·x``). Both give the same first minute when ``n·x`` sits half a step
    ``(1-x)/2`` above an integer ``K``: ``x = (2K+1)/(2n+1)``, solved for ``b``. Lazily: the first usually
    serves (Fraction arithmetic is slow)."""
    burns = [r for r, _ in shape if r is not None]
    if not burns or shape[0][0] is not None:
        return
    rate, floor = burns[0], min(p.threshold for p in pairs)
    for pair in sorted(pairs, key=lambda p: p.long):
        if pair.threshold >= rate:
            continue
        n = pair.long - 1
        guess = (pair.threshold - budget / 2) / (rate - budget / 2) * n
        for k in sorted(range(int(guess) - 3, int(guess) + 4), key=lambda k: abs(k - guess)):
            x = Fraction(2 * k + 1, 2 * n + 1)
            exact = (pair.threshold - x * rate) / (1 - x) if 0 < x < 1 else Fraction(-1)
            baseline = Fraction(round(exact * BASELINE_DIGITS), BASELINE_DIGITS)  # short decimals in the tests
            if 0 <= baseline < floor * Fraction(9, 10):
                yield baseline


def in_steps(pairs: Sequence[Pair], step: int) -> tuple[Pair, ...]:
    """Pairs measured in evaluation steps; a window shorter than a step holds one sample at most, so
    ``rate()`` over it has no value (width 0)."""
    for p in pairs:
        for w in (p.long, p.short):
            if w >= step and w % step:
                raise ValueError(f"a {minutes_text(w)} window is not a whole number of {step}m steps")
    return tuple(Pair(p.long // step, p.short // step, p.threshold, p.severity) for p in pairs)


@functools.lru_cache(maxsize=256)
def scenario(name: str, budget: Fraction, pairs: tuple[Pair, ...], shape: tuple[tuple[Fraction | None, int], ...],
             delay: int = 0) -> Scenario:
    """Runs from a shape of (bad ratio, minutes) where ``None`` is the baseline, with the first baseline
    (as a share of ``budget``) under which Prometheus 2's and 3's range conventions fire at the same
    minutes and no window meets a threshold exactly before then. Cached: SLOs with one budget share scenarios."""
    severities = sorted({p.severity for p in pairs})
    for baseline in itertools.chain(_aligned_baselines(budget, pairs, shape), (share * budget for share in BASELINES)):
        runs = tuple((baseline if ratio is None else ratio, minutes) for ratio, minutes in shape)
        timeline = Timeline(runs)
        per_convention, first_tie = [], timeline.end + 1
        for open_left in (True, False):
            states = {}
            for sev in severities:
                results = [pair_states(timeline, p, open_left) for p in pairs if p.severity == sev]
                first_tie = min([first_tie, *(tie for _, tie in results)])
                states[sev] = _delayed(_any([h for h, _ in results]), delay)
            per_convention.append(states)
        firsts = [first_start(c[s]) for c in per_convention for s in severities]
        relevant = max((f[0] for f in firsts if f), default=timeline.end)
        if first_tie > relevant and all(first_start(per_convention[0][s]) == first_start(per_convention[1][s])
                                         for s in severities):
            return Scenario(name, runs, *per_convention)
    raise NoAgreement(f"scenario {name}: no baseline makes Prometheus 2 and 3 fire at the same minute")


class NoAgreement(ValueError):
    """Every candidate baseline leaves a detection minute to the range convention."""


def pair_timing(pair: Pair, rate: Fraction) -> tuple[int | None, int | None]:
    """(minutes from the start of a burn at ``rate`` to the pair firing, minutes from the end of a burn
    that filled the long window to the pair resetting), with full history and a clean baseline."""
    burn = Timeline(((Fraction(0), pair.long), (rate, 2 * pair.long), (Fraction(0), 2 * pair.long)))
    holds = pair_states(burn, pair, True)[0]
    fired = next((t for t in range(pair.long, len(holds)) if holds[t]), None)
    reset = next((t for t in range(3 * pair.long, len(holds)) if not holds[t]), None)
    return (None if fired is None else fired - pair.long), (None if reset is None else reset - 3 * pair.long)
