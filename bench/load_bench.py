"""Issue 7: the local stack's HTTP API under concurrent clients (requests/s, p50/p99) for a read-heavy
and a report-heavy mix. The stack runs as `make run` does (a subprocess); clients keep connections
alive. Both share this machine's two cores, so these are figures for the whole box, not the API alone."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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
    return figures + hot_path()


# ---- issue 23: the hot path, CPU per write by process -------------------------------------------------

HOT_CLIENTS = int(os.environ.get("BENCH_HOT_CLIENTS", "16"))
HOT_SECONDS = float(os.environ.get("BENCH_HOT_SECONDS", "6"))
HOT_ROUNDS = int(os.environ.get("BENCH_HOT_ROUNDS", "3"))
# One owner's proxies against 16 owners': pairs of rounds, each pair in the other order.
OWNER_ROUNDS = [("one", "many"), ("many", "one"), ("one", "many"), ("many", "one")]
TICK = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> int:
    """User + system CPU of one process (every thread of it), in clock ticks."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _postgres_ticks() -> int:
    """Every PostgreSQL process on the machine (the benchmark is the only client of its server)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue
        if "(postgres)" in text.split(" ", 2)[1] or text.split(" ", 2)[1].startswith("(postgres"):
            fields = text.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total


class Hot:
    """The local stack under one scenario at a time: each client thread a keep-alive connection, its
    own rows; CPU of the stack, of the SNS it publishes to (a process apart: `bench.sns_sink`, which
    takes every publish at once, as AWS's would, instead of an emulator that falls behind) and of
    PostgreSQL, per request."""

    def __init__(self, stack: object, emulators: int, vacuum: Callable[[], object] | None = None) -> None:
        self.stack, self.emulators, self.vacuum = stack, emulators, vacuum
        self.port = int(str(getattr(stack, "url")).rsplit(":", 1)[1])  # noqa: B009

    def call(
        self, connection: http.client.HTTPConnection, method: str, path: str, body: object, bearer: str
    ) -> dict:
        headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
        connection.request(method, path, None if body is None else json.dumps(body), headers)
        response = connection.getresponse()
        raw = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status}: {raw[:300]!r}")
        return json.loads(raw) if raw else {}

    def run(self, name: str, request_for: object, seconds: float = HOT_SECONDS) -> dict[str, float]:
        """`request_for(thread, n, previous answer)` -> (method, path, body, bearer). Requests/s and
        CPU ms per request of the stack, of its emulators and of PostgreSQL."""
        stop = threading.Event()
        counts = [0] * HOT_CLIENTS
        failures: list[str] = []

        def client(k: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            n, last = 0, {}
            while not stop.is_set():
                method, path, body, bearer = request_for(k, n, last)  # type: ignore[operator]
                try:
                    last = self.call(connection, method, path, body, bearer)
                except Exception as exc:  # counted, shown, and the scenario goes on
                    failures.append(str(exc))
                    last = {}
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                n += 1
                counts[k] = n

        if self.vacuum is not None:
            self.vacuum()  # outside the measured window, as autovacuum's own process would
        pid = self.stack.process.pid  # type: ignore[attr-defined]
        threads = [threading.Thread(target=client, args=(k,)) for k in range(HOT_CLIENTS)]
        for t in threads:
            t.start()
        time.sleep(1.0)  # warm: every connection open, every statement prepared
        before = (sum(counts), _ticks(pid), _ticks(self.emulators), _postgres_ticks(), time.perf_counter())
        time.sleep(seconds)
        after = (sum(counts), _ticks(pid), _ticks(self.emulators), _postgres_ticks(), time.perf_counter())
        stop.set()
        for t in threads:
            t.join()
        done = max(1, after[0] - before[0])
        per = lambda i: (after[i] - before[i]) / TICK * 1000 / done  # noqa: E731 - ms per request
        found = {
            "rate": done / (after[4] - before[4]),
            "stack_ms": per(1),
            "emulators_ms": per(2),
            "pg_ms": per(3),
            "errors": float(len(failures)),
        }
        print(
            f"    {name}: {found['rate']:,.0f} req/s; CPU ms per request: stack {found['stack_ms']:.2f},"
            f" SNS {found['emulators_ms']:.2f}, PostgreSQL {found['pg_ms']:.2f}; {len(failures)} errors"
            + (f" (first: {failures[0][:160]})" if failures else ""),
            flush=True,
        )
        return found


# Never flapping: an instance flipped every few milliseconds would otherwise be damped after its
# fourth change (no per-change notifications, not a failover target), and the figures would be of
# writes that notify nobody and switch nothing.
STEADY = {"flapThreshold": 1000, "flapWindowSeconds": 1}


def _seed_proxies(
    hot: Hot, prefix: str, owners: list[str], instances: int, admin: str, config: dict | None = None
) -> list[list[str]]:
    """One proxy per client (`prefix-k`, owned by owners[k]), every instance healthy, thresholds 1
    (and `config`); its instance ids, the first active."""
    from tests.helpers import token

    connection = http.client.HTTPConnection("127.0.0.1", hot.port, timeout=30)
    fleet = []
    for k, owner in enumerate(owners):
        bearer = token(owner)
        proxy = f"{prefix}-{k}"
        settings = {
            "unhealthyThreshold": 1,
            "healthyThreshold": 1,
            "failbackHoldDownSeconds": 3600,
            **(config or {}),
        }
        hot.call(connection, "POST", "/proxy/failover/config", {"proxyId": proxy, "config": settings}, bearer)
        ids = []
        for i in range(instances):
            data = {"instanceName": f"i{i}", "priority": i}
            body = hot.call(
                connection, "POST", "/proxy/instances", {"proxyId": proxy, "instanceData": data}, bearer
            )
            ids.append(body["data"]["id"])
            hot.call(
                connection, "PUT", f"/proxy/instances/{ids[-1]}/health", {"healthStatus": "healthy"}, bearer
            )
        fleet.append(ids)
    return fleet


def hot_path() -> list[Figure]:
    """Issue 23's figures in one run: each scenario's CPU per request in the stack (its emulators
    apart) and in PostgreSQL, the ratios to a report that changes nothing, one owner's executes
    against 16 owners' (alternating rounds), and the round trips of a report that fails over."""
    from bench.engine_bench import failover_round_trips
    from tests.e2e.running import free_port, start_stack
    from tests.helpers import token

    admin = token("hot-ops", admin=True)
    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "bench.sns_sink", str(sink_port)], cwd=ROOT)
    with fresh_database() as (url, db):
        stack = start_stack(
            Path(tempfile.mkdtemp(prefix="hot-path-")),
            DATABASE_URL=url,
            SCHEDULE_SECONDS="0",
            LOCAL_ACCESS_LOG="false",
            AWS_ENDPOINT_URL_SNS=f"http://127.0.0.1:{sink_port}",
            NOTIFICATIONS_TOPIC_ARN="arn:aws:sns:eu-west-1:000000000000:hot-path",
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - the sink signs nothing
        )
        try:
            # These machines' PostgreSQL runs without autovacuum (Aurora's does not): the rows a
            # scenario rewrites thousands of times would otherwise carry their dead versions into
            # the next scenario's figures (a flip's PostgreSQL CPU grew 1.5 -> 2.2 ms between rounds).
            hot = Hot(stack, sink.pid, vacuum=lambda: db.autocommit().run("VACUUM"))
            owners16 = [f"hot-owner-{k}" for k in range(HOT_CLIENTS)]
            users = {o: token(o) for o in [*owners16, "hot-one"]}
            unchanged = _seed_proxies(hot, "hot-u", owners16, 3, admin)
            flipping = _seed_proxies(hot, "hot-f", owners16, 3, admin, STEADY)
            flapping = _seed_proxies(hot, "hot-flap", owners16, 3, admin)
            one = _seed_proxies(hot, "hot-one", ["hot-one"] * HOT_CLIENTS, 2, admin)
            many = _seed_proxies(hot, "hot-many", owners16, 2, admin)
            falling_one = _seed_proxies(hot, "hot-fall-one", ["hot-one"] * HOT_CLIENTS, 2, admin, STEADY)
            falling_many = _seed_proxies(hot, "hot-fall-many", owners16, 2, admin, STEADY)
            print("== hot path", flush=True)

            def unchanged_report(k: int, n: int, _: dict) -> tuple[str, str, object, str]:
                path = f"/proxy/instances/{unchanged[k][n % 3]}/health"
                return "PUT", path, {"healthStatus": "healthy"}, users[owners16[k]]

            # counted across rounds: each flip a change, each registration a new instance
            flipped, flapped, registered = [0] * HOT_CLIENTS, [0] * HOT_CLIENTS, [0] * HOT_CLIENTS

            def flipping_report(k: int, n: int, _: dict) -> tuple[str, str, object, str]:
                # each a full status change: the backup's notification, the posture's, the route's
                status = "unhealthy" if flipped[k] % 2 == 0 else "healthy"
                flipped[k] += 1
                path = f"/proxy/instances/{flipping[k][1]}/health"
                return "PUT", path, {"healthStatus": status}, users[owners16[k]]

            def flapping_report(k: int, n: int, _: dict) -> tuple[str, str, object, str]:
                # the same on the default damping: flapping from the fourth change, then notifying nobody
                status = "unhealthy" if flapped[k] % 2 == 0 else "healthy"
                flapped[k] += 1
                path = f"/proxy/instances/{flapping[k][1]}/health"
                return "PUT", path, {"healthStatus": status}, users[owners16[k]]

            def register(k: int, n: int, _: dict) -> tuple[str, str, object, str]:
                # four instances a proxy, as fleets have them (a registration decides over them all)
                m = registered[k]
                registered[k] += 1
                body = {
                    "proxyId": f"hot-r-{k}-{m // 4}",
                    "instanceData": {"instanceName": f"n{m}", "priority": m % 4},
                }
                return "POST", "/proxy/instances", body, users[owners16[k]]

            # Alternating rounds, each figure the mean of its rounds: the machine's mood (a shared
            # host's neighbours, the page cache) falls on the writes and on their denominator alike.
            scenarios = {
                "unchanged": ("report, status unchanged", unchanged_report),
                "flip": ("report that flips a backup's status", flipping_report),
                "flap": ("report that flips a flapping backup's status (damped)", flapping_report),
                "register": ("register an instance", register),
            }
            measured: dict[str, list[dict[str, float]]] = {name: [] for name in scenarios}
            for _ in range(HOT_ROUNDS):
                for name, (label, request_for) in scenarios.items():
                    measured[name].append(hot.run(label, request_for))
            results = {
                name: {key: statistics.fmean(r[key] for r in rounds) for key in rounds[0]}
                for name, rounds in measured.items()
            }

            def execute_and_complete(fleet: list[list[str]], proxy_prefix: str) -> object:
                """An operator's switch, then its completion, back and forth."""

                active = [0] * len(fleet)  # each client's proxy's active instance, as last answered
                executed = [False] * len(fleet)  # its last request was an execute

                def request(k: int, n: int, last: dict) -> tuple[str, str, object, str]:
                    answered = last.get("data") or {}
                    if answered.get("targetInstanceId") in fleet[k]:  # an execute's or a completion's event
                        active[k] = fleet[k].index(answered["targetInstanceId"])
                    elif executed[k] and not answered:  # refused: the other one is active
                        active[k] = 1 - active[k]
                    executed[k] = not (n % 2 == 1 and answered.get("status") == "in_progress")
                    if n % 2 == 1 and answered.get("status") == "in_progress":
                        return (
                            "PUT",
                            f"/proxy/failover/events/{answered['id']}/complete",
                            {"status": "completed"},
                            admin,
                        )
                    body = {
                        "proxyId": f"{proxy_prefix}-{k}",
                        "sourceInstanceId": fleet[k][active[k]],
                        "targetInstanceId": fleet[k][1 - active[k]],
                        "reason": "bench",
                    }
                    return "POST", "/proxy/failover/execute", body, admin

                return request

            rounds = {"one": [], "many": []}
            # one request maker a fleet, kept across rounds: it knows each proxy's active instance
            switch_one, switch_many = (
                execute_and_complete(one, "hot-one"),
                execute_and_complete(many, "hot-many"),
            )
            # Alternating, each pair in the other order than the one before: the machine's mood, and
            # its drift within a pair, falls on both alike.
            pairs = {
                "one": ("execute + complete, one owner's 16 proxies", switch_one),
                "many": ("execute + complete, 16 owners' proxies", switch_many),
            }
            for order in OWNER_ROUNDS:
                for name in order:
                    rounds[name].append(hot.run(*pairs[name]))

            def failovers(fleet: list[list[str]], owners: list[str]) -> object:
                """Reports that fail the proxy over and back: each failover pages (critical), so each
                write decides its owner's storm."""

                def request(k: int, n: int, _: dict) -> tuple[str, str, object, str]:
                    instance, status = [(0, "unhealthy"), (0, "healthy"), (1, "unhealthy"), (1, "healthy")][
                        n % 4
                    ]
                    path = f"/proxy/instances/{fleet[k][instance]}/health"
                    return "PUT", path, {"healthStatus": status}, users[owners[k]]

                return request

            storms = {"one": [], "many": []}
            paging = {
                "one": (
                    "reports failing over, one owner's 16 proxies",
                    failovers(falling_one, ["hot-one"] * HOT_CLIENTS),
                ),
                "many": ("reports failing over, 16 owners' proxies", failovers(falling_many, owners16)),
            }
            for order in OWNER_ROUNDS:
                for name in order:
                    storms[name].append(hot.run(*paging[name]))
            storm_one = statistics.fmean(r["rate"] for r in storms["one"])
            storm_many = statistics.fmean(r["rate"] for r in storms["many"])
            results["execute"] = {
                key: statistics.fmean(r[key] for r in rounds["one"] + rounds["many"])
                for key in rounds["one"][0]
            }
            one_rate = statistics.fmean(r["rate"] for r in rounds["one"])
            many_rate = statistics.fmean(r["rate"] for r in rounds["many"])
        finally:
            stack.stop()
            sink.kill()
            sink.wait()
    base = results["unchanged"]
    ratio = {
        name: (r["stack_ms"] / base["stack_ms"], r["pg_ms"] / base["pg_ms"]) for name, r in results.items()
    }
    trips = failover_round_trips()
    figures = []
    for name, label in (
        ("flip", "report that flips a status (every one notifying)"),
        ("flap", "report that flips a flapping instance's status (damped: notifying nobody)"),
        ("register", "register"),
        ("execute", "execute"),
    ):
        cpu, pg = ratio[name]
        r = results[name]
        figures.append(
            report(
                Figure(
                    23,
                    f"{label} / report that changes nothing: server CPU, PostgreSQL CPU per request"
                    f" ({HOT_CLIENTS} clients over the local stack)",
                    f"{cpu:.2f}x, {pg:.2f}x ({r['stack_ms']:.2f} vs {base['stack_ms']:.2f} ms;"
                    f" {r['pg_ms']:.2f} vs {base['pg_ms']:.2f} ms; SNS's {r['emulators_ms']:.2f} ms apart)",
                    "<= 2x, <= 3x",
                    cpu <= 2 and pg <= 3,
                )
            )
        )
    figures.append(
        report(
            Figure(
                23,
                f"reports failing over (each a page), one owner's {HOT_CLIENTS} proxies / {HOT_CLIENTS} owners'"
                " (throughput, alternating rounds)",
                f"{storm_one / storm_many:.2f} ({storm_one:,.0f} vs {storm_many:,.0f} req/s)",
                ">= 0.9",
                storm_one / storm_many >= 0.9,
            )
        )
    )
    figures.append(
        report(
            Figure(
                23,
                f"executes of one owner's {HOT_CLIENTS} proxies / of {HOT_CLIENTS} owners' (throughput, alternating rounds)",
                f"{one_rate / many_rate:.2f} ({one_rate:,.0f} vs {many_rate:,.0f} req/s)",
                ">= 0.9",
                one_rate / many_rate >= 0.9,
            )
        )
    )
    figures.append(
        report(
            Figure(
                23,
                "round trips of a report that fails over (the storm decision included)",
                str(trips),
                "<= 3",
                trips <= 3,
            )
        )
    )
    print(
        f"hot-path: flip_cpu_ratio={ratio['flip'][0]:.2f} flip_pg_ratio={ratio['flip'][1]:.2f}"
        f" one_owner_vs_many={one_rate / many_rate:.2f} failover_round_trips={trips}",
        flush=True,
    )
    return figures


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--hot-path", action="store_true", help="issue 23's figures only (CPU per write by process)"
    )
    args = parser.parse_args()
    if args.hot_path:
        hot_path()
    else:
        run()  # the mixes, then the hot path


if __name__ == "__main__":
    main()
