"""Request authentication: Supabase's key mapping, then PostgREST's HS256 JWT check.

Two layers, as on a real project: Kong turns an ``sb_secret_`` / ``sb_publishable_`` apikey into
the matching JWT (``supabase/cli`` ``kong.yml``), then PostgREST verifies the Bearer JWT and
takes the Postgres role from its ``role`` claim (no token: the anonymous role).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from supabase_jobs.local._gateway._errors import GatewayError

__all__ = ["AuthResult", "Authenticator"]

_LEEWAY_SECONDS = 30  # PostgREST allows 30 s of clock skew on exp/nbf/iat.
_CACHE_SIZE = 1024


@dataclass(frozen=True)
class AuthResult:
    """Who a request runs as.

    Attributes:
        role: The Postgres role to switch to.
        claims: The JWT claims as JSON text (``request.jwt.claims``).
        anon: Whether the role is the anonymous one (42501 is then 401).
        expires: The token's ``exp`` (for the verification cache), if any.
    """

    role: str
    claims: str
    anon: bool
    expires: float | None = None


def _jwt_error(code: str, message: str) -> GatewayError:
    challenge = f'Bearer error="invalid_token", error_description="{message}"'
    return GatewayError(401, code, message, headers={"www-authenticate": challenge})


class Authenticator:
    """Resolve a request's headers to a role and claims.

    Args:
        jwt_secret: The HS256 secret JWTs must be signed with.
        anon_role: The role for requests without a token.
        api_keys: Opaque ``sb_`` keys mapped to the JWT they stand for (Kong's rule).
    """

    def __init__(
        self,
        jwt_secret: str,
        *,
        anon_role: str = "anon",
        api_keys: Mapping[str, str] | None = None,
    ) -> None:
        self._secret = jwt_secret
        self._anon_role = anon_role
        self._api_keys = dict(api_keys or {})
        self._anon = AuthResult(anon_role, json.dumps({"role": anon_role}), True)
        self._cache: dict[str, AuthResult] = {}

    def __repr__(self) -> str:
        # The secret and keys never appear in a repr.
        return f"Authenticator(anon_role={self._anon_role!r})"

    def authenticate(self, authorization: str | None, apikey: str | None) -> AuthResult:
        """Authenticate one request.

        Args:
            authorization: The ``Authorization`` header, if any.
            apikey: The ``apikey`` header, if any.

        Returns:
            The role and claims to run the request with.

        Raises:
            GatewayError: 401 with PGRST301/PGRST303 for a bad or expired JWT, or Kong's
                "Invalid API key" for an unknown ``sb_`` key.
        """
        header = self._effective_authorization(authorization, apikey)
        if header is None:
            return self._anon
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._anon
        return self._verify(token.strip())

    def _effective_authorization(self, authorization: str | None, apikey: str | None) -> str | None:
        if authorization and not authorization.startswith("Bearer sb_"):
            return authorization
        if apikey:
            mapped = self._api_keys.get(apikey)
            if mapped is not None:
                return "Bearer " + mapped
            if apikey.startswith("sb_"):
                raise GatewayError(
                    401,
                    None,
                    "Invalid API key",
                    hint="Double check your Supabase `anon` or `service_role` API key.",
                )
            # A legacy JWT apikey without Authorization acts as the Bearer (hosted behaviour).
            return "Bearer " + apikey if apikey.count(".") == 2 else None
        return authorization

    def _verify(self, token: str) -> AuthResult:
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None and (
            cached.expires is None or now <= cached.expires + _LEEWAY_SECONDS
        ):
            return cached
        parts = token.count(".") + 1
        if parts != 3:
            raise _jwt_error("PGRST301", f"Expected 3 parts in JWT; got {parts}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                leeway=_LEEWAY_SECONDS,
                options={"verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise _jwt_error("PGRST303", "JWT expired") from None
        except jwt.ImmatureSignatureError:
            raise _jwt_error("PGRST303", "JWT not yet valid") from None
        except jwt.InvalidAlgorithmError:
            raise _jwt_error("PGRST301", "Wrong or unsupported encoding algorithm") from None
        except jwt.InvalidSignatureError:
            raise _jwt_error("PGRST301", "No suitable key or wrong key type") from None
        except jwt.InvalidTokenError:
            raise _jwt_error("PGRST301", "JWT cryptographic operation failed") from None
        role = claims.get("role", self._anon_role)
        if not isinstance(role, str) or not role:
            raise _jwt_error("PGRST301", "JWT claim 'role' must be a non-empty string")
        exp = claims.get("exp")
        result = AuthResult(
            role,
            json.dumps(claims, separators=(",", ":")),
            role == self._anon_role,
            float(exp) if isinstance(exp, (int, float)) else None,
        )
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[token] = result
        return result
