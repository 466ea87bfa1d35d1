"""The routing answer the data plane asks for, in one statement."""

from __future__ import annotations

from typing import Any

from ..errors import ProxyNotFound
from ..identity import Principal
from .db import Connection
from .rows import config_or_default
from .tenancy import VISIBLE as _VISIBLE
from .tenancy import visible_to

# The routing answer, in one statement: as its last write stored it; for a proxy not written since
# answers were stored (migration 007), what it is computed from: the visible proxy, its active
# instance's endpoint, its load balancing settings and posture, and (with load balancing on) the
# instances that may take traffic.
_ROUTE = f"""
SELECT p.proxy_id, p.route, p.route_version, p.active_instance_id, a.endpoint AS active_endpoint,
       a.weight AS active_weight,
       a.connection_count AS active_connections,
       {config_or_default("enable_load_balancing")} AS load_balancing,
       {config_or_default("load_balancing_algorithm")} AS algorithm,
       COALESCE(r.is_degraded, true) AS degraded,
       i.id AS i_id, i.endpoint AS i_endpoint, i.weight AS i_weight, i.connection_count AS i_connections
  FROM proxies p
  LEFT JOIN proxy_failover_configurations c ON c.proxy_id = p.proxy_id
  LEFT JOIN proxy_redundancy_status r ON r.proxy_id = p.proxy_id
  LEFT JOIN proxy_instances a ON a.id = p.active_instance_id
  LEFT JOIN proxy_instances i ON i.proxy_id = p.proxy_id AND p.route IS NULL
       AND {config_or_default("enable_load_balancing")}
       AND i.health_status = 'healthy' AND NOT i.is_flapping
       AND (i.maintenance_until IS NULL OR i.maintenance_until <= now())
 WHERE p.proxy_id = :proxy_id AND {_VISIBLE}
 ORDER BY i.priority, i.weight DESC, i.created_at, i.id
"""


def route(con: Connection, proxy_id: str, principal: Principal) -> Any:
    """The routing answer and its version; ProxyNotFound when not visible or without an instance."""
    from ..domain.models import LoadBalancingAlgorithm
    from ..domain.routing import Candidate, VersionedRoute, answer, route_from_json

    rows = con.rows_as_dicts(_ROUTE, proxy_id=proxy_id, **visible_to(principal))
    if not rows or rows[0]["active_instance_id"] is None:
        raise ProxyNotFound(f"proxy {proxy_id} not found, or has no instance")
    first = rows[0]
    if first["route"] is not None:
        return VersionedRoute(route_from_json(first["route"]), first["route_version"])
    active = Candidate(
        str(first["active_instance_id"]),
        first["active_endpoint"],
        first["active_weight"],
        first["active_connections"],
    )
    candidates = [
        Candidate(str(r["i_id"]), r["i_endpoint"], r["i_weight"], r["i_connections"])
        for r in rows
        if r["i_id"] is not None
    ]
    computed = answer(
        proxy_id,
        active,
        load_balancing=first["load_balancing"],
        algorithm=LoadBalancingAlgorithm(first["algorithm"]),
        candidates=candidates,
        degraded=first["degraded"],
    )
    return VersionedRoute(computed, first["route_version"])
