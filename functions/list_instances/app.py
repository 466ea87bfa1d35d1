"""GET /proxy/{proxyId}/instances: a proxy's instances, priority asc then weight desc (owner)."""

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, instance_view
from proxy_failover.service import get_service

api = Api()


@api.get(
    "/proxy/{proxyId}/instances",
    summary="List a proxy's instances",
    response="InstanceOut[]",
    errors=(400, 401, 404, 503),
)
def list_instances(request: Request[None, None]) -> list[View]:
    """Ordered by priority ascending, then weight descending, then registration order."""
    return [
        instance_view(row) for row in get_service().list_instances(request.principal, request.path["proxyId"])
    ]


handler = api.handler
