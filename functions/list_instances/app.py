"""GET /proxy/{proxyId}/instances?limit=N&cursor=C: a proxy's instances, priority asc then weight desc
(owner)."""

from typing import Any

from proxy_failover.api.router import Api, QueryCursor, QueryInt, Request
from proxy_failover.api.views import View, instance_view
from proxy_failover.paging import Page
from proxy_failover.service.instances import InstanceUseCases

use_cases = InstanceUseCases()
api = Api()


@api.get(
    "/proxy/{proxyId}/instances",
    summary="List a proxy's instances",
    query={"limit": QueryInt(1, 500, 100, "How many instances per page (1-500)"), "cursor": QueryCursor()},
    response="InstanceOut[]",
    errors=(400, 401, 404, 503),
)
def list_instances(request: Request[None, dict[str, Any]]) -> Page[View]:
    """Ordered by priority ascending, then weight descending, then registration order."""
    query = request.query
    page = use_cases.list_instances(
        request.principal, request.path["proxyId"], query["limit"], query["cursor"]
    )
    return page.map(instance_view)


handler = api.handler
