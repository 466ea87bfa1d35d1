"""GET /proxy/{proxyId}/instances: a proxy's instances, priority asc then weight desc (owner)."""

from proxy_failover.api.models import InstanceOut
from proxy_failover.api.router import Api, Request
from proxy_failover.service import get_service

api = Api()


@api.get(
    "/proxy/{proxyId}/instances",
    summary="List a proxy's instances",
    response=list[InstanceOut],
    errors=(400, 401, 404, 503),
)
def list_instances(request: Request[None, None]) -> list[InstanceOut]:
    rows = get_service().list_instances(request.principal, request.path["proxyId"])
    return [InstanceOut.model_validate(row) for row in rows]


handler = api.handler
