"""Benchmark: sustained events/s through the real pipeline (runtime → collector → Prometheus), with zero loss.

The pipeline is the generated stack run natively (tests/support/stack.py): ``obsgen simulate``'s traffic
(generator/simulate/, the built-in spec's simulation section, at the daily peak) from ``--workers`` processes,
each one runtime like one service replica, over OTLP/HTTP to the collector (otel/collector.yaml as generated),
which Prometheus 3 scrapes (prometheus/prometheus.yml as generated, with the generated rules, at its own 15 s
intervals) and which forwards the log records to Loki (loki/loki.yaml as generated).

For each target rate (events/s, all workers together) the workers run ``--duration`` seconds paced at
that rate, flush and stop. A rate passes only with **zero loss**: every spec metric's total in
Prometheus equals what the workers sent, the collector accepted every span and log record the workers
sent and refused nothing, and the runtimes dropped nothing (``obsgen.telemetry.dropped``); and only if
the workers **kept pace** (never more than 1 s behind their schedule). The ramp stops at the first rate
that fails; the best passing rate is the result. Every log record must also be in Loki (``--no-require-loki``
passes a rate on Prometheus and the collector alone); each rate reports the loss per backend.

Also reported, for each rate: the CPU seconds per 10,000 events of each process (the collector, Loki,
Prometheus) and of each worker thread (the simulated application's, and the span, log and metric export
threads), their sum, and the rate all cores would carry at that cost; the load average before and after,
and the cores the machine's other work took meanwhile (``/proc/stat`` less this pipeline). On a machine
other work shares, the achieved rate says little and the CPU per event a lot (contention inflates it
somewhat: compare figures taken at similar loads). Then the figure relative to the seed's requirement
(1,000 events/s), and the share of the workers' own capacity with export turned off
(``OTEL_*_EXPORTER=none``, the same journeys unpaced): the price of the pipeline.

    .venv/bin/python benchmarks/pipeline_bench.py                       # ramp 5000..10000; about 6 minutes
    .venv/bin/python benchmarks/pipeline_bench.py --queue-size 8192     # the runtimes' queues 4x the default
    .venv/bin/python benchmarks/pipeline_bench.py --rates 3000,4000 --loki-wait 120
    .venv/bin/python benchmarks/pipeline_bench.py --rates 3000 --collector-config old.yaml   # another config's CPU
    .venv/bin/python benchmarks/pipeline_bench.py --rates 3000 --loki-config old-loki.yaml   # another Loki config's

Needs the tools of scripts/install-tools.sh (otelcol-obsgen, prometheus3, loki).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import secrets
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support.stack, when run as a script from anywhere

from obsgen.emit.stack.collector import COLLECTOR_FILE  # noqa: E402
from obsgen.emit.stack.servers import LOKI_FILE  # noqa: E402
from obsgen.spec import load_default  # noqa: E402

from tests.support.stack import Collector, Loki, Prometheus, http, rule_files, started  # noqa: E402

PII_KEY = secrets.token_hex(32)
SEED_REQUIREMENT = 1000.0
"""The seed's acceptance criterion: event emission throughput > 1,000 events/s."""
CORES = os.cpu_count() or 1
PEAK = 20 * 60
"""Simulated start: the daily peak (20:00), where the diurnal curve is flat for the length of a run."""
LOGGED_EVENTS = ("impression", "click", "error")


