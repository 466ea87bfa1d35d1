"""GET /console: the operator console, one static page with its script and styles (anyone: the page
asks for a token, and every API call it makes carries it).

The files are this function's own (`static/`), served with an ETag (304 to a matching If-None-Match),
`Cache-Control`, and a Content-Security-Policy that allows nothing from another origin (the Cognito
hosted UI's token endpoint alone, when the console signs in through it)."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from proxy_failover.api.router import Api, Request
from proxy_failover.settings import get_settings

STATIC = Path(__file__).with_name("static")
api = Api()


class Asset(NamedTuple):
    body: str
    content_type: str
    etag: str
    cache_control: str


_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css"}


def _asset(name: str, body: str, cache_control: str) -> Asset:
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    return Asset(body, _TYPES[Path(name).suffix], etag, cache_control)


@cache
def _page() -> Asset:
    """The page with what it needs to know of this deployment (in a meta element: no inline script)."""
    settings = get_settings()
    config = {
        "adminClaim": settings.admin_claim,
        "adminGroup": settings.admin_group,
        "tenantClaim": settings.tenant_claim,
        "cognitoDomain": settings.console_cognito_domain,
        "cognitoClientId": settings.console_cognito_client_id,
    }
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    quoted = json.dumps(config).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    # the page is small and changes with a deployment: revalidate each time (a 304 costs nothing)
    return _asset("index.html", html.replace("{{CONFIG}}", quoted), "no-cache")


@cache
def _file(name: str) -> Asset:
    # fetched again at most every five minutes; a new deployment's page names the same files, so
    # their ETags make the revalidation cheap
    return _asset(name, (STATIC / name).read_text(encoding="utf-8"), "public, max-age=300")


@cache
def _policy() -> str:
    connect = "'self'"
    domain = get_settings().console_cognito_domain
    if domain:
        connect += " " + domain.rstrip("/")
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _serve(request: Request[None, None], asset: Asset) -> dict[str, Any]:
    headers = {
        "Content-Type": asset.content_type,
        "Cache-Control": asset.cache_control,
        "ETag": asset.etag,
        "Content-Security-Policy": _policy(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    named = {t.strip().removeprefix("W/") for t in (request.header("If-None-Match") or "").split(",")}
    if asset.etag in named:
        return {"statusCode": 304, "headers": headers, "body": "", "isBase64Encoded": False}
    return {"statusCode": 200, "headers": headers, "body": asset.body, "isBase64Encoded": False}


@api.get(
    "/console",
    summary="The operator console (HTML): the fleet, one proxy, and operators' actions",
    public=True,
    media_type="text/html",
)
def console(request: Request[None, None]) -> dict[str, Any]:
    """Nothing from another origin; it asks for a bearer token (kept for the browser session) or
    takes one in the URL fragment (`/console#token=...`)."""
    return _serve(request, _page())


@api.get("/console/console.js", summary="The console's script", public=True, listed=False)
def console_script(request: Request[None, None]) -> dict[str, Any]:
    return _serve(request, _file("console.js"))


@api.get("/console/console.css", summary="The console's styles", public=True, listed=False)
def console_styles(request: Request[None, None]) -> dict[str, Any]:
    return _serve(request, _file("console.css"))


handler = api.handler
