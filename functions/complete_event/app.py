"""PUT /proxy/failover/events/{eventId}/complete: close a failover event (admin)."""

from proxy_failover.api.requests import CompleteRequest
from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, event_view
from proxy_failover.domain.models import EventStatus
from proxy_failover.service import get_service

api = Api()


@api.put(
    "/proxy/failover/events/{eventId}/complete",
    summary="Complete a failover event (admin)",
    body=CompleteRequest,
    response="EventOut",
    admin=True,
    errors=(400, 401, 403, 404, 409, 413, 503),
)
def complete_event(request: Request[CompleteRequest, None]) -> View:
    body = request.body
    event = get_service().complete_event(
        request.principal,
        request.path["eventId"],
        EventStatus(body.status),
        body.error_message,
        body.duration_ms,
    )
    return event_view(event)


handler = api.handler
