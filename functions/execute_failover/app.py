"""POST /proxy/failover/execute: switch a proxy's active instance (admin)."""

from proxy_failover.api.models import EventOut, ExecuteRequest
from proxy_failover.api.router import Api, Request
from proxy_failover.service import get_service

api = Api()


@api.post(
    "/proxy/failover/execute",
    summary="Execute a failover (admin)",
    body=ExecuteRequest,
    response=EventOut,
    admin=True,
    errors=(400, 401, 403, 404, 409, 413, 503),
    message="failover executed",
)
def execute_failover(request: Request[ExecuteRequest, None]) -> EventOut:
    body = request.body
    event = get_service().execute_failover(
        request.principal,
        body.proxy_id,
        str(body.source_instance_id),
        str(body.target_instance_id),
        body.reason,
        force=body.force,
    )
    return EventOut.model_validate(event)


handler = api.handler
