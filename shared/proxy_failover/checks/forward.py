"""Forwarding probes to a vantage in another region: the home worker's stand-in for its probe loop, and
the bounded SQS send both sides use (see `remote.py`)."""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..observability import get_logger
from ..settings import Settings
from .probes import CANARY, ProbeRequest, ProbeResult

logger = get_logger(__name__)


def _queue_region(url: str) -> str | None:
    """The region of an SQS queue URL (https://sqs.<region>.amazonaws.com/...): a client per region."""
    host = url.split("/")[2] if "://" in url else ""
    parts = host.split(".")
    return parts[1] if len(parts) > 3 and parts[0] == "sqs" else None


def send_message(settings: Settings, queue_url: str, body: dict[str, Any]) -> bool:
    """One message, one bounded call made once; False (logged) when it did not go."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=settings.sqs_connect_timeout_seconds,
        read_timeout=settings.sqs_read_timeout_seconds,
        retries={"total_max_attempts": 1},
    )
    client = boto3.client("sqs", region_name=_queue_region(queue_url), config=config)
    try:
        client.send_message(QueueUrl=queue_url, MessageBody=json.dumps(body, separators=(",", ":")))
    except Exception as exc:
        logger.warning(
            "could not send a batch", extra={"queue": queue_url, "error": f"{type(exc).__name__}: {exc}"}
        )
        return False
    return True


def _probe_json(request: ProbeRequest) -> dict[str, Any]:
    options = request.options
    return {
        "id": request.instance_id,
        "url": request.url,
        "timeout": request.timeout_seconds,
        "probe": None if options is None else options._asdict(),
    }


# At most this many probes in one message (SQS takes 256 KiB; a probe is some 200 bytes).
FORWARD_MAX_PROBES = 1000


class ForwardLoop:
    """The home-region worker's stand-in for the probe loop: the batches go to the vantage's region
    (its canaries are that region's own: dropped here), gathered into a message at most every
    SWEEP_FORWARD_EVERY_SECONDS (each message costs SQS requests and a worker invocation there: one a
    second rather than four keeps a remote vantage's cost flat, for at most that much delay). Resolves
    at once with no results; the results come back through the results queue."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pending = 0
        self.forwarded = 0
        self._held: list[dict[str, Any]] = []
        self._since = time.monotonic()

    def submit(self, requests: Sequence[ProbeRequest]) -> concurrent.futures.Future[list[ProbeResult]]:
        self._held += [_probe_json(r) for r in requests if not r.instance_id.startswith(CANARY)]
        if time.monotonic() - self._since >= self.settings.sweep_forward_every_seconds:
            self.flush()
        done: concurrent.futures.Future[list[ProbeResult]] = concurrent.futures.Future()
        done.set_result([])
        return done

    def flush(self) -> None:
        held, self._held, self._since = self._held, [], time.monotonic()
        for start in range(0, len(held), FORWARD_MAX_PROBES):
            probes = held[start : start + FORWARD_MAX_PROBES]
            body = {
                "batch": uuid.uuid4().hex,
                "vantage": self.settings.sweep_vantage,
                "forwardedAt": datetime.now(UTC).isoformat(),
                "probes": probes,
            }
            if send_message(self.settings, self.settings.sweep_forward_queue_url or "", body):
                self.forwarded += len(probes)

    def close(self) -> None:
        self.flush()
