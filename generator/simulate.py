"""Synthetic traffic for the movie recommender: the app behind ``obsgen simulate``.

A simulated day of recommendation journeys (request → ranking → impressions → clicks, and errors),
emitted through the instrumentation runtime (``obsgen.runtime.Telemetry``) exactly as the service
would emit them, so everything downstream (collector, Prometheus, Loki, the generated rules and
dashboards, Alertmanager, the kill-switches) sees real telemetry.

The traffic, with defaults that keep every generated alert quiet:

* volume follows a diurnal curve (20% of the peak at 08:00 UTC, the peak at 20:00 UTC);
* users are a fixed population with a cohort, region, locale and device, and a sticky experiment
  bucket drawn with the spec's planned split (indicator ``traffic_allocation.planned``);
  power users come back more often; sessions span a few requests;
* warm users mostly hit the recommendation cache, cold users mostly miss and are slower; misses
  sometimes fall back (popular, editorial, cached); a few lists come back short of ``k``;
* each request shows a few of its items, clicked (or played, saved, ...) a few percent of the time,
  a little more in treatment;
* rare errors: feature-store and cache timeouts (warnings), ranker timeouts served by the popular
  fallback (error), upstream failures that fail the request (critical);
* ``incidents`` break one thing on purpose (``INCIDENTS``), in a window of the run.

Kill-switches are read per tick from the runtime's ``KillSwitchState``: with ``disable_experiment`` (or
``pause_experiment``) on, every request is served from control; ``use_cached_recommendations`` serves
cached lists; ``disable_cache`` bypasses the cache.

Time: the simulated clock runs ``speedup`` times faster than the wall clock and only shapes the traffic
(diurnal curve, incident window, data age). Events carry the wall-clock time, so the stack stores
them as they arrive. ``rate`` is journeys per wall-clock second at the day's peak.

Determinism: journeys are drawn from ``random.Random(seed)`` and the schedule (journeys per tick) from a
second generator, so a seed gives the same journeys on any machine, at any speed, paced or not, as long
as the kill-switches flip at the same journeys (they are input from outside).

Raw user ids look like ``viewer-00042.s1@sim.example`` and raw session ids like ``sess-1-42-3``: they
only ever reach the runtime, which pseudonymises them (``Simulation.raw_ids`` lists them, so a test
can search the stores for them). Some error messages quote the user's address, which the runtime
scrubs to ``<email>``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obsgen.model import Model

if TYPE_CHECKING:  # the runtime (OpenTelemetry SDK) is imported when used: `obsgen generate` never pays for it
    from obsgen.runtime import Telemetry
    from obsgen.runtime.killswitch_receiver import KillSwitchReceiver

INCIDENTS: dict[str, str] = {
    "error-burst": "treatment's ranker times out on 25% of its requests (error, served by the popular "
                   "fallback) and the API fails 3% of them (critical)",
    "latency": "treatment's ranker is 6x slower (warm p95 far above 100 ms)",
    "stale": "the feature snapshot stops refreshing: the ranker's data is 16 minutes old and ageing",
    "imbalance": "the allocator skews: 80% of requests land in treatment",
}
EXPERIMENT_SWITCHES = ("disable_experiment", "pause_experiment")
"""Kill-switches that take the experiment out of traffic: every request is served from control."""
DEFAULT_EXPORT_INTERVAL_S = 5.0
"""Metric export interval when neither ``--export-interval`` nor ``OTEL_METRIC_EXPORT_INTERVAL`` is set."""

# -- the traffic model (weights and rates; the comments say which alert each value keeps quiet) ------
COHORTS = {"new": 0.15, "casual": 0.40, "engaged": 0.30, "power": 0.15}
ACTIVITY = {"new": 1.0, "casual": 1.0, "engaged": 3.0, "power": 8.0}
"""How often a user of each cohort comes back, relatively."""
REGIONS = {"na": 0.40, "eu": 0.30, "apac": 0.20, "latam": 0.10}
LOCALES = {"na": ("en-US", "en-CA", "es-US"), "eu": ("en-GB", "de-DE", "fr-FR", "es-ES"),
           "apac": ("ja-JP", "en-AU", "ko-KR", "en-IN"), "latam": ("pt-BR", "es-MX", "es-AR")}
DEVICES = {"web": 0.35, "ios": 0.25, "android": 0.25, "tv": 0.15}
SURFACES = {"home": 0.55, "search": 0.20, "detail": 0.20, "email": 0.05}
TOP_K = {"home": 20, "search": 10, "detail": 12, "email": 6}
VISIBLE = {"home": 6, "search": 5, "detail": 4, "email": 3}
"""Items a surface shows at once (impressions per request, give or take one)."""
SESSION_END = 0.3
"""Chance that a session ends after each request: about 3.3 requests a session (session depth about 17 > 5)."""
OPEN_SESSIONS = 500
"""Sessions open at once; the next request continues one of them unless it starts a new one."""
ENGAGEMENTS = {"click": 0.55, "play": 0.20, "trailer": 0.10, "save": 0.10, "add_to_list": 0.05}
DWELL_MEDIAN_MS = {"click": 20_000.0, "play": 600_000.0, "trailer": 90_000.0, "save": 8_000.0,
                   "add_to_list": 6_000.0}
VISIBLE_MS_MU = math.log(1500)
"""Log-normal median of how long an item stays visible: 1.5 s."""
CTR_TOP = 0.06
"""Engagement chance of position 1, decaying as 1/sqrt(position): CTR about 3.5%, Recall@K about 0.2."""
LIFT = {"control": 1.0, "treatment": 1.12}
SPEED = {"control": 1.0, "treatment": 0.9}
CACHE = {"warm": {"hit": 0.88, "miss": 0.10, "bypass": 0.02}, "cold": {"hit": 0.45, "miss": 0.55, "bypass": 0.0}}
"""Warm hit rate 88%: above the 85% SLO and the 70% alert."""
LATENCY_MEDIAN_MS = {("warm", "hit"): 8.0, ("warm", "miss"): 30.0, ("warm", "bypass"): 30.0,
                     ("cold", "hit"): 12.0, ("cold", "miss"): 80.0, ("cold", "bypass"): 80.0}
"""Log-normal medians (sigma 0.5): warm p95 about 40 ms (SLO 50), cold p95 about 170 ms (SLO 200)."""
ALGORITHMS = {"warm": {"hybrid": 0.75, "collaborative": 0.15, "content_based": 0.10},
              "cold": {"popularity": 0.80, "content_based": 0.20}}
DATA_AGE_OFFSET_S = {"hybrid": 0, "collaborative": 120, "content_based": 240, "popularity": 360}
"""Each ranker's snapshot refreshes every 10 simulated minutes, at its own offset: ages 60..660 s."""
FALLBACK_ON_MISS = {"warm": ("popular", 0.04), "cold": ("editorial", 0.06)}
SHORT_LIST = 0.003
"""Lists that come back 1-3 items short of k: fill rate about 99.9% (SLO 99%)."""
WARNINGS = (("feature_store", "FEATURE_TIMEOUT", 0.004, "feature store read for {user} timed out after 30 ms"),
            ("cache", "CACHE_UNAVAILABLE", 0.002, "recommendation cache unavailable; bypassing it"))
