"""The local stack as a subprocess on a free port, driven over real HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import ROOT, SECRET, fresh_fleet


def empty_fleet(database_url: str) -> None:
    from proxy_failover.store.db import Database

    database = Database.from_url(database_url)
    try:
        fresh_fleet(database.connection(), vantage=None)
    finally:
        database.discard()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    url: str
    port: int
    notifications: Path
    log: Path

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read() or b"null"), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null"), dict(error.headers)

    def deliveries(self) -> list[dict[str, Any]]:
        """Every message the local SNS delivered, as delivered: a publish whose answer timed out is
        published again by the outbox relay, so one notification may arrive twice (as SNS itself
        delivers at least once)."""
        if not self.notifications.exists():
            return []
        return [json.loads(line) for line in self.notifications.read_text().splitlines() if line.strip()]

    def notices(self, *, routes: bool = False) -> list[dict[str, Any]]:
        """The notifications published so far, each once (by its `id`, as a subscriber deduplicates);
        `route_changed` (one per change of a routing answer) only when `routes`."""
        seen: set[str] = set()
        found = []
        for n in self.deliveries():
            if n.get("id") in seen or (not routes and n.get("type") == "route_changed"):
                continue
            seen.add(n.get("id"))
            found.append(n)
        return found

    def emulators_pid(self) -> int | None:
        """The local SNS/SQS process, which outlives the stack until it has written out what it holds."""
        found = re.search(r"local SNS at \S+ \(its own process, pid (\d+)\)", self.log.read_text())
        return int(found.group(1)) if found else None

    def sns_endpoint(self) -> str:
        found = re.search(r"local SNS at (http://\S+) ", self.log.read_text())
        assert found, self.log.read_text()
        return found.group(1)

    def topic_arn(self) -> str:
        found = re.search(r"\[local\] topic (arn:\S+)", self.log.read_text())
        assert found, self.log.read_text()
        return found.group(1)

    def sns_port(self) -> int | None:
        found = re.search(r"local SNS at http://127\.0\.0\.1:(\d+)", self.log.read_text())
        return int(found.group(1)) if found else None

    def stop(self) -> int:
        """Stops the stack; its exit code. Fails if any thread of it died of an exception no one caught
        (printed raw, outside the JSON log lines)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=60)
        uncaught = [line for line in self.log.read_text().splitlines() if line.startswith("Traceback")]
        assert not uncaught, self.log.read_text()
        return code


def start_stack(
    tmp: Path, unset: tuple[str, ...] = (), port: int | None = None, fresh: bool = True, **env: str
) -> RunningStack:
    """The stack on `port` (a free one by default: a stack started again on a stopped one's port is
    the same API coming back). The session's stacks share one database: unless `fresh` is False (a
    stack started again on what an earlier one left), the fleet is emptied first, so that no test sees
    another's proxies, vantages or brake (the fuzzer's admin may hold it)."""
    if fresh and env.get("DATABASE_URL"):
        empty_fleet(env["DATABASE_URL"])
    # No port given: the stack binds one the system picks and says which in its log. A port picked
    # here and handed over could be taken in between by another suite's server, and the stack's
    # readiness then read off that server instead.
    asked = port or 0
    tmp.mkdir(parents=True, exist_ok=True)
    log = tmp / "stack.log"
    notifications = tmp / "notifications.jsonl"
    inherited = ("PYTEST", "AWS_ENDPOINT", "NOTIFICATIONS_TOPIC_ARN", "JWT_ISSUER", "JWT_AUDIENCE")
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(inherited)},
        "PORT": str(asked),
        "SCHEDULE_SECONDS": "1",
        "LOCAL_NOTIFICATIONS_FILE": str(notifications),
        "JWT_SECRET": SECRET,
        "PROBE_ALLOW_LOOPBACK": "true",
        "LOCAL_ACCESS_LOG": "true",
        **env,
    }
    for name in unset:
        environment.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env=environment,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack = RunningStack(process, f"http://127.0.0.1:{asked}", asked, notifications, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the stack exited early:\n{log.read_text()}")
        if not asked:
            serving = re.search(r"\[local\] API on http://127\.0\.0\.1:(\d+) ", log.read_text())
            if serving is None:
                time.sleep(0.1)
                continue
            asked = int(serving.group(1))
            stack = RunningStack(process, f"http://127.0.0.1:{asked}", asked, notifications, log)
        try:
            status, _, _ = stack.request("GET", "/openapi.json")
            if status == 200:
                return stack
        except OSError:
            pass
        time.sleep(0.25)
    stack.stop()
    raise AssertionError(f"/openapi.json not served within 60 s:\n{log.read_text()}")
