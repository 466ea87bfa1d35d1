"""GET /proxy/{proxyId}/failover/events?limit=N: the failover ledger, newest first (owner)."""

from proxy_failover.api.models import EventOut, EventsQuery
from proxy_failover.api.router import Api, Request
from proxy_failover.service import get_service

api = Api()


@api.get(
    "/proxy/{proxyId}/failover/events",
    summary="List a proxy's failover events, newest first",
    query=EventsQuery,
    response=list[EventOut],
    errors=(400, 401, 404, 503),
)
def list_events(request: Request[None, EventsQuery]) -> list[EventOut]:
    rows = get_service().list_events(request.principal, request.path["proxyId"], request.query.limit)
    return [EventOut.model_validate(row) for row in rows]


handler = api.handler
