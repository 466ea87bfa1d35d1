"""DELETE /proxy/instances/{instanceId}[?force=true]: deregister an instance (owner)."""

from typing import Any

from proxy_failover.api.router import Api, QueryBool, Request
from proxy_failover.api.views import View, instance_view
from proxy_failover.service.instances import InstanceUseCases

use_cases = InstanceUseCases()
api = Api()


@api.delete(
    "/proxy/instances/{instanceId}",
    summary="Deregister an instance",
    query={"force": QueryBool(False, "Deregister the active instance too, moving the proxy off it first")},
    response="InstanceOut",
    errors=(400, 401, 404, 409, 503),
)
def deregister_instance(request: Request[None, dict[str, Any]]) -> View:
    """Its past events keep their rows. The active instance of a proxy with others is a 409 unless
    force=true: the proxy then switches to the best other instance first (a `manual` event,
    `deregistered`). The last instance may go: the proxy then has no active instance."""
    removed = use_cases.deregister_instance(
        request.principal, request.path["instanceId"], force=request.query["force"]
    )
    return instance_view(removed)


handler = api.handler
