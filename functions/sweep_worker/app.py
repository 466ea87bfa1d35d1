"""A sweep worker (a message of the dispatcher's on the work queue): probe due instances, apply the
results, fail over, publish; until shortly before the invocation's deadline."""

from typing import Any

from proxy_failover.sweep import run_worker


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run_worker(event, context)
