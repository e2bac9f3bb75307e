"""The smallest useful spec (one HTTP service, one event, one SLO) validates, generates, and its output
passes the real validators: everything it leaves out takes a default (routes for every severity to its
one receiver, no kill-switch webhook without kill-switches, no example).

``promtool check rules`` and ``promtool test rules`` run on its rules and generated tests in
``tests/test_promtool.py`` (``fixture_tree``: every spec under ``tests/fixtures/specs/``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main

from tests.conftest import find_tool

MINIMAL = Path(__file__).parent / "fixtures" / "specs" / "minimal.yaml"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, check=False, timeout=300)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("minimal")
    result = CliRunner().invoke(main, ["generate", str(MINIMAL), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_the_minimal_spec_leaves_out_what_has_a_default() -> None:
    spec = yaml.safe_load(MINIMAL.read_text())
    assert set(spec["routing"]) == {"receivers"}
    assert "kill_switches" not in spec and "alerts" not in spec
    assert all("example" not in event for event in spec["events"].values())
    result = CliRunner().invoke(main, ["validate", str(MINIMAL)])
    assert result.exit_code == 0, result.output


def test_every_severity_routes_to_the_only_receiver_and_no_kill_switch_route(tree: Path) -> None:
    config = yaml.safe_load((tree / "alerting" / "alertmanager.yml").read_text())
    service = next(r for r in config["route"]["routes"] if r["matchers"] == ['service="hello-api"'])
    assert [r["matchers"] for r in service["routes"]] == [[f'severity="P{i}"'] for i in range(1, 5)]
    assert {r["receiver"] for r in service["routes"]} == {service["receiver"]}
    assert not any("kill" in r["name"] for r in config["receivers"])
    checked = run(find_tool("amtool"), "check-config", str(tree / "alerting" / "alertmanager.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_collector_validates_the_minimal_spec_config(tree: Path) -> None:
    result = run(find_tool("otelcol-obsgen"), "validate", f"--config={tree / 'otel' / 'collector.yaml'}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_event_schema_has_no_example_when_the_spec_gives_none(tree: Path) -> None:
    schema = yaml.safe_load((tree / "schemas" / "hello-api" / "events" / "request.json").read_text())
    assert "examples" not in schema
    assert schema["required"] == ["http.route", "outcome", "duration_ms"]