RANKER_TIMEOUT = 0.0003
UPSTREAM_FAILURE = 0.00005
"""Baseline error ratio (severity error or critical) about 0.035% (SLO 0.1%, alert 1%)."""
BURST_RANKER_TIMEOUT = 0.25
BURST_UPSTREAM_FAILURE = 0.03


def diurnal(minute_of_day: float) -> float:
    """Traffic factor over the day: 0.2 at 08:00 UTC, 1.0 at 20:00 UTC."""
    hour = (minute_of_day / 60) % 24
    return 0.6 + 0.4 * math.cos(2 * math.pi * (hour - 20) / 24)


def planned_split(model: Model) -> dict[str, float]:
    """The bucket split the spec plans (a ``share`` indicator over ``bucket``), else an even split."""
    for indicator in model.indicators:
        if indicator.kind == "share" and indicator.label == "bucket" and indicator.planned:
            return {bucket: float(share) for bucket, share in indicator.planned.items()}
    buckets = model.attributes["bucket"].enum or ("control", "treatment")
    return dict.fromkeys(buckets, 1 / len(buckets))


def clock(minute: float, end: bool = False) -> str:
    """``HH:MM`` of a minute of the simulated day; ``end`` shows midnight after a run as 24:00."""
    if end and minute > 0 and minute % 1440 == 0:
        return "24:00"
    minute %= 1440
    return f"{int(minute // 60):02d}:{int(minute % 60):02d}"


def parse_clock(text: str) -> float:
    """``HH:MM`` → minutes after midnight."""
    try:
        hours, minutes = text.split(":")
        value = int(hours) * 60 + int(minutes)
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day; use HH:MM, e.g. 20:00") from None
    if not 0 <= int(hours) < 24 or not 0 <= int(minutes) < 60:
        raise ValueError(f"{text!r} is not a time of day; use HH:MM between 00:00 and 23:59")
    return float(value)


