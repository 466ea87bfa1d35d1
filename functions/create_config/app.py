"""POST /proxy/failover/config: create or update a proxy's failover configuration (owner)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy_failover.api.bodies import provided
from proxy_failover.api.router import Api, Request
from proxy_failover.api.views import View, config_view
from proxy_failover.service.configs import ConfigUseCases

if TYPE_CHECKING:
    from contract.request_bodies import ConfigRequest


use_cases = ConfigUseCases()
api = Api()


@api.post(
    "/proxy/failover/config",
    summary="Create or update a proxy's failover configuration",
    body="ConfigRequest",
    response="ConfigOut",
    status=201,
    errors=(400, 401, 404, 413, 503),
    message="failover configuration stored",
)
def create_config(request: Request[ConfigRequest, None]) -> View:
    """Unspecified fields keep their stored value (or the default for a new configuration)."""
    body = request.body
    return config_view(
        use_cases.put_config(request.principal, body["proxy_id"], provided(body.get("config")))
    )


handler = api.handler
