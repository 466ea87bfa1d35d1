"""POST /proxy/failover/evaluate: would the proxy fail over now, and to which instance? (owner)"""

from proxy_failover.api.requests import EvaluateRequest
from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, decision_view
from proxy_failover.service import get_service

api = Api()


@api.post(
    "/proxy/failover/evaluate",
    summary="Evaluate whether a proxy should fail over (changes nothing)",
    body=EvaluateRequest,
    response="DecisionOut",
    errors=(400, 401, 404, 413, 503),
)
def evaluate_failover(request: Request[EvaluateRequest, None]) -> View:
    proxy_id = request.body.proxy_id
    return decision_view(proxy_id, get_service().evaluate(request.principal, proxy_id))


handler = api.handler
