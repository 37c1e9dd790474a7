"""Construction, the PostgREST handle, close semantics: what every client method builds on.

``_async`` is the source; ``scripts/unasync.py`` generates ``_sync`` from it. The client
is three layers so no module grows past a few hundred lines: :class:`AsyncJobsBase`
(here), ``AsyncJobsLifecycle`` (the ``sj_*_v1`` RPCs) and ``AsyncJobsClient`` (dispatch
and table reads).
"""

from __future__ import annotations

import builtins
from typing import Any, TypeVar, cast

import httpx
from postgrest import AsyncPostgrestClient
from supabase import AsyncClient

from .._errors import ConfigurationError
from .._registry import JobTypeRegistry
from .._rpc import check_lifecycle_target
from .._settings import JobsConfig, check_service_role
from .._translate import remember_response, translate_errors

__all__ = ["AsyncJobsBase"]

_Self = TypeVar("_Self", bound="AsyncJobsBase")


async def _on_response(response: httpx.Response) -> None:
    """httpx response hook: keep the HTTP status and request id for error reports."""
    remember_response(response)


class AsyncJobsBase:
    """The wrapped supabase client, the service-role guard and the close logic.

    Args:
        supabase_client: A supabase ``AsyncClient`` created with the service-role (or
            ``sb_secret_``) key and no signed-in user.
        config: Schema, table, defaults and limits (``JobsConfig()`` when omitted).
        registry: The accepted job types (the six default types when omitted).

    Raises:
        ConfigurationError: ``supabase_client`` is not a supabase ``AsyncClient``.
        NotServiceRoleError: The client would act as anon or as a signed-in user.
    """

    def __init__(
        self,
        supabase_client: AsyncClient,
        *,
        config: JobsConfig | None = None,
        registry: JobTypeRegistry | None = None,
    ) -> None:
        if not isinstance(supabase_client, AsyncClient):
            raise ConfigurationError(
                f"{builtins.type(self).__name__} needs a supabase AsyncClient (from acreate_client)"
            )
        if config is not None and not isinstance(config, JobsConfig):
            raise ConfigurationError("config must be a JobsConfig")
        if registry is not None and not isinstance(registry, JobTypeRegistry):
            raise ConfigurationError("registry must be a JobTypeRegistry")
        self._client = supabase_client
        self._config = config if config is not None else JobsConfig()
        self._registry = registry if registry is not None else JobTypeRegistry()
        self._owned_http: httpx.AsyncClient | None = None
        self._closed = False
        postgrest = supabase_client.postgrest
        self._authorization = postgrest.headers.get("authorization")
        check_service_role(supabase_client.supabase_key, self._authorization)
        hooks = postgrest.session.event_hooks["response"]
        if _on_response not in hooks:
            hooks.append(_on_response)

    @property
    def config(self) -> JobsConfig:
        """The schema, table, defaults and limits in use."""
        return self._config

    @property
    def registry(self) -> JobTypeRegistry:
        """The job types this client accepts; register your own on it."""
        return self._registry

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called; a closed client sends nothing."""
        return self._closed

    def _rest(self) -> AsyncPostgrestClient:
        if self._closed:
            raise ConfigurationError(f"this {builtins.type(self).__name__} is closed")
        postgrest = self._client.postgrest
        # A sign-in on the wrapped client swaps the Authorization header; re-check it
        # so jobs are never written with a user's token.
        authorization = postgrest.headers.get("authorization")
        if authorization != self._authorization:
            check_service_role(self._client.supabase_key, authorization)
            self._authorization = authorization
        return postgrest.schema(self._config.db_schema)

    async def _rpc(self, name: str, params: dict[str, Any], action: str, **context: str) -> Any:
        """POST one ``sj_*`` function (never retried: RPCs write) and return its JSON."""
        check_lifecycle_target(self._config)
        builder = self._rest().rpc(name, cast("dict[str, str]", params))
        with translate_errors(action, **context):
            response = await builder.execute()
        return response.data

    async def aclose(self) -> None:
        """Close the client; later calls raise :class:`ConfigurationError`.

        Only what this object owns is closed: the ``httpx.AsyncClient`` that
        ``from_env`` created. A supabase client you passed in stays open (you own it).
        Closing twice is harmless.
        """
        self._closed = True
        if self._owned_http is not None:
            http, self._owned_http = self._owned_http, None
            await http.aclose()

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        # Never the supabase client or its headers: they hold the service-role key.
        return (
            f"{builtins.type(self).__name__}(schema={self._config.db_schema!r}, "
            f"table={self._config.table!r}, types={len(self._registry)}"
            f"{', closed' if self._closed else ''})"
        )
