"""The kill-switch receiver under hostile load: how long an authenticated request waits behind N half-written,
unauthenticated connections, and how long 100 parallel valid requests take.

    .venv/bin/python benchmarks/killswitch_receiver_bench.py            # --rounds 5 --hostile 1000
    .venv/bin/python benchmarks/killswitch_receiver_bench.py --hostile 5000 --json /tmp/ks.json

Every round starts a fresh receiver (the built-in spec, its own alert → switch mapping) in this process
on a free loopback port. Prints every round and the machine load (``uptime``) before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from obsgen.runtime.killswitch import KillSwitchState
from obsgen.runtime.killswitch_receiver import KillSwitchReceiver, alert_switches
from obsgen.spec import load_default

TOKEN = "bench-token-0123456789abcdef"
HALF_WRITTEN = (b"POST /v1/alertmanager HTTP/1.1\r\nContent-Le",
                b"POST /v1/alertmanager HTTP/1.1\r\nContent-Length: 500\r\n\r\n{\"alerts\":", b"")


def get(address: tuple[str, int], path: str = "/v1/state", timeout: float = 30) -> int:
    request = urllib.request.Request(f"http://{address[0]}:{address[1]}{path}",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()
        return response.status


def one_round(hostile: int) -> dict[str, Any]:
    model = load_default()
    receiver = KillSwitchReceiver(KillSwitchState(model.kill_switches), TOKEN, alert_switches(model))
    receiver.start()
    socks: list[socket.socket] = []
    try:
        for i in range(hostile):
            sock = socket.create_connection(receiver.address, timeout=5)
            if HALF_WRITTEN[i % 3]:
                sock.sendall(HALF_WRITTEN[i % 3])
            socks.append(sock)
        started = time.perf_counter()
        assert get(receiver.address) == 200
        latency = time.perf_counter() - started
        for sock in socks:
            sock.close()
        started = time.perf_counter()
        with ThreadPoolExecutor(100) as pool:
            statuses = list(pool.map(lambda _: get(receiver.address), range(100)))
        parallel = time.perf_counter() - started
        return {"hostile": hostile, "authenticated_latency_s": round(latency, 4),
                "parallel_100_s": round(parallel, 4), "parallel_ok": statuses.count(200),
                "stats": vars(receiver.server.stats)}
    finally:
        for sock in socks:
            sock.close()
        receiver.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hostile", type=int, default=1000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    load = [subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()]
    rounds = []
    for i in range(args.rounds):
        result = one_round(args.hostile)
        rounds.append(result)
        print(f"round {i + 1}: authenticated GET behind {args.hostile} hostile connections "
              f"{result['authenticated_latency_s'] * 1000:.1f} ms; 100 parallel valid requests "
              f"{result['parallel_100_s'] * 1000:.0f} ms, {result['parallel_ok']}/100 ok")
    load.append(subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip())
    latencies = [r["authenticated_latency_s"] for r in rounds]
    print(f"median latency {statistics.median(latencies) * 1000:.1f} ms (max {max(latencies) * 1000:.1f} ms), "
          f"cpus {os.cpu_count()}; load before: {load[0]}; after: {load[1]}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"rounds": rounds, "uptime": load}, out, indent=2)


if __name__ == "__main__":
    main()
