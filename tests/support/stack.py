"""The generated observability stack, run natively on loopback for end-to-end tests and the pipeline benchmark.

Each server runs the committed, generated config (``otel/collector.yaml``, ``loki/loki.yaml``,
``prometheus/prometheus.yml``, ``alerting/<service>/*.yml``) with only ports, hosts and paths changed, through the
env variables the configs read or a copy rewritten in exactly those places:

* the collector and Loki: their ``${env:...}`` / ``${...}`` addresses point at free 127.0.0.1 ports;
* Prometheus 3 (``prometheus3``, the version docker-compose.yml pins): a copy of prometheus.yml whose
  targets, Alertmanager address and rule-file paths are rewritten; plus, **test-only**, a 1 s scrape
  and evaluation interval (``TEST_INTERVAL``) so a scrape follows an export within a second;
* the rules: copies of alerting/<service>/*.yml where every ``for:`` becomes ``for: 10s`` (``shortened_rules``,
  **test-only**), so alerts fire within a test; everything else is unchanged;
* Alertmanager 0.25: a copy of alertmanager.yml whose webhook URLs point at loopback and whose
  ``credentials_file`` entries point at temporary token files; plus, **test-only**, every route's
  ``group_wait`` becomes 1 s (``TEST_GROUP_WAIT``), so a P3 ticket is not five minutes away;
* authentication as in the compose stack: Prometheus and Alertmanager run with the web configs
  ``obsgen secrets init`` writes (``stack_secrets``: ``<work>/secrets``), the ``password_file`` entries
  of prometheus.yml point there, the helpers send basic auth, and Loki queries name the tenant.

Every process is started by a test and stopped by it (``Service.stop``, SIGTERM then SIGKILL; an atexit
hook kills any left behind), its output in a log file shown when it fails to start.
"""

from __future__ import annotations

import atexit
import base64
import calendar
import contextlib
import json
import os
import posixpath
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import yaml
from obsgen.emit.alertmanager import ALERTMANAGER_FILE
from obsgen.emit.stack import credentials
from obsgen.emit.stack.collector import COLLECTOR_FILE
from obsgen.emit.stack.jaeger import JAEGER_FILE
from obsgen.emit.stack.servers import LOKI_FILE, PROMETHEUS_FEATURES, PROMETHEUS_FILE
from obsgen.secretfiles import write_secrets

ROOT = Path(__file__).resolve().parents[2]
"""Where the built-in spec's generated tree is committed; every server takes ``root`` to run another tree."""
TOOLS_BIN = Path.home() / ".cache" / "obsgen-tools" / "bin"
TEST_INTERVAL = "1s"
"""Test-only scrape and rule-evaluation interval (the generated prometheus.yml says 15s)."""
TEST_FOR = "10s"
"""Test-only replacement of every alert's ``for:`` in the rule copies."""
TEST_GROUP_WAIT = "1s"
"""Test-only replacement of every Alertmanager route's ``group_wait`` and ``group_interval``: a new alert in a
group that has already notified (an absent-data alert fired while the stack started) is sent in a second, not
after the generated minutes."""
T = TypeVar("T")

_STARTED: list[subprocess.Popen[bytes]] = []


@atexit.register
def _kill_leftovers() -> None:
    """Last resort (an interrupted run): kill the processes this module started that still run."""
    for proc in _STARTED:
        if proc.poll() is None:
            proc.kill()


class ToolMissing(RuntimeError):
    pass


