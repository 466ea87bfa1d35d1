"""The local stack at its edges, over real HTTP: every method on every path, many clients at once, the
Swagger page in a real browser, and an SNS of the user's choosing that hangs."""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from proxy_failover.settings import Settings
from proxy_failover.store.connect import params_from_url
from proxy_failover.store.db import Database

from local.emulators import bounded
from tests.e2e.running import RunningStack, start_stack
from tests.helpers import token
from tests.servers import HangingServer

pytestmark = pytest.mark.e2e

USER = token("stack-user")
SAMPLE_UUID = "3f2b8c1e-7d4a-4e55-9a0b-1c2d3e4f5a6b"


def raw(stack: RunningStack, method: str, path: str, body: bytes | None = None) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=20)
    try:
        headers = {"Authorization": f"Bearer {USER}", "Content-Type": "application/json"}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def documented(stack: RunningStack) -> set[tuple[str, str]]:
    _, document, _ = stack.request("GET", "/openapi.json")
    return {(m.upper(), p) for p, operations in document["paths"].items() for m in operations}


def test_every_method_on_every_path_answers_in_the_json_envelope(stack):
    operations = documented(stack)
    paths = {
        p.replace("{proxyId}", "edge-1")
        .replace("{instanceId}", SAMPLE_UUID)
        .replace("{eventId}", SAMPLE_UUID): p
        for _, p in operations
    }
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "FOO"]
    from proxy_failover.api.router import path_pattern

    for concrete in sorted(paths):
        for method in methods:
            # another operation's template may take the path (DELETE /proxy/instances decommissions
            # a proxy named "instances")
            if any(m == method and path_pattern(t).fullmatch(concrete) for m, t in operations):
                continue
            status, headers, body = raw(stack, method, concrete)
            assert status == 405, (method, concrete, status, body)
            assert headers["Content-Type"] == "application/json"
            if method != "HEAD":
                assert json.loads(body)["error"]["code"] == "PROXY_FAILOVER_024"
            else:
                assert body == b""
    for method in methods:
        status, headers, body = raw(stack, method, "/no/such/route")
        assert status == 404 and headers["Content-Type"] == "application/json"
        if method != "HEAD":
            assert json.loads(body)["error"]["code"] == "PROXY_FAILOVER_023"


def test_many_clients_at_once_hold_a_bounded_number_of_database_connections(stack, migrated):
    def client(k: int) -> None:
        for n in range(3):  # a new TCP connection (and server thread) per request
            raw(stack, "POST", "/proxy/failover/config", json.dumps({"proxyId": f"c{k}-{n}"}).encode())
            raw(stack, "GET", f"/proxy/c{k}-{n}/instances")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    name = params_from_url(migrated).database
    probe = Database.from_url(migrated)
    try:
        (count,) = probe.connection().run(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND application_name = 'proxy-failover'"
            " AND pid <> pg_backend_pid()",
            db=name,
        )[0]
    finally:
        probe.discard()
    # 120 requests on 120 connections from 20 clients: at most the API's pool (8) and what the sweep
    # holds (the dispatcher's one, and two for each sweep worker it may have started), whatever the
    # number of clients. A connection per client thread, as before, would be ~100.
    sweep = 1 + 2 * Settings().sweep_max_workers
    assert count <= 8 + sweep, count


def test_swagger_ui_lists_every_operation_in_a_real_browser(stack, tmp_path: Path):
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is installed by `make test` (see the Makefile)"
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            f"{stack.url}/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "Unable to render this definition" not in dom
    import re

    rendered = set(
        re.findall(r'opblock-summary-method">([A-Z]+)</span>.*?data-path="([^"]+)"', dom, flags=re.DOTALL)
    )
    assert rendered == documented(stack)


def test_the_stack_publishes_to_the_sns_it_is_given_and_a_hanging_one_stalls_no_write(migrated, tmp_path):
    with HangingServer() as sns:
        stack = start_stack(
            tmp_path,
            DATABASE_URL=migrated,
            AWS_ENDPOINT_URL_SNS=sns.url,
            NOTIFICATIONS_TOPIC_ARN="arn:aws:sns:eu-west-1:000000000000:elsewhere",
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            SCHEDULE_SECONDS="0",
        )
        try:
            assert f"SNS at {sns.url}" in stack.log.read_text()
            stack.request(
                "POST",
                "/proxy/failover/config",
                {"proxyId": "hang", "config": {"unhealthyThreshold": 1}},
                USER,
            )
            ids = []
            for priority, name in enumerate(("a", "b")):
                _, body, _ = stack.request(
                    "POST",
                    "/proxy/instances",
                    {"proxyId": "hang", "instanceData": {"instanceName": name, "priority": priority}},
                    USER,
                )
                ids.append(body["data"]["id"])
                stack.request("PUT", f"/proxy/instances/{ids[-1]}/health", {"healthStatus": "healthy"}, USER)
            # A report that fails the proxy over answers (within the client's 15 s, SNS hangs for ever)
            status, body, _ = stack.request(
                "PUT", f"/proxy/instances/{ids[0]}/health", {"healthStatus": "unhealthy"}, USER
            )
            assert status == 200 and body["data"]["isActive"] is False
            assert sns.connections >= 1  # it did try the SNS it was given
        finally:
            stack.stop()


