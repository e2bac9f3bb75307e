"""``obsgen simulate``: synthetic traffic for any spec, from its ``simulation`` section (or derived defaults).

``traffic`` makes the events and drives the runtime, ``values`` draws field values and derives defaults,
``summary`` tallies what was sent, ``app`` wires a runtime, its kill-switch inputs and the traffic.
"""

from __future__ import annotations

from obsgen.simulate.app import SimulatedApp, make_runtime, serve_killswitch
from obsgen.simulate.summary import Summary, Tally, Transition, clock, format_summary, write_json
from obsgen.simulate.traffic import Simulation, SimulationConfig, parse_setting

__all__ = [
    "SimulatedApp",
    "Simulation",
    "SimulationConfig",
    "Summary",
    "Tally",
    "Transition",
    "clock",
    "format_summary",
    "make_runtime",
    "parse_setting",
    "serve_killswitch",
    "write_json",
]


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
