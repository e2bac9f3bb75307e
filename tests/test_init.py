"""`obsgen init`: a starting spec that validates, generates, and passes the real promtool, amtool and collector."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.spec_schema import SCHEMA_FILE

from tests.conftest import find_tool


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def tool(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_tool(name), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A spec written by `obsgen init --name web-shop` and the tree generated from it."""
    root = tmp_path_factory.mktemp("init")
    spec, out = root / "specs" / "web-shop.yaml", root / "deploy"
    spec.parent.mkdir()
    result = run("init", "--name", "web-shop", "--out", str(spec))
    assert result.exit_code == 0, result.output
    result = run("generate", str(spec), "--out", str(out))
    assert result.exit_code == 0, result.output
    return spec, out


def test_the_spec_starts_with_a_modeline_naming_the_committed_schema(initialised: tuple[Path, Path]) -> None:
    spec, _ = initialised
    first = spec.read_text().splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    assert (spec.parent / first.removeprefix(prefix)).resolve() == SCHEMA_FILE.resolve()


def test_the_spec_names_everything_after_the_service(initialised: tuple[Path, Path]) -> None:
    spec, out = initialised
    text = spec.read_text()
    assert "my-service" not in text and "my_service" not in text and "MyService" not in text
    assert "WebShopErrorsHigh" in text and "namespace: web_shop" in text
    assert sorted(p.name for p in (out / "alerting" / "web-shop").glob("*.yml")) == [
        "alerts.yml", "recording_rules.yml", "slo_alerts.yml"]


def test_the_generated_tree_passes_promtool_amtool_and_the_collector(initialised: tuple[Path, Path]) -> None:
    _, out = initialised
    rules = sorted(str(p) for p in (out / "alerting" / "web-shop").glob("*.yml"))
    result = tool("promtool", "check", "rules", *rules)
    assert result.returncode == 0 and result.stdout.count("SUCCESS") == 3, result.stdout + result.stderr
    tests = sorted(str(p) for p in (out / "alerting" / "web-shop" / "tests").glob("*_test.yml"))
    assert tests
    result = tool("promtool", "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr
    result = tool("amtool", "check-config", str(out / "alerting" / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    result = tool("otelcol-obsgen", "validate", f"--config={out / 'otel' / 'collector.yaml'}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_init_never_overwrites_a_file(tmp_path: Path) -> None:
    spec = tmp_path / "svc.yaml"
    spec.write_text("mine\n")
    result = run("init", "--out", str(spec))
    assert result.exit_code == 2
    assert "already exists; nothing was written" in result.output
    assert spec.read_text() == "mine\n"


@pytest.mark.parametrize("name", ["Web", "9lives", "stack", "a_b"])
def test_a_bad_service_name_is_bad_input(name: str, tmp_path: Path) -> None:
    result = run("init", "--name", name, "--out", str(tmp_path / "x.yaml"))
    assert result.exit_code == 2 and "is not a service name" in result.output
    assert not (tmp_path / "x.yaml").exists()


def test_the_default_file_is_named_for_the_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("init", "--name", "billing").exit_code == 0
    assert run("validate", "billing.yaml").exit_code == 0


@pytest.mark.parametrize("schema", ["x.json\nversion: 2", "x.json\rversion: 2", ""])
def test_a_schema_reference_that_is_not_one_line_is_bad_input(schema: str, tmp_path: Path) -> None:
    """On the modeline, a line break would start YAML of its own: the spec written would not validate."""
    result = run("init", "--schema", schema, "--out", str(tmp_path / "x.yaml"))
    assert result.exit_code == 2 and "Invalid value for '--schema': must be a path or URL on one line" in result.output
    assert not (tmp_path / "x.yaml").exists()