def locate(name: str) -> str:
    """A tool installed by scripts/install-tools.sh (or on PATH)."""
    found = shutil.which(name, path=os.pathsep.join([str(TOOLS_BIN), os.environ.get("PATH", "")]))
    if found is None:
        raise ToolMissing(f"{name} is not installed: run scripts/install-tools.sh")
    return found


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports, held open together while picking so none is handed out twice.

    They come from below the kernel's ephemeral range: between picking a port and the server binding
    it, the many outgoing connections of a test run (scrapes, exports, queries), and other test runs
    asking the kernel for port 0, take ports from the ephemeral range and would otherwise collide.
    """
    low, high = 20000, max(_ephemeral_low(), 20000 + 10 * count)
    socks: list[socket.socket] = []
    rng = random.Random()
    try:
        while len(socks) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind(("127.0.0.1", rng.randrange(low, high)))
            except OSError:
                sock.close()
                continue
            socks.append(sock)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for sock in socks:
            sock.close()


def http(url: str, data: bytes | None = None, headers: dict[str, str] | None = None, method: str | None = None,
         timeout: float = 10) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers=headers or {},
                                     method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def write_secret(path: Path, text: str) -> Path:
    """A secret file as obsgen and the servers accept it: owner-only (0600), never world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def stack_secrets(work: Path) -> Path:
    """The stack's passwords and web configs for a native run, written as ``obsgen secrets init`` does."""
    return write_secrets(work / credentials.SECRETS_DIR, list(credentials.PASSWORDS)).directory


def local_secret(container_path: str, secrets: Path) -> str:
    """A secret's container path (``/run/secrets/NAME``) → the same file of the native run."""
    return str(secrets / posixpath.basename(container_path))


def basic_auth(secrets: Path, password: str) -> dict[str, str]:
    """The ``Authorization`` header of ``BASIC_AUTH_USER`` with the password in ``secrets/password``."""
    value = (secrets / password).read_text(encoding="utf-8").strip()
    token = base64.b64encode(f"{credentials.BASIC_AUTH_USER}:{value}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


LOKI_TENANT = {credentials.LOKI_TENANT_HEADER: credentials.LOKI_TENANT}
"""The header every Loki push and query of the stack carries (Loki runs multi-tenant)."""


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.25) -> T:
    """Poll ``check()`` until it returns something truthy; AssertionError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last value {value!r})")
        time.sleep(interval)


class Service:
    """A server process on loopback; ``start()`` returns once ``ready_url`` answers 200."""

    def __init__(self, name: str, args: list[str], log: Path, ready_url: str, env: dict[str, str] | None = None,
                 ready_headers: dict[str, str] | None = None) -> None:
        self.name = name
        self.args = args
        self.log = log
        self.ready_url = ready_url
        self.env = env or {}
        self.ready_headers = ready_headers or {}
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> Service:
        """Start the process without waiting for it to be ready (``wait_ready`` does)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT, cwd=self.log.parent,
                                            env={**os.environ, **self.env}, start_new_session=True)
        _STARTED.append(self.process)
        return self

    def wait_ready(self, timeout: float = 60) -> Service:
        assert self.process is not None, f"{self.name} was not started"
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if http(self.ready_url, headers=self.ready_headers, timeout=2)[0] == 200:
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} not ready at {self.ready_url} within {timeout:g}s:\n{self.tail()}")
            time.sleep(0.1)

    def start(self, timeout: float = 60) -> Service:
        return self.launch().wait_ready(timeout)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, no graceful shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


# --- the collector -------------------------------------------------------------------------------------


class Collector(Service):
    """otelcol-obsgen running otel/collector.yaml as generated; ports fixed at creation, so it can restart."""

    def __init__(self, work: Path, loki_port: int, root: Path = ROOT, jaeger_port: int | None = None) -> None:
        """``jaeger_port``: Jaeger's OTLP/gRPC port; without one, traces go to a port nobody listens on (the
        exporter retries in the background; metrics and logs are unaffected)."""
        grpc, http_port, prom, health, telemetry, no_jaeger = free_ports(6)
        self.ports = {"grpc": grpc, "http": http_port, "prometheus": prom, "health": health, "telemetry": telemetry}
        env = {"OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc}",
               "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
               "OTELCOL_PROMETHEUS_ENDPOINT": f"127.0.0.1:{prom}",
               "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{health}",
               "OTELCOL_TELEMETRY_HOST": "127.0.0.1", "OTELCOL_TELEMETRY_PORT": str(telemetry),
               "OTELCOL_LOKI_ENDPOINT": f"http://127.0.0.1:{loki_port}/otlp",
               "OTELCOL_JAEGER_ENDPOINT": f"127.0.0.1:{jaeger_port or no_jaeger}",
               "OTELCOL_STORAGE_DIR": str(work / "otelcol-queue"),
               "OTELCOL_LANDING_DIR": str(work / "landing")}
        self.landing = work / "landing"
        """The lake's landing zone the collector writes (one folder per service)."""

        super().__init__("otelcol-obsgen", [locate("otelcol-obsgen"), f"--config={root / COLLECTOR_FILE}"],
                         work / "otelcol.log", f"http://127.0.0.1:{health}/", env)

    @property
    def endpoint(self) -> str:
        """OTLP/HTTP base URL, for OTEL_EXPORTER_OTLP_ENDPOINT / ``obsgen simulate --endpoint``."""
        return f"http://127.0.0.1:{self.ports['http']}"


