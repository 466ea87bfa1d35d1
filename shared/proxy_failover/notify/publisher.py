"""SNS publishing with short timeouts and no retries: the outbox is the retry.

PublishBatch is signed and sent by `sns_http` (the standard library; no botocore on a write's path).
Every call is bounded by
`SNS_CONNECT_TIMEOUT_SECONDS` + `SNS_READ_TIMEOUT_SECONDS`, made once (botocore's own retries would
send the same message again on every read timeout and stretch a hung SNS to minutes). After a call
that could not reach SNS, the process stops calling it for `SNS_BREAKER_SECONDS`: requests then leave
their notifications to the relay instead of each waiting for a timeout of its own.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from ..observability import get_logger
from ..settings import Settings

logger = get_logger(__name__)
_BATCH = 10  # SNS PublishBatch limit


class Published(NamedTuple):
    sent: list[str]
    failed: list[str]
    error: str | None = None


class Message(NamedTuple):
    """One notification as SNS receives it: the outbox row's id, attributes and JSON body."""

    id: str
    type: str
    proxy_id: str | None  # None: a fleet-wide notification (no proxyId attribute)
    severity: str
    message: dict[str, Any] | str
    drill: bool = False


@lru_cache(maxsize=4)
def _client(region: str | None, connect_timeout: float, read_timeout: float) -> Any:
    import os

    from .sns_http import Client

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return Client(region, connect_timeout, read_timeout)


def reset_client() -> None:
    _client.cache_clear()
    _breaker.close()


class _Breaker:
    """Open after SNS could not be reached; callers that may wait (the relay) still try."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open_until = 0.0

    def trip(self, seconds: float) -> None:
        with self._lock:
            self._open_until = time.monotonic() + seconds

    def close(self) -> None:
        with self._lock:
            self._open_until = 0.0

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._open_until


_breaker = _Breaker()


def sns_unreachable() -> bool:
    """True while a recent call could not reach SNS (requests then leave publishing to the relay)."""
    return _breaker.is_open


def _region(topic: str) -> str | None:
    parts = topic.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None


def _attributes(m: Message) -> dict[str, dict[str, str]]:
    """For subscription filter policies. `drill` is on every message ("true" or "false"): a policy that
    names an attribute matches no message without it."""
    attributes = {
        "type": {"DataType": "String", "StringValue": m.type},
        "severity": {"DataType": "String", "StringValue": m.severity},
        "drill": {"DataType": "String", "StringValue": "true" if m.drill else "false"},
    }
    if m.proxy_id is not None:
        attributes["proxyId"] = {"DataType": "String", "StringValue": m.proxy_id}
    return attributes


def _unreachable(exc: Exception) -> bool:
    """Timeouts and connection failures (SNS not answering), as opposed to SNS refusing a request."""
    from .sns_http import Unreachable

    return isinstance(exc, Unreachable | OSError | TimeoutError)


def publish(messages: Sequence[Message], settings: Settings) -> Published:
    """Publish in batches of ten; never raises. Stops at the first batch that cannot reach SNS: the
    rest would only wait for the same timeout."""
    topic = settings.notifications_topic_arn
    if not messages:
        return Published([], [])
    ids = [m.id for m in messages]
    if not topic:
        return Published([], ids, "NOTIFICATIONS_TOPIC_ARN is not set")
    try:
        client = _client(
            _region(topic), settings.sns_connect_timeout_seconds, settings.sns_read_timeout_seconds
        )
    except Exception as exc:
        return Published([], ids, f"{type(exc).__name__}: {exc}")
    sent: list[str] = []
    failed: list[str] = []
    error = None
    for start in range(0, len(messages), _BATCH):
        chunk = messages[start : start + _BATCH]
        entries = [
            {
                "Id": str(index),
                "Message": m.message
                if isinstance(m.message, str)
                else json.dumps(m.message, separators=(",", ":")),
                "MessageAttributes": _attributes(m),
            }
            for index, m in enumerate(chunk)
        ]
        try:
            batch = client.publish_batch(topic, entries)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if _unreachable(exc):
                _breaker.trip(settings.sns_breaker_seconds)
                failed.extend(m.id for m in messages[start:])
                break
            failed.extend(m.id for m in chunk)
            continue
        _breaker.close()
        taken = set(batch.successful)  # what SNS did not say it took goes again (at least once)
        for index, m in enumerate(chunk):
            (sent if str(index) in taken else failed).append(m.id)
        if batch.failed:
            error = "; ".join(reason for _, reason in batch.failed)
    if failed:
        logger.warning("notifications not published", extra={"failed": len(failed), "error": error})
    return Published(sent, failed, error)
