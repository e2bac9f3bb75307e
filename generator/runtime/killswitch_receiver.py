"""Alertmanager webhook → kill-switch state: the receiving end of the alerting path.

Alertmanager posts alerts labelled ``kill_switch=<name>`` here (see ``alerting/alertmanager.yml``).
Requests must carry ``Authorization: Bearer <token>`` with the token read from a file; anything else
gets 401 and changes nothing. A firing alert turns its switch on. Switches latch by default: a
resolved alert does not turn the switch off (a human decides when the experiment comes back,
via ``POST /v1/reset``), unless ``reset_on_resolve`` is set. The state can be mirrored to a JSON
file that applications watch with ``KillSwitchState.watch_file``. Standard library only, so an
application can embed it next to the runtime.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from obsgen.runtime.killswitch import KillSwitchState
from obsgen.runtime.state import DEFAULT_FILE_MODE

_log = logging.getLogger("obsgen.killswitch")
WEBHOOK_PATH = "/v1/alertmanager"
RESET_PATH = "/v1/reset"
STATE_PATH = "/v1/state"
MAX_BODY = 1 << 20


def read_token(path: str | os.PathLike[str]) -> str:
    """The bearer token from ``path``; refuses an empty or unreadable file rather than allowing anyone."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the kill-switch token ({exc.strerror}) — create the file") from None
    if not token:
        raise ValueError(f"{path}: the kill-switch token file is empty — write a random token into it")
    return token


class KillSwitchReceiver:
    """An HTTP server applying Alertmanager webhook notifications to a ``KillSwitchState``."""

    def __init__(self, state: KillSwitchState, token: str, host: str = "127.0.0.1", port: int = 0,
                 state_file: str | os.PathLike[str] | None = None, reset_on_resolve: bool = False,
                 state_file_mode: int = DEFAULT_FILE_MODE) -> None:
        self.state = state
        self._token = token.encode()
        self._state_file = Path(state_file) if state_file else None
        self._state_file_mode = state_file_mode
        if self._state_file is not None and self._state_file.exists():
            state.load_file(self._state_file)  # latched switches survive a restart; a corrupt file is kept
        self._reset_on_resolve = reset_on_resolve
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread: threading.Thread | None = None
        self._write_state()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="obsgen-killswitch", daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer "):].strip().encode(), self._token)

    def apply_notification(self, payload: dict[str, Any]) -> dict[str, bool]:
        """Apply an Alertmanager webhook payload (version 4); return the switches it changed."""
        alerts = payload.get("alerts")
        if not isinstance(alerts, list):
            raise ValueError("payload has no `alerts` list")
        wanted: dict[str, bool] = {}
        for alert in alerts:
            labels = alert.get("labels", {}) if isinstance(alert, dict) else {}
            name = labels.get("kill_switch")
            if name is None:
                continue
            if name not in self.state.names:
                _log.warning("obsgen: alert names unknown kill-switch %r; ignored", name)
                continue
            if alert.get("status") == "firing":
                wanted[name] = True
            elif self._reset_on_resolve and not wanted.get(name):
                wanted[name] = False
        with self._lock:
            changed = {n: v for n, v in wanted.items() if self.state.is_active(n) != v}
            if changed:
                self.state.update(changed)
                self._write_state()
        for name, active in changed.items():
            _log.warning("obsgen: kill-switch %s turned %s by Alertmanager", name, "on" if active else "off")
        return changed

    def reset(self, names: list[str]) -> dict[str, bool]:
        with self._lock:
            self.state.update(dict.fromkeys(names, False))
            self._write_state()
        return dict.fromkeys(names, False)

    def _write_state(self) -> None:
        """Mirror the state to the JSON file (explicit mode, fsync'ed, atomic; never over a corrupt one)."""
        if self._state_file is not None:
            self.state.save_file(self._state_file, self._state_file_mode)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
                _log.debug("killswitch %s", format % args)

            def _reply(self, status: HTTPStatus, body: dict[str, Any]) -> None:
                data = json.dumps(body, sort_keys=True).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
                if self.path != STATE_PATH:
                    self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
                elif not receiver.authorized(self.headers.get("Authorization")):
                    self._reply(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
                else:
                    self._reply(HTTPStatus.OK, receiver.state.snapshot())

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's naming
                if self.path not in (WEBHOOK_PATH, RESET_PATH):
                    self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
                    return
                if not receiver.authorized(self.headers.get("Authorization")):
                    self._reply(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
                    return
                try:
                    payload = json.loads(self.rfile.read(length) or b"null")
                    if not isinstance(payload, dict):
                        raise ValueError("expected a JSON object")
                    if self.path == RESET_PATH:
                        names = payload.get("kill_switches", list(receiver.state.names))
                        unknown = [n for n in names if n not in receiver.state.names]
                        if unknown:
                            raise ValueError(f"unknown kill-switches: {', '.join(unknown)}")
                        changed = receiver.reset(names)
                    else:
                        changed = receiver.apply_notification(payload)
                except ValueError as exc:
                    self._reply(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                    return
                self._reply(HTTPStatus.OK, {"changed": changed, "state": receiver.state.snapshot()})

        return Handler