# --- Jaeger ---------------------------------------------------------------------------------------------


class Jaeger(Service):
    """Jaeger v2 running jaeger/config.yaml as generated (in-memory trace store), on free loopback ports."""

    def __init__(self, work: Path, root: Path = ROOT) -> None:
        self.otlp_port, self.port, query_grpc, health, telemetry = free_ports(5)
        env = {"JAEGER_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.otlp_port}",
               "JAEGER_QUERY_HTTP_ENDPOINT": f"127.0.0.1:{self.port}",
               "JAEGER_QUERY_GRPC_ENDPOINT": f"127.0.0.1:{query_grpc}",
               "JAEGER_HEALTH_ENDPOINT": f"127.0.0.1:{health}",
               "JAEGER_TELEMETRY_HOST": "127.0.0.1", "JAEGER_TELEMETRY_PORT": str(telemetry)}
        super().__init__("jaeger", [locate("jaeger"), f"--config=file:{root / JAEGER_FILE}"], work / "jaeger.log",
                         f"http://127.0.0.1:{health}/status", env)

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """The spans Jaeger's query API returns for ``trace_id`` (none while it does not know the trace)."""
        status, body = http(f"http://127.0.0.1:{self.port}/api/traces/{trace_id}", timeout=10)
        if status == 404:
            return []
        if status != 200:
            raise AssertionError(f"jaeger trace {trace_id}: {status} {body[:500]}")
        return [span for trace in json.loads(body)["data"] or [] for span in trace["spans"]]


# --- Loki -----------------------------------------------------------------------------------------------


class Loki(Service):
    """Loki running loki/loki.yaml as generated (``-config.expand-env``), data in ``work``."""

    def __init__(self, work: Path, root: Path = ROOT) -> None:
        self.port, grpc = free_ports(2)
        env = {"LOKI_LISTEN_ADDRESS": "127.0.0.1", "LOKI_HTTP_PORT": str(self.port), "LOKI_GRPC_PORT": str(grpc),
               "LOKI_DATA_DIR": str(work / "loki-data")}
        super().__init__("loki", [locate("loki"), f"-config.file={root / LOKI_FILE}", "-config.expand-env=true"],
                         work / "loki.log", f"http://127.0.0.1:{self.port}/ready", env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: Any) -> Any:
        status, body = http(f"{self.url}/loki/api/v1/{path}?{urllib.parse.urlencode(params)}", headers=LOKI_TENANT,
                            timeout=30)
        if status != 200:
            raise AssertionError(f"loki {path} {params}: {status} {body[:500]}")
        return json.loads(body)["data"]

    def instant(self, logql: str) -> float:
        """An instant metric query (``sum(count_over_time(...))``): its single value, 0 when empty."""
        result = self.api("query", query=logql, time=time.time_ns())["result"]
        return float(result[0]["value"][1]) if result else 0.0

    def entries(self, logql: str, start_ns: int, end_ns: int, page: int = 2000) -> list[tuple[dict[str, str], str]]:
        """Every log line a log query returns in [start, end], paged forward: (labels incl. metadata, line).

        Pages stay small: with the generated loki.yaml, a response over 4 MB (about 4,000 of these lines)
        exceeds the querier's default gRPC message size and the query hangs instead of failing.
        """
        out: list[tuple[dict[str, str], str]] = []
        seen: set[tuple[str, str, str]] = set()
        cursor = start_ns
        while True:
            result = self.api("query_range", query=logql, start=cursor, end=end_ns, limit=page,
                              direction="forward")["result"]
            batch = [(int(ts), s["stream"], line) for s in result for ts, line in s["values"]]
            fresh = 0
            for ts, labels, line in sorted(batch, key=lambda b: b[0]):
                key = (str(ts), json.dumps(labels, sort_keys=True), line)
                if key not in seen:
                    seen.add(key)
                    out.append((labels, line))
                    fresh += 1
            if len(batch) < page or fresh == 0:
                return out
            cursor = max(ts for ts, _, _ in batch)  # the last nanosecond again: `seen` drops repeats


