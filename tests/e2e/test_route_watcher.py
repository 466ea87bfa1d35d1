"""The data plane's feed, over the local stack: the client package's RouteWatcher subscribed to the
stack's SNS topic (its own SQS queue with a filter policy on its proxies), the typed client driving
the API, and the command line. A switch reaches the callback without polling; a lost message costs one
resync; duplicates and stale messages change nothing; the API and SQS may go away and come back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from proxy_failover_client import Client, Route, RouteWatcher

from local.emulators import bounded
from tests.e2e.running import RunningStack, free_port, start_stack
from tests.e2e.test_local_stack import wait_for
from tests.helpers import token

pytestmark = pytest.mark.e2e
USER = token("watch-user")
ADMIN = token("watch-ops", admin=True)
REGION = "eu-west-1"


@pytest.fixture
def quiet(migrated: str, tmp_path: Path) -> Iterator[RunningStack]:
    """The stack without its scheduled sweep: only the test's writes change routes."""
    running = start_stack(tmp_path, DATABASE_URL=migrated, SCHEDULE_SECONDS="0")
    yield running
    running.stop()


class Changes:
    """What the watcher's callback saw, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Route | None]] = []
        self._lock = threading.Lock()

    def __call__(self, proxy_id: str, route: Route | None) -> None:
        with self._lock:
            self.seen.append((proxy_id, route))

    def active(self, proxy_id: str) -> str | None:
        with self._lock:
            found = [r for p, r in self.seen if p == proxy_id]
        return found[-1].active_instance_id if found and found[-1] is not None else None


def pair(client: Client, proxy_id: str, names: tuple[str, ...] = ("a", "b")) -> list[str]:
    """A proxy whose instances are all healthy, the first one active; its instance ids in order."""
    client.put_config(proxy_id, unhealthyThreshold=1, healthyThreshold=1, failbackHoldDownSeconds=3600)
    ids = []
    for priority, name in enumerate(names):
        registered = client.register_instance(
            proxy_id, instanceName=name, priority=priority, endpoint=f"10.9.0.{priority + 1}:8443"
        )
        ids.append(registered["id"])
        client.report_health(registered["id"], "healthy")
    return ids


def watcher_for(stack: RunningStack, proxy_ids: list[str], **options: Any) -> RouteWatcher:
    endpoint = stack.sns_endpoint()
    options.setdefault("wait_seconds", 1)
    return RouteWatcher(
        Client(stack.url, USER),
        proxy_ids,
        topic_arn=stack.topic_arn(),
        region_name=REGION,
        endpoint_url=endpoint,
        **options,
    )


def sqs_of(stack: RunningStack) -> Any:
    return boto3.client("sqs", region_name=REGION, endpoint_url=stack.sns_endpoint(), config=bounded())


def test_a_switch_reaches_the_callback_and_the_file_without_polling(quiet, tmp_path):
    client = Client(quiet.url, USER)
    ids = pair(client, "edge-push")
    changes = Changes()
    routes = tmp_path / "routes.json"
    # Given a watcher that never resyncs on its own (only the queue can tell it of a switch)
    watcher = watcher_for(quiet, ["edge-push"], on_change=changes, file=routes, resync_seconds=3600).start()
    try:
        assert watcher.wait_synced(20)
        assert changes.active("edge-push") == ids[0]
        before = watcher.route("edge-push")
        # When the active instance fails and the proxy fails over
        client.report_health(ids[0], "unhealthy")
        # Then the callback hears of it, from the queue
        assert wait_for(lambda: changes.active("edge-push") == ids[1], 10), changes.seen
        after = watcher.route("edge-push")
        assert after is not None and before is not None and after.version > before.version
        # the answer pushed is the answer served: same version, same ETag
        served = client.route("edge-push")
        assert served is not None and (served.version, served.etag) == (after.version, after.etag)
        assert client.route("edge-push", etag=after.etag) is None  # 304: nothing new
        # and the file holds it, whole
        document = json.loads(routes.read_text())
        assert document["format"] == 1
        held = document["routes"]["edge-push"]
        assert held["activeInstanceId"] == ids[1] and held["etag"] == after.etag
        assert held["targets"][0]["endpoint"] == "10.9.0.2:8443"
    finally:
        watcher.stop()
    # its queue and subscription are removed with it
    assert not [q for q in sqs_of(quiet).list_queues().get("QueueUrls", []) if "proxy-failover-watch-" in q]


class LosingQueue:
    """The watcher's SQS, losing the proxy's next `route_changed` on purpose (taken off the queue
    and never handed over), as a message lost between SNS and the node would be."""

    def __init__(self, real: Any, proxy_id: str) -> None:
        self.real, self.proxy_id, self.lost = real, proxy_id, 0
        self.armed = threading.Event()

    def receive_message(self, **request: Any) -> dict[str, Any]:
        answer = dict(self.real.receive_message(**request))
        kept = []
        for message in answer.get("Messages", []):
            body = json.loads(message["Body"])
            if (
                self.armed.is_set()
                and body.get("type") == "route_changed"
                and body.get("proxyId") == self.proxy_id
            ):
                self.armed.clear()
                self.lost += 1
                self.real.delete_message(QueueUrl=request["QueueUrl"], ReceiptHandle=message["ReceiptHandle"])
                continue
            kept.append(message)
        answer["Messages"] = kept
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_lost_message_is_recovered_by_the_resync(quiet):
    client = Client(quiet.url, USER)
    ids = pair(client, "edge-lossy")
    losing = LosingQueue(sqs_of(quiet), "edge-lossy")
    changes = Changes()
    watcher = watcher_for(quiet, ["edge-lossy"], on_change=changes, resync_seconds=3, sqs=losing).start()
    try:
        assert watcher.wait_synced(20)
        # When the switch's message is lost on the way
        losing.armed.set()
        client.report_health(ids[0], "unhealthy")
        assert wait_for(lambda: losing.lost == 1, 10)
        # Then the next resync (within its period) brings the answer anyway
        assert wait_for(lambda: changes.active("edge-lossy") == ids[1], 10), changes.seen
    finally:
        watcher.stop()


def test_messages_delivered_twice_or_out_of_order_leave_the_newest_answer(quiet):
    client, admin = Client(quiet.url, USER), Client(quiet.url, ADMIN)
    ids = pair(client, "edge-order", ("a", "b", "c"))
    changes = Changes()
    watcher = watcher_for(quiet, ["edge-order"], on_change=changes, resync_seconds=3600).start()
    try:
        assert watcher.wait_synced(20)
        # Given three switches, each pushed
        for source, target in ((0, 1), (1, 2), (2, 0)):
            admin.execute_failover("edge-order", ids[source], ids[target], "order test")
            assert wait_for(lambda t=target: changes.active("edge-order") == ids[t], 10), changes.seen
        newest = watcher.route("edge-order")
        assert newest is not None
        heard = len(changes.seen)
        dropped = watcher.dropped
        # When every one of its messages arrives again, newest first, each twice
        pushed = [
            n
            for n in quiet.notices(routes=True)
            if n["type"] == "route_changed" and n["proxyId"] == "edge-order"
        ]
        assert len(pushed) >= 3
        sqs = sqs_of(quiet)
        again = sorted(pushed, key=lambda n: -n["version"]) * 2
        for n in again:
            body = {k: v for k, v in n.items() if k != "attributes"}
            sqs.send_message(QueueUrl=watcher.queue_url, MessageBody=json.dumps(body))
        # Then each is dropped as no newer than what is held, and the answer stays the newest
        assert wait_for(lambda: watcher.dropped - dropped == len(again), 15), (watcher.dropped, len(again))
        assert watcher.route("edge-order") == newest
        assert len(changes.seen) == heard
    finally:
        watcher.stop()


def test_the_watcher_survives_the_api_and_sqs_going_away_and_coming_back(migrated, tmp_path):
    api_port, aws_port = free_port(), free_port()
    ports = {"port": api_port, "LOCAL_AWS_PORT": str(aws_port), "SCHEDULE_SECONDS": "0"}
    stack = start_stack(tmp_path / "first", DATABASE_URL=migrated, **ports)
    client = Client(stack.url, USER)
    ids = pair(client, "edge-away")
    changes = Changes()
    watcher = watcher_for(stack, ["edge-away"], on_change=changes, resync_seconds=2)
    watcher.start()
    try:
        assert watcher.wait_synced(20)
        first_queue = watcher.queue_url
        # When the whole stack goes away (its API, and its SNS/SQS with every queue on it)
        stack.stop()
        time.sleep(4)  # a resync and several receives fail meanwhile
        # Then the watcher still holds the answer it had
        held = watcher.route("edge-away")
        assert held is not None and held.active_instance_id == ids[0]
        # When it comes back (same ports, same database) and the proxy switches
        stack = start_stack(tmp_path / "second", DATABASE_URL=migrated, fresh=False, **ports)
        client.report_health(ids[0], "unhealthy")
        # Then the watcher has made itself a new queue and holds the new answer
        assert wait_for(lambda: changes.active("edge-away") == ids[1], 30), changes.seen
        assert wait_for(lambda: watcher.queue_url not in (None, first_queue), 40)
        assert watcher.queue_url in sqs_of(stack).list_queues().get("QueueUrls", [])
    finally:
        watcher.stop()
        stack.stop()


def test_the_command_line_keeps_a_file_of_the_answers(quiet, tmp_path):
    client = Client(quiet.url, USER)
    ids = pair(client, "edge-cli")
    routes = tmp_path / "routes.json"
    environment = {**os.environ, "PROXY_FAILOVER_TOKEN": USER}
    watching = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "proxy_failover_client",
            "watch",
            "edge-cli",
            "--file",
            str(routes),
            "--api",
            quiet.url,
            "--topic-arn",
            quiet.topic_arn(),
            "--endpoint-url",
            quiet.sns_endpoint(),
            "--region",
            REGION,
            "--wait",
            "1",
        ],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def active_in_file() -> str | None:
            try:
                held = json.loads(routes.read_text())["routes"].get("edge-cli")
            except (OSError, ValueError):
                return None
            return None if held is None else str(held["activeInstanceId"])

        assert wait_for(lambda: active_in_file() == ids[0], 20)
        client.report_health(ids[0], "unhealthy")
        assert wait_for(lambda: active_in_file() == ids[1], 10)
    finally:
        watching.send_signal(signal.SIGTERM)
        out, err = watching.communicate(timeout=30)
    assert watching.returncode == 0, err
    # each change also printed as a JSON line
    printed = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [p["route"]["activeInstanceId"] for p in printed] == [ids[0], ids[1]]
