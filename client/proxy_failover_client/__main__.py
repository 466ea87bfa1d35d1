"""`python -m proxy_failover_client watch edge-1 edge-2 --file routes.json`: keep those proxies'
routing answers in a file (and print each change) until interrupted."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any

from .api import Client
from .routes import Route


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proxy_failover_client", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    watch = commands.add_parser("watch", help="keep proxies' routing answers current")
    watch.add_argument("proxy_ids", nargs="+", metavar="PROXY_ID")
    watch.add_argument("--file", help="write every answer here, atomically, on each change")
    watch.add_argument(
        "--api", default=os.environ.get("PROXY_FAILOVER_API"), help="the API's URL (PROXY_FAILOVER_API)"
    )
    watch.add_argument(
        "--token",
        default=os.environ.get("PROXY_FAILOVER_TOKEN"),
        help="a bearer token (PROXY_FAILOVER_TOKEN)",
    )
    watch.add_argument(
        "--topic-arn", default=os.environ.get("PROXY_FAILOVER_TOPIC_ARN"), help="the notifications topic"
    )
    watch.add_argument(
        "--queue-url", help="a queue already subscribed to the topic (else one is made and removed)"
    )
    watch.add_argument(
        "--resync", type=float, default=60.0, help="seconds between reads of every answer (60)"
    )
    watch.add_argument("--wait", type=int, default=20, help="seconds a long poll of the queue waits (1-20)")
    watch.add_argument(
        "--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    watch.add_argument(
        "--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help="SNS/SQS endpoint (local)"
    )
    args = parser.parse_args(argv)
    if not args.api or not args.token:
        parser.error("--api and --token (or PROXY_FAILOVER_API and PROXY_FAILOVER_TOKEN) are required")
    if not args.topic_arn and not args.queue_url:
        parser.error("--topic-arn (or PROXY_FAILOVER_TOPIC_ARN) or --queue-url is required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    from .watcher import RouteWatcher

    def changed(proxy_id: str, route: Route | None) -> None:
        line: dict[str, Any] = {"proxyId": proxy_id, "route": None if route is None else route.raw}
        print(json.dumps(line, separators=(",", ":")), flush=True)

    watcher = RouteWatcher(
        Client(args.api, args.token),
        args.proxy_ids,
        topic_arn=args.topic_arn,
        queue_url=args.queue_url,
        on_change=changed,
        file=args.file,
        resync_seconds=args.resync,
        wait_seconds=args.wait,
        region_name=args.region,
        endpoint_url=args.endpoint_url,
    )
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    watcher.start()
    while not stopping.wait(0.5):
        pass
    watcher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
