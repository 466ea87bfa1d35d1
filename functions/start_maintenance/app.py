"""PUT /proxy/instances/{instanceId}/maintenance: take an instance out of rotation for a while (owner)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, instance_view
from proxy_failover.service.maintenance import MaintenanceUseCases

if TYPE_CHECKING:
    from contract.request_bodies import MaintenanceRequest


use_cases = MaintenanceUseCases()
api = Api()


@api.put(
    "/proxy/instances/{instanceId}/maintenance",
    summary="Put an instance into maintenance until a time",
    body="MaintenanceRequest",
    response="InstanceOut",
    errors=(400, 401, 404, 409, 413, 503),
)
def start_maintenance(request: Request[MaintenanceRequest, None]) -> View:
    """Never a failover or failback target, no backup, no cause of degradation, no alerts, until the
    time is up (the scheduled run ends it). The active instance is first left for the best healthy other
    (a `maintenance` event); with none, 409 unless force (it stays active, the proxy degraded). A second
    call replaces the time and the reason."""
    body = request.body
    found = use_cases.start_maintenance(
        request.principal,
        request.path["instanceId"],
        body["duration_seconds"],
        body["reason"],
        force=body["force"],
    )
    return instance_view(found)


handler = api.handler
