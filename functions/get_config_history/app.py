"""GET /proxy/failover/config/{proxyId}/history?limit=N&cursor=C: configuration versions (owner)."""

from typing import Any

from proxy_failover.api.router import Api, QueryCursor, QueryInt, Request
from proxy_failover.api.views import View, config_version_view
from proxy_failover.paging import Page
from proxy_failover.service.configs import ConfigUseCases

use_cases = ConfigUseCases()
api = Api()


@api.get(
    "/proxy/failover/config/{proxyId}/history",
    summary="A proxy's configuration versions, newest first",
    query={"limit": QueryInt(1, 500, 50, "How many versions, newest first (1-500)"), "cursor": QueryCursor()},
    response="ConfigVersionOut[]",
    errors=(400, 401, 404, 503),
)
def get_config_history(request: Request[None, dict[str, Any]]) -> Page[View]:
    """One version per configuration POST that changed at least one field: the whole configuration
    after it, the changed fields (`from` null in version 1), who and when."""
    query = request.query
    found = use_cases.config_history(
        request.principal, request.path["proxyId"], query["limit"], query["cursor"]
    )
    return found.map(config_version_view)


handler = api.handler
