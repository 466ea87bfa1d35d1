"""POST /proxy/failover/evaluate: would the proxy fail over now, and to which instance? (owner)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, decision_view
from proxy_failover.service.failover import FailoverUseCases

if TYPE_CHECKING:
    from contract.request_bodies import EvaluateRequest


use_cases = FailoverUseCases()
api = Api()


@api.post(
    "/proxy/failover/evaluate",
    summary="Evaluate whether a proxy should fail over (changes nothing)",
    body="EvaluateRequest",
    response="DecisionOut",
    errors=(400, 401, 404, 413, 503),
)
def evaluate_failover(request: Request[EvaluateRequest, None]) -> View:
    proxy_id = request.body["proxy_id"]
    return decision_view(proxy_id, use_cases.evaluate(request.principal, proxy_id))


handler = api.handler
