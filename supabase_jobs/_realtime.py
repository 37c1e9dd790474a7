"""Realtime wake-ups for workers: subscribe to the private channels of some queues.

Migration 0007 sends ``jobs_available`` with ``{"queue": <name>}`` on the private topic
``supabase_jobs:queue:<name>`` whenever a statement leaves jobs of that queue pending and
due. :class:`AsyncRealtimeWakeup` joins those channels through realtime-py with the
service-role key and calls ``wake(queue)`` for each message. It is the worker's pluggable
wake-up trigger: ``start(wake)``, ``stop()`` and ``healthy`` (true while every channel is
joined). Delivery is best effort, so a worker keeps polling (less often while healthy).

It supervises the connection itself: realtime-py alone stops reconnecting after a few
failed attempts without telling anyone, never rejoins a channel the server closed (token
expiry), and loses its listener if a callback raises. Here any trouble (socket lost, join
refused or timed out, channel closed) tears the realtime client down and builds a new one
after a backoff with jitter; every successful (re)subscription wakes each queue once, so
work dispatched while the socket was down is claimed at once rather than at the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any

from realtime import AsyncRealtimeClient, RealtimeSubscribeStates
from realtime.types import BroadcastPayload

from supabase_jobs._errors import ValidationError
from supabase_jobs._validate import validate_queue_name

__all__ = [
    "MAX_QUEUES",
    "WAKE_EVENT",
    "AsyncRealtimeWakeup",
    "Wake",
    "backoff_delay",
    "queue_topic",
]

logger = logging.getLogger("supabase_jobs.realtime")

#: The event migration 0007's trigger sends.
WAKE_EVENT = "jobs_available"
#: Channels per connection on Supabase (one channel per queue).
MAX_QUEUES = 100
#: Called with the queue name; runs on the event loop, so it must be quick and never block.
Wake = Callable[[str], None]

_TOPIC_PREFIX = "supabase_jobs:queue:"
_CHECK_SECONDS = 1.0
_JOIN_TIMEOUT_SECONDS = 15.0


def queue_topic(queue: str) -> str:
    """The channel name (``realtime.send`` topic) of a queue's wake-ups."""
    return _TOPIC_PREFIX + queue


