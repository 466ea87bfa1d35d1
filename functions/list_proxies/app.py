"""GET /proxies?degraded=&q=&owner=&limit=&cursor=: the fleet, a page of proxy summaries (owner;
admin: all)."""

from typing import Any

from proxy_failover.api.router import Api, QueryBool, QueryCursor, QueryInt, QueryText, Request, Tagged
from proxy_failover.api.views import proxy_summary_view
from proxy_failover.ids import PROXY_ID_CHARACTERS
from proxy_failover.service.fleet import FleetUseCases

use_cases = FleetUseCases()
api = Api()


@api.get(
    "/proxies",
    summary="List the proxies you may see, in id order, with their posture",
    query={
        "degraded": QueryBool(None, "Only the degraded proxies (true), or only the others (false)"),
        "q": QueryText(
            PROXY_ID_CHARACTERS + "{1,255}",
            "1-255 characters a proxy id may hold",
            "Proxies whose id starts with this",
        ),
        "owner": QueryText(
            r"[^\x00-\x1f]{1,255}", "1-255 printable characters", "One owner's proxies (admins only)"
        ),
        "limit": QueryInt(1, 500, 100, "How many proxies, in id order (1-500)"),
        "cursor": QueryCursor(),
    },
    response="ProxySummaryOut[]",
    errors=(400, 401, 403, 503),
    tagged=True,
)
def list_proxies(request: Request[None, dict[str, Any]]) -> Tagged:
    """One database round trip per page; the page's ETag lets a console that polls get 304 while
    nothing changed."""
    query = request.query
    page = use_cases.list_proxies(
        request.principal,
        owner=query["owner"],
        prefix=query["q"],
        degraded=query["degraded"],
        limit=query["limit"],
        after=query["cursor"],
    ).map(proxy_summary_view)
    return Tagged(page)  # tagged by its body


handler = api.handler
