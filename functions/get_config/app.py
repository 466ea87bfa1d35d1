"""GET /proxy/failover/config/{proxyId}: a proxy's stored failover configuration (owner)."""

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, config_view
from proxy_failover.service.configs import ConfigUseCases

use_cases = ConfigUseCases()
api = Api()


@api.get(
    "/proxy/failover/config/{proxyId}",
    summary="Get a proxy's failover configuration",
    response="ConfigOut",
    errors=(400, 401, 404, 503),
)
def get_config(request: Request[None, None]) -> View:
    return config_view(use_cases.get_config(request.principal, request.path["proxyId"]))


handler = api.handler
