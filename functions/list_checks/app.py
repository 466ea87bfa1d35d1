"""GET /proxy/instances/{instanceId}/checks?limit=: an instance's recent check results (owner)."""

from typing import Any

from proxy_failover.api.router import Api, QueryInt, Request
from proxy_failover.api.views import View, check_view
from proxy_failover.service.fleet import FleetUseCases

use_cases = FleetUseCases()
api = Api()


@api.get(
    "/proxy/instances/{instanceId}/checks",
    summary="An instance's recent probe and report results, newest first",
    query={"limit": QueryInt(1, 500, 50, "How many results, newest first (1-500)")},
    response="CheckOut[]",
    errors=(400, 401, 404, 503),
)
def list_checks(request: Request[None, dict[str, Any]]) -> list[View]:
    """The last 100 results of each vantage's probes and of the reports are kept (each written over
    the oldest of its ring), with latency and the reason of a failure."""
    found = use_cases.recent_checks(request.principal, request.path["instanceId"], request.query["limit"])
    return [check_view(c) for c in found]


handler = api.handler
