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


def _groups(value: Any, *, from_gateway: bool) -> list[str]:
    """The groups an admin claim lists. A token the layer verified must carry a JSON list; API
    Gateway's JWT authorizer hands array claims over as "[a b c]" (space-separated), so only there is
    that string form read, and a comma is never a separator ("[x,admin]" names one group, "x,admin")."""
    if isinstance(value, list | tuple):
        return [g for g in value if isinstance(g, str)]
    if from_gateway and isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            return stripped[1:-1].split()
        return [stripped]
    return []


def authorizer_claims(event: dict[str, Any]) -> dict[str, Any] | None:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims")
    return claims if isinstance(claims, dict) else None


def authenticate(event: dict[str, Any], settings: Settings) -> Principal:
    claims = authorizer_claims(event)
    from_gateway = claims is not None
    if claims is None:
        claims = verify_token(_bearer(event.get("headers") or {}), settings)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 255:
        raise Unauthenticated("token has no subject")
    groups = _groups(claims.get(settings.admin_claim), from_gateway=from_gateway)
    return Principal(user_id=subject, is_admin=settings.admin_group in groups)
