"""DELETE /proxy/{proxyId}[?force=true]: decommission a proxy (owner)."""

from typing import Any

from proxy_failover.api.router import Api, QueryBool, Request
from proxy_failover.api.views import View, removed_view
from proxy_failover.service.fleet import FleetUseCases

use_cases = FleetUseCases()
api = Api()


@api.delete(
    "/proxy/{proxyId}",
    summary="Decommission a proxy: its config, instances, posture, maintenance and drill",
    query={"force": QueryBool(False, "Decommission it although it still has instances (they go with it)")},
    response="RemovedOut",
    errors=(400, 401, 404, 409, 503),
)
def decommission_proxy(request: Request[None, dict[str, Any]]) -> View:
    """One transaction under the proxy's lock: a concurrent report or sweep either happens before it
    or finds nothing. Its ledger events and config history stay until retention removes them; the id
    is free afterwards. A proxy that still has instances is a 409 unless force=true. Publishes
    `proxy_removed` (info)."""
    removed = use_cases.decommission(request.principal, request.path["proxyId"], force=request.query["force"])
    return removed_view(removed)


handler = api.handler
