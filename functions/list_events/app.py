"""GET /proxy/{proxyId}/failover/events?limit=N&cursor=C: the failover ledger, newest first (owner)."""

from typing import Any

from proxy_failover.api.router import Api, QueryCursor, QueryInt, Request
from proxy_failover.api.views import View, event_view
from proxy_failover.paging import Page
from proxy_failover.service.failover import FailoverUseCases

use_cases = FailoverUseCases()
api = Api()


@api.get(
    "/proxy/{proxyId}/failover/events",
    summary="List a proxy's failover events, newest first",
    query={"limit": QueryInt(1, 500, 50, "How many events, newest first (1-500)"), "cursor": QueryCursor()},
    response="EventOut[]",
    errors=(400, 401, 404, 503),
)
def list_events(request: Request[None, dict[str, Any]]) -> Page[View]:
    query = request.query
    page = use_cases.list_events(request.principal, request.path["proxyId"], query["limit"], query["cursor"])
    return page.map(event_view)


handler = api.handler
