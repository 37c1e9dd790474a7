"""``LocalStack``: PostgreSQL + Supabase shim + migrations + keys + gateway, in one object."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from supabase_jobs.local._gateway import Gateway
from supabase_jobs.local._keys import StackKeys, mint_user_jwt

__all__ = ["LocalStack"]


def authenticator_dsn(database_url: str, role: str = "authenticator") -> str:
    """The same database as ``database_url``, logged in as ``role`` without a password."""
    params = conninfo_to_dict(database_url)
    params.pop("password", None)
    params["user"] = role
    return make_conninfo("", **params)


class LocalStack:
    """What ``supabase start`` gives, without Docker: a Supabase-like project on 127.0.0.1.

    By default it starts a throwaway PostgreSQL cluster (removed on stop). Given
    ``database_url``, it uses that existing server instead (and never stops it).

    Args:
        database_url: Superuser URL of an existing database; ``None`` starts a cluster.
        base_dir: Where the throwaway cluster lives (a temporary directory when ``None``).
        bootstrap: Apply the Supabase shim and the migrations (idempotent). Turn off for an
            existing database that is already set up (``authenticator`` must then log in).
        jwt_secret: Use this secret instead of a random one.
        authenticator_url: Conninfo the gateway logs in with; by default ``database_url``
            with the user ``authenticator`` and no password.
        gateway_options: Extra :class:`~supabase_jobs.local.GatewayConfig` fields.

    Example:
        >>> with LocalStack() as stack:  # doctest: +SKIP
        ...     client = create_client(stack.url, stack.service_role_key)
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        base_dir: Path | None = None,
        bootstrap: bool = True,
        jwt_secret: str | None = None,
        authenticator_url: str | None = None,
        gateway_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._given_url = database_url
        self._base_dir = base_dir
        self._bootstrap = bootstrap
        self._authenticator_url = authenticator_url
        self._gateway_options = dict(gateway_options or {})
        self.keys = StackKeys.generate(jwt_secret)
        self._postgres: Any = None
        self._database_url: str | None = database_url
        self._gateway: Gateway | None = None

    def __repr__(self) -> str:
        url = self._gateway.url if self._gateway is not None else None
        return f"LocalStack(url={url!r})"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> LocalStack:
        """Start (or attach to) PostgreSQL, bootstrap it and start the gateway.

        Returns:
            ``self``.
        """
        if self._gateway is not None and self._gateway.running:
            return self
        from supabase_jobs.local._postgres import PostgresServer, bootstrap_database

        try:
            if self._given_url is None and self._postgres is None:
                self._postgres = PostgresServer(self._base_dir).start()
                self._database_url = self._postgres.dsn()
            if self._bootstrap:
                bootstrap_database(self.database_url)
            if self._gateway is None:
                self._gateway = Gateway(
                    self._authenticator_url or authenticator_dsn(self.database_url),
                    self.keys.jwt_secret,
                    api_keys=self.keys.api_keys(),
                    **self._gateway_options,
                )
            self._gateway.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the gateway, then the throwaway cluster (if this stack started one)."""
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None
            self._database_url = None

    def restart_gateway(self) -> None:
        """Stop and start the gateway on the same port (the database keeps running)."""
        self.gateway.stop()
        self.gateway.start()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what clients need -----------------------------------------------------------------

    @property
    def gateway(self) -> Gateway:
        """The running gateway."""
        if self._gateway is None:
            raise RuntimeError("the stack is not started")
        return self._gateway

    @property
    def url(self) -> str:
        """``SUPABASE_URL``: give it to ``create_client``."""
        return self.gateway.url

    @property
    def rest_url(self) -> str:
        """The PostgREST root (``<url>/rest/v1``)."""
        return self.gateway.rest_url

    @property
    def database_url(self) -> str:
        """``DATABASE_URL``: superuser conninfo of the stack's database."""
        if self._database_url is None:
            raise RuntimeError("the stack is not started")
        return self._database_url

    @property
    def jwt_secret(self) -> str:
        """``SUPABASE_JWT_SECRET``."""
        return self.keys.jwt_secret

    @property
    def anon_key(self) -> str:
        """``SUPABASE_ANON_KEY`` (a JWT for role ``anon``)."""
        return self.keys.anon_key

    @property
    def service_role_key(self) -> str:
        """``SUPABASE_SERVICE_ROLE_KEY`` (a JWT for role ``service_role``)."""
        return self.keys.service_role_key

    @property
    def publishable_key(self) -> str:
        """An ``sb_publishable_`` key (acts as the anon key)."""
        return self.keys.publishable_key

    @property
    def secret_key(self) -> str:
        """An ``sb_secret_`` key (acts as the service-role key)."""
        return self.keys.secret_key

    def mint_user_jwt(
        self,
        tenant_id: uuid.UUID | str | None,
        sub: uuid.UUID | str | None = None,
        *,
        email: str | None = None,
        expires_in: int = 3600,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """Mint an access token for a signed-in user of ``tenant_id``.

        Args:
            tenant_id: Stored in ``app_metadata.tenant_id``; ``None`` omits it.
            sub: The user id (random when ``None``).
            email: Optional email claim.
            expires_in: Seconds of validity; negative for an expired token.
            extra_claims: Claims merged last.

        Returns:
            The JWT, for ``ClientOptions(headers={"Authorization": f"Bearer {jwt}"})``.
        """
        return mint_user_jwt(
            self.keys.jwt_secret,
            tenant_id,
            sub=sub,
            email=email,
            expires_in=expires_in,
            extra_claims=extra_claims,
        )

    def env(self) -> dict[str, str]:
        """The variables ``supabase start`` prints, for ``.env`` files and subprocesses."""
        return {
            "SUPABASE_URL": self.url,
            "SUPABASE_ANON_KEY": self.anon_key,
            "SUPABASE_SERVICE_ROLE_KEY": self.service_role_key,
            "SUPABASE_JWT_SECRET": self.jwt_secret,
            "DATABASE_URL": self.database_url,
        }
