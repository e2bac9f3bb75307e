"""Both specs of ``SPEC_CASES`` generated into one tree: the real tools accept it, one stack (one collector,
Prometheus, Loki, Alertmanager) runs both services' simulated apps at once with zero loss, each service's
series and alerts stay its own, and regenerating with one spec removes only the other's files.

The stack is the one of tests/support/e2e.py, on the generated tree (same test-only transforms).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.emit.alertmanager import receiver_name
from obsgen.spec import default_spec_text
from obsgen.write import MANIFEST, manifest_entries

from tests.conftest import find_tool
from tests.support.e2e import App, Stack, check_zero_loss, firing_incidents, open_stack, receiver_of
from tests.support.specs import SPEC_CASES, SpecCase
from tests.support.stack import rule_files, wait_for


def spec_file(case: SpecCase, where: Path) -> Path:
    """The case's spec as a file (the built-in one written out, to name it beside the other)."""
    if case.spec is not None:
        return case.spec
    path = where / f"{case.model.service.name}.yaml"
    path.write_text(default_spec_text())
    return path


def generate(out: Path, *specs: Path) -> str:
    result = CliRunner().invoke(main, ["generate", *map(str, specs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return result.output


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([find_tool(args[0]), *args[1:]], capture_output=True, text=True, check=False, timeout=600)


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    where = tmp_path_factory.mktemp("specs")
    return [spec_file(case, where) for case in SPEC_CASES]


@pytest.fixture(scope="module")
def tree(specs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("two-services")
    generate(out, *specs)
    return out


@pytest.fixture(scope="module")
def stack(tree: Path, specs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with open_stack(tmp_path_factory.mktemp("e2e-two"), tree,
                    [(spec, case.model) for spec, case in zip(specs, SPEC_CASES, strict=True)]) as stack:
        yield stack


def test_the_tree_of_both_specs_passes_promtool_amtool_and_otelcol(tree: Path) -> None:
    rules = [str(p) for p in rule_files(tree)]
    assert {Path(r).parent.name for r in rules} == {c.model.service.name for c in SPEC_CASES}
    result = tool("promtool", "check", "rules", *rules)
    assert result.returncode == 0 and result.stdout.count("SUCCESS") == len(rules), result.stdout + result.stderr
    # Each service's rules and their promtool tests are its single-spec tree's, which tests/test_promtool.py
    # unit-tests with promtool, below the header line (it names the spec file; the built-in spec is a file here).
    for case in SPEC_CASES:
        folder = tree / "alerting" / case.model.service.name
        files = sorted(p.relative_to(tree) for p in folder.rglob("*.yml"))
        assert any(f.parent.name == "tests" for f in files)
        for f in files:
            assert (tree / f).read_text().split("\n", 1)[1] == (case.committed / f).read_text().split("\n", 1)[1], f
    config = str(tree / "alerting" / "alertmanager.yml")
    result = tool("amtool", "check-config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    for case in SPEC_CASES:  # each service's alerts reach its own receivers, a kill-switch alert its switch too
        model = case.model
        for route in model.routing.severities:
            labels = [f"service={model.service.name}", f"severity={route.severity}"]
            result = tool("amtool", "config", "routes", "test", f"--config.file={config}", *labels)
            assert result.stdout.strip() == receiver_name(model, route.receiver), (labels, result.stderr)
        switched = next(a for a in model.alerts if a.kill_switch)
        labels = [f"service={model.service.name}", f"severity={switched.severity}",
                  f"kill_switch={switched.kill_switch}"]
        result = tool("amtool", "config", "routes", "test", f"--config.file={config}", *labels)
        assert result.stdout.strip() == ",".join([receiver_name(model, model.routing.kill_switch_webhook.name),
                                                  receiver_of(model, switched.severity)]), (labels, result.stderr)
    result = tool("otelcol-obsgen", "validate", f"--config={tree / 'otel' / 'collector.yaml'}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_services_run_together_with_zero_loss_their_own_series_and_their_own_alerts(stack: Stack) -> None:
    apps = list(stack.apps.values())
    sims = [stack.simulate(app, f"two-{app.name}", *[a for i in dict.fromkeys(i for i, _ in firing_incidents(app.model))
                                                      for a in ("--incident", i)],
                           "--minutes", "120", "--start", "19:00", "--speedup", "600", "--rate", "150", "--seed", "21",
                           "--backpressure")
            for app in apps]
    for sim in sims:
        sim.start()
    summaries = [sim.finish(timeout=300) for sim in sims]
    prom = stack.prometheus
    for app, summary in zip(apps, summaries, strict=True):
        check_zero_loss(stack, app, summary)
        instance = summary["service_instance_id"]
        for metric in app.model.metrics:  # each series carries its own service's job and service_name
            if not summary["metrics"].get(metric.name):
                continue  # nothing recorded in this run (zero loss above already compared the counts)
            owners = {(r["metric"].get("job"), r["metric"].get("service_name")) for r in prom.query(
                f'count by (job, service_name) ({metric.count_series}{{instance="{instance}"}})')}
            assert owners and all(job.endswith(app.name) and name in (None, app.name) for job, name in owners), \
                (metric.count_series, owners)
    # Each service's alerts reach only that service's receivers (a notification per service at least).
    for app in apps:
        mine = wait_for(lambda app=app: _notified(stack, app), 60, f"a notification of {app.name}'s alerts")
        print(f"\n{app.name}: alerts {sorted(mine)} notified at its own receivers")
    for note in stack.sink.received:
        service = note.path.strip("/").partition("/")[0]
        assert {a["labels"]["service"] for a in note.body["alerts"]} == {service}, note.path


def _notified(stack: Stack, app: App) -> set[str]:
    return {a["labels"]["alertname"] for n in stack.sink.received if n.path.startswith(f"/{app.name}/")
            for a in n.body["alerts"] if a["status"] == "firing"}


def test_regenerating_with_one_spec_removes_only_the_other_services_files(tree: Path, specs: list[Path],
                                                                          tmp_path: Path) -> None:
    copy = tmp_path / "tree"
    shutil.copytree(tree, copy, copy_function=shutil.copy2)
    owners = manifest_entries((copy / MANIFEST).read_text())
    kept_case, gone_case = SPEC_CASES[1], SPEC_CASES[0]
    kept_name, gone_name = kept_case.model.service.name, gone_case.model.service.name
    kept = {p: (copy / p).read_bytes() for p, who in owners.items() if who == kept_name}
    gone = [p for p, who in owners.items() if who == gone_name]
    assert kept and gone
    generate(copy, specs[1])
    assert {p: (copy / p).read_bytes() for p in kept} == kept
    assert not any((copy / p).exists() for p in gone)
    alone = tmp_path / "alone"
    generate(alone, specs[1])  # the shared files are regenerated as if the other service had never been there
    files = {str(p.relative_to(copy)): p.read_bytes() for p in sorted(copy.rglob("*")) if p.is_file()}
    assert files == {str(p.relative_to(alone)): p.read_bytes() for p in sorted(alone.rglob("*")) if p.is_file()}
