"""`make demo`: a proxy with three local instances; watch them turn healthy, kill the primary, see the
failover happen (ledger, redundancy, SNS notification), bring it back and see the failback.

The demo runs a stack of its own on data of its own (a scratch database on DATABASE_URL's server, else
an embedded PostgreSQL in a temporary folder), so a `make run` already up is neither disturbed nor
disturbing (its sweep, which may not probe loopback, would mark the demo's instances unhealthy). It
leaves nothing behind: the database is dropped and the folder removed; when it fails, it says where
the stack's log is (and keeps only that)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

from .stack import ROOT, _free_port


class DemoInstance:
    """A tiny HTTP server standing in for one proxy instance; `alive` decides its health answer."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.alive = True
        instance = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200 if instance.alive else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/healthz"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Client:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - our own local stack
            self.url + path, data=None if body is None else json.dumps(body).encode(), method=method
        )
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our local stack
                return json.loads(response.read())["data"]
        except urllib.error.HTTPError as error:
            raise SystemExit(f"{method} {path} -> {error.code}: {error.read().decode()}") from None


START = time.monotonic()


def step(text: str) -> None:
    print(f"\n\033[1m[{time.monotonic() - START:6.1f}s] {text}\033[0m", flush=True)


def show_instances(client: Client, proxy: str) -> dict[str, str]:
    rows = client.call("GET", f"/proxy/{proxy}/instances")
    for r in rows:
        mark = "*" if r["isActive"] else " "
        away = f" in maintenance: {r['maintenance']['reason']}" if r["maintenance"] else ""
        print(
            f"   {mark} {r['instanceName']:<8} {r['healthStatus']:<9} fails={r['consecutiveFailures']} oks={r['consecutiveSuccesses']}{away}"
        )
    return {r["instanceName"]: r["healthStatus"] for r in rows}


def wait_until(what: str, check: Any, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="proxy-failover-demo-"))
    log_path = workdir / "stack.log"
    with _own_database(workdir) as database_url:
        where = "an embedded PostgreSQL there" if database_url is None else database_url.rsplit("/", 1)[1]
        print(f"the demo's data: {workdir} (database: {where}); both removed at the end", flush=True)
        try:
            code = _run(workdir, log_path, database_url)
        except BaseException as failure:
            kept = _keep_only_the_log(workdir, log_path)
            print(f"\nthe demo failed ({failure}); the stack's log is {kept}", file=sys.stderr, flush=True)
            raise
    shutil.rmtree(workdir, ignore_errors=True)
    return code


@contextmanager
def _own_database(workdir: Path) -> Iterator[str | None]:
    """A scratch database on DATABASE_URL's server, dropped afterwards; None: the stack starts an
    embedded PostgreSQL in the demo's folder (LOCAL_DATA_DIR), removed with it."""
    from .embedded_pg import scratch_database

    server = os.environ.get("DATABASE_URL")
    if not server:
        yield None
        return
    with scratch_database(server, "pf_demo") as url:
        yield url


def _keep_only_the_log(workdir: Path, log: Path) -> Path:
    if not log.exists():
        return log
    kept = Path(tempfile.gettempdir()) / f"proxy-failover-demo-{os.getpid()}.log"
    shutil.copyfile(log, kept)
    shutil.rmtree(workdir, ignore_errors=True)
    return kept


