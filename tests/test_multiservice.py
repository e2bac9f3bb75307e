"""Several services in one tree: the built-in spec and tests/fixtures/specs/inventory.yaml generated together.

Each service owns its folders; the stack's configs are shared. Adding or removing a service never touches
another service's files; both services' rules, routes and collector config pass the real tools; specs
that would collide in the shared stack are spec errors naming both files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.emit.prometheus.rules import RULE_FILES
from obsgen.generate import build_tree, load_all
from obsgen.spec import default_spec_text
from obsgen.spec.source import SpecInvalid
from obsgen.write import MANIFEST, STACK, manifest_entries

from tests.conftest import find_tool
from tests.support.stack import Service, free_ports, http

INVENTORY = Path(__file__).parent / "fixtures" / "specs" / "inventory.yaml"
BUILT_IN = "movie-recommender"


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def tool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_tool(args[0]), *args[1:]], capture_output=True, text=True, cwd=cwd, check=False,
                          timeout=600)


def owners(root: Path) -> dict[str, str]:
    return manifest_entries((root / MANIFEST).read_text())


def snapshot(root: Path, owner: str) -> dict[str, tuple[bytes, int, int]]:
    """Content, mtime and inode of every file ``owner`` produced: unchanged means never rewritten."""
    return {path: ((root / path).read_bytes(), (root / path).stat().st_mtime_ns, (root / path).stat().st_ino)
            for path, who in owners(root).items() if who == owner}


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in spec and the inventory spec in one tree."""
    out = tmp_path_factory.mktemp("both")
    run("generate", str(_built_in_copy(tmp_path_factory.mktemp("specs"))), str(INVENTORY), "--out", str(out))
    return out


def _built_in_copy(where: Path) -> Path:
    """The built-in spec as a file, to name it beside another spec."""
    where.mkdir(parents=True, exist_ok=True)
    spec = where / f"{BUILT_IN}.yaml"
    spec.write_text(default_spec_text())
    return spec


# --- layout, manifest, stale-file removal -----------------------------------------------------------


def test_each_service_has_its_own_folders_and_the_stack_is_shared(both: Path) -> None:
    by_owner: dict[str, list[str]] = {}
    for path, owner in owners(both).items():
        by_owner.setdefault(owner, []).append(path)
    assert sorted(by_owner) == ["inventory", BUILT_IN, STACK]
    for service in ("inventory", BUILT_IN):
        assert all(p.startswith((f"alerting/{service}/", f"schemas/{service}/", f"dashboards/{service}/{service}-",
                                 f"kubernetes/{service}/")) for p in by_owner[service]), by_owner[service]
    assert "dashboards/inventory/inventory-stock.json" in by_owner["inventory"]
    assert {"alerting/alertmanager.yml", "prometheus/prometheus.yml", "otel/collector.yaml", "docker-compose.yml",
            "loki/loki.yaml", ".pint.hcl", ".env.example"} <= set(by_owner[STACK])
    assert set(owners(both)) | {MANIFEST} == set(files(both))


def test_adding_a_service_leaves_the_first_ones_files_untouched(tmp_path: Path) -> None:
    run("generate", str(INVENTORY), "--out", str(tmp_path / "out"))
    before = snapshot(tmp_path / "out", "inventory")
    output = run("generate", str(_built_in_copy(tmp_path / "specs")), str(INVENTORY), "--out", str(tmp_path / "out"))
    assert snapshot(tmp_path / "out", "inventory") == before
    assert "removed" not in output


