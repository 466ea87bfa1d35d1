"""The local stack's AWS, in a process of its own: SNS and SQS (moto's server), the topic and queues
the stack uses, and the bridge that appends every delivered notification to LOCAL_NOTIFICATIONS_FILE.

A process apart from the stack's, for two reasons. A notification SNS accepted is kept whatever
happens to the publisher, as on AWS: when the stack dies (even by kill -9), this process drains the
subscribed queue into the file before it exits. And the stack's own CPU is told apart from the
emulators' (bench/load_bench.py measures each process).

`python -m local.emulators --notifications FILE --parent PID --ready FILE` starts it (the stack does);
it writes what the stack needs (endpoint, topic, queues) to the ready file and runs until it is
signalled or its parent is gone, then drains and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REGION = "eu-west-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}  # moto takes any


def bounded() -> Any:
    """botocore settings for the local tools' and tests' own AWS calls: each one bounded, as the
    service's are (an emulator that hangs must not hang the stack or a test; a long poll waits 20 s)."""
    from botocore.config import Config

    return Config(connect_timeout=5, read_timeout=30, retries={"total_max_attempts": 2, "mode": "standard"})


def say(message: str) -> None:
    print(f"[local] {message}", flush=True)


class NotificationBridge(threading.Thread):
    """Reads the SQS queue subscribed to the topic and appends each message to a JSON-lines file; a
    message is deleted from the queue only once its line is written (and flushed)."""

    def __init__(self, sqs: Any, queue_url: str, path: Path, *, echo: bool = True) -> None:
        super().__init__(name="notifications", daemon=True)
        self.sqs, self.queue_url, self.path, self.echo = sqs, queue_url, path, echo
        self.stopping = threading.Event()
        self.delivered = 0
        self.idle = threading.Event()  # the last receive found the queue empty

    def run(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while not self.stopping.is_set():
            self.drain_once(wait_seconds=1)

    def drain_once(self, wait_seconds: int) -> int:
        """One receive of up to ten messages, written then deleted; how many there were."""
        try:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
            )
        except Exception:
            self.stopping.wait(0.5)
            return 0
        messages = batch.get("Messages", [])
        if not messages:
            self.idle.set()
            return 0
        self.idle.clear()
        lines = []
        for message in messages:
            envelope = json.loads(message["Body"])
            line = json.loads(envelope["Message"])
            line["attributes"] = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            lines.append(line)
            if self.echo:
                say(
                    f"notification {line.get('type')} proxy={line.get('proxyId')} severity={line.get('severity')}"
                )
        with self.path.open("a", encoding="utf-8") as out:
            out.write("".join(json.dumps(line) + "\n" for line in lines))
            out.flush()
            os.fsync(out.fileno())
        self.delivered += len(lines)
        # One call per batch of ten (a call per message fell thousands behind in a failover storm).
        self.sqs.delete_message_batch(
            QueueUrl=self.queue_url,
            Entries=[{"Id": str(k), "ReceiptHandle": m["ReceiptHandle"]} for k, m in enumerate(messages)],
        )
        return len(messages)


def _serve(notifications: Path, parent: int, ready: Path, echo: bool, port: int | None = None) -> int:
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())

    # No port asked for: the system picks one as the server binds it (one picked first and bound later
    # could be taken in between).
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port or 0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    keys = CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    sns = boto3.client(
        "sns",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=keys[0],
        aws_secret_access_key=keys[1],
        config=bounded(),
    )
    sqs = boto3.client(
        "sqs",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=keys[0],
        aws_secret_access_key=keys[1],
        config=bounded(),
    )
    topic = sns.create_topic(Name="proxy-failover-events-local")["TopicArn"]
    queue = sqs.create_queue(QueueName="local-notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)

    bridge = NotificationBridge(sqs, queue, notifications, echo=echo)
    bridge.start()
    partial = ready.with_suffix(".partial")
    partial.write_text(json.dumps({"endpoint": endpoint, "topic": topic, "notifications_queue": queue}))
    partial.rename(ready)  # whole or not at all: the stack polls for it

    while not stopping.wait(0.25):
        if os.getppid() != parent:  # the stack is gone (killed): keep what SNS accepted
            say("the stack is gone: writing out the notifications SNS accepted")
            break
    # Drain: until the queue has been found empty twice in a row (moto delivers to it synchronously).
    bridge.stopping.set()
    bridge.join(timeout=5)
    empty = 0
    deadline = time.monotonic() + 60
    while empty < 2 and time.monotonic() < deadline:
        empty = 0 if bridge.drain_once(wait_seconds=0) else empty + 1
    moto.stop()
    return 0


class Emulators:
    """The stack's handle on the emulators' process."""

    def __init__(self, process: subprocess.Popen[bytes], info: dict[str, str]) -> None:
        self.process, self.info = process, info

    @classmethod
    def start(
        cls,
        notifications: Path,
        workdir: Path,
        *,
        echo: bool = True,
        port: int | None = None,
        timeout: float = 60,
    ) -> Emulators:
        workdir.mkdir(parents=True, exist_ok=True)
        ready = workdir / f"emulators-{os.getpid()}.json"
        ready.unlink(missing_ok=True)
        process = subprocess.Popen(  # noqa: S603 - our own module, by the interpreter running us
            [
                sys.executable,
                "-m",
                "local.emulators",
                "--notifications",
                str(notifications),
                "--parent",
                str(os.getpid()),
                "--ready",
                str(ready),
                *([] if echo else ["--quiet"]),
                *([] if port is None else ["--port", str(port)]),
            ],
            cwd=Path(__file__).resolve().parents[1],
            # Its own session: a Ctrl-C in the terminal reaches the stack, which stops this one after
            # its own shutdown (the last notifications then still reach the file).
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit("the local SNS/SQS emulators did not start (see the lines above)")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        ready.unlink(missing_ok=True)
        return cls(process, info)

    def stop(self, timeout: float = 30) -> None:
        """Drain (the last notifications reach the file), then stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notifications", required=True, type=Path)
    parser.add_argument("--parent", required=True, type=int)
    parser.add_argument("--ready", required=True, type=Path)
    parser.add_argument("--quiet", action="store_true", help="do not echo each notification")
    parser.add_argument("--port", type=int, help="listen here (else on a free port)")
    args = parser.parse_args()
    return _serve(args.notifications, args.parent, args.ready, not args.quiet, args.port)


if __name__ == "__main__":
    sys.exit(main())
