"""GET /proxy/{proxyId}/route: where the data plane sends the proxy's traffic (owner)."""

from proxy_failover.api.router import Api, Request, Tagged
from proxy_failover.api.views import entity_tag, route_view
from proxy_failover.service.routing import RoutingUseCases

use_cases = RoutingUseCases()
api = Api()


@api.get(
    "/proxy/{proxyId}/route",
    summary="The routing answer: the active instance, and the targets' shares",
    response="RouteOut",
    errors=(400, 401, 404, 503),
    tagged=True,
)
def get_route(request: Request[None, None]) -> Tagged:
    """With load balancing off: the active instance alone. On: the healthy instances that are neither
    flapping nor in maintenance, with shares summing to 1 by the configured algorithm (the active alone
    when there is none). With slow start, a target that just became one carries a `ramp`: its share
    of the moment grows from 10% to all of it between `startsAt` and `endsAt`. `version` grows with
    every change of the answer (`route_changed` carries the same). One database round trip; 304 to an
    If-None-Match that names the answer."""
    view = route_view(use_cases.route(request.principal, request.path["proxyId"]))
    return Tagged(view, entity_tag(view))


handler = api.handler
