"""GET /proxy/{proxyId}/redundancy: a proxy's redundancy posture (owner)."""

from proxy_failover.api.models import RedundancyOut
from proxy_failover.api.router import Api, Request
from proxy_failover.service import get_service

api = Api()


@api.get(
    "/proxy/{proxyId}/redundancy",
    summary="Get a proxy's redundancy status",
    response=RedundancyOut,
    errors=(400, 401, 404, 503),
)
def get_redundancy(request: Request[None, None]) -> RedundancyOut:
    return RedundancyOut.model_validate(
        get_service().get_redundancy(request.principal, request.path["proxyId"])
    )


handler = api.handler
