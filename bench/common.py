"""Shared benchmark plumbing: a fresh migrated database, timing helpers, result rows."""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

from proxy_failover.observability import apply_log_level  # noqa: E402
from proxy_failover.settings import reset_settings  # noqa: E402
from proxy_failover.store.db import Database, set_database  # noqa: E402
from proxy_failover.store.migrate import migrate  # noqa: E402

from local import embedded_pg  # noqa: E402


@dataclass
class Figure:
    issue: int
    name: str
    value: str
    target: str = ""
    met: bool | None = None
    command: str = "make bench"
    note: str = ""


def report(figure: Figure) -> Figure:
    verdict = "" if figure.met is None else ("  [met]" if figure.met else "  [NOT met]")
    target = f"  (target {figure.target})" if figure.target else ""
    print(f"  #{figure.issue} {figure.name}: {figure.value}{target}{verdict}", flush=True)
    return figure


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float:
    return statistics.median(values)


@contextmanager
def server_url() -> Iterator[str]:
    with embedded_pg.server_url(ROOT / ".local" / "bench-pgdata") as url:
        yield url


@contextmanager
def fresh_database() -> Iterator[tuple[str, Database]]:
    """A new database with the migrations applied, made the layer's default; dropped afterwards."""
    with server_url() as admin_url, embedded_pg.scratch_database(admin_url, "pf_bench") as url:
        previous = os.environ.get("DATABASE_URL")
        os.environ["DATABASE_URL"] = url
        reset_settings()
        apply_log_level(os.environ.get("LOG_LEVEL", "WARNING"))
        db = Database.from_url(url)
        migrate(db)
        # the default vantage is known, as after its first run: every proxy gets a schedule at it
        db.autocommit().run("INSERT INTO vantages (name, last_run_at) VALUES ('local', now())")
        set_database(db)
        try:
            yield url, db
        finally:
            set_database(None)
            db.discard()
            if previous is None:
                os.environ.pop("DATABASE_URL", None)
            else:
                os.environ["DATABASE_URL"] = previous
            reset_settings()


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's SNS and SQS as a server on a free port (the publisher speaks HTTP, as to AWS), with
    AWS_ENDPOINT_URL_SNS pointing at it meanwhile."""
    import logging
    import socket

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    previous = os.environ.get("AWS_ENDPOINT_URL_SNS")
    os.environ["AWS_ENDPOINT_URL_SNS"] = endpoint
    try:
        yield endpoint
    finally:
        if previous is None:
            os.environ.pop("AWS_ENDPOINT_URL_SNS", None)
        else:
            os.environ["AWS_ENDPOINT_URL_SNS"] = previous
        server.stop()
