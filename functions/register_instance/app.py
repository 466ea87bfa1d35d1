"""POST /proxy/instances: register an instance of a proxy (owner). The first one becomes active."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, instance_view
from proxy_failover.service.instances import InstanceUseCases

if TYPE_CHECKING:
    from contract.request_bodies import RegisterRequest


use_cases = InstanceUseCases()
api = Api()


@api.post(
    "/proxy/instances",
    summary="Register a proxy instance",
    body="RegisterRequest",
    response="InstanceOut",
    status=201,
    errors=(400, 401, 404, 409, 413, 503),
    message="instance registered",
)
def register_instance(request: Request[RegisterRequest, None]) -> View:
    """The first instance registered for a proxy becomes its active instance."""
    body = request.body
    return instance_view(
        use_cases.register_instance(request.principal, body["proxy_id"], dict(body["instance_data"]))
    )


handler = api.handler
