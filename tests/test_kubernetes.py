"""The ``kubernetes`` target: every resource valid against the operators' CRD schemas, the embedded rules
passing promtool, the embedded collector config passing ``otelcol validate``, and each resource carrying
exactly what the compose target's file of the same content says."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from obsgen.cli import main
from obsgen.emit import alertmanager
from obsgen.emit.grafana import dashboards
from obsgen.emit.kubernetes.resources import KUBERNETES_DIR
from obsgen.emit.stack import collector
from obsgen.generate import build_tree, load
from obsgen.spec import default_spec_text

from tests.conftest import find_tool
from tests.support import crds
from tests.support.specs import SpecCase

CRD_KINDS = {"PrometheusRule", "ServiceMonitor", "OpenTelemetryCollector"}


@pytest.fixture(scope="module")
def tree(spec_case: SpecCase) -> dict[str, str]:
    return build_tree(spec_case.model)


def resources(tree: dict[str, str]) -> dict[str, dict]:
    return {path: yaml.safe_load(text) for path, text in tree.items()
            if path.startswith(f"{KUBERNETES_DIR}/") and not path.endswith("kustomization.yaml")}


def of_kind(tree: dict[str, str], kind: str) -> list[dict]:
    return [r for r in resources(tree).values() if r["kind"] == kind]


def test_every_operator_resource_matches_its_crd_schema(tree: dict[str, str]) -> None:
    found = resources(tree)
    assert {r["kind"] for r in found.values()} == CRD_KINDS | {"ConfigMap", "Secret"}
    for path, resource in found.items():
        if resource["kind"] in CRD_KINDS:
            assert crds.errors(resource) == [], path


def test_the_schema_check_rejects_an_unknown_field_and_a_wrong_type(tree: dict[str, str]) -> None:
    rule = copy.deepcopy(of_kind(tree, "PrometheusRule")[0])
    rule["spec"]["groups"][0]["rules"][0]["exprr"] = rule["spec"]["groups"][0]["rules"][0].pop("expr")
    monitor = copy.deepcopy(of_kind(tree, "ServiceMonitor")[0])
    monitor["spec"]["endpoints"] = "prometheus"
    assert any("exprr" in e for e in crds.errors(rule))
    assert any(e.startswith("spec/endpoints:") for e in crds.errors(monitor))


def test_prometheus_rules_pass_promtool_and_equal_the_rule_files(tree: dict[str, str], spec_case: SpecCase,
                                                                 tmp_path: Path) -> None:
    for resource in of_kind(tree, "PrometheusRule"):
        rules_file = tmp_path / f"{resource['metadata']['name']}.yml"
        rules_file.write_text(yaml.safe_dump(resource["spec"]))
        result = subprocess.run([find_tool("promtool"), "check", "rules", str(rules_file)], capture_output=True,
                                text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    service = spec_case.model.service.name
    groups = [g for path, text in sorted(tree.items()) if path.startswith(f"alerting/{service}/")
              and "/tests/" not in path for g in yaml.safe_load(text)["groups"]]
    (rule,) = [r for r in of_kind(tree, "PrometheusRule") if r["metadata"]["name"] == f"{service}-rules"]
    assert sorted(rule["spec"]["groups"], key=str) == sorted(groups, key=str)


def test_collector_resource_carries_the_same_config_and_it_validates(tree: dict[str, str], tmp_path: Path) -> None:
    (resource,) = of_kind(tree, "OpenTelemetryCollector")
    assert resource["spec"]["config"] == yaml.safe_load(tree[collector.COLLECTOR_FILE])
    config = tmp_path / "collector.yaml"
    config.write_text(yaml.safe_dump(resource["spec"]["config"]))
    result = subprocess.run([find_tool("otelcol-obsgen"), "validate", f"--config={config}"], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    monitor = of_kind(tree, "ServiceMonitor")[0]
    declared = {p["name"] for p in resource["spec"]["ports"]} | {"monitoring"}  # the operator adds monitoring
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= declared


def test_dashboards_are_sidecar_configmaps_with_their_folder(tree: dict[str, str], spec_case: SpecCase) -> None:
    maps = of_kind(tree, "ConfigMap")
    model = spec_case.model
    assert len(maps) == len(model.dashboards)
    for board in model.dashboards:
        uid = model.dashboard_uid(board)
        (cm,) = [m for m in maps if f"{uid}.json" in m["data"]]
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"]["grafana_folder"] == dashboards.folder(model, board)
        assert json.loads(cm["data"][f"{uid}.json"]) == json.loads(tree[dashboards.dashboard_path(model, board)])


def test_alertmanager_secret_holds_the_checked_config(tree: dict[str, str]) -> None:
    (secret,) = of_kind(tree, "Secret")
    assert secret["metadata"]["name"] == "alertmanager-obsgen"
    assert secret["stringData"]["alertmanager.yaml"] == tree[alertmanager.ALERTMANAGER_FILE]


def test_kustomization_lists_every_resource(tree: dict[str, str]) -> None:
    listed = yaml.safe_load(tree[f"{KUBERNETES_DIR}/kustomization.yaml"])["resources"]
    assert sorted(f"{KUBERNETES_DIR}/{p}" for p in listed) == sorted(resources(tree))


def test_namespace_and_labels_come_from_the_spec(tmp_path: Path) -> None:
    spec = tmp_path / "svc.yaml"
    spec.write_text(default_spec_text() + "\nkubernetes:\n  namespace: observability\n"
                    "  labels: {release: kube-prometheus-stack, team.example.com/owner: sre}\n")
    found = resources(build_tree(load(spec)))
    for resource in found.values():
        assert resource["metadata"]["namespace"] == "observability"
        assert resource["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert resource["metadata"]["labels"]["team.example.com/owner"] == "sre"
    assert all(crds.errors(r) == [] for r in found.values() if r["kind"] in CRD_KINDS)


def test_a_bad_namespace_is_a_spec_error_with_its_line(tmp_path: Path) -> None:
    spec = tmp_path / "svc.yaml"
    text = default_spec_text() + "\nkubernetes:\n  namespace: Not_A_Label\n"
    spec.write_text(text)
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 2
    line = text.splitlines().index("  namespace: Not_A_Label") + 1
    assert f"{spec}:{line}: kubernetes.namespace: `Not_A_Label` is not a valid namespace" in result.output


def test_targets_choose_the_deployment_files(tmp_path: Path) -> None:
    model = load(None)
    both, compose, cluster = (build_tree(model, t) for t in (("compose", "kubernetes"), ("compose",),
                                                               ("kubernetes",)))
    assert not [p for p in compose if p.startswith(f"{KUBERNETES_DIR}/")]
    assert "docker-compose.yml" not in cluster and "kubernetes/kustomization.yaml" in cluster
    assert set(both) == set(compose) | set(cluster)
    assert build_tree(model) == both
    result = CliRunner().invoke(main, ["generate", "--target", "kubernetes", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "kubernetes/kustomization.yaml").is_file() and not (tmp_path / "docker-compose.yml").exists()


def test_kustomize_builds_every_resource(spec_case: SpecCase, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["generate", *spec_case.spec_args, "--target", "kubernetes",
                                       "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    built = subprocess.run([find_tool("kustomize"), "build", str(tmp_path / KUBERNETES_DIR)], capture_output=True,
                           text=True, check=False)
    assert built.returncode == 0, built.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(built.stdout))
    assert kinds == sorted(r["kind"] for r in resources(build_tree(spec_case.model, ("kubernetes",))).values())
