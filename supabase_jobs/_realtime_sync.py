"""The synchronous flavour of the Realtime wake-ups: the async one on a small loop thread.

realtime-py has no working sync client (``SyncRealtimeClient`` raises), so a synchronous
worker runs :class:`~supabase_jobs._realtime.AsyncRealtimeWakeup` on an event loop of its
own, in a daemon thread. ``wake`` is then called on that thread: it must be thread-safe and
quick (setting a ``threading.Event`` is the intended use).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from supabase_jobs._realtime import AsyncRealtimeWakeup, Wake

__all__ = ["RealtimeWakeup"]

_STOP_TIMEOUT_SECONDS = 10.0


class RealtimeWakeup:
    """Wake-ups for some queues over Supabase Realtime, for synchronous code.

    Args:
        source: A supabase ``Client`` / ``AsyncClient``, or the project URL.
        queues: The queues to watch.
        key: The service-role key (required with a URL; overrides the client's key).
        max_backoff: Longest wait between reconnect attempts, in seconds.

    Raises:
        ValidationError: As :class:`~supabase_jobs._realtime.AsyncRealtimeWakeup`.

    Example:
        >>> due = threading.Event()  # doctest: +SKIP
        >>> wakeup = RealtimeWakeup(client, ["default"])  # doctest: +SKIP
        >>> wakeup.start(lambda queue: due.set())  # doctest: +SKIP
    """

    def __init__(
        self,
        source: Any,
        queues: Sequence[str],
        *,
        key: str | None = None,
        max_backoff: float = 30.0,
    ) -> None:
        self._inner = AsyncRealtimeWakeup(source, queues, key=key, max_backoff=max_backoff)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"RealtimeWakeup(queues={list(self.queues)!r}, healthy={self.healthy})"

    @property
    def queues(self) -> tuple[str, ...]:
        """The watched queues."""
        return self._inner.queues

    @property
    def healthy(self) -> bool:
        """True while every queue's channel is joined."""
        return self._inner.healthy

    @property
    def subscriptions(self) -> int:
        """Successful (re)subscriptions so far."""
        return self._inner.subscriptions

    def start(self, wake: Wake) -> None:
        """Start the loop thread and subscribe in the background (returns at once).

        Args:
            wake: Called on the loop thread with a queue name for each wake-up.
        """
        if self._thread is not None:
            raise RuntimeError("already started")
        loop = asyncio.new_event_loop()
        started: Future[None] = Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._inner.start(wake))
                started.set_result(None)
            except BaseException as exc:  # reported to start()'s caller
                started.set_exception(exc)
                return
            loop.run_forever()

        thread = threading.Thread(target=run, name="supabase-jobs-realtime", daemon=True)
        self._loop, self._thread = loop, thread
        thread.start()
        started.result(timeout=_STOP_TIMEOUT_SECONDS)

    def set_token(self, key: str) -> None:
        """Use a new token from now on (see the async flavour)."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("not started")
        asyncio.run_coroutine_threadsafe(self._inner.set_token(key), loop).result(
            timeout=_STOP_TIMEOUT_SECONDS
        )

    def stop(self) -> None:
        """Unsubscribe, close the socket and end the thread; safe to call twice."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._inner.stop(), loop).result(
                timeout=_STOP_TIMEOUT_SECONDS
            )
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=_STOP_TIMEOUT_SECONDS)
            if not thread.is_alive():
                loop.close()
