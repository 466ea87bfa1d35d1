"""SNS publishing. boto3 is imported on first publish only: most API requests never publish."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, NamedTuple

from ..observability import get_logger
from ..settings import get_settings

logger = get_logger(__name__)
_BATCH = 10  # SNS PublishBatch limit


class Outcome(NamedTuple):
    sent: list[str]
    failed: list[str]
    error: str | None = None


@lru_cache(maxsize=4)
def _client(region: str | None) -> Any:
    import boto3

    return boto3.client("sns", region_name=region) if region else boto3.client("sns")


def sns_client() -> Any:
    arn = get_settings().notifications_topic_arn or ""
    parts = arn.split(":")
    return _client(parts[3] if len(parts) > 3 and parts[3] else None)


def reset_client() -> None:
    _client.cache_clear()


def _attributes(row: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        "type": {"DataType": "String", "StringValue": row["type"]},
        "proxyId": {"DataType": "String", "StringValue": row["proxy_id"]},
        "severity": {"DataType": "String", "StringValue": row["severity"]},
    }


def publish(rows: list[dict[str, Any]]) -> Outcome:
    """Publish outbox rows (`id`, `type`, `proxy_id`, `severity`, `message`); never raises."""
    topic = get_settings().notifications_topic_arn
    if not rows:
        return Outcome([], [])
    ids = [str(r["id"]) for r in rows]
    if not topic:
        return Outcome([], ids, "NOTIFICATIONS_TOPIC_ARN is not set")
    sent: list[str] = []
    failed: list[str] = []
    error = None
    try:
        client = sns_client()
    except Exception as exc:
        return Outcome([], ids, f"{type(exc).__name__}: {exc}")
    for start in range(0, len(rows), _BATCH):
        chunk = rows[start : start + _BATCH]
        entries = [
            {
                "Id": str(index),
                "Message": r["message"] if isinstance(r["message"], str) else json.dumps(r["message"]),
                "MessageAttributes": _attributes(r),
            }
            for index, r in enumerate(chunk)
        ]
        try:
            response = client.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            failed.extend(str(r["id"]) for r in chunk)
            continue
        bad = {int(f["Id"]) for f in response.get("Failed", [])}
        for index, r in enumerate(chunk):
            (failed if index in bad else sent).append(str(r["id"]))
        if bad:
            error = "; ".join(str(f.get("Message", f.get("Code"))) for f in response["Failed"])
    if failed:
        logger.warning("notifications not published", extra={"failed": len(failed), "error": error})
    return Outcome(sent, failed, error)
