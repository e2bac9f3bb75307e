"""Alertmanager's webhook flips kill-switches: authenticated, latched, mirrored to a watched file."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from obsgen.emit import alertmanager
from obsgen.emit.render import Services
from obsgen.model import Model
from obsgen.runtime.killswitch import KillSwitchState
from obsgen.runtime.killswitch_receiver import KillSwitchReceiver, alert_switches, read_token

from tests.conftest import find_tool
from tests.support.stack import write_secret

TOKEN = "s3cret-token"


def payload(status: str, switch: str = "disable_experiment") -> dict:
    return {"version": "4", "status": status,
            "alerts": [{"status": status, "labels": {"alertname": "RecsysErrorRateHigh", "kill_switch": switch}}]}


@pytest.fixture
def receiver(model: Model, tmp_path: Path) -> Iterator[KillSwitchReceiver]:
    server = KillSwitchReceiver(KillSwitchState(model.kill_switches), TOKEN, alert_switches(model),
                                state_file=tmp_path / "state.json")
    server.start()
    yield server
    server.stop()


def post(receiver: KillSwitchReceiver, path: str, body: object, token: str | None = TOKEN) -> tuple[int, dict]:
    host, port = receiver.address
    request = urllib.request.Request(f"http://{host}:{port}{path}", data=json.dumps(body).encode(), method="POST")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_requests_without_the_token_are_refused(receiver: KillSwitchReceiver) -> None:
    assert post(receiver, "/v1/alertmanager", payload("firing"), token=None)[0] == 401
    assert post(receiver, "/v1/alertmanager", payload("firing"), token="wrong")[0] == 401
    assert not receiver.state.is_active("disable_experiment")


def test_a_firing_alert_turns_its_switch_on_and_latches(receiver: KillSwitchReceiver, model: Model,
                                                        tmp_path: Path) -> None:
    status, body = post(receiver, "/v1/alertmanager", payload("firing"))
    assert status == 200 and body["changed"] == {"disable_experiment": True}
    assert receiver.state.is_active("disable_experiment")
    assert post(receiver, "/v1/alertmanager", payload("resolved"))[1]["changed"] == {}
    assert receiver.state.is_active("disable_experiment"), "a resolved alert does not undo a kill-switch"
    app_state = KillSwitchState(model.kill_switches)
    assert app_state.load_file(tmp_path / "state.json")
    assert app_state.is_active("disable_experiment")
    assert post(receiver, "/v1/reset", {"kill_switches": ["disable_experiment"]})[0] == 200
    assert not receiver.state.is_active("disable_experiment")


def test_unknown_switches_and_bad_bodies(receiver: KillSwitchReceiver) -> None:
    assert post(receiver, "/v1/alertmanager", payload("firing", "reboot_cluster"))[0] == 403
    assert post(receiver, "/v1/alertmanager", ["not", "an", "object"])[0] == 400
    assert post(receiver, "/v1/reset", {"kill_switches": ["nope"]})[0] == 400
    assert not any(receiver.state.snapshot().values())


def test_token_file_must_exist_and_be_non_empty(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        read_token(tmp_path / "absent")
    write_secret(tmp_path / "empty", "")
    with pytest.raises(ValueError, match="empty"):
        read_token(tmp_path / "empty")


def test_a_world_readable_token_file_is_refused(tmp_path: Path) -> None:
    token = write_secret(tmp_path / "token", TOKEN)
    token.chmod(0o644)
    with pytest.raises(ValueError, match=r"readable by every user \(mode 0644\) — run `chmod o-rwx"):
        read_token(token)
    token.chmod(0o640)
    assert read_token(token) == TOKEN


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_real_alertmanager_delivers_to_the_receiver(model: Model, receiver: KillSwitchReceiver,
                                                    tmp_path: Path) -> None:
    """The generated alertmanager.yml, pointed at this receiver, routes a kill-switch alert to it."""
    token_file = write_secret(tmp_path / "killswitch-token", TOKEN)
    config = yaml.safe_load(alertmanager.emit(Services((model,)))[alertmanager.ALERTMANAGER_FILE])
    host, port = receiver.address
    for entry in config["receivers"]:
        for hook in entry.get("webhook_configs", []):
            hook["url"] = f"http://{host}:{port}/v1/alertmanager" \
                if entry["name"] == alertmanager.receiver_name(model, "kill-switch") \
                else f"http://{host}:{port}/v1/other"
            hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    (tmp_path / "am.yml").write_text(yaml.safe_dump(config))
    am_port, cluster_port = free_port(), free_port()
    process = subprocess.Popen([find_tool("alertmanager"), f"--config.file={tmp_path / 'am.yml'}",
                                f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                                f"--cluster.listen-address=127.0.0.1:{cluster_port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        alert = [{"labels": {"alertname": "RecsysErrorRateHigh", "severity": "P1", "service": "movie-recommender",
                             "family": "errors", "kill_switch": "disable_experiment"}}]
        deadline = time.monotonic() + 30
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{am_port}/api/v2/alerts",
                                                 data=json.dumps(alert).encode(), method="POST",
                                                 headers={"Content-Type": "application/json"})
                urllib.request.urlopen(request, timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "alertmanager did not start"
                time.sleep(0.2)
        while not receiver.state.is_active("disable_experiment"):
            assert time.monotonic() < deadline, "alertmanager never delivered the kill-switch alert"
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(10)
