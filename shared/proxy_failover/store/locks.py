"""Row locks, taken first by every writer: the proxy (several in proxy_id order), found by its id,
an instance's or an event's; or the proxy created by its first write.

A writer locks proxy rows first, and the same statement reads the rest of the aggregate
(`aggregate.lock_and_read`). A statement sees what was committed when it started, so when another
writer committed between that moment and the lock's grant, the read is stale: the locked row's
`write_seq` (every write of the aggregate grows it) then differs from the one the snapshot read, and
the engine reads again in a statement that starts after the grant (`aggregate.read_locked`).
Everything else a write changes (instances, events, the posture) is reached through its proxy, so
writers never wait on each other in two orders.
"""

from __future__ import annotations

from ..errors import ProxyNotFound
from ..identity import Principal
from .aggregate import lock_and_read
from .db import Connection
from .tenancy import VISIBLE as _VISIBLE
from .tenancy import visible_to

# Each returns what `aggregate.lock_and_read` takes: the proxy's id, its write sequence, its owner,
# whether this statement created it, and the locked row's version (the transaction that wrote it).
_VERSION = "CAST(CAST(p.xmin AS text) AS bigint) AS row_version"
_LOCK = (
    f"SELECT p.proxy_id, p.write_seq, p.owner_id, false AS created, {_VERSION} FROM proxies p"
    f" WHERE p.proxy_id = :proxy_id AND {_VISIBLE} FOR UPDATE"
)
_LOCK_OF_INSTANCE = f"""
SELECT p.proxy_id, p.write_seq, p.owner_id, false AS created, {_VERSION} FROM proxies p
 WHERE p.proxy_id = (SELECT proxy_id FROM proxy_instances WHERE id = CAST(:id AS uuid)) AND {_VISIBLE}
   FOR UPDATE
"""
_LOCK_OF_EVENT = f"""
SELECT p.proxy_id, p.write_seq, p.owner_id, false AS created, {_VERSION} FROM proxies p
 WHERE p.proxy_id = (SELECT proxy_id FROM proxy_failover_events WHERE id = CAST(:id AS uuid) AND removed_at IS NULL)
   AND {_VISIBLE}
   FOR UPDATE
"""
_LOCK_MANY = (
    "SELECT proxy_id, write_seq FROM proxies WHERE proxy_id = ANY(CAST(:ids AS text[]))"
    " ORDER BY proxy_id FOR UPDATE"
)

# Create the proxy, or lock the existing one when the caller may use it. DO UPDATE (not DO NOTHING):
# a concurrent creator's row is then waited for and returned even though this statement's snapshot
# predates it, so all of one owner's first writes succeed; another owner's row is neither changed nor
# returned (404). A row this statement inserted has no xmax yet; one it updated has its own.
_ENSURE = f"""
INSERT INTO proxies (proxy_id, owner_id)
VALUES (:proxy_id, :user)
ON CONFLICT (proxy_id) DO UPDATE SET updated_at = now()
 WHERE proxies.owner_id = :user OR CAST(:admin AS boolean)
RETURNING proxy_id, write_seq, owner_id, xmax = 0 AS created, {_VERSION.replace("p.xmin", "xmin")}
"""


def lock_proxy(con: Connection, proxy_id: str, principal: Principal) -> str:
    if not lock_and_read(con, _LOCK, proxy_id=proxy_id, **visible_to(principal)):
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    return proxy_id


def lock_proxy_of_instance(con: Connection, instance_id: str, principal: Principal) -> str | None:
    found = lock_and_read(con, _LOCK_OF_INSTANCE, id=instance_id, **visible_to(principal))
    return found[0] if found else None


def lock_proxy_of_event(con: Connection, event_id: str, principal: Principal) -> str | None:
    found = lock_and_read(con, _LOCK_OF_EVENT, id=event_id, **visible_to(principal))
    return found[0] if found else None


def lock_proxies(con: Connection, proxy_ids: list[str]) -> list[str]:
    """The sweep's batches (hundreds of proxies): the lock alone, the aggregates read after it. A read
    joined to a lock of that many rows is at the planner's mercy (a plan built for a few rows took
    seconds), and one round trip more a batch is nothing to a sweep."""
    return [str(row[0]) for row in con.run(_LOCK_MANY, ids=proxy_ids)]


def ensure_proxy(con: Connection, proxy_id: str, principal: Principal) -> str:
    """Create the proxy owned by the caller, or lock the existing one if the caller may use it.

    The first writer of a proxy id owns it; another tenant's id is reported as not found.
    """
    if not lock_and_read(con, _ENSURE, proxy_id=proxy_id, **visible_to(principal)):
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    return proxy_id
