"""GET /proxy/failover/events?since=&until=&type=&limit=&cursor=: the ledger of every proxy the
caller may see, newest first (owner; admin: all)."""

from typing import Any

from proxy_failover.api.router import Api, QueryChoice, QueryCursor, QueryInt, QueryTime, Request
from proxy_failover.api.views import View, event_view
from proxy_failover.paging import Page
from proxy_failover.service.fleet import FleetUseCases

use_cases = FleetUseCases()
api = Api()

# The ledger's event types (domain.models.EventType; a test ties them), spelled out here so the
# handler's cold start does not build the domain's classes.
EVENT_TYPES = ("failover", "failback", "manual", "recovery", "maintenance", "drill")


@api.get(
    "/proxy/failover/events",
    summary="The failover ledger across your proxies, newest first",
    query={
        "since": QueryTime("Events that started at or after this time (ISO 8601 with its time zone)"),
        "until": QueryTime("Events that started before this time (ISO 8601 with its time zone)"),
        "type": QueryChoice(EVENT_TYPES, "Events of this type only"),
        "limit": QueryInt(1, 500, 50, "How many events, newest first (1-500)"),
        "cursor": QueryCursor(),
    },
    response="EventOut[]",
    errors=(400, 401, 503),
)
def list_fleet_events(request: Request[None, dict[str, Any]]) -> Page[View]:
    """Events of decommissioned proxies stay in it until retention removes them."""
    query = request.query
    page = use_cases.fleet_events(
        request.principal,
        since=query["since"],
        until=query["until"],
        event_type=query["type"],
        limit=query["limit"],
        after=query["cursor"],
    )
    return page.map(event_view)


handler = api.handler
