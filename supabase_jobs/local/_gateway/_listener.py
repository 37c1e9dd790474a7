"""``LISTEN pgrst``: reload the schema cache on ``NOTIFY pgrst, 'reload schema'``, as PostgREST.

PostgREST keeps one dedicated connection listening on its channel (``db-channel``) and
reloads on ``'reload schema'``, ``'reload config'`` or an empty payload (both). Supabase sends
that NOTIFY after DDL, and users' own test suites create tables, so without it a new table
would be a 404 until a restart. When the connection drops, the listener reconnects with
backoff and reloads once, since notifications sent while it was away are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import psycopg
from psycopg import sql

__all__ = ["APPLICATION_NAME", "RELOAD_PAYLOADS", "SchemaListener"]

logger = logging.getLogger("supabase_jobs.local.gateway")

#: Payloads that reload the cache. The gateway keeps no configuration in the database
#: beyond role settings, which live in the schema cache, so ``reload config`` reloads it too.
RELOAD_PAYLOADS = frozenset({"reload schema", "reload config", ""})
#: ``application_name`` of the listening connection (find it in ``pg_stat_activity``).
APPLICATION_NAME = "supabase-jobs-gateway-listener"
_FIRST_DELAY = 0.1
_MAX_DELAY = 5.0
_READY_TIMEOUT = 10.0


class SchemaListener:
    """One background task holding a ``LISTEN`` connection.

    Args:
        conninfo: Where to connect (the gateway's login role may LISTEN).
        channel: The channel name (``pgrst`` by default, like PostgREST).
        reload: Coroutine function that reloads the schema cache.
    """

    def __init__(self, conninfo: str, channel: str, reload: Callable[[], Awaitable[None]]) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._reload = reload
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        #: Reloads done because of a notification or a reconnection (for tests and logs).
        self.reloads = 0

    def __repr__(self) -> str:
        return f"SchemaListener(channel={self._channel!r})"

    async def start(self) -> None:
        """Start listening; waits (briefly) until ``LISTEN`` has run, so a NOTIFY sent right
        after the gateway started is not missed. A database that is not reachable yet only
        delays the listener: it keeps retrying in the background."""
        self._task = asyncio.create_task(self._run(), name="supabase-jobs-gateway-listener")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._listening.wait(), _READY_TIMEOUT)

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        delay = _FIRST_DELAY
        connected_before = False
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, application_name=APPLICATION_NAME
                )
                async with conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self._listening.set()
                    if connected_before:
                        await self._reload_safely("reconnected")
                    connected_before, delay = True, _FIRST_DELAY
                    async for note in conn.notifies():
                        if note.payload.strip() in RELOAD_PAYLOADS:
                            await self._reload_safely(note.payload.strip() or "reload")
            except psycopg.Error as exc:
                # The cause is logged by class only: a conninfo may sit in the message.
                logger.warning(
                    "schema listener lost its connection (%s); retrying in %.1f s",
                    type(exc).__name__,
                    delay,
                    extra={"action": "gateway_listener"},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_DELAY)

    async def _reload_safely(self, why: str) -> None:
        try:
            await self._reload()
        except Exception as exc:  # the old cache keeps serving; the next NOTIFY retries
            logger.warning(
                "schema cache reload failed (%s, after %s)",
                type(exc).__name__,
                why,
                extra={"action": "gateway_listener"},
            )
            return
        self.reloads += 1
