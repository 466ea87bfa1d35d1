"""POST /proxy/failover/execute: switch a proxy's active instance (admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, event_view
from proxy_failover.service.failover import FailoverUseCases

if TYPE_CHECKING:
    from contract.request_bodies import ExecuteRequest


use_cases = FailoverUseCases()
api = Api()


@api.post(
    "/proxy/failover/execute",
    summary="Execute a failover (admin)",
    body="ExecuteRequest",
    response="EventOut",
    admin=True,
    errors=(400, 401, 403, 404, 409, 413, 503),
    message="failover executed",
)
def execute_failover(request: Request[ExecuteRequest, None]) -> View:
    """409 when the source is no longer active or the target is not healthy (unless `force`)."""
    body = request.body
    event = use_cases.execute_failover(
        request.principal,
        body["proxy_id"],
        str(body["source_instance_id"]),
        str(body["target_instance_id"]),
        body["reason"],
        force=body["force"],
    )
    return event_view(event)


handler = api.handler
