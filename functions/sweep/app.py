"""Scheduled (EventBridge, every minute): measure the sweep's backlog and start the workers it needs
(or sweep itself when there is no work queue); relay notifications left unsent; enforce retention."""

from typing import Any

from proxy_failover.dispatch import run_dispatcher


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_dispatcher(event, context)
