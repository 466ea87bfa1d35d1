"""What the API reads of a proxy without writing: its config, a page of its instances, its posture.
One statement each, tenancy in the statement."""

from __future__ import annotations

from typing import Any

from ..errors import ProxyNotFound
from ..identity import Principal
from ..paging import Page, invalid_cursor, key_id, key_time
from .db import Connection
from .rows import (
    CONFIG_SELECT,
    INSTANCE_COLUMNS,
    INSTANCE_NAMES,
    Listed,
    StoredConfig,
    StoredRedundancy,
    config_from_row,
    instance_from_row,
    redundancy_from_row,
)
from .tenancy import VISIBLE as _VISIBLE
from .tenancy import visible_to

_GET_CONFIG = f"""
SELECT p.proxy_id, c.created_at, c.updated_at, {CONFIG_SELECT} FROM proxies p
  JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id
 WHERE p.proxy_id = :proxy_id AND {_VISIBLE}
"""


def get_config(con: Connection, proxy_id: str, principal: Principal) -> StoredConfig | None:
    row = con.one(_GET_CONFIG, proxy_id=proxy_id, **visible_to(principal))
    if row is None:
        return None
    return StoredConfig(row["proxy_id"], config_from_row(row), row["created_at"], row["updated_at"])


# One page in the contract's order (priority asc, weight desc, registration order), after a key.
_LIST_INSTANCES = f"""
SELECT p.proxy_id AS visible_proxy, p.active_instance_id AS active_id,
       {", ".join(f"i.{c} AS i_{c}" for c in INSTANCE_NAMES)}
  FROM proxies p
  LEFT JOIN LATERAL (
      SELECT {INSTANCE_COLUMNS} FROM proxy_instances
       WHERE proxy_id = p.proxy_id
         AND (CAST(:after_id AS uuid) IS NULL
              OR (priority, -weight, created_at, id) > (CAST(:after_priority AS integer),
                  -CAST(:after_weight AS integer), CAST(:after_created AS timestamptz), CAST(:after_id AS uuid)))
       ORDER BY priority, weight DESC, created_at, id
       LIMIT :limit
  ) i ON true
 WHERE p.proxy_id = :proxy_id AND {_VISIBLE}
 ORDER BY i.priority, i.weight DESC, i.created_at, i.id
"""


def _instance_key(after: list[Any] | None) -> dict[str, Any]:
    if after is None:
        return {"after_priority": None, "after_weight": None, "after_created": None, "after_id": None}
    if len(after) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in after[:2]):
        raise invalid_cursor()
    priority, weight, created, instance_id = after
    return {
        "after_priority": priority,
        "after_weight": weight,
        "after_created": key_time(created),
        "after_id": key_id(instance_id),
    }


def list_instances(
    con: Connection, proxy_id: str, principal: Principal, limit: int, after: list[Any] | None = None
) -> Page[Listed]:
    """A page of instances in the contract's order; ProxyNotFound when not visible. One statement; a
    row more than the page is read to know whether another page follows."""
    rows = con.rows_as_dicts(
        _LIST_INSTANCES,
        proxy_id=proxy_id,
        **visible_to(principal),
        limit=limit + 1,
        **_instance_key(after),
    )
    if not rows:
        raise ProxyNotFound(f"proxy {proxy_id} not found")
    found = [
        Listed(instance_from_row(r, prefix="i_"), r["active_id"] == r["i_id"])
        for r in rows
        if r["i_id"] is not None
    ]
    if len(found) <= limit:
        return Page(found)
    last = found[limit - 1].instance
    assert last.created_at is not None
    return Page(found[:limit], (last.priority, last.weight, last.created_at.isoformat(), last.id))


_GET_REDUNDANCY = f"""
SELECT r.* FROM proxy_redundancy_status r JOIN proxies p ON p.proxy_id = r.proxy_id
 WHERE r.proxy_id = :proxy_id AND {_VISIBLE}
"""


def get_redundancy(con: Connection, proxy_id: str, principal: Principal) -> StoredRedundancy | None:
    row = con.one(_GET_REDUNDANCY, proxy_id=proxy_id, **visible_to(principal))
    if row is None:
        return None
    redundancy = redundancy_from_row(row)
    assert redundancy is not None
    return StoredRedundancy(
        row["proxy_id"], redundancy, row["last_failover_at"], row["last_failover_reason"], row["updated_at"]
    )
