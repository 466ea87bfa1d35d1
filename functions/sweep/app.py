"""Scheduled (EventBridge): probe due instances, apply results, fail over, relay notifications."""

from typing import Any

from proxy_failover.sweep import run_scheduled


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_scheduled(event, context)