# --- the rules, Prometheus ---------------------------------------------------------------------------------


def rule_files(root: Path = ROOT) -> list[Path]:
    """The rule files of every service in the tree at ``root``, as the generated prometheus.yml lists them."""
    config = yaml.safe_load((root / PROMETHEUS_FILE).read_text(encoding="utf-8"))
    return [(root / Path(PROMETHEUS_FILE).parent / rel).resolve() for rel in config["rule_files"]]


def shortened_rules(dest: Path, root: Path = ROOT) -> list[Path]:
    """Test-only copies of every service's rule files with every ``for:`` replaced by ``for: TEST_FOR``."""
    out = []
    for path in rule_files(root):
        text = path.read_text(encoding="utf-8")
        copy = dest / path.parent.name / path.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(re.sub(r"(?m)^(\s+for:\s*)\S+\s*$", rf"\g<1>{TEST_FOR}", text), encoding="utf-8")
        out.append(copy)
    return out


def prometheus_config(targets: dict[str, str], alertmanager: str | None, rule_files: list[Path], secrets: Path,
                      root: Path = ROOT, interval: str | None = TEST_INTERVAL) -> dict[str, Any]:
    """prometheus/prometheus.yml as generated, with targets, Alertmanager, rule and password paths on loopback.

    ``targets`` maps a scrape job name to its new ``host:port``; a job not in it is dropped (nothing to
    scrape natively). Each ``basic_auth.password_file`` points into ``secrets``. Test-only: scrape and
    evaluation intervals become ``interval`` (None: as generated).
    """
    config = yaml.safe_load((root / PROMETHEUS_FILE).read_text(encoding="utf-8"))
    if interval is not None:
        config["global"]["scrape_interval"] = interval
        config["global"]["evaluation_interval"] = interval
        config["global"]["scrape_timeout"] = interval
    config["rule_files"] = [str(p) for p in rule_files]
    if alertmanager is None:
        config.pop("alerting", None)
    else:
        config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [alertmanager]}]
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in targets:
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
            jobs.append(job)
    for client in (*config.get("alerting", {}).get("alertmanagers", []), *jobs):
        if "basic_auth" in client:
            client["basic_auth"]["password_file"] = local_secret(client["basic_auth"]["password_file"], secrets)
    config["scrape_configs"] = jobs
    return config