def _worker(index: int, run_id: str, endpoint: str | None, journeys_per_s: float, duration_s: float, seed: int,
            export: bool, options: dict[str, Any], conn: Any) -> None:
    """One simulated replica: paced traffic for ``duration_s``, then flush and stop; reports what it sent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the run
    os.environ["OTEL_RESOURCE_ATTRIBUTES"] = f"service.instance.id=bench-{run_id}-{index}"
    if not export:
        for signal_name in ("TRACES", "LOGS", "METRICS"):
            os.environ[f"OTEL_{signal_name}_EXPORTER"] = "none"
    from obsgen.runtime import RuntimeConfig, Telemetry
    from obsgen.simulate import Simulation, SimulationConfig

    rt = Telemetry.from_default(RuntimeConfig(pii_key=PII_KEY, endpoint=endpoint, **options))
    config = SimulationConfig(minutes=duration_s / 60, start_minute=PEAK, speedup=1.0, rate=journeys_per_s,
                              pace=export, seed=seed + index)
    sim = Simulation(rt, config)
    cpu = time.process_time()
    threads_before = thread_cpu()
    summary = sim.run()
    flush_start = time.monotonic()
    flushed = rt.force_flush(60)
    threads = thread_cpu()  # before shutdown, while the export threads still exist
    rt.shutdown(10)
    conn.send({"instance": f"bench-{run_id}-{index}", "events": dict(summary.tally.events),
               "metrics": dict(summary.tally.metrics), "journeys": summary.journeys,
               "wall_s": summary.wall_seconds, "flush_s": time.monotonic() - flush_start, "flushed": flushed,
               "max_lag_s": summary.max_lag_s, "dropped": rt.dropped, "cpu_s": time.process_time() - cpu,
               "thread_cpu_s": {k: v - threads_before.get(k, 0.0) for k, v in threads.items()}})
    conn.close()


THREAD_ROLES = {"MainThread": "app", "obsgen-export-traces": "export_spans", "obsgen-export-logs": "export_logs",
                "OtelPeriodicExportingMetricReader": "export_metrics"}
"""The worker threads the bench tells apart (the simulated application's, one per export); any other is ``other``."""


def thread_cpu() -> dict[str, float]:
    """CPU seconds of this process's threads so far, by role: the simulated application's thread, each export thread."""
    out: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            seconds = cpu_seconds(f"self/task/{thread.native_id}")
        except (OSError, IndexError):
            continue  # ended meanwhile
        role = THREAD_ROLES.get(thread.name, "other")
        out[role] = out.get(role, 0.0) + seconds
    return out


def run_workers(workers: int, endpoint: str | None, journeys_per_s: float, duration_s: float, seed: int,
                export: bool = True, options: dict[str, Any] | None = None) -> tuple[str, list[dict[str, Any]]]:
    ctx = multiprocessing.get_context("spawn")
    run_id = uuid.uuid4().hex[:8]
    pipes, procs = [], []
    for i in range(workers):
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_worker, args=(i, run_id, endpoint, journeys_per_s / workers, duration_s, seed,
                                                 export, options or {}, child))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    results = []
    try:
        for parent in pipes:
            if not parent.poll(duration_s + 180):
                raise RuntimeError("a worker did not report within its time")
            results.append(parent.recv())
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    return run_id, results


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU seconds of ``/proc/<pid>`` (a process, or ``self/task/<tid>`` for one thread)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds all cores spent on anything but idle and I/O wait since boot (``/proc/stat``)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def collector_counts(collector: Collector) -> dict[str, float]:
    """The collector's own counters (its telemetry endpoint, read directly): accepted/refused items per signal."""
    status, body = http(f"http://127.0.0.1:{collector.ports['telemetry']}/metrics")
    out: dict[str, float] = {}
    if status != 200:
        return out
    for line in body.splitlines():
        if line.startswith(("otelcol_receiver_accepted_", "otelcol_receiver_refused_", "otelcol_receiver_failed_",
                            "otelcol_exporter_send_failed_", "otelcol_processor_refused_")):
            name = line.split("{", 1)[0].split(" ", 1)[0].removesuffix("_total")  # suffix varies by version
            out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def settle(read: Any, expected: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(1)


def measure(rate: float, args: argparse.Namespace, events_per_journey: float, collector: Collector, loki: Loki,
            prometheus: Prometheus) -> dict[str, Any]:
    model = load_default()
    servers = {"collector": collector, "loki": loki, "prometheus": prometheus}
    cpu_before = {name: cpu_seconds(s.process.pid) for name, s in servers.items() if s.process}
    machine_before, load_before = machine_busy(), os.getloadavg()
    otelcol_before = collector_counts(collector)
    start = time.monotonic()
    options: dict[str, Any] = {"protocol": args.protocol}
    if args.queue_size:
        options["max_queue_size"] = args.queue_size
    if args.batch_size:
        options["max_export_batch_size"] = args.batch_size
    endpoint = f"http://127.0.0.1:{collector.ports['grpc']}" if args.protocol == "grpc" else collector.endpoint
    run_id, results = run_workers(args.workers, endpoint, rate / events_per_journey, args.duration, args.seed,
                                  options=options)
    elapsed = time.monotonic() - start
    cpu = {name: cpu_seconds(s.process.pid) - cpu_before[name] for name, s in servers.items() if s.process}
    for role in sorted({role for r in results for role in r["thread_cpu_s"]}):
        cpu[f"worker_{role}"] = sum(r["thread_cpu_s"].get(role, 0.0) for r in results)
    cpu["workers"] = sum(r["cpu_s"] for r in results)
    busy = machine_busy() - machine_before  # every process's, ours and the other work on the machine
    pipeline_cpu = sum(cpu[k] for k in (*servers, "workers") if k in cpu)

    events = {e: sum(r["events"].get(e, 0) for r in results) for e in ("request", "ranking", *LOGGED_EVENTS)}
    sent = sum(sum(r["events"].values()) for r in results)
    wall = max(r["wall_s"] for r in results)
    selector = f'instance=~"bench-{run_id}-.*"'
    expected = {}
    for metric in model.metrics:
        total = sum(r["metrics"].get(metric.name, 0) for r in results)
        if total:
            expected[metric.count_series] = total

    def in_prometheus() -> dict[str, int]:
        return {s: int(prometheus.value(f"sum({s}{{{selector}}})") or 0) for s in expected}

    got = settle(in_prometheus, expected, 60)
    # Every span and log record the runtimes sent was accepted by the collector (nothing refused).
    otelcol = collector_counts(collector)
    delta = {k: otelcol.get(k, 0.0) - otelcol_before.get(k, 0.0) for k in otelcol}
    accepted = {"spans": int(delta.get("otelcol_receiver_accepted_spans", 0)),
                "logs": int(delta.get("otelcol_receiver_accepted_log_records", 0))}
    accepted_expected = {"spans": events["request"] + events["ranking"], "logs": sum(events[e] for e in LOGGED_EVENTS)}
    refused = {k: v for k, v in delta.items()
               if v and ("refused" in k or "receiver_failed" in k or "send_failed_metric" in k)}

    logs_expected = {e: events[e] for e in LOGGED_EVENTS}

    def in_loki() -> dict[str, int]:
        return {e: int(loki.instant(f'sum(count_over_time({{service_name="movie-recommender", event_name="{e}"}} '
                                    f'| service_instance_id=~"bench-{run_id}-.*" [1h]))')) for e in LOGGED_EVENTS}

    logs_got = settle(in_loki, logs_expected, args.loki_wait)
    stored = None
    if logs_got != logs_expected:
        # The metric count above is what dashboards see; a log query lists every stored entry (a difference
        # between the two is Loki's merge of same-timestamp, same-line entries in a metric query).
        now = time.time_ns()
        stored = {e: len(loki.entries(f'{{service_name="movie-recommender", event_name="{e}"}} '
                                      f'| service_instance_id=~"bench-{run_id}-.*"', now - 3600 * 10**9, now))
                  for e in LOGGED_EVENTS}
    dropped = {k: sum(r["dropped"].get(k, 0) for r in results) for k in ("traces", "logs")}
    max_lag = max(r["max_lag_s"] for r in results)
    zero_loss = got == expected and accepted == accepted_expected and not refused and not any(dropped.values())
    sent_logs = sum(logs_expected.values())
    loss = {  # per backend: items missing, and their share of what was sent
        "runtime_dropped": dict(dropped),
        "collector_not_accepted": {k: accepted_expected[k] - accepted[k] for k in accepted_expected},
        "prometheus": {k: expected[k] - got.get(k, 0) for k in expected},
        "prometheus_pct": round(100 * sum(expected[k] - got.get(k, 0) for k in expected)
                                / max(sum(expected.values()), 1), 4),
        "loki": {k: logs_expected[k] - logs_got.get(k, 0) for k in logs_expected},
        "loki_stored_by_log_query": stored,
        "loki_pct": round(100 * sum(logs_expected[k] - logs_got.get(k, 0) for k in logs_expected)
                          / max(sent_logs, 1), 4),
    }
    return {
        "loss": loss,
        "target_events_per_s": rate, "achieved_events_per_s": round(sent / wall, 1), "events": sent,
        "journeys": sum(r["journeys"] for r in results), "wall_s": round(wall, 2), "elapsed_s": round(elapsed, 1),
        "max_flush_s": round(max(r["flush_s"] for r in results), 2), "max_lag_s": round(max_lag, 3),
        "dropped": dropped, "prometheus_matches": got == expected, "loki_matches": logs_got == logs_expected,
        "prometheus_diff": {k: (expected[k], got.get(k)) for k in expected if got.get(k) != expected[k]},
        "loki_diff": {k: (logs_expected[k], logs_got.get(k)) for k in logs_expected
                      if logs_got.get(k) != logs_expected[k]},
        "collector_accepted": accepted, "collector_accepted_expected": accepted_expected,
        "collector_refused_or_failed": refused,
        "loki_failed_sends": int(delta.get("otelcol_exporter_send_failed_log_records", 0)),
        "cpu_cores": {k: round(v / wall, 2) for k, v in cpu.items()},
        "cpu_s_per_10k_events": {k: round(v / sent * 10_000, 3) for k, v in cpu.items()},
        "pipeline_cpu_s_per_10k_events": round(pipeline_cpu / sent * 10_000, 3),
        "capacity_events_per_s": round(CORES * sent / pipeline_cpu),
        "machine": {"load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in os.getloadavg()],
                    "busy_cores": round(busy / elapsed, 2),
                    "others_cores": round((busy - pipeline_cpu) / elapsed, 2)},
        "zero_loss": zero_loss and (logs_got == logs_expected or not args.require_loki), "kept_pace": max_lag < 1.0,
    }


def emit_only(args: argparse.Namespace) -> float:
    """Events/s of the same workers with export off, unpaced: what the app side can do on this machine."""
    _, results = run_workers(args.workers, None, 4000.0 * args.workers, 1.0, args.seed, export=False)
    return sum(sum(r["events"].values()) / r["wall_s"] for r in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="app processes (default: cores)")
    parser.add_argument("--rates", default="5000,6000,7000,8000,9000,10000",
                        help="target events/s to try, in order; stops at the first that loses data or falls behind")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of traffic per rate (default 20)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--protocol", choices=("http/protobuf", "grpc"), default="http/protobuf",
                        help="OTLP protocol of the runtimes (default http/protobuf, the runtime's default)")
    parser.add_argument("--queue-size", type=int, default=0,
                        help="the runtimes' span/log queue size (default: the runtime's, 2048)")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="the runtimes' span/log export batch size (default: the runtime's, 512)")
    parser.add_argument("--no-require-loki", dest="require_loki", action="store_false",
                        help="pass a rate on Prometheus and the collector alone (Loki's count is still reported)")
    parser.add_argument("--loki-wait", type=float, default=60.0,
                        help="seconds to wait for Loki to hold every log record (default 60)")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--work", help="keep the servers' data and logs in this directory (default: a temporary one)")
    parser.add_argument("--collector-config", type=Path,
                        help=f"run this collector config instead of {COLLECTOR_FILE} (to compare two configs' CPU)")
    parser.add_argument("--loki-config", type=Path,
                        help=f"run this Loki config instead of {LOKI_FILE} (to compare two configs' CPU)")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: stop the stack

    # Events per journey at the peak (request, ranking, ~5.3 impressions, clicks, errors), from a dry run.
    from obsgen.runtime import RuntimeConfig, Telemetry
    from obsgen.simulate import Simulation, SimulationConfig

    os.environ.update({f"OTEL_{s}_EXPORTER": "none" for s in ("TRACES", "LOGS", "METRICS")})
    rt = Telemetry.from_default(RuntimeConfig(pii_key=PII_KEY))
    dry = Simulation(rt, SimulationConfig(minutes=2, start_minute=PEAK, speedup=1.0, rate=50, pace=False,
                                          seed=args.seed)).run()
    rt.shutdown()
    for s in ("TRACES", "LOGS", "METRICS"):
        del os.environ[f"OTEL_{s}_EXPORTER"]
    events_per_journey = dry.total_events / dry.journeys

    print(f"pipeline benchmark: {args.workers} worker(s) on {os.cpu_count()} CPU(s), {platform.python_version()}, "
          f"{args.duration:g} s a rate, {events_per_journey:.2f} events a journey", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="obsgen-pipeline-bench-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        loki_root = ROOT
        if args.loki_config:  # the same tree, another Loki config
            loki_root = work / "loki-root"
            (loki_root / LOKI_FILE).parent.mkdir(parents=True, exist_ok=True)
            (loki_root / LOKI_FILE).write_text(args.loki_config.read_text())
        loki = Loki(work, root=loki_root)
        root = ROOT
        if args.collector_config:  # the same tree, another collector config
            root = work / "root"
            (root / COLLECTOR_FILE).parent.mkdir(parents=True, exist_ok=True)
            (root / COLLECTOR_FILE).write_text(args.collector_config.read_text())
        collector = Collector(work, loki.port, root=root)
        rules = rule_files()
        prometheus = Prometheus(work, collector, None, loki.port, rules, interval=None)
        with started(loki, collector, prometheus, timeout=120):
            for rate in rates:
                row = measure(rate, args, events_per_journey, collector, loki, prometheus)
                rows.append(row)
                print(f"  target {rate:>8,.0f} ev/s: achieved {row['achieved_events_per_s']:>8,.0f} ev/s "
                      f"({row['events']:,} events), lag max {row['max_lag_s']:.2f}s, dropped {row['dropped']}, "
                      f"prometheus {'=' if row['prometheus_matches'] else '!='}, "
                      f"loki {'=' if row['loki_matches'] else '!='}"
                      + ("" if row["zero_loss"] and row["kept_pace"] else "  <- FAILS"), flush=True)
                machine = row["machine"]
                print(f"    CPU s per 10k events: {row['pipeline_cpu_s_per_10k_events']} in all "
                      f"(all {CORES} cores would carry {row['capacity_events_per_s']:,} events/s at this cost), "
                      f"{row['cpu_s_per_10k_events']}; load {machine['load_before'][0]} -> {machine['load_after'][0]}, "
                      f"cores busy {machine['busy_cores']} (other work {machine['others_cores']})", flush=True)
                loss = row["loss"]
                print(f"    loss: runtime dropped {loss['runtime_dropped']}, collector did not accept "
                      f"{loss['collector_not_accepted']}, Prometheus {loss['prometheus_pct']}% "
                      f"{ {k: v for k, v in loss['prometheus'].items() if v} }, Loki {loss['loki_pct']}% "
                      f"{ {k: v for k, v in loss['loki'].items() if v} }"
                      + (f" (stored, by a log query: {loss['loki_stored_by_log_query']})"
                         if loss["loki_stored_by_log_query"] else ""), flush=True)
                if not (row["zero_loss"] and row["kept_pace"]):
                    print(f"    prometheus {row['prometheus_diff']}, collector accepted {row['collector_accepted']} "
                          f"of {row['collector_accepted_expected']}, refused {row['collector_refused_or_failed']}, "
                          f"Loki missing {row['loki_diff']}", flush=True)
                    break
                if not row["loki_matches"]:
                    print(f"    Loki (not required): missing {row['loki_diff']}, collector->Loki failed sends "
                          f"{row['loki_failed_sends']}", flush=True)
    capacity = emit_only(args)
    passing = [r for r in rows if r["zero_loss"] and r["kept_pace"]]
    best = max(passing, key=lambda r: r["achieved_events_per_s"]) if passing else None
    print(f"emit-only capacity of the same workers (export off, unpaced): {capacity:,.0f} events/s")
    if best is None:
        print("RESULT: no rate passed with zero loss")
    else:
        eps = best["achieved_events_per_s"]
        loki = "every log record also in Loki" if best["loki_matches"] else "Loki did not keep up (see above)"
        print(f"RESULT: {eps:,.0f} events/s sustained through runtime -> collector -> Prometheus with zero loss "
              f"({loki}); {eps / SEED_REQUIREMENT:.1f}x the seed's 1,000 events/s; {eps / capacity:.0%} of the "
              f"workers' emit-only capacity")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "emit_only_events_per_s": capacity,
                                               "best": best, "workers": args.workers,
                                               "events_per_journey": events_per_journey}, indent=2))
    return 0 if best is not None else 1


if __name__ == "__main__":
    sys.exit(main())
