"""DELETE /proxy/instances/{instanceId}/maintenance: end an instance's maintenance now (owner)."""

from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, instance_view
from proxy_failover.service.maintenance import MaintenanceUseCases

use_cases = MaintenanceUseCases()
api = Api()


@api.delete(
    "/proxy/instances/{instanceId}/maintenance",
    summary="End an instance's maintenance",
    response="InstanceOut",
    errors=(400, 401, 404, 503),
)
def end_maintenance(request: Request[None, None]) -> View:
    return instance_view(use_cases.end_maintenance(request.principal, request.path["instanceId"]))


handler = api.handler
