"""The ASGI application: ``/rest/v1/`` with PostgREST v14 semantics for supabase-py's requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from supabase_jobs.local._gateway._auth import Authenticator, AuthResult
from supabase_jobs.local._gateway._errors import (
    GatewayError,
    JsonObject,
    invalid_body,
    parse_json_keys,
    status_for_sqlstate,
)
from supabase_jobs.local._gateway._limits import MAX_QUERY_BYTES, default_max_body_bytes
from supabase_jobs.local._gateway._listener import SchemaListener
from supabase_jobs.local._gateway._plan import (
    Plan,
    plan_delete,
    plan_insert,
    plan_read,
    plan_update,
    refuse_range_on_write,
)
from supabase_jobs.local._gateway._prefer import Preferences, parse_prefer
from supabase_jobs.local._gateway._query import QueryParams, parse_query
from supabase_jobs.local._gateway._request import (
    apply_range_header,
    media_of,
    read_body,
    unread_body,
)
from supabase_jobs.local._gateway._response import build_response, error_response, make_checker
from supabase_jobs.local._gateway._rpc import RpcPlanner
from supabase_jobs.local._gateway._schema import SchemaCache, denied_object, load_schema_cache
from supabase_jobs.local._gateway._sql import Shape
from supabase_jobs.local._gateway._tx import RequestContext, run_in_transaction
from supabase_jobs.local._realtime import RealtimeConfig, RealtimeEndpoint

__all__ = ["GatewayApp", "GatewayConfig"]

logger = logging.getLogger("supabase_jobs.local.gateway")

_METHODS = ["GET", "HEAD", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"]
_JSON = "application/json; charset=utf-8"


@dataclass(frozen=True)
class GatewayConfig:
    """Settings of one gateway (PostgREST's ``db-*`` and ``jwt-secret`` equivalents).

    Attributes:
        database_url: Conninfo for the ``authenticator`` login role.
        jwt_secret: HS256 secret of the project's JWTs.
        schemas: Exposed schemas (``db-schemas``); the first is the default.
        extra_search_path: Appended to ``search_path`` (``db-extra-search-path``).
        anon_role: Role for requests without a JWT (``db-anon-role``).
        api_keys: ``sb_`` keys mapped to the JWT they stand for (Kong's rule).
        max_rows: Cap on rows returned by reads (``db-max-rows``, 1000 on Supabase).
        max_body_bytes: Larger request bodies are refused with 413, while streaming (never
            buffered past the limit). Default: ``SUPABASE_JOBS_GATEWAY_MAX_BODY_BYTES``, else
            a 10,000-job ``dispatch_many`` with 4 KiB payloads (see ``_limits``).
        max_query_bytes: Longer query strings are refused with 414.
        channel: The ``LISTEN`` channel for ``NOTIFY pgrst, 'reload schema'``
            (``db-channel``); ``None`` turns the listener off.
        pool_min_size: Connections kept open.
        pool_max_size: Connections at most.
        pool_timeout: Seconds a request waits for a free connection before PGRST003/504
            (PostgREST's ``db-pool-acquisition-timeout``, 10 s by default).
        shutdown_timeout: Seconds ``stop()`` lets in-flight requests finish before
            cancelling them.
    """

    database_url: str = field(repr=False)
    jwt_secret: str = field(repr=False)
    schemas: tuple[str, ...] = ("public",)
    extra_search_path: tuple[str, ...] = ("public", "extensions")
    anon_role: str = "anon"
    api_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    max_rows: int | None = 1000
    max_body_bytes: int = field(default_factory=default_max_body_bytes)
    max_query_bytes: int = MAX_QUERY_BYTES
    channel: str | None = "pgrst"
    pool_min_size: int = 2
    pool_max_size: int = 10
    pool_timeout: float = 10.0
    shutdown_timeout: int = 3


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_STOPPED = GatewayError(
    503,
    "503",
    "Service Unavailable",
    "The gateway stopped before the request finished; an unfinished transaction was rolled back.",
)


def _uncancel() -> None:
    """Forget the handled cancellation so the task's later awaits are not cancelled again."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):  # Python >= 3.11
        task.uncancel()


class GatewayApp:
    """The Starlette application plus its pool and schema cache.

    Args:
        config: The gateway settings.
    """

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.auth = Authenticator(
            config.jwt_secret, anon_role=config.anon_role, api_keys=config.api_keys
        )
        self.pool: AsyncConnectionPool[Any] | None = None
        self.listener: SchemaListener | None = None
        self.cache = SchemaCache()
        self.rpc = RpcPlanner(config.max_rows)
        self.realtime = RealtimeEndpoint(
            RealtimeConfig(config.database_url, config.jwt_secret, config.api_keys)
        )
        self.app = Starlette(
            routes=[
                WebSocketRoute("/realtime/v1/websocket", self.realtime),
                Route("/rest/v1/{path:path}", self._endpoint, methods=_METHODS),
                Route("/rest/v1", self._endpoint, methods=_METHODS),
                Route("/{path:path}", self._no_route, methods=_METHODS),
            ],
            lifespan=self._lifespan,
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.config.database_url,
            min_size=self.config.pool_min_size,
            max_size=self.config.pool_max_size,
            # Server-side prepared statements are off: a pipeline aborted by an error can
            # leave psycopg believing a statement was prepared when it never was (26000).
            kwargs={"autocommit": True, "prepare_threshold": None},
            open=False,
            timeout=self.config.pool_timeout,
            name="supabase-jobs-gateway",
        )
        await pool.open(wait=True, timeout=30)
        self.pool = pool
        listener = None
        try:
            await self.reload_schema()
            if self.config.channel is not None:
                listener = SchemaListener(
                    self.config.database_url, self.config.channel, self.reload_schema
                )
                await listener.start()
                self.listener = listener
            yield
        finally:
            if listener is not None:
                await listener.stop()
            self.pool = None
            await pool.close()

    async def reload_schema(self) -> None:
        """Read the schema cache again (after migrations, like PostgREST's reload)."""
        assert self.pool is not None
        async with self.pool.connection() as conn:
            cache = await load_schema_cache(conn, self.config.schemas)
        # One assignment: a request sees the old cache or the new one, never a mix.
        self.cache = cache
        self.rpc.clear()  # cached plans name functions of the old cache

    async def _no_route(self, _request: Request) -> Response:
        body = b'{"message":"no Route matched with those values"}'
        return Response(body, 404, headers={"content-type": _JSON})

    async def _endpoint(self, request: Request) -> Response:
        try:
            response = await self._handle(request)
        except ClientDisconnect:
            # The client left while sending its body: nobody reads this answer, and it is
            # not a gateway fault worth a logged traceback.
            response = Response(b"", 400)
        except GatewayError as err:
            response = error_response(err)
        except asyncio.CancelledError:
            # ``stop()`` ran out of grace and cancelled the request. Without this, uvicorn
            # answers a plain-text 500 and logs a traceback; the client gets a JSON 503 like
            # a proxy in front of a stopping PostgREST (a numeric code marks a proxy error).
            _uncancel()
            response = error_response(_STOPPED)
        except Exception:  # never a traceback to the client
            logger.exception("unexpected gateway error", extra={"action": "gateway_request"})
            response = error_response(GatewayError(500, "XX000", "Internal gateway error"))
        if response.status_code >= 400 and unread_body(request):
            # Refused before its body was read: close instead of draining what may be
            # megabytes the client chose to send.
            response.headers["connection"] = "close"
        # Supabase's API gateway tags every response; clients quote it in error reports.
        response.headers["sb-request-id"] = str(uuid.uuid4())
        return response

    def _schema(self, request: Request, method: str) -> tuple[str, bool]:
        name = "accept-profile" if method in ("GET", "HEAD") else "content-profile"
        profile = request.headers.get(name)
        if profile is None:
            return self.config.schemas[0], False
        if profile not in self.config.schemas:
            raise GatewayError(
                406,
                "PGRST106",
                f"Invalid schema: {profile}",
                hint="Only the following schemas are exposed: " + ", ".join(self.config.schemas),
            )
        return profile, True

    async def _handle(self, request: Request) -> Response:
        method = request.method
        path = request.path_params.get("path", "").strip("/")
        segments = path.split("/") if path else []
        is_rpc = len(segments) == 2 and segments[0] == "rpc"
        if not is_rpc and len(segments) != 1:
            raise GatewayError(404, "PGRST125", "Invalid path specified in request URL")
        if method not in ("GET", "HEAD", "POST", "PATCH", "DELETE"):
            raise GatewayError(405, "PGRST117", f"Unsupported HTTP method: {method}")
        if is_rpc and method not in ("GET", "HEAD", "POST"):
            raise GatewayError(405, "PGRST101", f"Cannot use the {method} method on RPC")
        headers = request.headers
        auth = self.auth.authenticate(headers.get("authorization"), headers.get("apikey"))
        schema, from_profile = self._schema(request, method)
        cache = self.cache  # one snapshot per request, whatever a reload does meanwhile
        prefs = parse_prefer(headers.getlist("prefer"), cache.timezones)
        singular, strip = media_of(headers.get("accept"))
        if len(request.scope.get("query_string", b"")) > self.config.max_query_bytes:
            raise GatewayError(
                414,
                "414",
                "URI Too Long",
                f"The query string exceeds {self.config.max_query_bytes} bytes.",
            )
        query = parse_query(request.query_params.multi_items(), rpc=is_rpc)
        apply_range_header(request, query)
        body = None
        if method in ("POST", "PATCH"):
            # Who may write here is settled before a byte of the body is read.
            await self._refuse_unpermitted(cache, auth, schema, segments, method)
            body = await read_body(request, self.config.max_body_bytes)
        head = method == "HEAD"
        shape = Shape(singular=singular, head=head, strip=strip)
        if is_rpc:
            plan = self.rpc.plan(
                cache, schema, segments[1], method, query, prefs, body, shape=shape
            )
        else:
            plan = self._plan_table(cache, schema, segments[0], method, query, prefs, body, shape)
        ctx = RequestContext(
            auth=auth,
            search_path=", ".join(
                _quote(s) for s in dict.fromkeys((schema, *self.config.extra_search_path))
            ),
            method=method,
            path="/" + path,
            headers=dict(headers),
            cookies=dict(request.cookies),
            role_settings=cache.role_settings.get(auth.role, ()),
            timezone=prefs.timezone,
        )
        if self.pool is None:
            raise GatewayError(
                503, "PGRST002", "Could not query the database for the schema cache. Retrying."
            )
        result = await run_in_transaction(self.pool, plan, ctx, make_checker(plan, prefs, singular))
        response = build_response(plan, result, prefs, singular, head, strip=strip)
        if from_profile:
            response.headers["content-profile"] = schema
        return response

    async def _refuse_unpermitted(
        self, cache: SchemaCache, auth: AuthResult, schema: str, segments: list[str], method: str
    ) -> None:
        """Answer 42501 (401 for anon, else 403) before the body when the role may not write.

        The schema cache says who lacked the privilege at load time; the database confirms it
        now before refusing, so a GRANT made since then is never refused. An unknown table
        is PGRST205 here too, so no body is read for it either.
        """
        is_rpc = segments[0] == "rpc"
        name = segments[-1]
        if not is_rpc and (schema, name) not in cache.tables:
            raise _no_table(schema, name)
        action = "execute" if is_rpc else ("insert" if method == "POST" else "update")
        if not cache.may_be_denied(auth.role, schema, name, action) or self.pool is None:
            return
        try:
            async with self.pool.connection() as conn:
                kind = await denied_object(conn, auth.role, schema, name, action)
        except (psycopg.Error, PoolTimeout):
            return  # undecided: the statement itself will be refused if it must be
        if kind is not None:
            target = schema if kind == "schema" else name
            raise GatewayError(
                status_for_sqlstate("42501", "", anon=auth.anon),
                "42501",
                f"permission denied for {kind} {target}",
            )

    def _plan_table(
        self,
        cache: SchemaCache,
        schema: str,
        name: str,
        method: str,
        query: QueryParams,
        prefs: Preferences,
        body: str | None,
        shape: Shape,
    ) -> Plan:
        table = cache.tables.get((schema, name))
        if table is None:
            raise _no_table(schema, name)
        if method in ("GET", "HEAD"):
            return plan_read(table, query, prefs, shape=shape, max_rows=self.config.max_rows)
        if method == "DELETE":
            refuse_range_on_write(query)
            return plan_delete(table, query, prefs, shape=shape)
        assert body is not None
        if method == "PATCH":
            refuse_range_on_write(query)
            parsed = parse_json_keys(body)
            if not isinstance(parsed, JsonObject):
                raise invalid_body()
            keys = list(query.columns) if query.columns is not None else list(parsed)
            return plan_update(table, query, prefs, body, keys, shape=shape)
        return plan_insert(table, query, prefs, body, self._insert_keys(query, body), shape=shape)

    @staticmethod
    def _insert_keys(query: QueryParams, body: str) -> list[str]:
        if query.columns is not None:
            if not body.strip():
                raise invalid_body()
            return list(query.columns)
        parsed = parse_json_keys(body)
        if isinstance(parsed, JsonObject):
            return list(parsed)
        if not isinstance(parsed, list) or not all(isinstance(row, JsonObject) for row in parsed):
            raise invalid_body()
        if not parsed:
            return []
        first = frozenset(parsed[0])
        if any(row is not parsed[0] and frozenset(row) != first for row in parsed):
            raise invalid_body("All object keys must match")
        return list(parsed[0])


def _no_table(schema: str, name: str) -> GatewayError:
    return GatewayError(
        404, "PGRST205", f"Could not find the table '{schema}.{name}' in the schema cache"
    )
