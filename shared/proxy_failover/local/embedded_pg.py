"""An embedded PostgreSQL (the `pgserver` wheel) for `make run` and `make test` without DATABASE_URL."""

from __future__ import annotations

import os
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
