"""Issue 7: the local stack's HTTP API under concurrent clients (requests/s, p50/p99) for a read-heavy
and a report-heavy mix. The stack runs as `make run` does (a subprocess); clients keep connections
alive. Both share this machine's two cores, so these are figures for the whole box, not the API alone."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import ROOT, Figure, fresh_database, percentile, report

CLIENTS = int(os.environ.get("BENCH_LOAD_CLIENTS", "8"))
SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "8"))


def _start_stack(database_url: str) -> tuple[subprocess.Popen[bytes], int, str]:
    from tests.e2e.running import free_port

    port = free_port()
    secret = "load-bench-secret-of-at-least-32-bytes!"  # noqa: S105 - a throwaway local stack
    env = {
        **os.environ,
        "PORT": str(port),
        "SCHEDULE_SECONDS": "0",
        "DATABASE_URL": database_url,
        "JWT_SECRET": secret,
        "LOCAL_ACCESS_LOG": "false",
        "LOCAL_NOTIFICATIONS_FILE": str(Path(tempfile.mkdtemp()) / "n.jsonl"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/openapi.json")
            if connection.getresponse().status == 200:
                return process, port, secret
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("local stack did not start")


def _token(secret: str, sub: str) -> str:
    import jwt

    return jwt.encode({"sub": sub, "exp": int(time.time()) + 3600}, secret, algorithm="HS256")


def _seed(port: int, bearer: str) -> dict[str, list[str]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    fleet: dict[str, list[str]] = {}
    for p in range(20):
        proxy = f"load-{p}"
        fleet[proxy] = []
        for k in range(3):
            body = json.dumps({"proxyId": proxy, "instanceData": {"instanceName": f"i{k}", "priority": k}})
            connection.request(
                "POST",
                "/proxy/instances",
                body,
                {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
            )
            fleet[proxy].append(json.loads(connection.getresponse().read())["data"]["id"])
    return fleet


def _mix(
    port: int, bearer: str, fleet: dict[str, list[str]], report_share: float
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}

    def client(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine: list[float] = []
        while time.monotonic() < stop:
            proxy = rng.choice(list(fleet))
            if rng.random() < report_share:
                body = json.dumps({"healthStatus": "healthy", "metrics": {"cpuPercent": rng.random() * 100}})
                method, path = "PUT", f"/proxy/instances/{rng.choice(fleet[proxy])}/health"
            else:
                body = None
                method, path = (
                    "GET",
                    rng.choice(
                        [
                            f"/proxy/{proxy}/instances",
                            f"/proxy/{proxy}/redundancy",
                            f"/proxy/{proxy}/failover/events",
                        ]
                    ),
                )
            started = time.perf_counter()
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status >= 400:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, latencies, errors[0]


def run() -> list[Figure]:
    figures = []
    with fresh_database() as (url, _db):
        process, port, secret = _start_stack(url)
        try:
            bearer = _token(secret, f"load-{int(time.time())}")
            fleet = _seed(port, bearer)
            for name, share in (
                ("read-heavy (80% reads, 20% reports)", 0.2),
                ("report-heavy (90% reports)", 0.9),
            ):
                rate, latencies, errors = _mix(port, bearer, fleet, share)
                figures.append(
                    report(
                        Figure(
                            7,
                            f"local stack over HTTP, {CLIENTS} clients, {name}",
                            f"{rate:,.0f} req/s, p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, {errors} errors",
                        )
                    )
                )
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    return figures


if __name__ == "__main__":
    run()