def test_a_stop_signal_that_lands_on_any_thread_stops_the_stack(stack):
    """A signal sent to the process goes to whichever thread the kernel picks; sent here to a worker
    thread on purpose (tgkill), it must still stop the stack."""
    tasks = sorted(int(t) for t in os.listdir(f"/proc/{stack.process.pid}/task"))
    worker = next(t for t in tasks if t != stack.process.pid)
    libc = ctypes.CDLL(None, use_errno=True)
    SYS_TGKILL = {"x86_64": 234, "aarch64": 131}[os.uname().machine]
    assert libc.syscall(SYS_TGKILL, stack.process.pid, worker, signal.SIGINT) == 0
    try:
        assert stack.process.wait(timeout=20) == 0
    except subprocess.TimeoutExpired:
        stack.process.kill()
        raise AssertionError("the stack ignored a SIGINT delivered to a worker thread") from None
    assert "stopped" in stack.log.read_text()


def _fail_over_many(stack: RunningStack, count: int, prefix: str) -> None:
    """`count` proxies of two instances each, whose active instance then fails: a few notices each."""
    for k in range(count):
        proxy = f"{prefix}-{k}"
        stack.request(
            "POST", "/proxy/failover/config", {"proxyId": proxy, "config": {"unhealthyThreshold": 1}}, USER
        )
        ids = []
        for priority, name in enumerate(("a", "b")):
            _, body, _ = stack.request(
                "POST",
                "/proxy/instances",
                {"proxyId": proxy, "instanceData": {"instanceName": name, "priority": priority}},
                USER,
            )
            ids.append(body["data"]["id"])
            stack.request("PUT", f"/proxy/instances/{ids[-1]}/health", {"healthStatus": "healthy"}, USER)
        status, _, _ = stack.request(
            "PUT", f"/proxy/instances/{ids[0]}/health", {"healthStatus": "unhealthy"}, USER
        )
        assert status == 200


def test_a_kill_9_of_the_stack_loses_no_notification_sns_accepted(migrated, tmp_path):
    # Given notifications the stack published (the outbox marked them sent), some maybe not yet bridged
    stack = start_stack(tmp_path, DATABASE_URL=migrated, SCHEDULE_SECONDS="0")
    emulators = stack.emulators_pid()
    assert emulators is not None, stack.log.read_text()
    _fail_over_many(stack, 12, "killed")
    # When the stack is killed at once, with no chance to stop anything
    stack.process.send_signal(signal.SIGKILL)
    stack.process.wait(timeout=10)
    # Then the local SNS writes out what it accepted, and goes
    deadline = time.monotonic() + 60
    while Path(f"/proc/{emulators}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{emulators}").exists(), "the emulators outlived their work"
    db = Database.from_url(migrated)
    try:
        sent = {
            str(r[0])
            for r in db.autocommit().run(
                "SELECT id FROM notification_outbox WHERE sent_at IS NOT NULL AND proxy_id LIKE 'killed-%'"
            )
        }
    finally:
        db.discard()
    written = {n["id"] for n in stack.notices(routes=True)}  # the outbox holds route_changed too
    assert len(sent) > 30 and sent <= written, sorted(sent - written)[:5]


def test_the_stack_signs_for_an_sns_of_the_users_own_without_credentials(migrated, tmp_path):
    from moto.server import ThreadedMotoServer

    from tests.e2e.running import free_port

    # Given an SNS that is not AWS, and no AWS credentials anywhere in the stack's environment
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    try:
        import boto3

        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        keys = {"aws_access_key_id": "x", "aws_secret_access_key": "x", "region_name": "eu-west-1"}
        sns = boto3.client("sns", endpoint_url=endpoint, config=bounded(), **keys)
        sqs = boto3.client("sqs", endpoint_url=endpoint, config=bounded(), **keys)
        topic = sns.create_topic(Name="mine")["TopicArn"]
        queue = sqs.create_queue(QueueName="mine")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        stack = start_stack(
            tmp_path,
            unset=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"),
            DATABASE_URL=migrated,
            AWS_ENDPOINT_URL_SNS=endpoint,
            NOTIFICATIONS_TOPIC_ARN=topic,
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
            AWS_CONFIG_FILE=str(tmp_path / "none"),
            SCHEDULE_SECONDS="0",
        )
        try:
            # When something happens that is published
            _fail_over_many(stack, 1, "own-sns")
            # Then it reaches that SNS
            deadline = time.monotonic() + 20
            got = []
            while not got and time.monotonic() < deadline:
                got = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
            assert got, stack.log.read_text()[-3000:]
            assert "dummy" in stack.log.read_text()
        finally:
            stack.stop()
    finally:
        moto.stop()


def test_an_aws_sns_endpoint_without_credentials_is_refused_at_start(migrated, tmp_path):
    with pytest.raises(AssertionError, match="no AWS credentials are set"):
        start_stack(
            tmp_path,
            unset=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"),
            DATABASE_URL=migrated,
            AWS_ENDPOINT_URL_SNS="https://sns.eu-west-1.amazonaws.com",
            NOTIFICATIONS_TOPIC_ARN="arn:aws:sns:eu-west-1:000000000000:t",
            AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
            AWS_CONFIG_FILE=str(tmp_path / "none"),
            SCHEDULE_SECONDS="0",
        )


def test_a_chunked_request_body_is_accepted_as_api_gateway_accepts_it(stack):
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=20)
    try:
        body = json.dumps({"proxyId": "chunky", "config": {"unhealthyThreshold": 2}}).encode()
        pieces = (body[k : k + 7] for k in range(0, len(body), 7))
        headers = {"Authorization": f"Bearer {USER}", "Content-Type": "application/json"}
        connection.request(
            "POST", "/proxy/failover/config", body=pieces, headers=headers, encode_chunked=True
        )
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 201, answer
    assert answer["data"]["unhealthyThreshold"] == 2