@dataclass(frozen=True)
class SimulationConfig:
    minutes: float = 1440.0
    """Simulated minutes to run (1440: a whole day)."""
    start_minute: float = 0.0
    """Minute of the simulated day the run starts at (0: 00:00 UTC)."""
    speedup: float = 1440.0
    """Simulated seconds per wall-clock second (1440: a day in a minute)."""
    rate: float = 20.0
    """Journeys per wall-clock second at the day's peak."""
    pace: bool = True
    """False: emit the same journeys as fast as possible (no sleeping)."""
    seed: int = 1
    incidents: tuple[str, ...] = ()
    incident_at: float = 0.0
    """Simulated minutes after the start when the incidents begin."""
    incident_minutes: float | None = None
    """How long they last, in simulated minutes (None: to the end of the run)."""
    experiment_id: str = "ranker-v2"
    users: int = 20_000
    catalogue: int = 5000
    tick_s: float = 0.1
    """Wall-clock seconds per scheduling tick (kill-switches are read once a tick)."""

    def check(self) -> None:
        """Raise ``ValueError`` naming every bad setting."""
        problems = []
        for name in ("minutes", "speedup", "rate", "tick_s"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive (got {getattr(self, name)})")
        if self.users < 1 or self.catalogue < 100:
            problems.append("users must be at least 1 and catalogue at least 100")
        unknown = [i for i in self.incidents if i not in INCIDENTS]
        if unknown:
            problems.append(f"unknown incident(s) {', '.join(unknown)}; choose from {', '.join(INCIDENTS)}")
        if self.incident_at < 0 or (self.incident_minutes is not None and self.incident_minutes <= 0):
            problems.append("the incident window must start at or after 0 and last a positive time")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass
class Tally:
    """What the simulation sent: events per type, and the totals each spec metric should show."""

    events: Counter[str] = field(default_factory=Counter)
    metrics: Counter[str] = field(default_factory=Counter)
    """Expected value of each counter (and each histogram's count), by OTel metric name."""
    requests_by_bucket: Counter[str] = field(default_factory=Counter)
    errors_by_severity: Counter[str] = field(default_factory=Counter)
    cache: Counter[str] = field(default_factory=Counter)
    fallbacks: Counter[str] = field(default_factory=Counter)
    engagements: Counter[str] = field(default_factory=Counter)
    requests_by_bucket_while_disabled: Counter[str] = field(default_factory=Counter)
    """Requests made while an experiment kill-switch was on (all should be control)."""
    errors_while_disabled: int = 0


@dataclass
class Transition:
    name: str
    active: bool
    wall_time: float
    """Unix time the simulation noticed the change."""
    sim_minute: float
    journeys_before: int


@dataclass
class Summary:
    config: SimulationConfig
    tally: Tally
    journeys: int
    wall_seconds: float
    sim_minutes: float
    transitions: list[Transition]
    dropped: dict[str, int]
    max_lag_s: float
    stopped_early: bool
    endpoint: str
    protocol: str
    instance_id: str
    samples: dict[str, list[str]]
    """A few request ids per event type (the first ones sent), to look events up in the stores."""
    started_at: float
    ended_at: float

    @property
    def total_events(self) -> int:
        return sum(self.tally.events.values())

    @property
    def events_per_second(self) -> float:
        return self.total_events / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        t = self.tally
        cfg = self.config
        return {
            "service_instance_id": self.instance_id, "endpoint": self.endpoint, "protocol": self.protocol,
            "seed": cfg.seed, "journeys": self.journeys, "events": dict(sorted(t.events.items())),
            "total_events": self.total_events, "metrics": dict(sorted(t.metrics.items())),
            "requests_by_bucket": dict(sorted(t.requests_by_bucket.items())),
            "errors_by_severity": dict(sorted(t.errors_by_severity.items())),
            "cache": dict(sorted(t.cache.items())), "fallbacks": dict(sorted(t.fallbacks.items())),
            "engagements": dict(sorted(t.engagements.items())),
            "requests_by_bucket_while_experiment_off": dict(sorted(t.requests_by_bucket_while_disabled.items())),
            "errors_while_experiment_off": t.errors_while_disabled,
            "kill_switch_transitions": [vars(x) for x in self.transitions],
            "incidents": list(cfg.incidents), "dropped": dict(self.dropped),
            "wall_seconds": round(self.wall_seconds, 3), "sim_minutes": round(self.sim_minutes, 3),
            "events_per_second": round(self.events_per_second, 1), "max_lag_s": round(self.max_lag_s, 3),
            "stopped_early": self.stopped_early, "started_at": self.started_at, "ended_at": self.ended_at,
            "samples": self.samples,
        }


@dataclass
class _User:
    index: int
    raw_id: str
    cohort: str
    state: str
    region: str
    locale: str
    device: str
    bucket: str
    session: str | None = None
    sessions: int = 0
    open: bool = False


def _cumulative(weights: Mapping[str, float]) -> tuple[list[str], list[float]]:
    keys = list(weights)
    total = 0.0
    cum = []
    for k in keys:
        total += weights[k]
        cum.append(total)
    return keys, cum


_SURFACES = _cumulative(SURFACES)
_ALGORITHMS = {state: _cumulative(weights) for state, weights in ALGORITHMS.items()}
_ENGAGEMENTS = _cumulative(ENGAGEMENTS)
"""(population, cum_weights) pairs for ``random.choices``: the same draws as ``weights=``, computed once."""


def _destination(rt: Telemetry) -> str:
    """Where the runtime sends, for the summary: the endpoint, or what the exporters fall back to."""
    if all(os.environ.get(f"OTEL_{s}_EXPORTER", "").strip().lower() == "none" for s in ("TRACES", "LOGS", "METRICS")):
        return "nowhere (OTEL_TRACES/LOGS/METRICS_EXPORTER=none)"
    if rt.config.endpoint:
        return rt.config.endpoint
    if any(os.environ.get(f"OTEL_EXPORTER_OTLP_{s}_ENDPOINT") for s in ("TRACES", "LOGS", "METRICS")):
        return "the OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT addresses"
    default = "localhost:4317" if rt.config.protocol == "grpc" else "http://localhost:4318"
    return f"{default} (the SDK default)"


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 50:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class Simulation:
    """Drives ``rt`` with the configured synthetic traffic; ``run()`` returns what was sent."""

    def __init__(self, rt: Telemetry, config: SimulationConfig | None = None) -> None:
        self.rt = rt
        self.config = cfg = config or SimulationConfig()
        cfg.check()
        self.model = rt.model
        self._rng = random.Random(cfg.seed)
        self._schedule = random.Random(f"schedule-{cfg.seed}")
        self.split = planned_split(self.model)
        self.tally = Tally()
        self.samples: dict[str, list[str]] = {}
        self.transitions: list[Transition] = []
        self.journeys = 0
        self._flags = dict.fromkeys(rt.kill_switches.names, False)
        self._count_metric = self._count_metrics()
        self._build_population()
        self._build_catalogue()

    # -- the population and the catalogue --------------------------------------------------------------

    def _count_metrics(self) -> dict[str, str]:
        """Event → its metric counting one per event (a counter, or a histogram of a required field)."""
        out = {}
        for event in self.model.events:
            for m in event.metrics:
                if m.once_per is None and ((m.instrument == "counter" and m.value is None)
                                           or (m.instrument == "histogram" and m.value in event.required)):
                    out[event.name] = m.name
                    break
        return out

    def _build_population(self) -> None:
        rng = self._rng
        cfg = self.config
        cohorts, cohort_cum = _cumulative(COHORTS)
        regions, region_cum = _cumulative(REGIONS)
        devices, device_cum = _cumulative(DEVICES)
        buckets, bucket_cum = _cumulative(self.split)
        self.users: list[_User] = []
        for i in range(cfg.users):
            cohort = rng.choices(cohorts, cum_weights=cohort_cum)[0]
            region = rng.choices(regions, cum_weights=region_cum)[0]
            raw = f"viewer-{i:05d}.s{cfg.seed}@sim.example"
            # Sticky assignment, as an experiment platform does it: a hash of experiment and user.
            digest = hashlib.sha256(f"{cfg.experiment_id}:{raw}".encode()).digest()
            u = int.from_bytes(digest[:8], "big") / 2**64 * bucket_cum[-1]
            bucket = next(b for b, c in zip(buckets, bucket_cum, strict=True) if u < c)
            self.users.append(_User(i, raw, cohort, "cold" if cohort == "new" else "warm", region,
                                    rng.choice(LOCALES[region]), rng.choices(devices, cum_weights=device_cum)[0],
                                    bucket))
        self._user_cum = list(_cumulative({str(u.index): ACTIVITY[u.cohort] for u in self.users})[1])
        self._user_index = range(len(self.users))
        self._open: list[_User] = []

    def _build_catalogue(self) -> None:
        rng = self._rng
        genres = self.model.attributes["genre"].enum or ("other",)
        providers = self.model.attributes["provider"].enum or ("other",)
        self.items = [f"tt{1_000_000 + i:07d}" for i in range(self.config.catalogue)]
        self.item_info = {item: (genres[i % len(genres)] if rng.random() < 0.7 else rng.choice(genres),
                                 providers[(i // len(genres)) % len(providers)])
                          for i, item in enumerate(self.items)}

    @property
    def raw_ids(self) -> list[str]:
        """Every raw user and session id the simulation handed to the runtime so far."""
        out = [u.raw_id for u in self.users]
        out += [f"sess-{self.config.seed}-{u.index}-{n}" for u in self.users for n in range(1, u.sessions + 1)]
        return out

    # -- the run ---------------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None, on_tick: Callable[[int], None] | None = None,
            on_switch: Callable[[Transition], None] | None = None) -> Summary:
        cfg = self.config
        sim_step = cfg.tick_s * cfg.speedup
        ticks = max(1, math.ceil(cfg.minutes * 60 / sim_step))
        started = time.time()
        t0 = time.monotonic()
        max_lag = 0.0
        stopped = False
        done_ticks = 0
        for i in range(ticks):
            if stop is not None and stop.is_set():
                stopped = True
                break
            elapsed = i * sim_step
            self._read_switches(elapsed, on_switch)
            lam = cfg.rate * diurnal(cfg.start_minute + elapsed / 60) * cfg.tick_s
            n = _poisson(self._schedule, lam)
            tick_start = t0 + i * cfg.tick_s
            for j in range(n):
                if cfg.pace:
                    due = tick_start + cfg.tick_s * j / n
                    delay = due - time.monotonic()
                    if delay > 0.002:
                        time.sleep(delay)
                    elif -delay > max_lag:
                        max_lag = -delay
                self._journey(elapsed + sim_step * j / n)
            done_ticks = i + 1
            if on_tick is not None:
                on_tick(i)
        rest = t0 + ticks * cfg.tick_s - time.monotonic()
        if cfg.pace and not stopped and rest > 0:  # the last tick lasts its time too
            if stop is not None:
                stop.wait(rest)
            else:
                time.sleep(rest)
        wall = time.monotonic() - t0
        return Summary(
            config=cfg, tally=self.tally, journeys=self.journeys, wall_seconds=wall,
            sim_minutes=min(done_ticks * sim_step / 60, cfg.minutes), transitions=list(self.transitions),
            dropped=self.rt.dropped, max_lag_s=max_lag, stopped_early=stopped,
            endpoint=_destination(self.rt),
            protocol=str(self.rt.config.protocol),
            instance_id=str(self.rt.resource.attributes.get("service.instance.id", "")),
            samples=self.samples, started_at=started, ended_at=time.time())

    def _read_switches(self, elapsed_s: float, on_switch: Callable[[Transition], None] | None) -> None:
        current = self.rt.kill_switches.snapshot()
        if current != self._flags:
            for name, active in current.items():
                if self._flags.get(name) != active:
                    transition = Transition(name, active, time.time(), self.config.start_minute + elapsed_s / 60,
                                            self.journeys)
                    self.transitions.append(transition)
                    if on_switch is not None:
                        on_switch(transition)
            self._flags = current

    def _incident(self, name: str, elapsed_s: float) -> bool:
        cfg = self.config
        if name not in cfg.incidents:
            return False
        start = cfg.incident_at * 60
        return elapsed_s >= start and (cfg.incident_minutes is None or elapsed_s < start + cfg.incident_minutes * 60)

    def _sample(self, event: str, request_id: str | None) -> None:
        if request_id is None:
            return
        kept = self.samples.setdefault(event, [])
        if len(kept) < 5:
            kept.append(request_id)

    def _journey(self, elapsed_s: float) -> None:
        """One recommendation request and what follows it."""
        rt, rng, t, cfg = self.rt, self._rng, self.tally, self.config
        r = rng.random
        flags = self._flags
        self.journeys += 1

        user = self._next_user()
        experiment_off = any(flags.get(s) for s in EXPERIMENT_SWITCHES)
        if experiment_off:
            bucket = "control"
        elif self._incident("imbalance", elapsed_s):
            bucket = "treatment" if r() < 0.8 else "control"
        else:
            bucket = user.bucket
        surface = rng.choices(_SURFACES[0], cum_weights=_SURFACES[1])[0]
        k = TOP_K[surface]
        state = user.state
        treatment = bucket == "treatment"
        burst = treatment and self._incident("error-burst", elapsed_s)
        u = r()
        critical = u < (BURST_UPSTREAM_FAILURE if burst else UPSTREAM_FAILURE)
        ranker_timeout = not critical and u < (BURST_UPSTREAM_FAILURE + BURST_RANKER_TIMEOUT if burst
                                               else UPSTREAM_FAILURE + RANKER_TIMEOUT)
        filters = None
        if r() < 0.3:
            filters = {"genres": [rng.choice(self.model.attributes["genre"].enum or ("other",))],
                       "maturity_rating": rng.choice(("g", "pg", "pg-13", "r"))}

        t.events["request"] += 1
        t.metrics[self._count_metric.get("request", "recsys.requests")] += 1
        t.requests_by_bucket[bucket] += 1
        if experiment_off:
            t.requests_by_bucket_while_disabled[bucket] += 1
        with rt.request(user_id=user.raw_id, session_id=user.session, experiment_id=cfg.experiment_id,
                        bucket=bucket, k=k, cohort=user.cohort, user_state=state, region=user.region,
                        locale=user.locale, surface=surface, device_type=user.device, filters=filters) as req:
            rid = req.request_id
            if critical:
                self._error(rid, "api", "critical", "UPSTREAM_UNAVAILABLE",
                            f"catalogue upstream returned 503 while serving {user.raw_id}", experiment_off)
                return
            for component, code, rate, text in WARNINGS:
                if r() < rate:
                    self._error(rid, component, "warning", code, text.format(user=user.raw_id), experiment_off)
            if ranker_timeout:
                self._error(rid, "ranker", "error", "RANKER_TIMEOUT", "ranker timed out after 250 ms; "
                            "served the popular fallback", experiment_off)
            items = self._ranking(user, bucket, state, k, ranker_timeout, elapsed_s)
        self._impressions(rid, user, bucket, surface, items)

    def _next_user(self) -> _User:
        """Continue an open session (ending it now and then), or a user (by activity) starts a new one."""
        rng, open_ = self._rng, self._open
        # Continuing is likelier the more sessions are open, which keeps about OPEN_SESSIONS open.
        if open_ and rng.random() < len(open_) / (len(open_) + OPEN_SESSIONS * SESSION_END / (1 - SESSION_END)):
            i = rng.randrange(len(open_))
            user = open_[i]
        else:
            user = self.users[rng.choices(self._user_index, cum_weights=self._user_cum)[0]]
            user.sessions += 1
            user.session = f"sess-{self.config.seed}-{user.index}-{user.sessions}"
            self.tally.metrics["recsys.sessions"] += 1
            if not user.open:
                user.open = True
                open_.append(user)
                i = len(open_) - 1
            else:
                i = open_.index(user)
        if rng.random() < SESSION_END:
            open_[i] = open_[-1]
            open_.pop()
            user.open = False
        return user

    def _error(self, rid: str | None, component: str, severity: str, code: str, message: str,
               experiment_off: bool) -> None:
        t = self.tally
        self.rt.error(component=component, severity=severity, error_code=code, message=message)
        t.events["error"] += 1
        t.metrics[self._count_metric.get("error", "recsys.errors")] += 1
        t.errors_by_severity[severity] += 1
        if experiment_off:
            t.errors_while_disabled += 1
        self._sample("error", rid)

    def _ranking(self, user: _User, bucket: str, state: str, k: int, timed_out: bool,
                 elapsed_s: float) -> list[str]:
        rng, t, flags = self._rng, self.tally, self._flags
        r = rng.random
        cache_w = CACHE[state]
        if flags.get("disable_cache"):
            cache = "bypass"
        else:
            x = r()
            cache = "hit" if x < cache_w["hit"] else ("miss" if x < cache_w["hit"] + cache_w["miss"] else "bypass")
        algorithms, cum = _ALGORITHMS[state]
        algorithm = rng.choices(algorithms, cum_weights=cum)[0]
        fallback = "none"
        if timed_out:
            fallback, algorithm = "popular", "popularity"
        elif flags.get("use_cached_recommendations"):
            fallback, cache = "cached", "hit"
        elif cache == "bypass":
            fallback = "cached" if r() < 0.5 else "none"
        elif cache == "miss":
            step, p = FALLBACK_ON_MISS[state]
            if r() < p:
                fallback = step
                algorithm = "popularity"
        median = LATENCY_MEDIAN_MS[(state, cache)] * SPEED[bucket]
        if timed_out:
            median = 260.0
        elif bucket == "treatment" and self._incident("latency", elapsed_s):
            median *= 6
        latency = round(rng.lognormvariate(math.log(median), 0.5), 3)
        coverage = min(1.0, max(0.0, rng.gauss(0.975, 0.012) if fallback == "none" else rng.gauss(0.86, 0.04)))
        n = k - rng.randint(1, 3) if r() < SHORT_LIST else k
        items = rng.sample(self.items, max(1, n))
        sim_s = self.config.start_minute * 60 + elapsed_s
        age = 60.0 + (sim_s + DATA_AGE_OFFSET_S[algorithm]) % 600
        if self._incident("stale", elapsed_s):
            age = 960.0 + (elapsed_s - self.config.incident_at * 60)
        alpha = (0.7 if bucket == "treatment" else 0.5) if algorithm == "hybrid" else None
        self.rt.ranking(latency_ms=latency, coverage=round(coverage, 4), algorithm=algorithm, alpha=alpha,
                        items=items, cache_result=cache, fallback=fallback, data_age_s=round(age, 1))
        t.events["ranking"] += 1
        m = t.metrics
        m[self._count_metric.get("ranking", "recsys.ranking.duration")] += 1
        m["recsys.ranking.coverage"] += 1
        m["recsys.ranking.slots.requested"] += k
        m["recsys.ranking.slots.filled"] += len(items)
        t.cache[cache] += 1
        t.fallbacks[fallback] += 1
        return items

    def _impressions(self, rid: str | None, user: _User, bucket: str, surface: str, items: list[str]) -> None:
        rt, rng, t = self.rt, self._rng, self.tally
        r, lognormal, impression = rng.random, rng.lognormvariate, rt.impression
        shown = max(1, min(len(items), VISIBLE[surface] + rng.randint(-1, 1)))
        lift = LIFT[bucket]
        device = user.device
        clicks = 0
        for position in range(1, shown + 1):
            item = items[position - 1]
            genre, provider = self.item_info[item]
            impression(request_id=rid, canonical_id=item, position=position, surface=surface,
                       visible_ms=round(lognormal(VISIBLE_MS_MU, 0.6), 1), device_type=device, genre=genre,
                       provider=provider)
            if r() < CTR_TOP * lift / math.sqrt(position):
                engagement = rng.choices(_ENGAGEMENTS[0], cum_weights=_ENGAGEMENTS[1])[0]
                dwell = round(lognormal(math.log(DWELL_MEDIAN_MS[engagement]), 1.0), 1)
                rt.click(request_id=rid, canonical_id=item, position=position, engagement_type=engagement,
                         dwell_ms=dwell, surface=surface, device_type=device, genre=genre, provider=provider)
                t.engagements[engagement] += 1
                clicks += 1
        # The tally once per request rather than per event: this loop is most of what the simulation sends.
        m = t.metrics
        t.events["impression"] += shown
        m[self._count_metric.get("impression", "recsys.impressions")] += shown
        if clicks:
            t.events["click"] += clicks
            m[self._count_metric.get("click", "recsys.clicks")] += clicks
            m["recsys.click.dwell"] += clicks
            m["recsys.requests.engaged"] += 1
            self._sample("click", rid)


# -- wiring: the runtime, the kill-switch inputs, the summary ---------------------------------------------

def make_runtime(endpoint: str | None = None, protocol: str | None = None, dev: bool = False,
                 export_interval_s: float | None = None, **config: Any) -> Telemetry:
    """The runtime for the built-in spec, sending OTLP to ``endpoint`` (default: the OTEL_* variables).

    ``dev`` turns on the runtime's dev mode (a public PII key); otherwise the key comes from
    ``OBSGEN_PII_KEY``/``OBSGEN_PII_KEY_FILE`` and ``PiiKeyError`` says how to set it.
    """
    from obsgen.runtime import RuntimeConfig, Telemetry

    if export_interval_s is None and not os.environ.get("OTEL_METRIC_EXPORT_INTERVAL"):
        export_interval_s = DEFAULT_EXPORT_INTERVAL_S
    cfg = RuntimeConfig(endpoint=endpoint, protocol=protocol,  # type: ignore[arg-type]
                        dev_mode=True if dev else None, metric_export_interval_s=export_interval_s, **config)
    return Telemetry.from_default(cfg)


def serve_killswitch(model: Model, token_file: str | Path, state_file: str | Path, host: str, port: int,
                     reset_on_resolve: bool = False, ready: Callable[[str], None] | None = None) -> None:
    """Run the kill-switch receiver as a service until SIGTERM or SIGINT (``obsgen killswitch serve``).

    A state file left by an earlier run is loaded first, so switches latched before a restart stay on.
    """
    from obsgen.runtime import KillSwitchState
    from obsgen.runtime.killswitch_receiver import WEBHOOK_PATH, KillSwitchReceiver, read_token

    state = KillSwitchState(model.kill_switches)
    if Path(state_file).exists():
        state.load_file(state_file)
    receiver = KillSwitchReceiver(state, read_token(token_file), host, port, state_file=state_file,
                                  reset_on_resolve=reset_on_resolve)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    receiver.start()
    try:
        if ready is not None:
            bound_host, bound_port = receiver.address
            ready(f"http://{bound_host}:{bound_port}{WEBHOOK_PATH}")
        while not stop.wait(0.5):
            pass
    finally:
        receiver.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


KILLSWITCH_POLL_S = 1.0
"""How often the simulated app re-reads a watched kill-switch state file."""


class SimulatedApp:
    """The simulated service: a runtime, its kill-switch inputs and the traffic; ``run()`` once, then it is closed.

    Kill-switch inputs: ``killswitch_file`` is watched (``KillSwitchState.watch_file``), as an app reads a
    file written by ``obsgen killswitch serve``; ``killswitch_port`` embeds the receiver itself (bearer
    token from ``token_file``). Raises ``ValueError`` (bad options) or ``PiiKeyError`` (no PII key).
    """

    def __init__(self, config: SimulationConfig, *, endpoint: str | None = None, protocol: str | None = None,
                 dev: bool = False, export_interval_s: float | None = None,
                 killswitch_file: str | Path | None = None, killswitch_port: int | None = None,
                 killswitch_host: str = "127.0.0.1", token_file: str | Path | None = None,
                 **runtime_config: Any) -> None:
        from obsgen.runtime.killswitch_receiver import KillSwitchReceiver, read_token

        config.check()
        if killswitch_port is not None and token_file is None:
            raise ValueError("--killswitch-port needs --token-file: the receiver refuses requests without the token")
        token = read_token(token_file) if killswitch_port is not None and token_file is not None else None
        self.rt = make_runtime(endpoint, protocol, dev, export_interval_s, **runtime_config)
        self.receiver: KillSwitchReceiver | None = None
        try:
            self.simulation = Simulation(self.rt, config)
            if killswitch_file is not None:
                self.rt.kill_switches.watch_file(killswitch_file, interval_s=KILLSWITCH_POLL_S)
            if killswitch_port is not None and token is not None:
                self.receiver = KillSwitchReceiver(self.rt.kill_switches, token, killswitch_host, killswitch_port)
                self.receiver.start()
        except BaseException:
            self.close()
            raise

    @property
    def ticks(self) -> int:
        cfg = self.simulation.config
        return max(1, math.ceil(cfg.minutes * 60 / (cfg.tick_s * cfg.speedup)))

    @property
    def receiver_url(self) -> str | None:
        if self.receiver is None:
            return None
        host, port = self.receiver.address
        return f"http://{host}:{port}/v1/alertmanager"

    def run(self, on_tick: Callable[[int], None] | None = None,
            on_switch: Callable[[Transition], None] | None = None, flush_timeout_s: float = 10.0) -> Summary:
        """Send the traffic (SIGTERM/SIGINT stop it early), flush, shut the runtime down; what was sent."""
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            summary = self.simulation.run(stop, on_tick, on_switch)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.rt.force_flush(flush_timeout_s)
        self.close()
        summary.dropped = self.rt.dropped
        summary.ended_at = time.time()
        return summary

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None
        self.rt.kill_switches.stop()
        self.rt.shutdown()

    def __enter__(self) -> SimulatedApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def format_summary(summary: Summary) -> str:
    t = summary.tally
    cfg = summary.config
    start = cfg.start_minute
    lines = [f"obsgen simulate: {summary.sim_minutes:g} simulated minutes ({clock(start)}-"
             f"{clock(start + summary.sim_minutes, end=True)} UTC) in {summary.wall_seconds:.1f} s, seed {cfg.seed}"
             + (" (stopped early)" if summary.stopped_early else ""),
             f"sent to {summary.endpoint} ({summary.protocol}) as service.instance.id {summary.instance_id}"]
    if cfg.incidents:
        end = ("the end" if cfg.incident_minutes is None
               else clock(start + cfg.incident_at + cfg.incident_minutes, end=True))
        lines.append(f"incidents {', '.join(cfg.incidents)} from {clock(start + cfg.incident_at)} to {end}")
    lines.append(f"  {'event':<12}{'sent':>10}")
    for event in sorted(t.events, key=lambda e: -t.events[e]):
        extra = ""
        if event == "error":
            extra = "  (" + ", ".join(f"{s} {n}" for s, n in sorted(t.errors_by_severity.items())) + ")"
        lines.append(f"  {event:<12}{t.events[event]:>10,}{extra}")
    lines.append(f"  {'total':<12}{summary.total_events:>10,}  ({summary.journeys:,} journeys, "
                 f"{summary.events_per_second:,.0f} events/s)")
    lines.append("requests by bucket: " + ", ".join(f"{b} {n:,}" for b, n in sorted(t.requests_by_bucket.items())))
    m = t.metrics
    lines.append(f"sessions {m['recsys.sessions']:,}; engaged requests {m['recsys.requests.engaged']:,}; "
                 f"top-K slots filled {m['recsys.ranking.slots.filled']:,} of {m['recsys.ranking.slots.requested']:,}")
    for x in summary.transitions:
        lines.append(f"kill-switch {x.name} turned {'on' if x.active else 'off'} at {clock(x.sim_minute)} "
                     f"(after {x.journeys_before:,} journeys)")
    if t.requests_by_bucket_while_disabled:
        lines.append("requests while the experiment was off: " + ", ".join(
            f"{b} {n:,}" for b, n in sorted(t.requests_by_bucket_while_disabled.items())))
    lost = sum(summary.dropped.values())
    lines.append("dropped before export: " + (", ".join(f"{k} {v:,}" for k, v in sorted(summary.dropped.items()))
                                              if summary.dropped else "nothing")
                 + ("" if lost == 0 else " (the collector was unreachable or too slow; see obsgen.telemetry.dropped)"))
    if summary.max_lag_s > 1:
        lines.append(f"warning: fell up to {summary.max_lag_s:.1f} s behind the schedule; lower --rate")
    return "\n".join(lines)


def write_json(summary: Summary, path: str) -> str:
    text = json.dumps(summary.to_dict(), indent=2, sort_keys=True)
    if path != "-":
        Path(path).write_text(text + "\n", encoding="utf-8")
    return text
