"""The ASGI websocket endpoint ``/realtime/v1/websocket``: connect-time auth, then a Session.

Connect as Supabase does: the key comes from the ``x-api-key`` header, else the ``apikey``
query parameter; ``sb_`` keys are swapped for their JWT (the API gateway's job on Supabase);
the JWT must verify and carry ``role`` and ``exp``. A refusal is an HTTP 401 with
``{"error": ...}`` before the upgrade, as Realtime answers (without its 2 s delay).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from supabase_jobs.local._realtime._auth import AuthError, TokenVerifier
from supabase_jobs.local._realtime._hub import Hub
from supabase_jobs.local._realtime._session import Limits, Session

__all__ = ["RealtimeConfig", "RealtimeEndpoint"]

logger = logging.getLogger("supabase_jobs.local.realtime")

#: Serializer versions served: V1 (JSON objects), the one realtime-py speaks.
_VERSIONS = frozenset({"1.0.0"})


@dataclass(frozen=True)
class RealtimeConfig:
    """Settings of the local Realtime endpoint.

    Attributes:
        database_url: Conninfo of the ``authenticator`` role.
        jwt_secret: The stack's HS256 secret.
        api_keys: ``sb_`` keys mapped to the JWT each stands for.
        limits: Per-socket limits.
    """

    database_url: str = field(repr=False)
    jwt_secret: str = field(repr=False)
    api_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    limits: Limits = field(default_factory=Limits)


class RealtimeEndpoint:
    """An ASGI app for Starlette's ``WebSocketRoute``.

    Args:
        config: The endpoint's settings.
    """

    def __init__(self, config: RealtimeConfig) -> None:
        self.config = config
        self.verifier = TokenVerifier(config.jwt_secret, config.api_keys)
        self.hub = Hub(config.database_url)

    def __repr__(self) -> str:
        return f"RealtimeEndpoint({self.hub!r})"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive, send)
        version = websocket.query_params.get("vsn", "1.0.0")
        if version not in _VERSIONS:
            await self._refuse(websocket, 400, f"unsupported serializer version {version[:16]!r}")
            return
        key = websocket.headers.get("x-api-key") or websocket.query_params.get("apikey")
        if not key:
            await self._refuse(websocket, 401, "No api key provided")
            return
        try:
            identity = self.verifier.verify(self.verifier.resolve_key(key))
        except AuthError as err:
            await self._refuse(websocket, 401, err.message)
            return
        await self.hub.acquire()
        try:
            await websocket.accept()
            await Session(websocket, identity, self.hub, self.verifier, self.config.limits).run()
        except Exception:  # a socket's failure is logged, never the gateway's
            logger.exception("realtime socket failed", extra={"action": "realtime"})
        finally:
            await self.hub.release()

    @staticmethod
    async def _refuse(websocket: WebSocket, status: int, message: str) -> None:
        await websocket.send_denial_response(JSONResponse({"error": message}, status))
