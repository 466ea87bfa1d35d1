"""POST /proxy/failover/drill: rehearse a failover, switched back when its time is up (admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, event_view
from proxy_failover.service.failover import FailoverUseCases

if TYPE_CHECKING:
    from contract.request_bodies import DrillRequest


use_cases = FailoverUseCases()
api = Api()


@api.post(
    "/proxy/failover/drill",
    summary="Start a drill: a real switch, switched back by the scheduled run (admin)",
    body="DrillRequest",
    response="EventOut",
    status=202,
    admin=True,
    errors=(400, 401, 403, 404, 409, 413, 503),
    message="drill started",
)
def start_drill(request: Request[DrillRequest, None]) -> View:
    """Switches to `targetInstanceId` (or the strategy's choice; 409 when there is no healthy one) with
    an event `drill` in progress; its notifications carry `drill: true`. After `durationSeconds` the
    scheduled run switches back to the instance active before, if it is healthy, and completes the
    event; otherwise it completes it as failed and leaves the proxy where it is."""
    body = request.body
    target = body.get("target_instance_id")
    event = use_cases.start_drill(
        request.principal,
        body["proxy_id"],
        None if target is None else str(target),
        body["duration_seconds"],
        body["reason"],
    )
    return event_view(event)


handler = api.handler
