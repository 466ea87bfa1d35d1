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
    return claims


def _is_admin(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return "admin" in value
    if isinstance(value, str):
        # API Gateway flattens array claims to "[admin user]" or "[admin, user]".
        stripped = value.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            return "admin" in stripped[1:-1].replace(",", " ").split()
    return False


def authorizer_claims(event: dict[str, Any]) -> dict[str, Any] | None:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims")
    return claims if isinstance(claims, dict) else None


def authenticate(event: dict[str, Any], settings: Settings) -> Principal:
    claims = authorizer_claims(event)
    if claims is None:
        claims = verify_token(_bearer(event.get("headers") or {}), settings)
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 255:
        raise Unauthenticated("token has no subject")
    return Principal(user_id=subject, is_admin=_is_admin(claims.get(settings.admin_claim)))
