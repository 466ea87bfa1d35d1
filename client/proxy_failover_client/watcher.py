"""The route watcher: a data-plane node's routing answers, kept current from the control plane's SNS
topic without polling the API.

It subscribes an SQS queue of its own to the topic with a filter policy on its proxies (or uses the
queue it is given), long-polls it, and applies each `route_changed` by version: a message no newer
than the answer it holds changes nothing (SNS may deliver twice, SQS out of order). At start and every
`resync_seconds` it asks GET /proxy/{id}/route with the ETag it holds (a 304 costs nothing), so a lost
message costs one resync period at most. It survives the API and SQS going away: it keeps the answers
it has, backs off, and picks up where it was when they come back.

On every change it calls `on_change(proxy_id, route)` (`route` None: the proxy was decommissioned or
has no instance left) and, with `file`, writes every answer to that file atomically (write, fsync,
rename) as `{"format": 1, "updatedAt": ..., "routes": {proxyId: answer or null}}`, each answer as GET
route returns it plus its `etag`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .api import ApiError, Client, NotFound, Unreachable
from .routes import Route

logger = logging.getLogger("proxy_failover_client.watcher")

# SNS allows 150 values in a filter policy's combinations: two types x 75 proxies a subscription.
PROXIES_PER_SUBSCRIPTION = 75
KINDS = ("route_changed", "proxy_removed")
OnChange = Callable[[str, Route | None], None]


class RouteWatcher:
    def __init__(
        self,
        client: Client,
        proxy_ids: Sequence[str],
        *,
        topic_arn: str | None = None,
        queue_url: str | None = None,
        on_change: OnChange | None = None,
        file: str | Path | None = None,
        resync_seconds: float = 60.0,
        wait_seconds: int = 20,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        sqs: Any = None,
        sns: Any = None,
    ) -> None:
        if not proxy_ids:
            raise ValueError("name at least one proxy to watch")
        if topic_arn is None and queue_url is None:
            raise ValueError("give the topic to subscribe to, or a queue subscribed to it")
        self.client = client
        self.proxy_ids = list(dict.fromkeys(proxy_ids))
        self.topic_arn, self.queue_url = topic_arn, queue_url
        self.on_change = on_change
        self.file = None if file is None else Path(file)
        self.resync_seconds, self.wait_seconds = resync_seconds, max(0, min(20, int(wait_seconds)))
        self._region, self._endpoint = region_name, endpoint_url
        self._sqs, self._sns = sqs, sns
        self._created_queue = False
        self._subscriptions: list[str] = []
        self._routes: dict[str, Route | None] = {}
        self._versions: dict[str, int] = {}  # the newest version seen of each proxy's answer
        self._lower: dict[str, int] = {}  # an older version the API answered, once
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._synced = threading.Event()  # every answer read once
        self._thread: threading.Thread | None = None
        self.applied = 0  # messages that changed an answer
        self.dropped = 0  # messages no newer than the answer held

    # ---- what it holds ----------------------------------------------------------------------------

    @property
    def routes(self) -> dict[str, Route | None]:
        with self._lock:
            return dict(self._routes)

    def route(self, proxy_id: str) -> Route | None:
        with self._lock:
            return self._routes.get(proxy_id)

    # ---- running ---------------------------------------------------------------------------------

    def start(self) -> RouteWatcher:
        """Set up the queue, read every answer once, then watch on a thread of its own."""
        self._thread = threading.Thread(target=self.run, name="route-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop watching (within one long poll), and remove the queue and subscriptions it made."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.close()

    def run(self) -> None:
        """Watch until `stop()`: the queue long-polled, every answer read again each resync period
        and whenever the queue was away (what was published meanwhile may never arrive)."""
        backoff = _Backoff()
        next_resync = 0.0
        away = False
        while not self._stopping.is_set():
            if self.queue_url is None:
                try:
                    self._ensure_queue()
                    next_resync = 0.0  # a new queue holds nothing of what came before it: read all
                except Exception as exc:  # SQS or SNS away: try again, resyncing meanwhile
                    logger.warning("could not set up the queue: %s", exc)
            now = time.monotonic()
            if now >= next_resync:
                complete = self.resync()
                # a resync that could not reach the API is tried again soon, not a period later
                next_resync = now + (self.resync_seconds if complete else min(5.0, self.resync_seconds))
                if complete and self.queue_url is not None:
                    self._synced.set()  # subscribed, and every answer read since
            if self.queue_url is None:
                self._stopping.wait(min(backoff.next(), max(0.0, next_resync - time.monotonic())))
                continue
            wait = max(0, min(self.wait_seconds, math.ceil(next_resync - time.monotonic())))
            try:
                messages = self._receive(wait)
            except Exception as exc:
                if self._created_queue and _queue_gone(exc):
                    logger.warning("the queue is gone (SQS lost it): making a new one")
                    self._forget_queue()
                else:
                    logger.warning("could not receive from the queue: %s", exc)
                away = True
                # try again later, but not past the next resync: answers stay a resync period fresh
                self._stopping.wait(min(backoff.next(), max(0.0, next_resync - time.monotonic())))
                continue
            if away:  # back: what was sent while it was away may be lost, so read every answer now
                away, next_resync = False, 0.0
                backoff.reset()
            self._handle(messages)

    def wait_synced(self, timeout: float | None = None) -> bool:
        """Block until the watcher is subscribed and has read every answer since (True: from now on
        no change is missed), or `timeout` passes (False)."""
        return self._synced.wait(timeout)

    def close(self) -> None:
        """Remove what the watcher created (its subscriptions and queue); a given queue stays."""
        if not self._created_queue:
            return
        for arn in self._subscriptions:
            try:
                self._sns_client().unsubscribe(SubscriptionArn=arn)
            except Exception as exc:
                logger.warning("could not unsubscribe %s: %s", arn, exc)
        try:
            self._sqs_client().delete_queue(QueueUrl=self.queue_url)
        except Exception as exc:
            logger.warning("could not delete the queue: %s", exc)
        self._forget_queue()

    def _forget_queue(self) -> None:
        self.queue_url, self._subscriptions, self._created_queue = None, [], False

    # ---- the answers -------------------------------------------------------------------------------

    def resync(self) -> bool:
        """Ask the API for every answer, naming the ETag held (304: nothing to do). False when some
        could not be read (the API away): those are kept as they were."""
        complete = True
        for proxy_id in self.proxy_ids:
            held = self.route(proxy_id)
            try:
                found = self.client.route(proxy_id, etag=None if held is None else held.etag)
            except NotFound:  # decommissioned, or no instance left
                self._offer(proxy_id, None, asked=True)
                continue
            except (Unreachable, ApiError) as exc:
                logger.warning("resync of %s failed: %s", proxy_id, exc)
                complete = False
                continue
            if found is not None:
                self._offer(proxy_id, found, asked=True)
        return complete

    def apply(self, message: dict[str, Any]) -> bool:
        """A notification (`route_changed`, `proxy_removed`) applied if it is newer than what is held;
        True when it changed an answer."""
        proxy_id = message.get("proxyId")
        if proxy_id not in self.proxy_ids:
            return False
        if message.get("type") == "proxy_removed":
            return self._offer(proxy_id, None, removed=True)
        if message.get("type") != "route_changed":
            return False
        data = message.get("route")
        version = int(message.get("version", 0))
        route = None if data is None else Route.from_json(data, etag=message.get("etag"))
        return self._offer(proxy_id, route, version=version)

    def _offer(
        self,
        proxy_id: str,
        route: Route | None,
        *,
        version: int | None = None,
        removed: bool = False,
        asked: bool = False,
    ) -> bool:
        """Take an answer (None: none) if it is newer than the one held. Versions only grow, except
        when a proxy is decommissioned and created anew: a `proxy_removed` forgets the version, and
        an answer the API itself gives twice in a row is taken whatever its version."""
        number = route.version if route is not None else version
        with self._lock:
            newest = self._versions.get(proxy_id)
            if removed:
                self._versions.pop(proxy_id, None)
                self._lower.pop(proxy_id, None)
            elif number is not None and newest is not None and number <= newest:
                again = asked and number < newest and self._lower.get(proxy_id) == number
                if not again:
                    if asked and number < newest:
                        self._lower[proxy_id] = number  # if the API says it again, it is a new proxy
                    self.dropped += 1
                    return False
                self._versions[proxy_id] = number
                self._lower.pop(proxy_id, None)
            elif number is not None:
                self._versions[proxy_id] = number
                self._lower.pop(proxy_id, None)
            if proxy_id in self._routes and self._routes[proxy_id] == route:
                return False
            self._routes[proxy_id] = route
            snapshot = dict(self._routes)
            self.applied += 1
        if self.file is not None:
            write_routes(self.file, snapshot)
        if self.on_change is not None:
            try:
                self.on_change(proxy_id, route)
            except Exception:
                logger.exception("the on_change callback failed")
        return True

    # ---- the queue ---------------------------------------------------------------------------------

    def _handle(self, messages: list[dict[str, Any]]) -> None:
        done: list[dict[str, str]] = []
        for m in messages:
            try:
                self.apply(_notification(m["Body"]))
            except (ValueError, KeyError, TypeError) as exc:
                logger.warning("a message that is not a notification: %s", exc)
            done.append({"Id": str(len(done)), "ReceiptHandle": m["ReceiptHandle"]})
        if done:
            try:
                self._sqs_client().delete_message_batch(QueueUrl=self.queue_url, Entries=done)
            except Exception as exc:  # delivered again later, and dropped then as not newer
                logger.warning("could not delete applied messages: %s", exc)

    def _receive(self, wait: int) -> list[dict[str, Any]]:
        answer = self._sqs_client().receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
        )
        found: list[dict[str, Any]] = answer.get("Messages", [])
        return found

    def _ensure_queue(self) -> None:
        if self.queue_url is not None:
            return
        sqs, sns = self._sqs_client(), self._sns_client()
        name = f"proxy-failover-watch-{uuid.uuid4().hex[:12]}"
        queue_url = sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": "3600"})[
            "QueueUrl"
        ]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": self.topic_arn}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
        self.queue_url, self._created_queue = queue_url, True
        for k in range(0, len(self.proxy_ids), PROXIES_PER_SUBSCRIPTION):
            chunk = self.proxy_ids[k : k + PROXIES_PER_SUBSCRIPTION]
            subscription = sns.subscribe(
                TopicArn=self.topic_arn,
                Protocol="sqs",
                Endpoint=arn,
                Attributes={
                    "FilterPolicy": json.dumps({"type": list(KINDS), "proxyId": chunk}),
                    "RawMessageDelivery": "true",
                },
                ReturnSubscriptionArn=True,
            )
            self._subscriptions.append(subscription["SubscriptionArn"])

    def _sqs_client(self) -> Any:
        if self._sqs is None:
            self._sqs = self._boto("sqs", read_timeout=self.wait_seconds + 10)
        return self._sqs

    def _sns_client(self) -> Any:
        if self._sns is None:
            self._sns = self._boto("sns", read_timeout=10)
        return self._sns

    def _boto(self, service: str, *, read_timeout: float) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(connect_timeout=3, read_timeout=read_timeout, retries={"max_attempts": 2})
        session = boto3.session.Session(region_name=self._region)
        return session.client(service, endpoint_url=self._endpoint, config=config)  # type: ignore[call-overload]


def _queue_gone(exc: Exception) -> bool:
    """SQS says the queue does not exist (deleted, or an emulator that started again empty)."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def _notification(body: str) -> dict[str, Any]:
    """The notification a message carries: raw (the subscription's RawMessageDelivery) or in SNS's
    envelope."""
    found = json.loads(body)
    if isinstance(found, dict) and found.get("Type") == "Notification" and "Message" in found:
        found = json.loads(found["Message"])
    if not isinstance(found, dict):
        raise ValueError("not a JSON object")
    return found


def write_routes(path: Path, routes: dict[str, Route | None]) -> None:
    """Every answer held, to `path` atomically: a reader sees the old file or the new one, never half."""
    document = {
        "format": 1,
        "updatedAt": datetime.now(UTC).isoformat(),
        "routes": {
            proxy_id: None if route is None else {**route.raw, "etag": route.etag}
            for proxy_id, route in sorted(routes.items())
        },
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(temporary, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2, sort_keys=True)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    try:  # the rename itself durable
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class _Backoff:
    """1, 2, 4, 8, 15, 15 ... s between attempts at something that is away (the resync goes on
    meanwhile, so answers stay at most a resync period old)."""

    def __init__(self) -> None:
        self.delay = 0.5

    def next(self) -> float:
        self.delay = min(15.0, self.delay * 2)
        return self.delay

    def reset(self) -> None:
        self.delay = 0.5
