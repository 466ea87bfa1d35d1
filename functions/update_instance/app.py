"""PATCH /proxy/instances/{instanceId}: change an instance's fields (owner)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, instance_view
from proxy_failover.service.instances import InstanceUseCases

if TYPE_CHECKING:
    from contract.request_bodies import InstancePatch


use_cases = InstanceUseCases()
api = Api()


@api.patch(
    "/proxy/instances/{instanceId}",
    summary="Change an instance (only the fields given)",
    body="InstancePatch",
    response="InstanceOut",
    errors=(400, 401, 404, 409, 413, 503),
)
def update_instance(request: Request[InstancePatch, None]) -> View:
    """A null healthCheckUrl, endpoint or probe clears it; a new healthCheckUrl passes the checks of a
    registration; a name another instance of the proxy has is a 409."""
    changes: dict[str, Any] = dict(request.body)
    return instance_view(use_cases.update_instance(request.principal, request.path["instanceId"], changes))


handler = api.handler
