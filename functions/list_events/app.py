"""GET /proxy/{proxyId}/failover/events?limit=N: the failover ledger, newest first (owner)."""

from proxy_failover.api.router import Api, QueryInt, Request
from proxy_failover.api.views import View, event_view
from proxy_failover.service import get_service

api = Api()


@api.get(
    "/proxy/{proxyId}/failover/events",
    summary="List a proxy's failover events, newest first",
    query={"limit": QueryInt(1, 500, 50, "How many events, newest first (1-500)")},
    response="EventOut[]",
    errors=(400, 401, 404, 503),
)
def list_events(request: Request[None, dict[str, int]]) -> list[View]:
    rows = get_service().list_events(request.principal, request.path["proxyId"], request.query["limit"])
    return [event_view(row) for row in rows]


handler = api.handler
