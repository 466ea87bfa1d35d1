"""Development tokens for the local stack (`make token`): HS256 with JWT_SECRET, valid for 12 hours."""

from __future__ import annotations

import os
import sys
import time

# The local stack's JWT secret when JWT_SECRET is unset (printed at start; never deployed).
DEV_SECRET = "local-development-secret-change-me-0123456789"  # noqa: S105


def make_token(subject: str, *, admin: bool = False, hours: float = 12.0) -> str:
    import jwt
    from proxy_failover.settings import get_settings

    settings = get_settings()
    secret = settings.jwt_secret or os.environ.get("JWT_SECRET") or DEV_SECRET
    claims: dict[str, object] = {
        "sub": subject,
        "iat": int(time.time()),
        "exp": int(time.time() + hours * 3600),
    }
    if admin:
        claims[settings.admin_claim] = [settings.admin_group]
    if settings.tenant_claim != "sub":  # a team's tokens: the local stack's users are one team
        claims[settings.tenant_claim] = os.environ.get("LOCAL_TEAM", "local-team")
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, secret, algorithm=settings.jwt_algorithm)


def dev_tokens() -> tuple[str, str]:
    return make_token("local-user"), make_token("local-admin", admin=True)


if __name__ == "__main__":
    user, admin = dev_tokens()
    sys.stdout.write(f"USER_TOKEN={user}\nADMIN_TOKEN={admin}\n")