def _run(workdir: Path, log_path: Path, database_url: str | None) -> int:
    notifications = workdir / "notifications.jsonl"
    port = int(os.environ.get("DEMO_PORT", _free_port()))
    env = {
        **os.environ,
        "PORT": str(port),
        "SCHEDULE_SECONDS": "1",
        "PROBE_ALLOW_LOOPBACK": "true",
        "LOCAL_NOTIFICATIONS_FILE": str(notifications),
        "LOCAL_DATA_DIR": str(workdir),
        "LOCAL_ACCESS_LOG": "false",
    }
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    step("starting a local stack of the demo's own (its own data) in the background")
    log = log_path.open("w")
    stack = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    instances = {name: DemoInstance(name) for name in ("primary", "backup", "spare")}
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until("the API", lambda: _up(url), 90)
        from .tokens import make_token

        os.environ.setdefault("JWT_SECRET", env.get("JWT_SECRET") or _stack_secret())
        client = Client(url, make_token("demo-operator", admin=True))
        proxy = f"demo-{int(time.time())}"

        step(
            f"proxy {proxy}: checks every 2 s, down after 2 failures, up after 2 successes, failback after 4 s"
        )
        client.call(
            "POST",
            "/proxy/failover/config",
            {
                "proxyId": proxy,
                "config": {
                    "healthCheckIntervalSeconds": 2,
                    "healthCheckTimeoutSeconds": 1,
                    "unhealthyThreshold": 2,
                    "healthyThreshold": 2,
                    "failbackHoldDownSeconds": 4,
                },
            },
        )
        for priority, (name, instance) in enumerate(instances.items()):
            client.call(
                "POST",
                "/proxy/instances",
                {
                    "proxyId": proxy,
                    "instanceData": {
                        "instanceName": name,
                        "priority": priority + 1,
                        "healthCheckUrl": instance.url,
                        "endpoint": f"10.0.3.{priority + 1}:8443",
                    },
                },
            )
        step("registered primary, backup, spare; the sweep probes them")
        wait_until("all healthy", lambda: set(_statuses(client, proxy).values()) == {"healthy"})
        show_instances(client, proxy)

        step("killing the primary (it now answers 503)")
        instances["primary"].alive = False
        killed = time.monotonic()
        wait_until("the failover", lambda: _active(client, proxy) == "backup")
        step(f"failed over to backup {time.monotonic() - killed:.1f}s after the primary died")
        show_instances(client, proxy)
        _show_ledger(client, proxy)
        status = client.call("GET", f"/proxy/{proxy}/redundancy")
        print(
            f"   redundancy: {status['redundancyLevel']}, degraded={status['isDegraded']} {status['degradedReasons']}, backups={len(status['backupInstanceIds'])}"
        )
        wait_until("the notification", lambda: _notices(notifications, proxy, "failover"), 15)
        for notice in _notices(notifications, proxy, None):
            print(
                f"   SNS {notice['type']:<20} severity={notice['severity']:<8} {notice.get('reason', notice.get('instanceName', ''))}"
            )

        step("restoring the primary")
        instances["primary"].alive = True
        restored = time.monotonic()
        wait_until("the failback", lambda: _active(client, proxy) == "primary", 60)
        step(
            f"failed back to primary {time.monotonic() - restored:.1f}s after it recovered (2 checks + 4 s hold-down)"
        )
        show_instances(client, proxy)
        _show_ledger(client, proxy)
        _show_route(client, proxy)

        step("putting the active instance (primary) into maintenance for 10 minutes")
        ids = {r["instanceName"]: r["id"] for r in client.call("GET", f"/proxy/{proxy}/instances")}
        client.call(
            "PUT",
            f"/proxy/instances/{ids['primary']}/maintenance",
            {"durationSeconds": 600, "reason": "kernel patch"},
        )
        step(f"moved off it first, to {_active(client, proxy)}: no alert, no degradation")
        show_instances(client, proxy)
        _show_ledger(client, proxy)
        _show_route(client, proxy)
        wait_until(
            "the maintenance notices", lambda: _notices(notifications, proxy, "maintenance_failover"), 15
        )
        for kind in ("maintenance_started", "maintenance_failover"):
            for notice in _notices(notifications, proxy, kind):
                print(f"   SNS {notice['type']:<20} severity={notice['severity']:<8} {notice['reason']}")

        step("ending the maintenance: the primary is a backup again (and, healthy, takes traffic back)")
        client.call("DELETE", f"/proxy/instances/{ids['primary']}/maintenance")
        wait_until("the failback", lambda: _active(client, proxy) == "primary", 60)
        show_instances(client, proxy)
        _show_route(client, proxy)
        return 0
    finally:
        for instance in instances.values():
            instance.close()
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=60)
        log.close()
        step("stack stopped; its data is removed")


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/openapi.json", timeout=2):  # noqa: S310
            return True
    except OSError:
        return False


def _stack_secret() -> str:
    from .tokens import DEV_SECRET

    return DEV_SECRET


def _statuses(client: Client, proxy: str) -> dict[str, str]:
    return {r["instanceName"]: r["healthStatus"] for r in client.call("GET", f"/proxy/{proxy}/instances")}


def _active(client: Client, proxy: str) -> str | None:
    return next(
        (r["instanceName"] for r in client.call("GET", f"/proxy/{proxy}/instances") if r["isActive"]), None
    )


def _show_ledger(client: Client, proxy: str) -> None:
    for event in reversed(client.call("GET", f"/proxy/{proxy}/failover/events?limit=10")):
        print(
            f"   ledger {event['eventType']:<9} {event['status']:<11} by {event['actor']:<7} {event['reason']}"
        )


def _show_route(client: Client, proxy: str) -> None:
    """What the data plane asks: GET /proxy/{proxyId}/route."""
    answer = client.call("GET", f"/proxy/{proxy}/route")
    targets = ", ".join(f"{t['endpoint']} x{t['share']:g}" for t in answer["targets"])
    print(f"   route: send traffic to {targets} (degraded={answer['degraded']})")


def _notices(path: Path, proxy: str, kind: str | None) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    found = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [n for n in found if n.get("proxyId") == proxy and (kind is None or n["type"] == kind)]


if __name__ == "__main__":
    sys.exit(main())
