"""The local stack's notification bridge keeps up with a failover storm: it reads and deletes the
subscribed queue ten messages a call, so hundreds of notifications cost tens of SQS calls."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from local.emulators import NotificationBridge


class CountingSqs:
    """The moto SQS client, counting the calls that take messages off the queue."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.deleting_calls = 0

    def receive_message(self, **kwargs: Any) -> Any:
        return self.sqs.receive_message(**kwargs)

    def delete_message(self, **kwargs: Any) -> Any:
        self.deleting_calls += 1
        return self.sqs.delete_message(**kwargs)

    def delete_message_batch(self, **kwargs: Any) -> Any:
        self.deleting_calls += 1
        return self.sqs.delete_message_batch(**kwargs)


def test_a_storm_of_notifications_is_bridged_ten_a_call(sns: dict[str, Any], tmp_path: Path) -> None:
    # Given 250 notifications waiting in the queue subscribed to the topic
    storm = 250
    for k in range(storm):
        sns["sns"].publish(
            TopicArn=sns["topic"],
            Message=json.dumps({"type": "failover_executed", "proxyId": f"p{k}", "severity": "critical"}),
            MessageAttributes={"severity": {"DataType": "String", "StringValue": "critical"}},
        )
    sqs = CountingSqs(sns["sqs"])
    out = tmp_path / "notifications.jsonl"
    bridge = NotificationBridge(sqs, sns["queue_url"], out)
    # When the bridge drains them
    bridge.start()
    deadline = time.monotonic() + 120  # generous: a busy machine is slow, never wrong
    while bridge.delivered < storm and time.monotonic() < deadline:
        time.sleep(0.05)
    bridge.stopping.set()
    bridge.join(timeout=10)
    # Then every one is written once, with its attributes, in about storm / 10 deleting calls
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["proxyId"] for line in lines) == sorted(f"p{k}" for k in range(storm))
    assert all(line["attributes"] == {"severity": "critical"} for line in lines)
    assert sqs.deleting_calls <= storm // 10 + 5, sqs.deleting_calls
    assert sns["sqs"].receive_message(QueueUrl=sns["queue_url"], WaitTimeSeconds=0).get("Messages") is None