def test_removing_a_service_removes_exactly_its_files_and_nothing_of_the_other(both: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(both, tree, copy_function=shutil.copy2)
    kept, gone = snapshot(tree, "inventory"), set(snapshot(tree, BUILT_IN))
    output = run("generate", str(INVENTORY), "--out", str(tree))
    assert snapshot(tree, "inventory") == kept  # same bytes, never rewritten
    assert not any((tree / path).exists() for path in gone)
    assert f"removed {len(gone) + 1} stale (of service {BUILT_IN}, shared files)" in output  # + its folder's .lint
    assert not (tree / "alerting" / BUILT_IN).exists() and not (tree / "schemas" / BUILT_IN).exists()
    run("generate", str(INVENTORY), "--out", str(tmp_path / "alone"))
    assert files(tree) == files(tmp_path / "alone")  # shared files regenerated as if never shared


def test_check_reports_drift_per_service(both: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(both, tree)
    rules = tree / "alerting" / "inventory" / "alerts.yml"
    rules.write_text(rules.read_text().replace("> 0.05", "> 0.5"))
    (tree / "schemas" / BUILT_IN / "events" / "click.json").unlink()
    result = CliRunner().invoke(main, ["generate", "--check", str(INVENTORY), "--out", str(tree)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert "shared files: 16 changed, 1 stale" in lines  # the .lint of the built-in service's folder
    assert "service inventory: 1 changed" in lines
    assert f"service {BUILT_IN}: {len(snapshot(both, BUILT_IN)) - 1} stale" in lines  # click.json is gone already
    assert f"  stale: alerting/{BUILT_IN}/alerts.yml (written by obsgen before; no spec given produces it now)" \
        in lines


def test_a_directory_is_its_specs_sorted_and_the_order_of_specs_does_not_matter(both: Path, tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(INVENTORY, specs / "inventory.yaml")
    _built_in_copy(specs)
    (specs / "README.md").write_text("not a spec")
    run("generate", str(specs), "--out", str(tmp_path / "dir"))
    assert files(tmp_path / "dir") == files(both)
    models = load_all([specs])
    assert [m.service.name for m in models] == ["inventory", BUILT_IN]  # file order
    assert build_tree(models) == build_tree(models[::-1]) == build_tree(load_all([specs / f"{BUILT_IN}.yaml",
                                                                                  INVENTORY]))


def test_validate_takes_several_specs(tmp_path: Path) -> None:
    output = run("validate", str(INVENTORY))
    assert output.startswith("obsgen: spec inventory.yaml is valid: 2 events, 3 metrics, 2 alerts, 2 SLOs.")
    (tmp_path / INVENTORY.name).write_text(INVENTORY.read_text())
    assert run("validate", str(tmp_path)) == output


# --- conflicts between specs ------------------------------------------------------------------------


def _errors(*texts: tuple[str, str], tmp_path: Path) -> list[str]:
    paths = []
    for name, text in texts:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
        paths.append(tmp_path / name)
    with pytest.raises(SpecInvalid) as info:
        load_all(paths)
    return [str(e) for e in info.value.errors]


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_same_service_twice_is_an_error_naming_both_files(tmp_path: Path) -> None:
    text = INVENTORY.read_text()
    errors = _errors(("a/inventory.yaml", text), ("b/inventory.yaml", text), tmp_path=tmp_path)
    a, b = tmp_path / "a/inventory.yaml", tmp_path / "b/inventory.yaml"
    line = _line(text, "name: inventory")
    assert errors[0] == (f"{b}:{line}: service.name: service name `inventory` is also declared by {a}:{line} "
                         "(service inventory) — give each service its own name: it names the service's folders, "
                         "routes and `service` label")
    result = CliRunner().invoke(main, ["generate", str(a), str(b), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and not (tmp_path / "out").exists()


def test_alerts_series_dashboard_uids_and_grafana_urls_may_not_collide(tmp_path: Path) -> None:
    text = INVENTORY.read_text()
    # inventory's dashboard `x-stock` and inventory-x's dashboard `stock` both get the uid inventory-x-stock
    first = text.replace("  stock:\n    title", "  x-stock:\n    title").replace("dashboard_tile: stock/",
                                                                                "dashboard_tile: x-stock/")
    second = text.replace("name: inventory\n", "name: inventory-x\n").replace(
        "grafana_url: http://localhost:3000", "grafana_url: http://grafana.example.com")
    errors = _errors(("first.yaml", first), ("second.yaml", second), tmp_path=tmp_path)
    a, b = tmp_path / "first.yaml", tmp_path / "second.yaml"

    def reported(kind: str, name: str, needle: str) -> bool:
        prefix = f"{b}:{_line(second, needle)}: "
        return any(e.startswith(prefix) and f"{kind} `{name}` is also declared by {a}:{_line(first, needle)} "
                   "(service inventory)" in e for e in errors)

    assert reported("alert name", "InventoryReservationFailuresHigh", "InventoryReservationFailuresHigh:")
    assert reported("alert name", "InventoryReservationSuccessErrorBudgetBurn", "reservation_success:")
    assert reported("Prometheus series", "inventory_reservations_total", "name: inventory.reservations")
    assert reported("Prometheus series", "inventory_reservation_duration_milliseconds_bucket",
                    "name: inventory.reservation.duration")
    uid = [e for e in errors if "dashboard uid" in e]
    assert uid == [f"{b}:{_line(second, '  stock:')}: dashboards.stock: dashboard uid `inventory-x-stock` is also "
                   f"declared by {a}:{_line(first, '  x-stock:')} (service inventory) — rename one dashboard: its "
                   "uid (service + name, first 40 characters) must be unique in Grafana"]
    assert f"{b}:{_line(second, 'grafana_url')}: service.grafana_url: `http://grafana.example.com` differs from " \
           f"`http://localhost:3000` in {a}:{_line(first, 'grafana_url')}" in "\n".join(errors)


# --- the real tools on the two-service tree --------------------------------------------------------


def test_promtool_checks_and_unit_tests_the_rules_of_both_services(both: Path) -> None:
    rules = [str(both / "alerting" / s / name) for s in ("inventory", BUILT_IN) for name in RULE_FILES]
    result = tool("promtool", "check", "rules", *rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 6
    tests = sorted(str(p) for p in (both / "alerting").glob("*/tests/*_test.yml"))
    assert {Path(t).parent.parent.name for t in tests} == {"inventory", BUILT_IN}
    result = tool("promtool", "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests)


@pytest.mark.parametrize("labels,receivers", [
    (["service=inventory", "severity=P1", "kill_switch=pause_reservations"],
     "inventory/kill-switch,inventory/oncall-page"),
    (["service=inventory", "severity=P3"], "inventory/stock-ticket"),
    (["service=movie-recommender", "severity=P1", "kill_switch=disable_experiment"],
     "movie-recommender/kill-switch,movie-recommender/oncall-page"),
    (["service=movie-recommender", "severity=P3"], "movie-recommender/team-ticket"),
    (["service=payments", "severity=P1"], "obsgen-unrouted"),
])
def test_amtool_routes_each_service_to_its_own_receivers(both: Path, labels: list[str], receivers: str) -> None:
    config = str(both / "alerting" / "alertmanager.yml")
    assert tool("amtool", "check-config", config).returncode == 0
    result = tool("amtool", "config", "routes", "test", f"--config.file={config}", *labels)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receivers


def test_the_collector_config_of_both_services_validates_and_guards_both_pii_sets(both: Path) -> None:
    result = tool("otelcol-obsgen", "validate", f"--config={both / 'otel' / 'collector.yaml'}")
    assert result.returncode == 0, result.stdout + result.stderr
    text = (both / "otel" / "collector.yaml").read_text()
    assert 'delete_key(log.attributes, "customer_id")' in text and 'delete_key(log.attributes, "user_id")' in text


def test_prometheus_loads_the_rules_of_both_services(both: Path, tmp_path: Path) -> None:
    config = both / "prometheus" / "prometheus.yml"
    result = tool("promtool", "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rule files found" in result.stdout
    port = free_ports(1)[0]
    server = Service("prometheus3", [find_tool("prometheus3"), f"--config.file={config}",
                                     f"--storage.tsdb.path={tmp_path / 'data'}",
                                     f"--web.listen-address=127.0.0.1:{port}"],
                     tmp_path / "prometheus.log", f"http://127.0.0.1:{port}/-/ready")
    server.start()
    try:
        status, body = http(f"http://127.0.0.1:{port}/api/v1/rules")
    finally:
        server.stop()
    assert status == 200
    loaded = {(Path(g["file"]).parent.name, g["name"]) for g in json.loads(body)["data"]["groups"]}
    generated = {(service, group["name"]) for service in ("inventory", BUILT_IN) for name in RULE_FILES
                 for group in yaml.safe_load((both / "alerting" / service / name).read_text())["groups"]}
    assert loaded == generated
