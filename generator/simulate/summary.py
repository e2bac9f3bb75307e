"""What a simulation sent: the tally it keeps while sending, and the summary it prints or writes as JSON."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from obsgen.simulate.traffic import SimulationConfig


@dataclass
class Tally:
    """Events per type, the total each spec metric should show, and the mix of each low-cardinality value."""

    events: Counter[str] = field(default_factory=Counter)
    metrics: Counter[str] = field(default_factory=Counter)
    """Expected value of each counter (and each histogram's count), by OTel metric name."""
    values: dict[str, dict[str, Counter[Any]]] = field(default_factory=dict)
    """event → enum or boolean field → value → events sent with it (inherited values included)."""
    while_on: dict[str, dict[str, dict[str, Counter[Any]]]] = field(default_factory=dict)
    """kill-switch → ``values`` of the events sent while it was on."""

    def count(self, event: str, field: str) -> Counter[Any]:
        """Events of ``event`` by their ``field`` value (empty when none were sent)."""
        return self.values.get(event, {}).get(field, Counter())


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
    """Contexts opened (root events sent)."""
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
    """A few join keys per event type (the first ones sent), to look events up in the stores."""
    started_at: float
    ended_at: float

    @property
    def total_events(self) -> int:
        return sum(self.tally.events.values())

    @property
    def events_per_second(self) -> float:
        return self.total_events / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        t, cfg = self.tally, self.config
        return {
            "service_instance_id": self.instance_id, "endpoint": self.endpoint, "protocol": self.protocol,
            "seed": cfg.seed, "journeys": self.journeys, "events": dict(sorted(t.events.items())),
            "total_events": self.total_events, "metrics": dict(sorted(t.metrics.items())),
            "values": _plain(t.values), "values_while_on": _plain(t.while_on),
            "kill_switch_transitions": [vars(x) for x in self.transitions],
            "incidents": list(cfg.incidents), "set": dict(cfg.fixed), "dropped": dict(self.dropped),
            "wall_seconds": round(self.wall_seconds, 3), "sim_minutes": round(self.sim_minutes, 3),
            "events_per_second": round(self.events_per_second, 1), "max_lag_s": round(self.max_lag_s, 3),
            "stopped_early": self.stopped_early, "started_at": self.started_at, "ended_at": self.ended_at,
            "samples": self.samples,
        }


def _plain(tree: Any) -> Any:
    """Nested counters as JSON objects with sorted string keys."""
    if isinstance(tree, dict):
        return {str(k): _plain(v) for k, v in sorted(tree.items(), key=lambda kv: str(kv[0]))}
    return tree


def clock(minute: float, end: bool = False) -> str:
    """``HH:MM`` of a minute of the simulated day; ``end`` shows midnight after a run as 24:00."""
    if end and minute > 0 and minute % 1440 == 0:
        return "24:00"
    minute %= 1440
    return f"{int(minute // 60):02d}:{int(minute % 60):02d}"


def format_summary(summary: Summary) -> str:
    t, cfg = summary.tally, summary.config
    start = cfg.start_minute
    lines = [f"obsgen simulate: {summary.sim_minutes:g} simulated minutes ({clock(start)}-"
             f"{clock(start + summary.sim_minutes, end=True)} UTC) in {summary.wall_seconds:.1f} s, seed {cfg.seed}"
             + (" (stopped early)" if summary.stopped_early else ""),
             f"sent to {summary.endpoint} ({summary.protocol}) as service.instance.id {summary.instance_id}"]
    if cfg.fixed:
        lines.append("set " + ", ".join(f"{k}={v}" for k, v in cfg.fixed.items()))
    if cfg.incidents:
        end = ("the end" if cfg.incident_minutes is None
               else clock(start + cfg.incident_at + cfg.incident_minutes, end=True))
        lines.append(f"incidents {', '.join(cfg.incidents)} from {clock(start + cfg.incident_at)} to {end}")
    lines.append(f"  {'event':<12}{'sent':>10}")
    for event in sorted(t.events, key=lambda e: -t.events[e]):
        lines.append(f"  {event:<12}{t.events[event]:>10,}")
    lines.append(f"  {'total':<12}{summary.total_events:>10,}  ({summary.journeys:,} journeys, "
                 f"{summary.events_per_second:,.0f} events/s)")
    for x in summary.transitions:
        lines.append(f"kill-switch {x.name} turned {'on' if x.active else 'off'} at {clock(x.sim_minute)} "
                     f"(after {x.journeys_before:,} journeys)")
    lost = sum(summary.dropped.values())
    lines.append("dropped before export: " + (", ".join(f"{k} {v:,}" for k, v in sorted(summary.dropped.items()))
                                              if summary.dropped else "nothing")
                 + ("" if lost == 0 else " (the collector was unreachable or too slow; see obsgen.telemetry.dropped)"))
    if summary.max_lag_s > 1:
        lines.append(f"warning: fell up to {summary.max_lag_s:.1f} s behind the schedule; lower --rate")
    return "\n".join(lines)


def write_json(summary: Summary, path: str) -> str:
    text = json.dumps(summary.to_dict(), indent=2, sort_keys=True, default=str)
    if path != "-":
        Path(path).write_text(text + "\n", encoding="utf-8")
    return text
