"""Issue 22: the data plane learns of a switch without polling.

- Switch to callback, over the local stack: a RouteWatcher (its own SQS queue subscribed to the
  stack's SNS topic, long polls of 20 s, no resync during the run) watches a proxy that an operator
  switches back and forth 50 times; the clock runs from the moment the switch's request is sent
  (an upper bound on commit to callback: the request's own handling is inside it) to the watcher's
  callback. The handler publishes after its commit and before it answers, so the callback often
  comes before the HTTP answer does.
- What a month costs for 1,000 and 10,000 proxies with 3 data-plane nodes each: polling GET route
  every 1, 5 and 30 s against the watcher (SQS long polls, the resync's GET route, SNS publishes), from
  AWS's list prices (below, with their date).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from bench.common import Figure, fresh_database, median, percentile, report

SWITCHES = int(os.environ.get("BENCH_WATCHER_SWITCHES", "50"))

# AWS list prices, us-east-1, as published in 2025 (check the pricing pages before relying on them).
PRICES_AS_OF = "2025 list prices, us-east-1"
HTTP_API_PER_MILLION = (1.00, 0.90)  # first 300 million requests a month, then beyond
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_GB_SECOND_ARM = 0.0000133334
SQS_REQUEST = 0.40 / 1_000_000  # standard queue; the first million a month free (not counted here)
SNS_PUBLISH = 0.50 / 1_000_000  # deliveries from SNS to SQS cost nothing
ROUTE_MEMORY_GB = 0.5  # the template's GetRouteFunction
ROUTE_BILLED_MS = 2  # warm: the handler answers in under a millisecond, Lambda rounds up and adds its own
SECONDS_PER_MONTH = 30.4 * 24 * 3600
NODES_PER_PROXY = 3
LONG_POLL_SECONDS = 20
CHANGES_PER_PROXY_A_MONTH = 300  # ten route changes a day: switches, maintenance, health flips


def switch_to_callback() -> tuple[list[float], list[float]]:
    """Milliseconds from each switch's committed answer (and from its request) to the callback."""
    from proxy_failover_client import Client, Route, RouteWatcher

    from tests.e2e.running import start_stack
    from tests.helpers import token

    with fresh_database() as (url, _db):
        stack = start_stack(
            Path(tempfile.mkdtemp(prefix="watcher-bench-")),
            DATABASE_URL=url,
            SCHEDULE_SECONDS="0",
            LOCAL_ACCESS_LOG="false",
        )
        try:
            user, admin = (
                Client(stack.url, token("bench-user")),
                Client(stack.url, token("bench-ops", admin=True)),
            )
            user.put_config("bench-edge", failbackHoldDownSeconds=3600)
            ids = []
            for priority, name in enumerate(("a", "b")):
                ids.append(
                    user.register_instance(
                        "bench-edge",
                        instanceName=name,
                        priority=priority,
                        endpoint=f"10.0.0.{priority + 1}:443",
                    )["id"]
                )
                user.report_health(ids[-1], "healthy")
            heard: dict[str, float] = {}
            arrived = threading.Condition()

            def changed(_proxy: str, route: Route | None) -> None:
                with arrived:
                    if route is not None:
                        heard[f"{route.active_instance_id}@{route.version}"] = time.perf_counter()
                    arrived.notify_all()

            os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
            watcher = RouteWatcher(
                user,
                ["bench-edge"],
                topic_arn=stack.topic_arn(),
                endpoint_url=stack.sns_endpoint(),
                region_name="eu-west-1",
                on_change=changed,
                resync_seconds=3600,  # every change below reaches it from the queue, or not at all
                wait_seconds=LONG_POLL_SECONDS,
            ).start()
            try:
                if not watcher.wait_synced(30):
                    raise RuntimeError("the watcher did not start")
                from_commit, from_request = [], []
                active = 0
                for _ in range(SWITCHES):
                    target = 1 - active
                    sent = time.perf_counter()
                    admin.execute_failover("bench-edge", ids[active], ids[target], "bench")
                    answered = time.perf_counter()
                    version = user.route("bench-edge")
                    assert version is not None
                    key = f"{ids[target]}@{version.version}"
                    with arrived:
                        if not arrived.wait_for(lambda k=key: k in heard, timeout=10):
                            raise RuntimeError(f"switch {key} never reached the watcher")
                    from_commit.append((heard[key] - answered) * 1000)
                    from_request.append((heard[key] - sent) * 1000)
                    active = target
            finally:
                watcher.stop()
        finally:
            stack.stop()
    return from_commit, from_request


