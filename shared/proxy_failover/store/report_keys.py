"""Idempotent health reports: the answer to a keyed report's first use, read under the proxy's lock
(so a repeat waits for the first); the engine's write stores it."""

from __future__ import annotations

from typing import Any

from .db import Connection

# A keyed report's first answer, for 10 minutes.
_REPORTED = """
SELECT response FROM report_keys
 WHERE instance_id = CAST(:id AS uuid) AND key = :key AND created_at > now() - interval '10 minutes'
"""


def reported(con: Connection, instance_id: str, key: str) -> dict[str, Any] | None:
    rows = con.run(_REPORTED, id=instance_id, key=key)
    return dict(rows[0][0]) if rows else None
