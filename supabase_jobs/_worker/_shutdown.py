"""What the worker does on SIGTERM / SIGINT / ``stop()``: the shutdown state machine.

``RUNNING -> DRAINING -> (ABORTING) -> STOPPED``

- **DRAINING** (first signal or ``stop()``): no new claims; a claim already in flight hands
  its rows straight back (``snooze`` 0 s, no attempt spent). Handlers keep running for up to
  ``shutdown_timeout``; heartbeats and outcome flushes go on.
- **ABORTING** (the deadline, a second signal, ``stop(hard=True)``, or no handler left
  running while writes are still owed): every job still running is handed back the same
  way (its attempt is given back, so it costs nothing) and its handler is told (async: the
  task is cancelled; sync: ``job_context().cancelled``).
  Outcomes still pending get ``flush_timeout`` to be written.
- **STOPPED**: nothing in flight and nothing left to write (or the flush deadline passed).
  Heartbeats stop last, so no lease lapses while its outcome is still being written.

Exit codes (what ``supabase-jobs worker`` returns): 0 stopped on request or drained with
every outcome written; 1 a fatal error (configuration, permissions, import); 3 stopped but
some outcomes could not be written (those jobs wait out their leases); 128 + signal number
when a second signal forced the stop.

Signal handlers (``installed_signals``) only record the request. They are installed only
when ``run()`` is called from the main thread (``signal.signal`` refuses elsewhere); the
previous handlers are restored on exit. Both signals are handled even when the process
inherited them as *ignored* (a background job of a non-interactive shell starts with SIGINT
ignored, and ``kill -INT`` must still stop the worker); SIGHUP is left alone so ``nohup``
keeps working.
"""

from __future__ import annotations

import enum
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = [
    "EXIT_FATAL",
    "EXIT_OK",
    "EXIT_UNFLUSHED",
    "SIGNALS",
    "Phase",
    "Shutdown",
    "installed_signals",
]

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_UNFLUSHED = 3
#: Signals closer together than this count as one (a terminal and a process manager can
#: both deliver the same Ctrl-C).
SECOND_SIGNAL_GAP = 1.0


class Phase(enum.Enum):
    """Where the worker is in its life."""

    RUNNING = "running"
    DRAINING = "draining"
    ABORTING = "aborting"
    STOPPED = "stopped"


class Shutdown:
    """The phase, its deadlines and the exit code; pure (the caller passes ``now``)."""

    def __init__(self, shutdown_timeout: float, flush_timeout: float) -> None:
        self.shutdown_timeout = shutdown_timeout
        self.flush_timeout = flush_timeout
        self.phase = Phase.RUNNING
        self.drain_deadline: float | None = None
        self.flush_deadline: float | None = None
        self.first_signal_at: float | None = None
        self.forced_by: int | None = None
        self.fatal: str | None = None
        self.reason = "running"

    @property
    def claiming(self) -> bool:
        """Whether new jobs may be claimed."""
        return self.phase is Phase.RUNNING

    def request(self, now: float, *, hard: bool = False, reason: str = "stop") -> bool:
        """A stop request; returns whether it moved the phase on."""
        if self.phase is Phase.STOPPED:
            return False
        if self.phase is Phase.RUNNING and not hard:
            self.phase = Phase.DRAINING
            self.drain_deadline = now + self.shutdown_timeout
            self.reason = reason
            return True
        if self.phase in (Phase.RUNNING, Phase.DRAINING):
            self._abort(now)
            self.reason = reason
            return True
        return False

    def signal(self, now: float, signum: int) -> bool:
        """A SIGTERM/SIGINT: the first drains, a second (1 s or more later) aborts."""
        if self.first_signal_at is None:
            self.first_signal_at = now
            return self.request(now, reason=f"signal {signum}")
        if now - self.first_signal_at < SECOND_SIGNAL_GAP:
            return False
        self.forced_by = signum
        return self.request(now, hard=True, reason=f"second signal {signum}")

    def fail(self, now: float, message: str) -> None:
        """A fatal error: hand everything back and stop with exit code 1."""
        self.fatal = message
        if self.phase in (Phase.RUNNING, Phase.DRAINING):
            self._abort(now)
        self.reason = "fatal error"

    def drained(self) -> None:
        """``run(drain=True)`` found nothing due and nothing in flight."""
        self.phase = Phase.STOPPED
        self.reason = "drained"

    def _abort(self, now: float) -> None:
        self.phase = Phase.ABORTING
        self.flush_deadline = now + self.flush_timeout

    def tick(self, now: float, *, running: int, unsettled: int) -> bool:
        """Advance on time and on what is left; returns whether the phase changed.

        Args:
            now: The monotonic clock.
            running: Handlers still running (not yet handed back).
            unsettled: Outcomes and hand-backs not yet acknowledged by the server.
        """
        if self.phase is Phase.DRAINING:
            if running == 0 and unsettled == 0:
                self.phase = Phase.STOPPED
                return True
            # Nothing left running: what remains are writes, which get flush_timeout.
            if running == 0 or (self.drain_deadline is not None and now >= self.drain_deadline):
                self._abort(now)
                return True
        if self.phase is Phase.ABORTING and (
            unsettled == 0 or (self.flush_deadline is not None and now >= self.flush_deadline)
        ):
            self.phase = Phase.STOPPED
            return True
        return False

    def exit_code(self, unsettled: int) -> int:
        """The process exit code once STOPPED (see the module docstring)."""
        if self.fatal is not None:
            return EXIT_FATAL
        if unsettled:
            return EXIT_UNFLUSHED
        if self.forced_by is not None:
            return 128 + self.forced_by
        return EXIT_OK


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