def _http_api(requests: float) -> float:
    first, beyond = HTTP_API_PER_MILLION
    return (min(requests, 300e6) * first + max(0.0, requests - 300e6) * beyond) / 1e6


def _route_reads(requests: float) -> float:
    """API Gateway and Lambda for that many GET route requests (a 304 costs the same)."""
    lam = requests * (LAMBDA_REQUEST + ROUTE_BILLED_MS / 1000 * ROUTE_MEMORY_GB * LAMBDA_GB_SECOND_ARM)
    return _http_api(requests) + lam


def polling_cost(proxies: int, every_seconds: float) -> float:
    return _route_reads(proxies * NODES_PER_PROXY * SECONDS_PER_MONTH / every_seconds)


def watcher_cost(proxies: int, resync_seconds: float) -> dict[str, float]:
    """Each node a queue of its own for its proxy: idle long polls, a receive and a delete per change,
    the resync's GET route (a 304 nearly always), and one SNS publish per change for all nodes."""
    nodes = proxies * NODES_PER_PROXY
    changes = proxies * CHANGES_PER_PROXY_A_MONTH
    sqs = (
        nodes * SECONDS_PER_MONTH / LONG_POLL_SECONDS + nodes * CHANGES_PER_PROXY_A_MONTH * 2
    ) * SQS_REQUEST
    resync = _route_reads(nodes * SECONDS_PER_MONTH / resync_seconds)
    sns = changes * SNS_PUBLISH
    return {"sqs": sqs, "resync": resync, "sns": sns, "total": sqs + resync + sns}


def cost_figures() -> list[Figure]:
    figures = []
    for proxies in (1_000, 10_000):
        polls = ", ".join(f"every {s} s ${polling_cost(proxies, s):,.0f}" for s in (1, 5, 30))
        watch = [(r, watcher_cost(proxies, r)) for r in (60, 300)]
        watched = "; ".join(
            f"resync {r} s ${c['total']:,.0f} (SQS ${c['sqs']:,.0f}, resync ${c['resync']:,.0f}, SNS ${c['sns']:,.2f})"
            for r, c in watch
        )
        figures.append(
            report(
                Figure(
                    22,
                    f"a month for {proxies:,} proxies x {NODES_PER_PROXY} nodes ({PRICES_AS_OF}): polling GET route",
                    polls,
                )
            )
        )
        figures.append(
            report(
                Figure(
                    22,
                    f"a month for {proxies:,} proxies x {NODES_PER_PROXY} nodes ({PRICES_AS_OF}): the route watcher",
                    f"{watched}; a switch seen within a second, not one poll late",
                )
            )
        )
    return figures


def run() -> list[Figure]:
    from_answer, from_request = switch_to_callback()
    p99 = percentile(from_request, 99)
    early = sum(1 for ms in from_answer if ms < 0)
    figures = [
        report(
            Figure(
                22,
                f"switch to the watcher's callback over the local stack ({len(from_request)} operator switches,"
                " SNS -> SQS long poll): p50 / p99 from the request (commit, publish, delivery, callback)",
                f"{median(from_request):.0f} / {p99:.0f} ms; the callback came before the switch's own HTTP"
                f" answer {early} times of {len(from_answer)} (p50 {median(from_answer):.0f} ms after it)",
                "p99 <= 1 s",
                p99 <= 1000,
            )
        )
    ]
    return figures + cost_figures()


if __name__ == "__main__":
    run()