class Prometheus(Service):
    """Prometheus 3 with the adapted config (flags as in docker-compose.yml, paths and address local)."""

    def __init__(self, work: Path, collector: Collector, alertmanager_port: int | None, loki_port: int | None,
                 rule_files: list[Path], binary: str = "prometheus3", interval: str | None = TEST_INTERVAL,
                 root: Path = ROOT) -> None:
        self.port = free_ports(1)[0]
        targets = {"otel-collector-exporter": f"127.0.0.1:{collector.ports['prometheus']}",
                   "otel-collector": f"127.0.0.1:{collector.ports['telemetry']}",
                   "prometheus": f"127.0.0.1:{self.port}"}
        if alertmanager_port is not None:
            targets["alertmanager"] = f"127.0.0.1:{alertmanager_port}"
        if loki_port is not None:
            targets["loki"] = f"127.0.0.1:{loki_port}"
        secrets = stack_secrets(work)
        config = prometheus_config(targets, f"127.0.0.1:{alertmanager_port}" if alertmanager_port else None,
                                   rule_files, secrets, root=root, interval=interval)
        self.config_file = work / "prometheus.yml"
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.auth = basic_auth(secrets, credentials.PROMETHEUS_PASSWORD)
        super().__init__(binary, [locate(binary), f"--config.file={self.config_file}",
                                  f"--storage.tsdb.path={work / 'prometheus-data'}",
                                  "--storage.tsdb.retention.time=30d",
                                  f"--web.listen-address=127.0.0.1:{self.port}",
                                  f"--enable-feature={','.join(PROMETHEUS_FEATURES)}",
                                  f"--web.config.file={secrets / credentials.PROMETHEUS_WEB_CONFIG}"],
                         work / "prometheus.log", f"http://127.0.0.1:{self.port}/-/ready", ready_headers=self.auth)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        status, body = http(f"{self.url}/api/v1/{path}" + (f"?{query}" if query else ""), headers=self.auth,
                            timeout=30)
        try:
            parsed = json.loads(body)
        except ValueError:
            raise AssertionError(f"prometheus {path} {params}: {status} {body[:300]!r}") from None
        if status != 200 or parsed.get("status") != "success":
            raise AssertionError(f"prometheus {path} {params}: {status} {parsed.get('error')}")
        return parsed["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        return self.api("query", **params)["result"]

    def value(self, expr: str, at: float | None = None) -> float | None:
        """The single value of a scalar-like query, None when it returns nothing."""
        result = self.query(expr, at)
        return float(result[0]["value"][1]) if result else None

    def scraped_after(self, when: float, job: str = "otel-collector-exporter") -> bool:
        """Whether a scrape of ``job`` finished after Unix time ``when`` (so it saw what was there then)."""
        targets = self.api("targets")["activeTargets"]
        for target in targets:
            if target["labels"].get("job") == job and target["health"] == "up":
                scraped = target["lastScrape"]
                # RFC 3339 in UTC with nanoseconds; whole seconds, rounded down, are enough here.
                return calendar.timegm(time.strptime(scraped[:19], "%Y-%m-%dT%H:%M:%S")) > when
        return False


# --- Alertmanager and its webhooks -------------------------------------------------------------------------


@dataclass
class Notification:
    path: str
    authorization: str | None
    body: dict[str, Any]


@dataclass
class WebhookSink:
    """Stands in for the spec's other receivers (alert-sink): records every notification it gets."""

    received: list[Notification] = field(default_factory=list)

    def __post_init__(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
                pass

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.received.append(Notification(self.path, self.headers.get("Authorization"), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def alertmanager_config(urls: dict[str, str], token_files: dict[str, Path], root: Path = ROOT) -> dict[str, Any]:
    """alerting/alertmanager.yml as generated, each receiver's webhook URL and credentials_file replaced.

    ``urls`` and ``token_files`` are keyed by Alertmanager's receiver names (``<service>/<name>``).
    Test-only: every route's ``group_wait`` and ``group_interval`` become ``TEST_GROUP_WAIT``.
    """
    config = yaml.safe_load((root / ALERTMANAGER_FILE).read_text(encoding="utf-8"))
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = urls[receiver["name"]]
            if "http_config" in hook:  # a receiver without a bearer token file has none
                hook["http_config"]["authorization"]["credentials_file"] = str(token_files[receiver["name"]])
    routes = [config["route"]]
    while routes:
        route = routes.pop()
        for key in ("group_wait", "group_interval"):
            if key in route:
                route[key] = TEST_GROUP_WAIT
        routes += route.get("routes", [])
    return config


class Alertmanager(Service):
    def __init__(self, work: Path, urls: dict[str, str], token_files: dict[str, Path], root: Path = ROOT) -> None:
        self.port = free_ports(1)[0]
        self.config_file = work / "alertmanager.yml"
        self.config_file.write_text(yaml.safe_dump(alertmanager_config(urls, token_files, root), sort_keys=False),
                                    encoding="utf-8")
        secrets = stack_secrets(work)
        self.auth = basic_auth(secrets, credentials.ALERTMANAGER_PASSWORD)
        # As in docker-compose.yml: --cluster.listen-address= turns gossip off (a single instance).
        super().__init__("alertmanager", [locate("alertmanager"), f"--config.file={self.config_file}",
                                          f"--storage.path={work / 'alertmanager-data'}",
                                          f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
                                          f"--web.config.file={secrets / credentials.ALERTMANAGER_WEB_CONFIG}"],
                         work / "alertmanager.log", f"http://127.0.0.1:{self.port}/-/ready", ready_headers=self.auth)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


PROBE_DELIVERY_S = 150.0
"""How long a probe alert may take to reach Alertmanager: Prometheus may evaluate it before its notifier has
discovered Alertmanager, and then silently drops that first notification (no error, no dropped count); the
next goes out after the resend delay, one minute."""


def write_probe_rule(work: Path, alert: str, service: str) -> Path:
    """A rule file with one alert that always fires (``for: 10s``, so it is normally sent after discovery)."""
    rule = work / "rules" / "probe.yml"
    rule.parent.mkdir(parents=True, exist_ok=True)
    rule.write_text(yaml.safe_dump({"groups": [{"name": "probe", "rules": [{
        "alert": alert, "expr": "vector(1)", "for": "10s", "labels": {"severity": "P4", "service": service}}]}]}))
    return rule


def obsgen(*args: str) -> list[str]:
    """Command line of the ``obsgen`` CLI in this interpreter."""
    return [sys.executable, "-m", "obsgen.cli", *args]


class KillSwitchService(Service):
    """``obsgen killswitch serve`` as its own process."""

    def __init__(self, work: Path, token_file: Path, spec: Path | None = None, name: str = "killswitch") -> None:
        self.port = free_ports(1)[0]
        self.token_file = token_file
        self.state_file = work / f"{name}-state.json"
        token = token_file.read_text().strip()
        spec_args = [] if spec is None else [str(spec)]
        super().__init__("obsgen killswitch serve",
                         obsgen("killswitch", "serve", *spec_args, "--token-file", str(token_file), "--state-file",
                                str(self.state_file), "--host", "127.0.0.1", "--port", str(self.port)),
                         work / f"{name}.log", f"http://127.0.0.1:{self.port}/v1/state",
                         ready_headers={"Authorization": f"Bearer {token}"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/alertmanager"

    def reset(self) -> None:
        """Turn every switch off (``POST /v1/reset``), as an operator does once an incident is over."""
        token = self.token_file.read_text().strip()
        status, body = http(self.url.replace("/v1/alertmanager", "/v1/reset"), b"{}",
                            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        assert status == 200, f"kill-switch reset: {status} {body}"

    def state(self) -> dict[str, bool]:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}


@contextlib.contextmanager
def started(*services: Service, timeout: float = 120) -> Iterator[None]:
    """Launch every service at once, wait for all, and stop them all afterwards (in reverse order)."""
    try:
        for service in services:
            service.launch()
        for service in services:
            service.wait_ready(timeout)
        yield
    finally:
        for service in reversed(services):
            service.stop()


class Simulator:
    """``obsgen simulate`` as its own process (the simulated app), its JSON summary read when it ends."""

    def __init__(self, work: Path, name: str, args: list[str], env: dict[str, str]) -> None:
        self.summary_file = work / f"{name}-summary.json"
        self.stderr_file = work / f"{name}.stderr"
        self.args = obsgen("simulate", *args, "--json", str(self.summary_file))
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Simulator:
        with open(self.stderr_file, "wb") as err:
            self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=err, env=self.env,
                                            start_new_session=True)
        _STARTED.append(self.process)
        return self

    def stderr(self) -> str:
        return self.stderr_file.read_text(errors="replace")

    def finish(self, timeout: float, terminate: bool = False) -> dict[str, Any]:
        """Wait for the run to end (SIGTERM first with ``terminate``: a graceful early stop); its summary."""
        assert self.process is not None
        if terminate:
            self.process.terminate()
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise AssertionError(f"obsgen simulate did not finish within {timeout:g}s:\n{self.stderr()[-3000:]}") \
                from None
        assert code == 0, f"obsgen simulate exited with {code}:\n{self.stderr()[-3000:]}"
        return json.loads(self.summary_file.read_text())

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
