"""GET /fleet/safety: the emergency brake and what the checkers can see (any user)."""

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, safety_view
from proxy_failover.service.safety import SafetyUseCases

use_cases = SafetyUseCases()
api = Api()


@api.get(
    "/fleet/safety",
    summary="The fleet's safety: the emergency brake, the vantages, whether checks are suspended",
    response="SafetyOut",
    errors=(401, 503),
)
def get_safety(request: Request[None, None]) -> View:
    """`autoFailover` `held`: no automatic failover, failback or drill return anywhere (operators'
    switches still work). Each vantage with when it last ran, whether it is impaired (its canaries
    all failed) or absent (no run for two dispatch periods); `checksSuspended` when none can see."""
    return safety_view(use_cases.safety(request.principal))


handler = api.handler
