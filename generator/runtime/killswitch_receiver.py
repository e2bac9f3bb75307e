"""Alertmanager webhook → kill-switch state: the receiving end of the alerting path.

Alertmanager posts alerts labelled ``kill_switch=<name>`` here (see ``alerting/alertmanager.yml``).
Requests must carry ``Authorization: Bearer <token>`` with the token read from a file; anything else
gets 401 and changes nothing. Only the spec's own alert → switch pairs count (``alert_switches``): an
alert whose ``alertname`` the spec does not map to the ``kill_switch`` it names is refused with 403
and changes nothing, so whoever can post alerts to Alertmanager still cannot pick a switch. A firing
alert turns its switch on. Switches latch by default: a resolved alert does not turn the switch off
(a human decides when the experiment comes back, via ``POST /v1/reset``), unless ``reset_on_resolve``
is set. Every change is recorded (which alert — name and fingerprint — or which reset, from which
peer, when): ``GET /v1/changes``, and beside the state file.

The state can be mirrored to a JSON file that applications watch with ``KillSwitchState.watch_file``.
Standard library only, so an application can embed it next to the runtime; the HTTP side is
``guarded_http`` (timeouts, a connection cap, strict ``Content-Length``, 400 with a reason for bad shapes).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from obsgen.model import Model
from obsgen.runtime.guarded_http import GuardedHttpServer, HttpError, Limits, Request
from obsgen.runtime.killswitch import KillSwitchState
from obsgen.runtime.secretfile import read_secret
from obsgen.runtime.state import DEFAULT_FILE_MODE

_log = logging.getLogger("obsgen.killswitch")
WEBHOOK_PATH = "/v1/alertmanager"
RESET_PATH = "/v1/reset"
STATE_PATH = "/v1/state"
CHANGES_PATH = "/v1/changes"
MAX_ALERTS = 1000
"""Alerts in one notification; Alertmanager groups kill-switch alerts by alertname and switch, so a few."""


def read_token(path: str | os.PathLike[str]) -> str:
    """The bearer token from ``path``; refuses an empty, unreadable or world-readable file (never allows anyone)."""
    return read_secret(path, "kill-switch token")


def alert_switches(model: Model) -> dict[str, str]:
    """The spec's alert → kill-switch mapping: the only pairs the receiver accepts."""
    return {alert.name: alert.kill_switch for alert in model.alerts if alert.kill_switch}


@dataclass(frozen=True)
class Change:
    """Who or what last switched a kill-switch."""

    switch: str
    active: bool
    at: str
    """UTC, RFC 3339."""
    by: str
    """``alertmanager`` or ``reset``."""
    peer: str
    alertname: str | None = None
    fingerprint: str | None = None


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{where} must be a string, not {type(value).__name__}")
    return value


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{where} must be an object, not {type(value).__name__}")
    return value


def _json(body: bytes) -> Mapping[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}") from None
    except RecursionError:  # "[[[[…": json.loads gives up on the nesting, a bad body all the same
        raise HttpError(HTTPStatus.BAD_REQUEST, "body is not JSON: it nests too deeply") from None
    return _mapping(payload, "the body")


