"""PUT /proxy/instances/{instanceId}/health: one health check result from another service (owner)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy_failover.api.bodies import idempotency_key, metrics_sample
from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, instance_view
from proxy_failover.domain.models import HealthStatus
from proxy_failover.service.health import HealthUseCases

if TYPE_CHECKING:
    from contract.request_bodies import HealthReport


use_cases = HealthUseCases()
api = Api()


@api.put(
    "/proxy/instances/{instanceId}/health",
    summary="Report an instance's health (one check result)",
    body="HealthReport",
    response="InstanceOut",
    errors=(400, 401, 404, 413, 503),
    headers={
        "Idempotency-Key": "A report repeating a key used for the instance within 10 minutes changes nothing and gets the first answer"
    },
)
def report_health(request: Request[HealthReport, None]) -> View:
    """Fed through the same rise/fall state machine as the scheduled checks; a report that takes the
    active instance down fails the proxy over at once when auto-failover is on."""
    body = request.body
    row = use_cases.report_health(
        request.principal,
        request.path["instanceId"],
        HealthStatus(body["health_status"]),
        metrics_sample(body.get("metrics")),
        idempotency_key=idempotency_key(request.header("Idempotency-Key")),
    )
    return instance_view(row)


handler = api.handler
