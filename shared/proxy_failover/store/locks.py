"""Row locks, taken first by every writer: the proxy (several in proxy_id order), found by its id,
an instance's or an event's; or the proxy created by its first write.

A writer locks proxy rows first and reads the rest of the aggregate in a statement of its own
(`aggregate.read_locked`): a statement sees what was committed when it started, so only one that
starts after the lock is granted sees what the previous holder wrote. Everything else a write changes
(instances, events, the posture) is reached through its proxy, so writers never wait on each other in
two orders.
"""

from __future__ import annotations

from ..errors import ProxyNotFound
from ..identity import Principal
from .db import Connection
from .tenancy import VISIBLE as _VISIBLE
from .tenancy import visible_to

_LOCK = f"SELECT p.proxy_id FROM proxies p WHERE p.proxy_id = :proxy_id AND {_VISIBLE} FOR UPDATE"
_LOCK_OF_INSTANCE = f"""
SELECT p.proxy_id FROM proxies p
 WHERE p.proxy_id = (SELECT proxy_id FROM proxy_instances WHERE id = CAST(:id AS uuid)) AND {_VISIBLE}
   FOR UPDATE
"""
_LOCK_OF_EVENT = f"""
SELECT p.proxy_id FROM proxies p
 WHERE p.proxy_id = (SELECT proxy_id FROM proxy_failover_events WHERE id = CAST(:id AS uuid) AND removed_at IS NULL)
   AND {_VISIBLE}
   FOR UPDATE
"""
_LOCK_MANY = (
    "SELECT proxy_id FROM proxies WHERE proxy_id = ANY(CAST(:ids AS text[])) ORDER BY proxy_id FOR UPDATE"
)

# Create the proxy, or lock the existing one when the caller may use it. DO UPDATE (not DO NOTHING):
# a concurrent creator's row is then waited for and returned even though this statement's snapshot
# predates it, so all of one owner's first writes succeed; another owner's row is neither changed nor
# returned (404).
_ENSURE = """
INSERT INTO proxies (proxy_id, owner_id)
VALUES (:proxy_id, :user)
ON CONFLICT (proxy_id) DO UPDATE SET updated_at = now()
 WHERE proxies.owner_id = :user OR CAST(:admin AS boolean)
RETURNING proxy_id
"""


def lock_proxy(con: Connection, proxy_id: str, principal: Principal) -> str:
    if not con.run(_LOCK, proxy_id=proxy_id, **visible_to(principal)):
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    return proxy_id


def lock_proxy_of_instance(con: Connection, instance_id: str, principal: Principal) -> str | None:
    rows = con.run(_LOCK_OF_INSTANCE, id=instance_id, **visible_to(principal))
    return str(rows[0][0]) if rows else None


def lock_proxy_of_event(con: Connection, event_id: str, principal: Principal) -> str | None:
    rows = con.run(_LOCK_OF_EVENT, id=event_id, **visible_to(principal))
    return str(rows[0][0]) if rows else None


def lock_proxies(con: Connection, proxy_ids: list[str]) -> list[str]:
    return [str(row[0]) for row in con.run(_LOCK_MANY, ids=proxy_ids)]


def ensure_proxy(con: Connection, proxy_id: str, principal: Principal) -> str:
    """Create the proxy owned by the caller, or lock the existing one if the caller may use it.

    The first writer of a proxy id owns it; another tenant's id is reported as not found.
    """
    if not con.run(_ENSURE, proxy_id=proxy_id, **visible_to(principal)):
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    return proxy_id
