"""PUT /proxy/instances/{instanceId}/health: one health check result from another service (owner)."""

from proxy_failover.api.requests import HealthReport
from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, instance_view
from proxy_failover.service import get_service

api = Api()


@api.put(
    "/proxy/instances/{instanceId}/health",
    summary="Report an instance's health (one check result)",
    body=HealthReport,
    response="InstanceOut",
    errors=(400, 401, 404, 413, 503),
)
def report_health(request: Request[HealthReport, None]) -> View:
    """Fed through the same rise/fall state machine as the scheduled checks; a report that takes the
    active instance down fails the proxy over at once when auto-failover is on."""
    body = request.body
    metrics = body.metrics.as_row() if body.metrics else None
    row = get_service().report_health(
        request.principal, request.path["instanceId"], body.health_status, metrics
    )
    return instance_view(row)


handler = api.handler
