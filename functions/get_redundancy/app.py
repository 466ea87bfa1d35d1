"""GET /proxy/{proxyId}/redundancy: a proxy's redundancy posture (owner)."""

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, redundancy_view
from proxy_failover.service.redundancy import RedundancyUseCases

use_cases = RedundancyUseCases()
api = Api()


@api.get(
    "/proxy/{proxyId}/redundancy",
    summary="Get a proxy's redundancy status",
    response="RedundancyOut",
    errors=(400, 401, 404, 503),
)
def get_redundancy(request: Request[None, None]) -> View:
    return redundancy_view(use_cases.get_redundancy(request.principal, request.path["proxyId"]))


handler = api.handler
