"""Test helpers: tokens, API Gateway HTTP API v2 events, loading a function's handler by name."""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import jwt

ROOT = Path(__file__).resolve().parents[1]
SECRET = "test-secret-with-at-least-32-bytes-of-key"
EVENTS = ROOT / "events"


# Modules make their tokens when collected: a token must outlive the whole suite (two of them at once
# on a busy machine), not only its own test.
TOKEN_LIFETIME_SECONDS = 6 * 3600


# Every table of the schema but the singletons (fleet_safety) and the migrations' own record.
TABLES = (
    "check_results, config_versions, fleet_storms, fleet_page_last, report_keys, notification_outbox, proxy_instance_metrics,"
    " proxy_failover_events, proxy_redundancy_status, proxy_failover_configurations, proxy_schedule,"
    " proxy_instances, proxies, vantages"
)
_BRAKE_RELEASED = (
    "UPDATE fleet_safety SET auto_failover = 'enabled', reason = NULL, changed_by = NULL, changed_at = NULL,"
    " release_pending = false, checks_suspended = false, flipped = false"
)


def fresh_fleet(con: Any, *, vantage: str | None = "local") -> None:
    """An empty fleet: every table emptied, the brake released and checks not suspended (a fuzzer's
    admin may have held it), and `vantage` known as after its first run (every new proxy gets a
    schedule at it). A local stack registers its own vantages: None leaves the table empty for it."""
    con.run(f"TRUNCATE {TABLES}")
    con.run(_BRAKE_RELEASED)
    if vantage is not None:
        con.run("INSERT INTO vantages (name, last_run_at) VALUES (:name, now())", name=vantage)


def token(sub: str = "user-a", *, admin: bool = False, secret: str = SECRET, **claims: Any) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {"sub": sub, "exp": now + TOKEN_LIFETIME_SECONDS, "iat": now}
    if admin:
        payload["roles"] = ["admin"]
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    token_value: str | None = None,
    query: dict[str, str] | None = None,
    route: str | None = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event, as the gateway would send it."""
    all_headers = {"content-type": "application/json", **(headers or {})}
    if token_value is not None:
        all_headers["authorization"] = f"Bearer {token_value}"
    return {
        "version": "2.0",
        "routeKey": route or f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": all_headers,
        "queryStringParameters": query,
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": route or f"{method} {path}",
            "stage": "$default",
        },
        "body": raw_body if raw_body is not None else (None if body is None else json.dumps(body)),
        "isBase64Encoded": False,
    }


@cache
def function(name: str) -> ModuleType:
    """`functions/<name>/app.py`, imported the way Lambda does (each under its own module name)."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"functions_{name}_app", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def invoke(name: str, event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = function(name).handler(event, None)
    return response["statusCode"], json.loads(response["body"]), response.get("headers", {})


def sample_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def drain(queue: dict[str, Any], *, routes: bool = False) -> list[dict[str, Any]]:
    """Every message delivered to the test queue so far: the SNS Message parsed, plus attributes.
    `route_changed` (the data plane's feed: one per change of a routing answer, with most writes) is
    left out unless `routes`: the tests of other notifications count theirs."""
    found = []
    while True:
        batch = queue["sqs"].receive_message(QueueUrl=queue["queue_url"], MaxNumberOfMessages=10)
        messages = batch.get("Messages", [])
        if not messages:
            return found
        for m in messages:
            envelope = json.loads(m["Body"])
            body = json.loads(envelope["Message"])
            body["attributes"] = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            if routes or body.get("type") != "route_changed":
                found.append(body)
        queue["sqs"].delete_message_batch(
            QueueUrl=queue["queue_url"],
            Entries=[{"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(messages)],
        )


def closing_thread(db: Any, target: Callable[..., object], *args: object) -> threading.Thread:
    """A thread that runs `target` and then closes the database connection it opened. Left to the
    garbage collector, a finished thread's connection lingers (pg8000's holds a reference cycle), and
    a race test of 30 threads kept 50 connections open: two suites at once ran out of the server's 100."""

    def run() -> None:
        try:
            target(*args)
        finally:
            db.discard()

    return threading.Thread(target=run)
