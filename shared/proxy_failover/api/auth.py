"""Who is calling. Deployed, API Gateway's JWT authorizer has verified the token and put its claims in
the request context; locally and in tests the layer verifies an HS256 token itself (pyjwt, imported
only then)."""

from __future__ import annotations

from typing import Any

from ..errors import Unauthenticated
from ..identity import Principal
from ..settings import Settings


def _bearer(headers: dict[str, str]) -> str:
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if not value:
        raise Unauthenticated("missing Authorization header")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization header must be 'Bearer <token>'")
    return token.strip()


def verify_token(token: str, settings: Settings) -> dict[str, Any]:
    if not settings.jwt_secret:
        raise Unauthenticated("token verification is not configured")
    import jwt

    options = {"require": ["exp", "sub"], "verify_aud": settings.jwt_audience is not None}
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[settings.jwt_algorithm],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options=options,  # type: ignore[arg-type]
            leeway=5,
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"invalid token: {exc}") from exc
    for name in _TIME_CLAIMS:
        # pyjwt takes "9999999999" as a time; RFC 7519 says a NumericDate is a number.
        if name in claims and (isinstance(claims[name], bool) or not isinstance(claims[name], int | float)):
            raise Unauthenticated(f"invalid token: {name} must be a number")
    return claims


_TIME_CLAIMS = ("exp", "nbf", "iat")


def _groups(value: Any, *, rendered: bool) -> list[str]:
    """The groups an admin claim lists: a JSON list's strings. Only when the claim is known only as
    API Gateway's JWT authorizer renders arrays ("[a b c]", space-separated) is that string form read,
    and a comma is never a separator ("[x,admin]" names one group, "x,admin")."""
    if isinstance(value, list | tuple):
        return [g for g in value if isinstance(g, str)]
    if rendered and isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            return stripped[1:-1].split()
        return [stripped]
    return []


def _gateway_verified_payload(event: dict[str, Any], claims: dict[str, Any]) -> dict[str, Any] | None:
    """The claims of the token API Gateway verified, with their JSON types, read from the Authorization
    header it verified them from (the authorizer's identity source). Its rendering of an array claim as
    "[a b]" cannot tell ["x admin"] from ["x", "admin"], nor the string "[x admin]" from either; the
    token can. The signature is not checked again (the gateway did); a token whose subject is not the
    authorizer's is not the one it verified, and None sends the caller back to the rendering."""
    import base64
    import json

    try:
        token = _bearer(event.get("headers") or {})
    except Unauthenticated:
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("sub") != claims.get("sub"):
        return None
    return payload


def _text(value: str) -> bool:
    """Unicode text that UTF-8 can carry (a JSON string may hold a lone surrogate, `"\\ud800"`)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def authorizer_claims(event: dict[str, Any]) -> dict[str, Any] | None:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims")
    return claims if isinstance(claims, dict) else None


def authenticate(event: dict[str, Any], settings: Settings) -> Principal:
    claims = authorizer_claims(event)
    rendered = False
    if claims is None:
        claims = verify_token(_bearer(event.get("headers") or {}), settings)
    else:
        payload = _gateway_verified_payload(event, claims)
        rendered = payload is None
        claims = payload or claims
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 255:
        raise Unauthenticated("token has no subject")
    if not _text(subject):
        raise Unauthenticated("token subject is not valid Unicode text")
    groups = _groups(claims.get(settings.admin_claim), rendered=rendered)
    tenant = None
    if settings.tenant_claim != "sub":
        tenant = claims.get(settings.tenant_claim)
        if not isinstance(tenant, str) or not tenant.strip() or len(tenant) > 255 or not _text(tenant):
            raise Unauthenticated(f"token has no {settings.tenant_claim} claim naming its owner")
    return Principal(user_id=subject, is_admin=settings.admin_group in groups, tenant=tenant)
