"""SIGTERM / SIGINT for a running worker: handlers that only record the request.

Installed only when ``run()`` is called from the main thread (``signal.signal`` refuses
elsewhere); the previous handlers are restored on exit. Both signals are handled even when
the process inherited them as *ignored* (a background job of a non-interactive shell
starts with SIGINT ignored, and ``kill -INT`` must still stop the worker); SIGHUP is left
alone so ``nohup`` keeps working.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["SIGNALS", "installed_signals"]

logger = logging.getLogger("supabase_jobs.worker")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class installed_signals:
    """Context manager: route SIGTERM/SIGINT to ``on_signal(signum)`` while active.

    Args:
        on_signal: Called with the signal number; must only record the request.
        enabled: ``None``: install when on the main thread; ``False``: never.
    """

    def __init__(self, on_signal: Callable[[int], None], enabled: bool | None = None) -> None:
        self._on_signal = on_signal
        self._enabled = enabled
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> installed_signals:
        if self._enabled is False:
            return self
        if threading.current_thread() is not threading.main_thread():
            if self._enabled:
                logger.warning("not on the main thread: signals not handled; use stop()")
            return self
        for signum in SIGNALS:
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN:
                logger.info(
                    "%s was inherited as ignored; the worker handles it anyway",
                    signal.Signals(signum).name,
                )
            self._previous[signum] = previous
            signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._on_signal(signum)

    def __exit__(self, *exc_info: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
