"""Run a real Prometheus (and promtool) over backfilled data, for tests that query it like Grafana does.

``backfill`` turns an OpenMetrics file into TSDB blocks, then evaluates recording rules over them with
``promtool tsdb create-blocks-from rules``, which needs a running Prometheus as its source: rules that
read other records are evaluated in a later pass, once the records they read are loaded. The result
is one TSDB directory; ``Prometheus`` serves it on a free loopback port and is always stopped.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

PROMETHEUS = "prometheus"
PROMTOOL = "promtool"
BLOCK_DURATION = "24h"
"""Larger blocks than the 2h default make the backfill several times faster (a day is two blocks)."""


def binary(name: str) -> str | None:
    """The Debian-packaged tool (``/usr/bin``, Prometheus 2.42) if present, else whatever ``PATH`` has."""
    return f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else shutil.which(name)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrometheusError(RuntimeError):
    pass


class Prometheus:
    """A Prometheus process over ``data_dir`` on 127.0.0.1; use as a context manager so it always stops."""

    def __init__(self, data_dir: Path, work_dir: Path):
        self.data_dir = data_dir
        self.work_dir = work_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = work_dir / f"prometheus-{self.port}.log"

    def start(self, timeout: float = 60) -> Prometheus:
        exe = binary(PROMETHEUS)
        if exe is None:
            raise PrometheusError("prometheus is not installed (apt-get install prometheus)")
        config = self.work_dir / "prometheus.yml"
        config.write_text("global:\n  evaluation_interval: 1m\n", encoding="utf-8")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [exe, f"--config.file={config}", f"--storage.tsdb.path={self.data_dir}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=3650d",
                 "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.work_dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.process.returncode}: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise PrometheusError(f"prometheus was not ready within {timeout}s: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> Prometheus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- HTTP API ------------------------------------------------------------------------------------
    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        request = urllib.request.Request(f"{self.url}/api/v1/{path}", data=query.encode(), method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        return self.api("query_range", query=expr, start=start, end=end, step=step)["result"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        return self.api("query", query=expr, time=at)["result"]

    def label_values(self, label: str, match: str, start: float, end: float) -> list[str]:
        params = urllib.parse.urlencode({"match[]": match, "start": start, "end": end})
        with urllib.request.urlopen(f"{self.url}/api/v1/label/{label}/values?{params}", timeout=60) as response:
            body = json.load(response)
        return list(body["data"])


def _promtool_command(*args: str) -> list[str]:
    exe = binary(PROMTOOL)
    if exe is None:
        raise PrometheusError("promtool is not installed (apt-get install prometheus)")
    return [exe, *args]


def _start(log: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    """A promtool run in the background, its output going to ``log`` (pipes could fill and block it)."""
    with open(log, "wb") as handle:
        return subprocess.Popen(_promtool_command(*args), stdout=handle, stderr=subprocess.STDOUT), log


def _wait(runs: list[tuple[subprocess.Popen[bytes], Path]]) -> None:
    """Wait for every promtool run; if one fails, the others are stopped and the failure is raised."""
    failures = []
    try:
        for process, log in runs:
            process.wait(timeout=600)
            if process.returncode != 0:
                failures.append(f"{' '.join(map(str, process.args))} failed:\n{log.read_text()}")
    finally:
        for process, _ in runs:
            if process.poll() is None:
                process.kill()
                process.wait()
    if failures:
        raise PrometheusError("\n".join(failures))


def rule_levels(rules_text: str) -> list[dict[str, Any]]:
    """Recording rules split into files by dependency level: level 0 reads only raw series."""
    groups = yaml.safe_load(rules_text)["groups"]
    records = {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}
    level: dict[str, int] = {}
    pending = [rule for group in groups for rule in group["rules"] if "record" in rule]
    for _ in range(len(pending) + 1):
        for rule in pending:
            reads = {r for r in records if re.search(rf"(?<![\w:]){re.escape(r)}(?![\w:])", rule["expr"])}
            reads.discard(rule["record"])
            if all(r in level for r in reads):
                level[rule["record"]] = max(level.get(rule["record"], 0),
                                            1 + max((level[r] for r in reads), default=-1))
    out: list[dict[str, Any]] = []
    for n in range(max(level.values(), default=-1) + 1):
        kept = [{"name": g["name"], "rules": [r for r in g["rules"] if level.get(r.get("record")) == n]}
                for g in groups]
        out.append({"groups": [g for g in kept if g["rules"]]})
    return out


def backfill(openmetrics: Path, rules_text: str, start: int, end: int, work_dir: Path,
             eval_interval: str = "1m", parallel: int = 4) -> Path:
    """A TSDB directory holding the raw series and every recording rule evaluated over [start, end]."""
    tsdb = work_dir / "tsdb"
    _wait([_start(work_dir / "openmetrics.log", "tsdb", "create-blocks-from", "openmetrics",
                  f"--max-block-duration={BLOCK_DURATION}", str(openmetrics), str(tsdb))])
    for n, level in enumerate(rule_levels(rules_text)):
        outputs = []
        with Prometheus(tsdb, work_dir) as source:
            runs = []
            for k, chunk in enumerate(_chunks(level["groups"], parallel)):
                rules_file = work_dir / f"rules-level-{n}-{k}.yml"
                rules_file.write_text(yaml.safe_dump({"groups": chunk}, sort_keys=False), encoding="utf-8")
                outputs.append(work_dir / f"rules-blocks-{n}-{k}")
                runs.append(_start(work_dir / f"rules-level-{n}-{k}.log", "tsdb", "create-blocks-from", "rules",
                                   f"--url={source.url}", f"--start={start}", f"--end={end}",
                                   f"--eval-interval={eval_interval}", f"--output-dir={outputs[-1]}",
                                   str(rules_file)))
            _wait(runs)
        for out in outputs:
            for block in out.iterdir():
                if block.is_dir():
                    shutil.move(str(block), tsdb / block.name)
    return tsdb


def _chunks(groups: list[dict[str, Any]], n: int) -> list[list[dict[str, Any]]]:
    """Rule groups dealt into ``n`` files of about equal rule counts, evaluated by parallel promtool runs."""
    chunks: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    sizes = [0] * n
    for group in sorted(groups, key=lambda g: -len(g["rules"])):
        k = sizes.index(min(sizes))
        chunks[k].append(group)
        sizes[k] += len(group["rules"])
    return [c for c in chunks if c]
