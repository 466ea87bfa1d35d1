"""Each owner's failover storm state (`domain.storms`): locked and read in one statement by a writer
whose transaction fails proxies over, written back with the rest of its changes."""

from __future__ import annotations

from typing import Any

from ..domain.storms import StormState
from .db import Connection

# Creates the row on an owner's first failover; DO UPDATE locks it and returns its latest committed
# version, so concurrent writers of one owner count each other's failovers. Owners in order: no
# deadlock between writers whose batches span several.
_LOCK = """
INSERT INTO fleet_storms (owner_id)
SELECT o FROM unnest(CAST(:owners AS text[])) AS o ORDER BY o
ON CONFLICT (owner_id) DO UPDATE SET owner_id = EXCLUDED.owner_id
RETURNING owner_id, per_second, proxy_ids, storm_id, storm_until
"""


def lock(con: Connection, owners: list[str]) -> dict[str, StormState]:
    return {
        str(owner): StormState(
            {int(second): int(n) for second, n in (per_second or {}).items()},
            tuple((int(second), str(proxy)) for second, proxy in (proxy_ids or ())),
            None if storm_id is None else str(storm_id),
            storm_until,
        )
        for owner, per_second, proxy_ids, storm_id, storm_until in con.run(_LOCK, owners=sorted(owners))
    }


def row(owner_id: str, state: StormState) -> dict[str, Any]:
    return {
        "owner_id": owner_id,
        "per_second": {str(second): n for second, n in state.per_second.items()},
        "proxy_ids": [list(pair) for pair in state.proxy_ids],
        "storm_id": state.storm_id,
        "storm_until": state.storm_until,
    }
