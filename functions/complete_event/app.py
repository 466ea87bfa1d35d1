"""PUT /proxy/failover/events/{eventId}/complete: close a failover event (admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, event_view
from proxy_failover.domain.models import EventStatus
from proxy_failover.service.failover import FailoverUseCases

if TYPE_CHECKING:
    from contract.request_bodies import CompleteRequest


use_cases = FailoverUseCases()
api = Api()


@api.put(
    "/proxy/failover/events/{eventId}/complete",
    summary="Complete a failover event (admin)",
    body="CompleteRequest",
    response="EventOut",
    admin=True,
    errors=(400, 401, 403, 404, 409, 413, 503),
)
def complete_event(request: Request[CompleteRequest, None]) -> View:
    body = request.body
    event = use_cases.complete_event(
        request.principal,
        request.path["eventId"],
        EventStatus(body["status"]),
        body.get("error_message"),
        body.get("duration_ms"),
    )
    return event_view(event)


handler = api.handler
