"""Keys for a local stack: a random JWT secret, the anon/service_role keys and user JWTs.

The anon and service_role keys carry the Supabase CLI's claims (``iss``, ``role``, ``exp``;
``supabase/cli`` ``pkg/config/apikeys.go``), signed HS256 with a secret minted per stack, so
no well-known demo key ever works against it. User JWTs look like GoTrue's access tokens,
with the tenant in ``app_metadata.tenant_id`` (what the jobs table's RLS policy reads).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

__all__ = ["StackKeys", "generate_jwt_secret", "mint_role_key", "mint_user_jwt"]

#: Ten years, like the CLI's keys (which expire in 2032).
ROLE_KEY_LIFETIME_SECONDS = 10 * 365 * 24 * 3600


def generate_jwt_secret() -> str:
    """Return a random secret of 64 URL-safe characters (PostgREST wants at least 32)."""
    return secrets.token_urlsafe(48)


def mint_role_key(secret: str, role: str, *, lifetime: int = ROLE_KEY_LIFETIME_SECONDS) -> str:
    """Mint a legacy API key (``anon`` / ``service_role``) as the Supabase CLI does.

    Args:
        secret: The stack's JWT secret.
        role: The Postgres role the key stands for.
        lifetime: Seconds until ``exp``.

    Returns:
        The HS256 JWT.
    """
    claims = {"iss": "supabase-demo", "role": role, "exp": int(time.time()) + lifetime}
    return jwt.encode(claims, secret, algorithm="HS256")


def mint_user_jwt(
    secret: str,
    tenant_id: uuid.UUID | str | None,
    *,
    sub: uuid.UUID | str | None = None,
    email: str | None = None,
    role: str = "authenticated",
    expires_in: int = 3600,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """Mint a signed-in user's access token, shaped like GoTrue's.

    Args:
        secret: The stack's JWT secret.
        tenant_id: Put in ``app_metadata.tenant_id``; ``None`` leaves the claim out (such a
            user sees no jobs).
        sub: The user id; a random UUID when ``None``.
        email: Optional ``email`` claim.
        role: The ``role`` claim (``authenticated`` for a signed-in user).
        expires_in: Seconds until ``exp``; negative gives an already expired token.
        extra_claims: Merged last (may override anything above).

    Returns:
        The HS256 JWT.
    """
    now = int(time.time())
    app_metadata: dict[str, Any] = {"provider": "email", "providers": ["email"]}
    if tenant_id is not None:
        app_metadata["tenant_id"] = str(tenant_id)
    claims: dict[str, Any] = {
        "aud": "authenticated",
        "iss": "supabase-jobs-local",
        "sub": str(sub or uuid.uuid4()),
        "role": role,
        "iat": min(now, now + expires_in),
        "exp": now + expires_in,
        "email": email or "",
        "app_metadata": app_metadata,
        "user_metadata": {},
        "aal": "aal1",
        "session_id": str(uuid.uuid4()),
        "is_anonymous": False,
    }
    claims.update(extra_claims or {})
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass(frozen=True)
class StackKeys:
    """The secret and keys of one stack (``repr`` never shows them).

    Attributes:
        jwt_secret: The HS256 secret.
        anon_key: Legacy anon key (JWT, role ``anon``).
        service_role_key: Legacy service-role key (JWT, role ``service_role``).
        publishable_key: An opaque ``sb_publishable_`` key, mapped to ``anon_key``.
        secret_key: An opaque ``sb_secret_`` key, mapped to ``service_role_key``.
    """

    jwt_secret: str = field(repr=False)
    anon_key: str = field(repr=False)
    service_role_key: str = field(repr=False)
    publishable_key: str = field(repr=False)
    secret_key: str = field(repr=False)

    @classmethod
    def generate(cls, jwt_secret: str | None = None) -> StackKeys:
        """Mint every key for ``jwt_secret`` (a fresh random one when ``None``)."""
        secret = jwt_secret or generate_jwt_secret()
        return cls(
            jwt_secret=secret,
            anon_key=mint_role_key(secret, "anon"),
            service_role_key=mint_role_key(secret, "service_role"),
            publishable_key="sb_publishable_" + secrets.token_urlsafe(24),
            secret_key="sb_secret_" + secrets.token_urlsafe(24),
        )

    def api_keys(self) -> dict[str, str]:
        """The gateway's ``sb_`` key mapping (Kong's rule in ``postgrest.md`` §3.3)."""
        return {self.publishable_key: self.anon_key, self.secret_key: self.service_role_key}
