"""The simulated service: a runtime for a spec, its kill-switch inputs and the traffic (``obsgen simulate``),
and the kill-switch receiver run as a service (``obsgen killswitch serve``)."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obsgen.model import Model
from obsgen.simulate.summary import Summary, Transition
from obsgen.simulate.traffic import Simulation, SimulationConfig

if TYPE_CHECKING:  # the runtime (OpenTelemetry SDK) is imported when used: `obsgen generate` never pays for it
    from obsgen.runtime import Telemetry
    from obsgen.runtime.killswitch_receiver import KillSwitchReceiver

DEFAULT_EXPORT_INTERVAL_S = 5.0
"""Metric export interval when neither ``--export-interval`` nor ``OTEL_METRIC_EXPORT_INTERVAL`` is set."""


def make_runtime(model: Model, endpoint: str | None = None, protocol: str | None = None, dev: bool = False,
                 export_interval_s: float | None = None, **config: Any) -> Telemetry:
    """The runtime for ``model``, sending OTLP to ``endpoint`` (default: the OTEL_* variables).

    ``dev`` turns on the runtime's dev mode (a public PII key); otherwise the key comes from
    ``OBSGEN_PII_KEY``/``OBSGEN_PII_KEY_FILE`` and ``PiiKeyError`` says how to set it.
    """
    from obsgen.runtime import RuntimeConfig, Telemetry

    if export_interval_s is None and not os.environ.get("OTEL_METRIC_EXPORT_INTERVAL"):
        export_interval_s = DEFAULT_EXPORT_INTERVAL_S
    cfg = RuntimeConfig(endpoint=endpoint, protocol=protocol,  # type: ignore[arg-type]
                        dev_mode=True if dev else None, metric_export_interval_s=export_interval_s, **config)
    return Telemetry(model, cfg)


def serve_killswitch(model: Model, token_file: str | Path, state_file: str | Path, host: str, port: int,
                     reset_on_resolve: bool = False, ready: Callable[[str], None] | None = None) -> None:
    """Run the kill-switch receiver as a service until SIGTERM or SIGINT (``obsgen killswitch serve``).

    A state file left by an earlier run is loaded first, so switches latched before a restart stay on.
    """
    from obsgen.runtime import KillSwitchState
    from obsgen.runtime.killswitch_receiver import WEBHOOK_PATH, KillSwitchReceiver, alert_switches, read_token

    state = KillSwitchState(model.kill_switches)
    if Path(state_file).exists():
        state.load_file(state_file)
    receiver = KillSwitchReceiver(state, read_token(token_file), alert_switches(model), host, port,
                                  state_file=state_file, reset_on_resolve=reset_on_resolve)
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

    def __init__(self, model: Model, config: SimulationConfig, *, endpoint: str | None = None,
                 protocol: str | None = None, dev: bool = False, export_interval_s: float | None = None,
                 killswitch_file: str | Path | None = None, killswitch_port: int | None = None,
                 killswitch_host: str = "127.0.0.1", token_file: str | Path | None = None,
                 **runtime_config: Any) -> None:
        from obsgen.runtime.killswitch_receiver import KillSwitchReceiver, alert_switches, read_token

        config.check(model)
        if killswitch_port is not None and token_file is None:
            raise ValueError("--killswitch-port needs --token-file: the receiver refuses requests without the token")
        token = read_token(token_file) if killswitch_port is not None and token_file is not None else None
        self.rt = make_runtime(model, endpoint, protocol, dev, export_interval_s, **runtime_config)
        self.receiver: KillSwitchReceiver | None = None
        try:
            self.simulation = Simulation(self.rt, config)
            if killswitch_file is not None:
                self.rt.kill_switches.watch_file(killswitch_file, interval_s=KILLSWITCH_POLL_S)
            if killswitch_port is not None and token is not None:
                self.receiver = KillSwitchReceiver(self.rt.kill_switches, token, alert_switches(model),
                                                   killswitch_host, killswitch_port)
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
            on_switch: Callable[[Transition], None] | None = None, flush_timeout_s: float = 10.0,
            on_start: Callable[[], None] | None = None) -> Summary:
        """Send the traffic (SIGTERM/SIGINT stop it early), flush, shut the runtime down; what was sent.

        ``on_start`` is called once the stop signals are handled, so a supervisor that waits for it can stop the
        run early without killing it.
        """
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            if on_start is not None:
                on_start()
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
