"""POST /proxy/failover/execute: switch a proxy's active instance (admin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxy_failover.api.router import Api, Request, Said
from proxy_failover.api.views import View, dry_run_view, event_view
from proxy_failover.service.failover import FailoverUseCases

if TYPE_CHECKING:
    from contract.request_bodies import ExecuteRequest


use_cases = FailoverUseCases()
api = Api()


@api.post(
    "/proxy/failover/execute",
    summary="Execute a failover (admin)",
    body="ExecuteRequest",
    response="EventOut|DryRunOut",
    admin=True,
    errors=(400, 401, 403, 404, 409, 413, 503),
    message="failover executed",
)
def execute_failover(request: Request[ExecuteRequest, None]) -> View | Said:
    """409 when the source is no longer active or the target is not healthy (unless `force`). With
    `dryRun: true` the same answers, but nothing changes and nothing is published: the 200 body says
    what would have happened."""
    body = request.body
    event = use_cases.execute_failover(
        request.principal,
        body["proxy_id"],
        str(body["source_instance_id"]),
        str(body["target_instance_id"]),
        body["reason"],
        force=body["force"],
        dry_run=body["dry_run"],
    )
    if body["dry_run"]:
        return Said(dry_run_view(event), "dry run: nothing was changed or published")
    return event_view(event)


handler = api.handler
