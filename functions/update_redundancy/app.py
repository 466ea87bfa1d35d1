"""PUT /proxy/{proxyId}/redundancy: recompute the posture; a new activeInstanceId switches (admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, redundancy_view
from proxy_failover.service.redundancy import RedundancyUseCases

if TYPE_CHECKING:
    from contract.request_bodies import RedundancyUpdate


use_cases = RedundancyUseCases()
api = Api()


@api.put(
    "/proxy/{proxyId}/redundancy",
    summary="Update a proxy's redundancy status (admin)",
    body="RedundancyUpdate",
    response="RedundancyOut",
    admin=True,
    errors=(400, 401, 403, 404, 409, 413, 503),
)
def update_redundancy(request: Request[RedundancyUpdate, None]) -> View:
    """Counts and level are always recomputed by the server; an `activeInstanceId` that differs from
    the active instance switches to it, recorded as a manual failover event."""
    body = request.body
    active = body.get("active_instance_id")
    row = use_cases.put_redundancy(
        request.principal,
        request.path["proxyId"],
        str(active) if active else None,
        body.get("last_failover_reason"),
        body.get("force", False),
    )
    return redundancy_view(row)


handler = api.handler