def backoff_delay(
    attempt: int, *, base: float = 0.5, cap: float = 30.0, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before reconnect ``attempt`` (0-based): exponential, capped, jittered.

    Full jitter on the upper half (``[d/2, d]``) keeps many workers that lost the same
    server from reconnecting in lockstep.
    """
    delay = min(cap, base * 2.0 ** min(attempt, 30))
    return float(delay / 2 + rand() * delay / 2)


def _realtime_target(source: Any, key: str | None) -> tuple[str, str]:
    if isinstance(source, str):
        if key is None:
            raise ValidationError("key", "is required when a URL is given")
        url = source.rstrip("/")
        return (url if url.endswith("/realtime/v1") else url + "/realtime/v1"), key
    realtime_url, client_key = (
        getattr(source, "realtime_url", None),
        getattr(source, "supabase_key", None),
    )
    if realtime_url is None or not isinstance(client_key, str):
        raise ValidationError("client", "must be a supabase Client / AsyncClient or a URL")
    return str(realtime_url).rstrip("/"), key or client_key


class AsyncRealtimeWakeup:
    """Wake-ups for some queues over Supabase Realtime (async; runs on the caller's loop).

    Args:
        source: A supabase ``Client`` / ``AsyncClient`` (its URL and key are used; its own
            realtime client is left alone), or the project URL.
        queues: The queues to watch (at most :data:`MAX_QUEUES`).
        key: The service-role (or ``sb_secret_``) key; required with a URL, and overrides
            the client's key. Private channels need it (or RLS policies, see docs).
        max_backoff: Longest wait between reconnect attempts, in seconds.

    Raises:
        ValidationError: A bad queue name, no queue, too many, or no key for a URL.

    Example:
        >>> wakeup = AsyncRealtimeWakeup(client, ["default"])  # doctest: +SKIP
        >>> await wakeup.start(lambda queue: claim_now.set())  # doctest: +SKIP
    """

    def __init__(
        self,
        source: Any,
        queues: Sequence[str],
        *,
        key: str | None = None,
        max_backoff: float = 30.0,
    ) -> None:
        if isinstance(queues, str):
            raise ValidationError("queues", "must be a sequence of queue names, not one string")
        names = [validate_queue_name(q, path=f"queues[{i}]") for i, q in enumerate(queues)]
        if not names:
            raise ValidationError("queues", "must name at least one queue")
        if len(set(names)) > MAX_QUEUES:
            raise ValidationError("queues", f"at most {MAX_QUEUES} queues per connection")
        self.queues: tuple[str, ...] = tuple(dict.fromkeys(names))
        self._url, self._key = _realtime_target(source, key)
        self._max_backoff = max_backoff
        self._wake: Wake | None = None
        self._task: asyncio.Task[None] | None = None
        self._healthy = False
        self._trouble = asyncio.Event()
        self._client: AsyncRealtimeClient | None = None
        #: Successful (re)subscriptions so far (tests and metrics read it).
        self.subscriptions = 0

    def __repr__(self) -> str:
        # Never the key, and no URL (it may carry one).
        return f"AsyncRealtimeWakeup(queues={list(self.queues)!r}, healthy={self._healthy})"

    @property
    def healthy(self) -> bool:
        """True while every queue's channel is joined."""
        return self._healthy

    async def start(self, wake: Wake) -> None:
        """Start subscribing in the background (returns at once; see :attr:`healthy`).

        Args:
            wake: Called with a queue name for each wake-up and after each (re)subscription.
        """
        if self._task is not None:
            raise RuntimeError("already started")
        self._wake = wake
        self._trouble = asyncio.Event()
        self._task = asyncio.create_task(self._supervise(), name="supabase-jobs-realtime")

    async def stop(self) -> None:
        """Unsubscribe and close the socket; safe to call twice."""
        task, self._task = self._task, None
        self._healthy = False
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def set_token(self, key: str) -> None:
        """Use a new token (a refreshed JWT) from now on, as realtime-py's ``set_auth``.

        The joined channels get it at once; a channel the server then closes is rejoined
        on a fresh connection with the new token.
        """
        self._key = key
        client = self._client
        if client is not None and client.is_connected:
            with contextlib.suppress(Exception):
                await client.set_auth(key)

    def _listener(self, queue: str) -> Callable[[BroadcastPayload], None]:
        def on_message(_message: BroadcastPayload) -> None:
            self._fire(queue)

        return on_message

    def _fire(self, queue: str) -> None:
        # A callback that raises would kill realtime-py's listener without a word.
        wake = self._wake
        if wake is None:
            return
        try:
            wake(queue)
        except Exception:
            logger.exception("wake-up callback failed", extra={"queue": queue})

    async def _supervise(self) -> None:
        attempt = 0
        while True:
            try:
                if await self._session():
                    attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "realtime subscription failed (%s); polling continues",
                    type(exc).__name__,
                    extra={"action": "realtime_subscribe"},
                )
            finally:
                self._healthy = False
                await self._close_client()
            await asyncio.sleep(backoff_delay(attempt, cap=self._max_backoff))
            attempt += 1

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), timeout=5)

    @staticmethod
    def _listening(client: AsyncRealtimeClient) -> bool:
        # realtime-py's listener task can die silently (a callback or a warning-as-error
        # raising inside it) while the socket stays open: no message would ever arrive.
        task = getattr(client, "_listen_task", None)
        return not isinstance(task, asyncio.Task) or not task.done()

    async def _session(self) -> bool:
        """One connection: join every channel, then wait for trouble. True if it was healthy."""
        self._trouble.clear()
        client = AsyncRealtimeClient(
            self._url, token=self._key, auto_reconnect=False, max_retries=1
        )
        self._client = client
        await client.connect()
        joined: set[str] = set()
        all_joined = asyncio.Event()

        def on_state(queue: str) -> Callable[[RealtimeSubscribeStates, Exception | None], None]:
            def callback(state: RealtimeSubscribeStates, _error: Exception | None) -> None:
                if state == RealtimeSubscribeStates.SUBSCRIBED:
                    joined.add(queue)
                    if len(joined) == len(self.queues):
                        all_joined.set()
                else:  # CHANNEL_ERROR, TIMED_OUT, CLOSED: start over on a new connection
                    self._trouble.set()

            return callback

        for queue in self.queues:
            channel = client.channel(
                queue_topic(queue),
                {"config": {"private": True, "broadcast": {"ack": False, "self": False}}},
            )
            channel.on_broadcast(WAKE_EVENT, self._listener(queue))
            await channel.subscribe(on_state(queue))
        trouble = asyncio.ensure_future(self._trouble.wait())
        try:
            ready = asyncio.ensure_future(all_joined.wait())
            await asyncio.wait(
                {ready, trouble}, timeout=_JOIN_TIMEOUT_SECONDS, return_when="FIRST_COMPLETED"
            )
            ready.cancel()
            if not all_joined.is_set() or self._trouble.is_set():
                return False
            self._healthy = True
            self.subscriptions += 1
            for queue in self.queues:
                self._fire(queue)
            while not self._trouble.is_set() and client.is_connected and self._listening(client):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(trouble), timeout=_CHECK_SECONDS)
            return True
        finally:
            trouble.cancel()
