"""PUT /fleet/safety: hold or release the emergency brake (admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, safety_view
from proxy_failover.domain.safety import AutoFailover
from proxy_failover.service.safety import SafetyUseCases

if TYPE_CHECKING:
    from contract.request_bodies import SafetyUpdate


use_cases = SafetyUseCases()
api = Api()


@api.put(
    "/fleet/safety",
    summary="Hold or release automatic failover everywhere (admin)",
    body="SafetyUpdate",
    response="SafetyOut",
    admin=True,
    errors=(400, 401, 403, 413, 503),
)
def set_safety(request: Request[SafetyUpdate, None]) -> View:
    """Held, nothing switches by itself: checks and reports still change instances' status, operators'
    executes still work. Released, the next scheduled run switches, in one pass, each proxy that would
    have switched meanwhile and still should. Each change publishes `auto_failover_held` (critical) or
    `auto_failover_released` (info), once."""
    body = request.body
    state = use_cases.set_auto_failover(
        request.principal, AutoFailover(body["auto_failover"]), body["reason"]
    )
    return safety_view(state)


handler = api.handler
