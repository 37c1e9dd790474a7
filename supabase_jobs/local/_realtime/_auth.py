"""Token checks of Supabase Realtime: a JWT with ``role`` and ``exp``, signed with the secret.

Realtime accepts only JWTs; the API gateway in front of it swaps an ``sb_secret_`` /
``sb_publishable_`` key for the JWT it stands for (``kong.yml``). Error codes and messages
are Realtime's (``realtime_channel.ex``, ``user_socket.ex``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

__all__ = ["AuthError", "Identity", "TokenVerifier"]


class AuthError(Exception):
    """A refused token.

    Args:
        code: Realtime's reason code (``InvalidJWTToken``, ``MalformedJWT``...).
        message: The human part of the reason.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def reason(self) -> str:
        """``"<Code>: <message>"``, the shape of a join refusal's reason."""
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Identity:
    """Who a socket or channel acts as.

    Attributes:
        role: The ``role`` claim (a database role).
        claims: The claims as JSON text (``request.jwt.claims``).
        sub: The ``sub`` claim, if any.
        expires: The ``exp`` claim (seconds since the epoch).
        token: The JWT itself (never shown in a repr).
    """

    role: str
    claims: str = field(repr=False)
    sub: str | None
    expires: float
    token: str = field(repr=False)


class TokenVerifier:
    """Verify tokens as Realtime does.

    Args:
        jwt_secret: The stack's HS256 secret.
        api_keys: ``sb_`` keys mapped to the JWT each stands for (the gateway's swap).
    """

    def __init__(self, jwt_secret: str, api_keys: Mapping[str, str] | None = None) -> None:
        self._secret = jwt_secret
        self._api_keys = dict(api_keys or {})

    def __repr__(self) -> str:
        return "TokenVerifier()"

    def resolve_key(self, key: str) -> str:
        """Swap an ``sb_`` key for its JWT; any other value is returned unchanged.

        Raises:
            AuthError: An unknown ``sb_`` key.
        """
        if key.startswith("sb_"):
            mapped = self._api_keys.get(key)
            if mapped is None:
                raise AuthError("InvalidJWTToken", "Invalid API key")
            return mapped
        return key

    def verify(self, token: str) -> Identity:
        """Verify a JWT's signature, ``exp`` and ``role``.

        Raises:
            AuthError: With Realtime's code for what is wrong.
        """
        if token.count(".") != 2:
            raise AuthError("MalformedJWT", "The token provided is not a valid JWT")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"verify_aud": False, "verify_exp": False},
            )
        except jwt.InvalidSignatureError:
            raise AuthError("JwtSignatureError", "Failed to validate JWT signature") from None
        except jwt.InvalidAlgorithmError:
            raise AuthError("JwtSignatureError", "Failed to validate JWT signature") from None
        except jwt.InvalidTokenError:
            raise AuthError("MalformedJWT", "The token provided is not a valid JWT") from None
        exp, role = claims.get("exp"), claims.get("role")
        if not isinstance(exp, (int, float)) or isinstance(exp, bool):
            raise AuthError("InvalidJWTToken", "Fields `role` and `exp` are required in JWT")
        if not isinstance(role, str) or not role:
            raise AuthError("InvalidJWTToken", "Fields `role` and `exp` are required in JWT")
        left = float(exp) - time.time()
        if left <= 0:
            raise AuthError("InvalidJWTToken", f"Token has expired {int(-left)} seconds ago")
        sub = claims.get("sub")
        return Identity(
            role=role,
            claims=json.dumps(claims, separators=(",", ":")),
            sub=sub if isinstance(sub, str) else None,
            expires=float(exp),
            token=token,
        )
