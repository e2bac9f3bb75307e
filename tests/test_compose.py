"""The generated docker-compose.yml: valid Compose, pinned to the tested versions, and consistent with
every config it mounts (there is no Docker engine here, so consistency is proven by reading them).

- it parses and validates with the ``compose-spec`` package (the Compose specification's model);
- images are pinned to ``generator/data/versions.yaml``, which equals the tool versions
  scripts/install-tools.sh builds and the tests run;
- every service is health-checked, waits for what it needs to be healthy, publishes on 127.0.0.1 only,
  and mounts every config read-only from a path that exists in the generated tree;
- every URL in the generated configs names a service of the stack and a port that service listens on
  (read from that service's own generated config), or is one of the application's webhooks.
"""

from __future__ import annotations

import posixpath
import re
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import compose_spec  # the `test` extra; a missing package fails the collection, it never skips
import pytest
import yaml
from obsgen.emit.alertmanager import ALERTMANAGER_FILE
from obsgen.emit.grafana import provisioning
from obsgen.emit.render import Services
from obsgen.emit.stack import collector, compose, credentials
from obsgen.emit.stack import servers as stack
from obsgen.emit.stack.jaeger import JAEGER_FILE
from obsgen.model import Model
from obsgen.secretfiles import init_secrets, write_secrets

from tests.conftest import ROOT, find_tool
from tests.support.specs import SpecCase

INSTALL_TOOLS = ROOT / "scripts" / "install-tools.sh"
ENV_DEFAULT = re.compile(r"\$\{(?:env:)?([A-Z0-9_]+):-([^}]*)\}")


@pytest.fixture(scope="module")
def tree(spec_tree: Path) -> Path:
    """Every test here runs on the tree of each spec of ``SPEC_CASES``."""
    return spec_tree


@pytest.fixture(scope="module")
def model(spec_case: SpecCase) -> Model:
    return spec_case.model


