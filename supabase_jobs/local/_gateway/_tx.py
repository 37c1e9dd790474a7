"""One request = one transaction on a pooled ``authenticator`` connection.

The transaction starts with PostgREST's ``set_config`` block (search_path, role settings,
role, JWT claims, method, path, headers, cookies), then runs the plan's statement. Everything
is pipelined: when no check on the result is needed, BEGIN, the settings, the statement and
COMMIT travel in one round trip.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from supabase_jobs.local._gateway._auth import AuthResult
from supabase_jobs.local._gateway._errors import GatewayError, db_error
from supabase_jobs.local._gateway._plan import Plan

__all__ = ["RequestContext", "Result", "run_in_transaction"]

_BEGIN_RO = b"BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY"
_BEGIN_RW = b"BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"


@dataclass(frozen=True)
class RequestContext:
    """What the ``set_config`` block tells SQL about the request."""

    auth: AuthResult
    search_path: str
    method: str
    path: str
    headers: dict[str, str]
    cookies: dict[str, str]
    role_settings: Sequence[tuple[str, str]] = ()
    timezone: str | None = None


@dataclass(frozen=True)
class Result:
    """The statement's single row."""

    total: int | None
    page: int
    inserted: int | None
    body: str | None


@functools.lru_cache(maxsize=64)
def _set_config_sql(count: int) -> bytes:
    """``SELECT set_config(%s, %s, true), ...`` for ``count`` settings, built once per count.

    Names and values are both bound, so the text depends only on how many settings there
    are; caching it keeps SQL composition off the per-request path.
    """
    return b"SELECT " + b", ".join([b"set_config(%s, %s, true)"] * count)


def _settings_statement(ctx: RequestContext) -> tuple[bytes, list[Any]]:
    params: list[Any] = ["search_path", ctx.search_path]
    for key, value in ctx.role_settings:
        params += (key, value)
    params += (
        "role",
        ctx.auth.role,
        "request.jwt.claims",
        ctx.auth.claims,
        "request.method",
        ctx.method,
        "request.path",
        ctx.path,
        "request.headers",
        json.dumps(ctx.headers),
        "request.cookies",
        json.dumps(ctx.cookies),
    )
    if ctx.timezone:
        params += ("timezone", ctx.timezone)
    return _set_config_sql(len(params) // 2), params


async def _rollback_quietly(conn: psycopg.AsyncConnection[Any]) -> None:
    # A failed statement leaves the explicit transaction aborted; a broken connection is
    # discarded by the pool anyway, so a failing ROLLBACK must not hide the first error.
    if conn.closed or conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        return
    with contextlib.suppress(psycopg.Error):
        await conn.execute(b"ROLLBACK")


async def run_in_transaction(
    pool: AsyncConnectionPool[Any],
    plan: Plan,
    ctx: RequestContext,
    check: Callable[[Result], None] | None = None,
) -> Result:
    """Run ``plan`` for ``ctx`` in its own transaction.

    Args:
        pool: The ``authenticator`` pool (autocommit connections: transactions are explicit).
        plan: The statement.
        ctx: The request's role and settings.
        check: Called with the result before COMMIT; raising a :class:`GatewayError` rolls
            the transaction back (``.single()`` with the wrong row count, ``max-affected``).

    Returns:
        The statement's row.

    Raises:
        GatewayError: The PostgREST answer for any database or pool failure.
    """
    settings, settings_params = _settings_statement(ctx)
    try:
        async with pool.connection() as conn:
            try:
                cur = await _pipelined(conn, plan, settings, settings_params, commit=check is None)
                row = await cur.fetchone()
                assert row is not None  # the statement is an aggregate: always one row
                result = Result(row[0], int(row[1]), row[2], row[3])
                if check is not None:
                    try:
                        check(result)
                    except GatewayError:
                        await conn.execute(b"ROLLBACK")
                        raise
                    await conn.execute(b"COMMIT")
                return result
            except psycopg.Error:
                await _rollback_quietly(conn)
                raise
    except PoolTimeout:
        raise GatewayError(
            504, "PGRST003", "Timed out acquiring connection from connection pool."
        ) from None
    except psycopg.Error as exc:
        raise db_error(exc, anon=ctx.auth.anon) from None


async def _pipelined(
    conn: psycopg.AsyncConnection[Any],
    plan: Plan,
    settings: bytes,
    settings_params: list[Any],
    *,
    commit: bool,
) -> psycopg.AsyncCursor[Any]:
    """BEGIN, settings, statement (and COMMIT) in one round trip; returns the statement's cursor.

    A failure may surface inside the block or from the pipeline's exit; either way the first
    error is raised once, after the pipeline is closed (so psycopg logs no secondary error).
    """
    error: psycopg.Error | None = None
    cur: psycopg.AsyncCursor[Any] | None = None
    try:
        async with conn.pipeline():
            try:
                await conn.execute(_BEGIN_RO if plan.read_only else _BEGIN_RW)
                await conn.execute(settings, settings_params)
                cur = await conn.execute(plan.statement, plan.params)
                if commit:
                    await conn.execute(b"COMMIT")
            except psycopg.Error as exc:
                error = exc
    except psycopg.Error as exc:
        error = error or exc
    if error is not None:
        raise error
    assert cur is not None
    return cur
