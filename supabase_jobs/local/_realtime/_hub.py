"""The database side of the local Realtime: one LISTEN connection, fan-out, RLS checks.

Hosted Realtime streams committed ``realtime.messages`` rows by logical replication; the
shim's row trigger ``pg_notify``'s them on ``supabase_jobs_realtime`` instead, and this hub
LISTENs on one connection while at least one socket is open (as Realtime starts a tenant's
replication connection on demand). A message sent while nobody listens is not delivered,
as on Supabase. Private-channel checks run Realtime's probe: insert a row into
realtime.messages, switch to the token's role with its claims and ``realtime.topic``, and
see whether RLS lets it read the row back; all in one rolled-back transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import psycopg

from supabase_jobs.local._realtime._auth import Identity

__all__ = ["LISTEN_APPLICATION_NAME", "NOTIFY_CHANNEL", "Hub", "Subscriber"]

logger = logging.getLogger("supabase_jobs.local.realtime")

NOTIFY_CHANNEL = "supabase_jobs_realtime"
#: The LISTEN connection's application_name (to find it in pg_stat_activity).
LISTEN_APPLICATION_NAME = "supabase_jobs_realtime_listen"
_RECONNECT_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)

#: Called with (topic without ``realtime:``, event, payload, message id).
Subscriber = Callable[[str, str, dict[str, Any], str | None], None]

_PROBE = (
    "insert into realtime.messages (topic, extension, private, event)"
    " values (%s, %s, true, 'supabase_jobs_probe') returning id"
)
_CLAIMS = (
    "select set_config('role', %s, true), set_config('realtime.topic', %s, true),"
    " set_config('request.jwt.claims', %s, true), set_config('request.jwt.claim.sub', %s, true),"
    " set_config('request.jwt.claim.role', %s, true), set_config('request.headers', %s, true)"
)


class _Rollback(Exception):
    """Ends the probe transaction."""


class Hub:
    """Fan-out of database broadcasts to subscribed channels, and channel authorization.

    Args:
        database_url: Conninfo of the ``authenticator`` role (as the gateway's pool).
    """

    def __init__(self, database_url: str) -> None:
        self._dsn = database_url
        self._subs: dict[tuple[str, bool], set[Subscriber]] = {}
        self._users = 0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Event | None = None
        self._query: psycopg.AsyncConnection[Any] | None = None
        self._query_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"Hub(sockets={self._users}, listening={self._task is not None})"

    async def acquire(self) -> None:
        """Register an open socket; the first one starts LISTEN (returns once listening)."""
        async with self._lock:
            self._users += 1
            if self._task is None:
                self._ready = asyncio.Event()
                self._task = asyncio.create_task(self._listen(self._ready))
            ready = self._ready
        assert ready is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), timeout=10)

    async def release(self) -> None:
        """Unregister a socket; the last one stops LISTEN and closes the connections."""
        async with self._lock:
            self._users -= 1
            if self._users > 0:
                return
            task, self._task = self._task, None
            query, self._query = self._query, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if query is not None:
            await query.close()

    def subscribe(self, topic: str, private: bool, subscriber: Subscriber) -> None:
        """Deliver broadcasts on ``topic`` with this privacy to ``subscriber``."""
        self._subs.setdefault((topic, private), set()).add(subscriber)

    def unsubscribe(self, topic: str, private: bool, subscriber: Subscriber) -> None:
        """Stop delivering to ``subscriber`` (no error when it was not subscribed)."""
        subs = self._subs.get((topic, private))
        if subs is not None:
            subs.discard(subscriber)
            if not subs:
                del self._subs[(topic, private)]

    def publish(
        self,
        topic: str,
        private: bool,
        event: str,
        payload: dict[str, Any],
        message_id: str | None,
        *,
        skip: Subscriber | None = None,
    ) -> None:
        """Hand a message to every subscriber of (topic, private) but ``skip``."""
        for subscriber in list(self._subs.get((topic, private), ())):
            if skip is not None and subscriber == skip:
                continue
            try:
                subscriber(topic, event, payload, message_id)
            except Exception:  # one broken socket never stops the others' delivery
                logger.exception("realtime delivery failed", extra={"action": "realtime_fanout"})

    async def _listen(self, ready: asyncio.Event) -> None:
        attempt = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True, application_name=LISTEN_APPLICATION_NAME
                ) as conn:
                    await conn.execute("listen " + NOTIFY_CHANNEL)
                    ready.set()
                    attempt = 0
                    async for note in conn.notifies():
                        await self._dispatch(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database restarted: listen again, with backoff
                ready.set()  # sockets waiting in acquire() go on; delivery resumes later
                delay = _RECONNECT_SECONDS[min(attempt, len(_RECONNECT_SECONDS) - 1)]
                attempt += 1
                logger.warning(
                    "realtime LISTEN connection lost (%s); retrying in %.1f s",
                    type(exc).__name__,
                    delay,
                    extra={"action": "realtime_listen"},
                )
                await asyncio.sleep(delay)

    async def _dispatch(self, text: str) -> None:
        try:
            note = json.loads(text)
            if "topic" not in note:  # too large for NOTIFY: read the row
                note = await self._fetch(note["id"], note["inserted_at"])
                if note is None:
                    return
            topic, private = note["topic"], bool(note["private"])
            event, payload = note["event"], note["payload"]
            if not isinstance(topic, str) or not isinstance(event, str):
                return
            if not isinstance(payload, dict):
                return  # realtime-py drops a broadcast whose payload is not an object
            self.publish(topic, private, event, payload, str(note["id"]))
        except Exception:
            logger.exception("bad realtime notification", extra={"action": "realtime_fanout"})

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._query is None or self._query.closed:
            self._query = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        return self._query

    async def _fetch(self, message_id: str, inserted_at: str) -> dict[str, Any] | None:
        async with self._query_lock:
            conn = await self._connection()
            async with conn.transaction():
                await conn.execute("set local role service_role")
                cur = await conn.execute(
                    "select id, topic, event, private, payload from realtime.messages"
                    " where id = %s and inserted_at = %s",
                    [message_id, inserted_at],
                )
                row = await cur.fetchone()
        if row is None:
            return None
        return dict(zip(("id", "topic", "event", "private", "payload"), row, strict=True))

    async def can_read(self, topic: str, identity: Identity, headers: dict[str, str]) -> bool:
        """Whether ``identity`` may read broadcasts on the private channel ``topic``.

        Any database error (a role claim that is no role, a missing table) is a refusal,
        as Realtime reports it ("Unauthorized").
        """
        async with self._query_lock:
            try:
                conn = await self._connection()
                allowed = False
                try:
                    async with conn.transaction():
                        await conn.execute("set local role service_role")
                        cur = await conn.execute(_PROBE, [topic, "broadcast"])
                        probe = await cur.fetchone()
                        assert probe is not None
                        await conn.execute(
                            _CLAIMS,
                            [
                                identity.role,
                                topic,
                                identity.claims,
                                identity.sub or "",
                                identity.role,
                                json.dumps(headers),
                            ],
                        )
                        cur = await conn.execute(
                            "select 1 from realtime.messages where id = %s", [probe[0]]
                        )
                        allowed = await cur.fetchone() is not None
                        raise _Rollback
                except _Rollback:
                    pass
                return allowed
            except psycopg.Error as exc:
                logger.info(
                    "realtime authorization check failed (%s)",
                    type(exc).__name__,
                    extra={"action": "realtime_authorize"},
                )
                if self._query is not None and self._query.broken:
                    self._query = None
                return False