DOT_ENV = {"OBSGEN_SECRETS_GID": "1000"}
"""What an operator's .env sets (see .env.example)."""
INTERPOLATION = re.compile(r"\$\$|\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` replaced as docker compose does before it validates
    the file; ``$$`` (a literal ``$``) is left for the container's shell."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$$"
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        assert kind == "-", f"${{{name}}} is required and .env does not set it: {rest}"
        return rest

    return INTERPOLATION.sub(one, text)


@pytest.fixture(scope="module")
def spec(tree: Path) -> dict[str, Any]:
    """The compose file as the compose-spec package reads it after compose's interpolation with the example
    .env (validation errors raise here)."""
    parsed = compose_spec.PyCompose.from_yaml(interpolate((tree / compose.COMPOSE_FILE).read_text(), DOT_ENV))
    parsed.validate()
    return parsed.to_dict()


@pytest.fixture(scope="module")
def services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return spec["services"]


def versions() -> dict[str, dict[str, str]]:
    return yaml.safe_load((ROOT / "generator" / "data" / "versions.yaml").read_text())["images"]


def long_running(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services.items() if name != compose.PROBE}


def mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, mode) of each volume entry."""
    out = []
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        out.append((source, target, mode[0] if mode else "rw"))
    return out


def test_compose_parses_and_validates_with_compose_spec(spec: dict[str, Any]) -> None:
    assert set(spec["services"]) == {"grafana", "prometheus", "loki", "otel-collector", "alertmanager", "jaeger",
                                     compose.PROBE}


def test_images_are_pinned_to_the_versions_file(services: dict[str, dict[str, Any]]) -> None:
    pinned = versions()
    assert set(pinned) == set(services)
    for name, svc in services.items():
        repository, tag = svc["image"].rsplit(":", 1)
        assert (repository, tag) == (pinned[name]["image"], str(pinned[name]["tag"]))
        assert tag != "latest" and re.fullmatch(r"v?\d+\.\d+\.\d+(-[a-z]+)?", tag), svc["image"]


def script_versions() -> dict[str, str]:
    text = INSTALL_TOOLS.read_text()
    return dict(re.findall(r"^([A-Z0-9_]+_VERSION)=([^\s#]+)", text, re.M))


def test_image_versions_equal_the_tools_the_tests_run() -> None:
    """Each image runs the version scripts/install-tools.sh builds (or, for Debian's, installs)."""
    script = script_versions()
    assert {"OTELCOL_VERSION", "PROMETHEUS3_VERSION", "LOKI_VERSION"} <= set(script), script
    checked = 0
    for name, entry in versions().items():
        tag = str(entry["tag"]).removeprefix("v")
        if "tool_var" in entry:
            var = entry["tool_var"]
            assert tag == script[var], f"{name}: image {tag} but scripts/install-tools.sh has {var}={script[var]}"
            checked += 1
        if "tool_binary" in entry:
            out = subprocess.run([find_tool(entry["tool_binary"]), "--version"], capture_output=True, text=True,
                                 check=False, timeout=60)
            version = re.search(r"version (\d+\.\d+\.\d+)", out.stdout + out.stderr)
            assert version and version.group(1) == tag, f"{name}: image {tag}, tested binary: {out.stdout}{out.stderr}"
            checked += 1
    assert checked == 5


def test_every_service_is_health_checked_and_restarted(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in long_running(services).items():
        test = svc["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1] == compose.PROBE_BINARY, name
        assert svc["restart"] == "unless-stopped", name
        assert (compose.PROBE_VOLUME, "/probe", "ro") in mounts(svc), name
        assert svc["depends_on"][compose.PROBE] == {"condition": "service_completed_successfully"}
    probe = services[compose.PROBE]
    assert probe["restart"] == "no" and "healthcheck" not in probe


def test_healthchecks_probe_the_port_the_service_listens_on(tree: Path,
                                                            services: dict[str, dict[str, Any]]) -> None:
    listening = listening_ports(tree, services)
    for name, svc in long_running(services).items():
        probed = re.search(r"https?://[^\s\"]+", svc["healthcheck"]["test"][-1])
        assert probed, (name, svc["healthcheck"])
        url = urllib.parse.urlsplit(probed.group(0))
        assert url.hostname == "127.0.0.1" and url.port in listening[name], (name, url)


def test_depends_on_waits_for_healthy_services_that_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for target, condition in svc.get("depends_on", {}).items():
            assert target in services and target != name
            expected = "service_completed_successfully" if target == compose.PROBE else "service_healthy"
            assert condition == {"condition": expected}, (name, target)
    assert set(services["grafana"]["depends_on"]) >= {"prometheus", "loki", "alertmanager"}
    assert "loki" in services["otel-collector"]["depends_on"]
    assert "alertmanager" in services["prometheus"]["depends_on"]


def test_ports_are_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    published = []
    for svc in services.values():
        for port in svc.get("ports", []):
            host, host_port, container_port = str(port).split(":")
            assert host == "127.0.0.1", port
            published.append(int(container_port))
    assert sorted(published) == [3000, 3100, 4317, 4318, 9090, 9093, 16686]


def test_configs_are_mounted_read_only_from_the_generated_tree(tree: Path,
                                                              services: dict[str, dict[str, Any]]) -> None:
    bound = set()
    for name, svc in services.items():
        for source, _, mode in mounts(svc):
            if not source.startswith("./"):
                continue
            if source == f"./{compose.LANDING_DIR}":  # data the collector writes, see test_lake_landing.py
                assert (name, mode) == ("otel-collector", "rw")
                continue
            assert mode == "ro", (name, source)
            if source == f"./{compose.SECRETS_DIR}":
                continue  # created by the operator, see test_secrets_are_mounted_not_generated
            assert (tree / source).is_dir(), f"{name} mounts {source}, which the generated tree lacks"
            bound.add(source[2:])
    # Directories, not single files: obsgen replaces files by rename, which a file bind mount would not see.
    assert bound == {"alerting", "dashboards", "grafana/provisioning/datasources", "grafana/provisioning/dashboards",
                     "jaeger", "loki", "otel", "prometheus"}
    generated = {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}
    configs = {stack.PROMETHEUS_FILE, stack.LOKI_FILE, collector.COLLECTOR_FILE, ALERTMANAGER_FILE, JAEGER_FILE,
               provisioning.DATASOURCES_FILE, provisioning.DASHBOARDS_FILE}
    assert configs <= generated
    assert all(any(c.startswith(b + "/") for b in bound) for c in configs)


def test_config_files_named_on_command_lines_are_mounted(tree: Path, services: dict[str, dict[str, Any]]) -> None:
    """``--config.file=/etc/obsgen/...`` resolves, through the service's mounts, to a generated file."""
    found = 0
    for name, svc in services.items():
        for arg in svc.get("command", []):
            path = arg.split("=", 1)[-1]
            if not path.startswith(stack.CONFIG_ROOT):
                continue
            host = host_path(svc, path)
            assert host is not None and (tree / host).is_file(), f"{name}: {path} is not a mounted generated file"
            found += 1
    assert found == 4  # prometheus, alertmanager, loki, collector


def host_path(service: dict[str, Any], container: str) -> str | None:
    for source, target, _ in mounts(service):
        if source.startswith("./") and (container == target or container.startswith(target + "/")):
            return posixpath.normpath(posixpath.join(source[2:], posixpath.relpath(container, target)))
    return None


def test_grafana_mounts_provisioning_and_dashboards_where_they_point(tree: Path,
                                                                     services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    assert host_path(grafana, provisioning.DASHBOARDS_MOUNT) == "dashboards"
    assert host_path(grafana, "/etc/grafana/provisioning/datasources") == "grafana/provisioning/datasources"
    assert (tree / "grafana/provisioning/dashboards/dashboards.yml").is_file()


def test_no_default_password_and_no_anonymous_access(tree: Path, services: dict[str, dict[str, Any]]) -> None:
    env = services["grafana"]["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    assert secret_source(services["grafana"], env["GF_SECURITY_ADMIN_PASSWORD__FILE"]) == "grafana-admin-password"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    example = (tree / compose.ENV_EXAMPLE_FILE).read_text()
    assert not re.search(r"PASSWORD\s*=", example), "the example must not ship or ask for a password variable"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert "secrets/" in (ROOT / ".gitignore").read_text().split()


def secret_source(service: dict[str, Any], target: str) -> str | None:
    """The compose secret a service sees at ``target``, if any."""
    for entry in service.get("secrets", []):
        entry = {"source": entry, "target": f"/run/secrets/{entry}"} if isinstance(entry, str) else entry
        if entry.get("target", f"/run/secrets/{entry['source']}") == target:
            return str(entry["source"])
    return None


def secret_references(tree: Path, services: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Every secret file a service's config or command line names, by service."""
    am = yaml.safe_load((tree / ALERTMANAGER_FILE).read_text())
    prom_text = (tree / stack.PROMETHEUS_FILE).read_text()
    datasources = (tree / provisioning.DATASOURCES_FILE).read_text()
    flags = {name: [a.split("=", 1)[1] for a in svc.get("command", []) if a.startswith("--web.config.file=")]
             for name, svc in services.items()}
    return {
        "alertmanager": [w["http_config"]["authorization"]["credentials_file"] for r in am["receivers"]
                         for w in r.get("webhook_configs", []) if "http_config" in w] + flags["alertmanager"]
                        + re.findall(r"< (\S+) &&", services["alertmanager"]["healthcheck"]["test"][-1]),
        "prometheus": re.findall(r"password_file: '([^']+)'", prom_text) + flags["prometheus"]
                      + re.findall(r"< (\S+) &&", services["prometheus"]["healthcheck"]["test"][-1]),
        "grafana": re.findall(r"\$__file\{([^}]+)\}", datasources)
                   + [services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"]],
    }


def test_every_secret_a_config_names_is_a_compose_secret_that_secrets_init_writes(
        tree: Path, services: dict[str, dict[str, Any]], spec: dict[str, Any], model: Model,
        tmp_path: Path) -> None:
    assert not (tree / compose.SECRETS_DIR).exists(), "secrets are never generated"
    written = init_secrets(Services((model,)), tmp_path)
    declared = spec["secrets"]
    references = secret_references(tree, services)
    assert all(len(paths) >= 2 for paths in references.values()), references
    for name, paths in references.items():
        for path in paths:
            source = secret_source(services[name], path)
            assert source in declared, f"{name} reads {path}, which is no compose secret of it"
            assert declared[source]["file"] == f"./{compose.SECRETS_DIR}/{source}"
            assert (written.directory / source).is_file(), f"obsgen secrets init does not write {source}"
    example = (tree / compose.ENV_EXAMPLE_FILE).read_text()
    for source in declared:
        assert f"secrets/{source}" in example, f"{source}: .env.example does not list it"
        mode = (written.directory / source).stat().st_mode & 0o777
        assert mode == 0o440, (source, oct(mode))
    assert (written.directory.stat().st_mode & 0o777) == 0o750
    for name in references:
        groups = [str(g) for g in services[name]["group_add"]]
        assert groups == [DOT_ENV["OBSGEN_SECRETS_GID"]], "secrets are read through the group"


def test_every_service_is_unprivileged_read_only_and_without_capabilities(
        services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        if name != compose.PROBE:
            uid = svc["user"].split(":")[0]
            assert uid.isdigit() and int(uid) != 0, f"{name} runs as {svc['user']}"


def test_secrets_init_keeps_existing_secrets_and_refuses_world_readable_ones(model: Model, tmp_path: Path) -> None:
    first = init_secrets(Services((model,)), tmp_path)
    password = (first.directory / "prometheus-password").read_text()
    second = init_secrets(Services((model,)), tmp_path)
    assert second.created == [] and (first.directory / "prometheus-password").read_text() == password
    (first.directory / "prometheus-password").chmod(0o444)
    with pytest.raises(ValueError, match="readable by every user"):
        init_secrets(Services((model,)), tmp_path)


def test_secrets_init_rewrites_web_and_amtool_configs_other_users_can_open(model: Model, tmp_path: Path) -> None:
    """They hold the bcrypt hash of a password (readable: crack it offline; writable: swap in your own)."""
    directory = init_secrets(Services((model,)), tmp_path).directory
    (directory / "prometheus-web.yml").chmod(0o644)
    (directory / "amtool-http.yml").chmod(0o442)
    again = init_secrets(Services((model,)), tmp_path)
    assert again.created == ["prometheus-web.yml", "amtool-http.yml"]
    assert {p.name: p.stat().st_mode & 0o777 for p in directory.iterdir()} == dict.fromkeys(again.kept + again.created,
                                                                                             0o440)


def test_secrets_init_refuses_a_tls_server_key_other_users_can_read(tmp_path: Path) -> None:
    for name in credentials.TLS_FILES:
        (tmp_path / name).write_text(f"your own {name}\n")
    (tmp_path / credentials.TLS_KEY).chmod(0o644)
    with pytest.raises(ValueError, match=r"tls-server.key: the TLS server key is open to every user \(mode 0644\)"):
        write_secrets(tmp_path, sorted(set(credentials.WEB_CONFIGS.values())), tls=True)
    (tmp_path / credentials.TLS_KEY).chmod(0o440)
    assert write_secrets(tmp_path, sorted(set(credentials.WEB_CONFIGS.values())), tls=True).kept == [
        *credentials.TLS_FILES]


def test_secrets_init_names_a_file_where_its_directory_goes(model: Model, tmp_path: Path) -> None:
    (tmp_path / credentials.SECRETS_DIR).write_text("not a directory\n")
    with pytest.raises(ValueError, match="is a file, where the secrets' directory goes — move it out of the way"):
        init_secrets(Services((model,)), tmp_path)


def host_path_any(service: dict[str, Any], container: str) -> str | None:
    for source, target, _ in mounts(service):
        if container.startswith(target + "/"):
            return posixpath.join(source.removeprefix("./"), posixpath.relpath(container, target))
    return None


def test_prometheus_retention_flag_is_the_spec_metrics_retention(services: dict[str, dict[str, Any]],
                                                                model: Model) -> None:
    flags = services["prometheus"]["command"]
    assert f"--storage.tsdb.retention.time={model.retention['metrics'].text}" in flags


# --- every URL names a service of the stack and a port it listens on ----------------------------


def listening_ports(tree: Path, services: dict[str, dict[str, Any]]) -> dict[str, set[int]]:
    """Container ports each service listens on, read from the service's own generated config or flags."""
    def flag_port(name: str) -> set[int]:
        return {int(a.rsplit(":", 1)[1]) for a in services[name]["command"] if a.startswith("--web.listen-address=")}

    loki = (tree / stack.LOKI_FILE).read_text()
    collector_text = (tree / collector.COLLECTOR_FILE).read_text()
    collector_ports = {int(default.rsplit(":", 1)[1]) for var, default in ENV_DEFAULT.findall(collector_text)
                       if var.endswith("_ENDPOINT") and not default.startswith("http")}
    collector_ports |= {int(d) for var, d in ENV_DEFAULT.findall(collector_text) if var == "OTELCOL_TELEMETRY_PORT"}
    jaeger_text = (tree / JAEGER_FILE).read_text()
    jaeger_ports = {int(default.rsplit(":", 1)[1]) for var, default in ENV_DEFAULT.findall(jaeger_text)
                    if var.endswith("_ENDPOINT")}
    return {
        "prometheus": flag_port("prometheus"),
        "alertmanager": flag_port("alertmanager"),
        "loki": {int(d) for var, d in ENV_DEFAULT.findall(loki) if var == "LOKI_HTTP_PORT"},
        "otel-collector": collector_ports,
        "jaeger": jaeger_ports,
        "grafana": {3000},  # Grafana's default http_port; the compose file sets no other
    }


def config_urls(tree: Path) -> dict[str, list[str]]:
    """host:port references in the generated configs, by where they come from."""
    datasources = yaml.safe_load((tree / provisioning.DATASOURCES_FILE).read_text())["datasources"]
    prometheus = yaml.safe_load((tree / stack.PROMETHEUS_FILE).read_text())
    targets = [t for job in prometheus["scrape_configs"] for c in job["static_configs"] for t in c["targets"]]
    targets += [t for am in prometheus["alerting"]["alertmanagers"] for c in am["static_configs"] for t in c["targets"]]
    collector_text = (tree / collector.COLLECTOR_FILE).read_text()
    exported = [d for var, d in ENV_DEFAULT.findall(collector_text) if d.startswith("http")]
    exported += [f"http://{d}" for var, d in ENV_DEFAULT.findall(collector_text) if var == "OTELCOL_JAEGER_ENDPOINT"]
    return {
        "grafana datasources": [urllib.parse.urlsplit(d["url"]).netloc for d in datasources],
        "prometheus targets": targets,
        "collector exporters": [urllib.parse.urlsplit(u).netloc for u in exported],
    }


def test_every_url_in_the_configs_names_a_service_and_a_port_it_listens_on(
        tree: Path, services: dict[str, dict[str, Any]]) -> None:
    listening = listening_ports(tree, services)
    urls = config_urls(tree)
    assert all(urls.values()), urls
    for where, netlocs in urls.items():
        for netloc in netlocs:
            host, port = netloc.rsplit(":", 1)
            if host == "localhost":
                assert where == "prometheus targets" and int(port) in listening["prometheus"], netloc
                continue
            assert host in services, f"{where}: {netloc} is not a service of docker-compose.yml"
            assert int(port) in listening[host], f"{where}: {host} does not listen on {port}"


def test_alertmanager_webhooks_are_the_applications_and_documented(tree: Path,
                                                                   services: dict[str, dict[str, Any]]) -> None:
    config = yaml.safe_load((tree / ALERTMANAGER_FILE).read_text())
    urls = [w["url"] for r in config["receivers"] for w in r.get("webhook_configs", [])]
    text = (tree / compose.COMPOSE_FILE).read_text()
    for url in urls:
        assert urllib.parse.urlsplit(url).hostname not in services
        assert f"#   {url}\n" in text, f"{url} is not listed among the application's webhooks"
    assert "obsgen killswitch serve" in text


def test_compose_output_is_byte_stable(model: Model) -> None:
    services = Services((model,))
    assert compose.emit(services) == compose.emit(Services((model,)))
    assert stack.emit(services) == stack.emit(Services((model,)))
    assert collector.emit(services) == collector.emit(Services((model,)))