class KillSwitchReceiver:
    """An HTTP server applying Alertmanager webhook notifications to a ``KillSwitchState``.

    ``alert_switches`` maps each alert name to the switch it may turn (``alert_switches(model)``).
    """

    def __init__(self, state: KillSwitchState, token: str, alert_switches: Mapping[str, str],
                 host: str = "127.0.0.1", port: int = 0, state_file: str | os.PathLike[str] | None = None,
                 reset_on_resolve: bool = False, limits: Limits | None = None,
                 state_file_mode: int = DEFAULT_FILE_MODE) -> None:
        unknown = sorted(set(alert_switches.values()) - set(state.names))
        if unknown:
            raise ValueError(f"alerts name kill-switches the state does not have: {', '.join(unknown)}")
        self.state = state
        self._token = token.encode()
        self._alert_switches = dict(alert_switches)
        self._state_file = Path(state_file) if state_file else None
        self._state_file_mode = state_file_mode
        if self._state_file is not None and self._state_file.exists():
            state.load_file(self._state_file)  # latched switches survive a restart; a corrupt file is kept
        self._reset_on_resolve = reset_on_resolve
        self._lock = threading.Lock()
        self.changes: dict[str, Change] = {}
        self.refused = 0
        """Alerts refused because the spec does not map their alertname to their kill_switch."""
        self._server = GuardedHttpServer(self.handle, host, port, limits, name="obsgen-killswitch")
        self._write_state()

    @property
    def address(self) -> tuple[str, int]:
        return self._server.address

    @property
    def server(self) -> GuardedHttpServer:
        return self._server

    def start(self) -> None:
        self._server.start()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.stop()

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer "):].strip().encode(), self._token)

    def handle(self, request: Request) -> tuple[HTTPStatus, Any]:
        routes = {STATE_PATH: "GET", CHANGES_PATH: "GET", WEBHOOK_PATH: "POST", RESET_PATH: "POST"}
        if request.path not in routes:
            raise HttpError(HTTPStatus.NOT_FOUND, "not found")
        if request.method != routes[request.path]:
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, f"{request.path} takes {routes[request.path]}")
        if not self.authorized(request.headers.get("authorization")):
            raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token")
        if request.path == STATE_PATH:
            return HTTPStatus.OK, self.state.snapshot()
        if request.path == CHANGES_PATH:
            with self._lock:
                changes = sorted(self.changes.items())
            return HTTPStatus.OK, {name: asdict(change) for name, change in changes}
        payload = _json(request.body)
        if request.path == RESET_PATH:
            changed = self.reset(self._reset_names(payload), request.peer)
        else:
            changed = self.apply_notification(payload, request.peer)
        return HTTPStatus.OK, {"changed": changed, "state": self.state.snapshot()}

    def _reset_names(self, payload: Mapping[str, Any]) -> list[str]:
        names = payload.get("kill_switches", list(self.state.names))
        if not isinstance(names, list):
            raise HttpError(HTTPStatus.BAD_REQUEST,
                            f"kill_switches must be a list of names, not {type(names).__name__}")
        for i, name in enumerate(names):
            _text(name, f"kill_switches[{i}]")
        unknown = [n for n in names if n not in self.state.names]
        if unknown:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"unknown kill-switches: {', '.join(unknown)}; the spec "
                            f"declares: {', '.join(self.state.names) or '(none)'}")
        return names

    def apply_notification(self, payload: Mapping[str, Any], peer: str = "") -> dict[str, bool]:
        """Apply an Alertmanager webhook payload (version 4); return the switches it changed.

        Raises ``HttpError`` (400) for a payload of the wrong shape and (403) when an alert names a
        switch the spec does not give its alertname; then nothing is applied.
        """
        alerts = payload.get("alerts")
        if not isinstance(alerts, list):
            raise HttpError(HTTPStatus.BAD_REQUEST, "the payload has no `alerts` list")
        if len(alerts) > MAX_ALERTS:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"more than {MAX_ALERTS} alerts")
        wanted: dict[str, tuple[bool, str, str | None]] = {}
        refused: list[str] = []
        for i, raw in enumerate(alerts):
            alert = _mapping(raw, f"alerts[{i}]")
            labels = _mapping(alert.get("labels", {}), f"alerts[{i}].labels")
            status = _text(alert.get("status"), f"alerts[{i}].status")
            if status not in ("firing", "resolved"):
                raise HttpError(HTTPStatus.BAD_REQUEST, f"alerts[{i}].status must be firing or resolved")
            if "kill_switch" not in labels:
                continue
            switch = _text(labels["kill_switch"], f"alerts[{i}].labels.kill_switch")
            alertname = _text(labels.get("alertname"), f"alerts[{i}].labels.alertname")
            fingerprint = alert.get("fingerprint")
            if fingerprint is not None:
                _text(fingerprint, f"alerts[{i}].fingerprint")
            if self._alert_switches.get(alertname) != switch:
                refused.append(f"{alertname} → {switch}")
                continue
            if status == "firing":
                wanted[switch] = (True, alertname, fingerprint)
            elif self._reset_on_resolve and not wanted.get(switch, (False,))[0]:
                wanted[switch] = (False, alertname, fingerprint)
        if refused:
            self.refused += len(refused)
            _log.warning("obsgen: kill-switch notification from %s refused: the spec maps no %s", peer,
                         ", ".join(refused))
            raise HttpError(HTTPStatus.FORBIDDEN, "the spec does not let these alerts turn these kill-switches: "
                            + ", ".join(refused))
        with self._lock:
            changed = {n: v[0] for n, v in wanted.items() if self.state.is_active(n) != v[0]}
            if changed:
                self.state.update(changed)
                self._record({n: Change(n, active, _now(), "alertmanager", peer, wanted[n][1], wanted[n][2])
                              for n, active in changed.items()})
        for name, active in changed.items():
            _log.warning("obsgen: kill-switch %s turned %s by alert %s (fingerprint %s) from %s", name,
                         "on" if active else "off", wanted[name][1], wanted[name][2], peer)
        return changed

    def reset(self, names: list[str], peer: str = "") -> dict[str, bool]:
        with self._lock:
            self.state.update(dict.fromkeys(names, False))
            self._record({n: Change(n, False, _now(), "reset", peer) for n in names})
        return dict.fromkeys(names, False)

    @property
    def changes_file(self) -> Path | None:
        """Where the change records are mirrored: beside the state file (``<state>.changes.json``)."""
        return self._state_file.with_suffix(".changes.json") if self._state_file else None

    def _record(self, changes: dict[str, Change]) -> None:
        self.changes.update(changes)
        self._write_state()

    def _write_state(self) -> None:
        """Mirror the state (explicit mode, fsync'ed, atomic; never over a corrupt one) and the change records to
        their JSON files, for applications that watch them."""
        if self._state_file is None:
            return
        self.state.save_file(self._state_file, self._state_file_mode)
        if self.changes and self.changes_file is not None:
            _write_json(self.changes_file, {n: asdict(c) for n, c in sorted(self.changes.items())})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".killswitch-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, sort_keys=True)
    os.replace(tmp, path)
