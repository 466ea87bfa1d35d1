"""An embedded PostgreSQL (the `pgserver` wheel) for `make run` and `make test` without DATABASE_URL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def start(data_dir: Path) -> tuple[str, Any]:
    """Start (or reuse) a server whose data lives in `data_dir`; returns (DATABASE_URL, handle).

    As root, pgserver runs PostgreSQL as a dedicated system user and makes the parent folders
    traversable for it; the data folder itself stays private to that user.
    """
    from pgserver import get_server  # type: ignore[attr-defined]

    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent))
    server = get_server(str(data_dir), cleanup_mode="stop")
    return server.get_uri(), server


def stop(handle: Any) -> None:
    try:
        handle.cleanup()
    except Exception:  # noqa: S110 - already stopped
        pass


@contextmanager
def server_url(data_dir: Path) -> Iterator[str]:
    """The server at DATABASE_URL if set, else an embedded one in `data_dir` (stopped afterwards)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    url, handle = start(data_dir)
    try:
        yield url
    finally:
        stop(handle)


@contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server of `admin_url`; dropped (connections closed) afterwards."""
    from proxy_failover.settings import get_settings
    from proxy_failover.store.db import Database

    # CREATE and DROP DATABASE wait for a checkpoint, which on a busy machine outlasts the service's
    # own bound on a read (DB_CONNECT_TIMEOUT_SECONDS, 5 s): these administrative statements get longer.
    admin = Database.from_url(admin_url, settings=get_settings()._replace(db_connect_timeout_seconds=120.0))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin.connection().run(f'CREATE DATABASE "{name}"')
    base, _, query = admin_url.partition("?")
    try:
        yield base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")
    finally:
        con = admin.connection()
        con.run(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        con.run(f'DROP DATABASE IF EXISTS "{name}"')
        admin.discard()
