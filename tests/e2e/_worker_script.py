"""One script of jobs and faults, run by ``Worker`` and ``AsyncWorker`` alike (parity).

Each job's payload says what its handler does; ``FaultyJobs`` makes chosen calls fail
with a ``TransportError`` first (a simulated network fault) and then passes them through.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from supabase_jobs import Cancel, Fail, Job, Snooze, TransportError, job_context

TENANT = "00000000-0000-4000-8000-00000000c0de"

#: n -> what the handler does with job n.
SCRIPT = {
    0: "complete",
    1: "complete",
    2: "snooze",
    3: "cancel",
    4: "fail_final",
    5: "fail_retry_in",
    6: "raise",
    7: "unstorable",
    8: "timeout",
    9: "complete",
    10: "exit",
    11: "complete",
}
#: call name -> how many times it fails before it works.
FAULTS = {"claim": 1, "complete_many": 2, "heartbeat_many": 1, "release_many": 1, "fail_many": 1}
EXPECTED_STATUS = {
    "complete": ("completed", 1),
    "snooze": ("pending", 0),
    "cancel": ("cancelled", 1),
    "fail_final": ("failed", 1),
    "fail_retry_in": ("pending", 1),
    "raise": ("pending", 1),
    "unstorable": ("failed", 1),
    "timeout": ("pending", 1),
    "exit": ("pending", 1),
}


def items() -> list[dict[str, Any]]:
    return [
        {"tenant_id": TENANT, "type": "test_job", "payload": {"n": n, "do": do}}
        for n, do in SCRIPT.items()
    ]


def outcome_of(job: Job) -> Any:
    """The shared decision; raising or returning as the payload says."""
    do = job.payload["do"]
    if do == "snooze":
        raise Snooze(300)
    if do == "cancel":
        raise Cancel("source deleted")
    if do == "fail_final":
        raise Fail("bad input", retry=False)
    if do == "fail_retry_in":
        raise Fail("try later", retry_in=120)
    if do == "raise":
        raise RuntimeError("boom")
    if do == "unstorable":
        return {"not json": object()}
    if do == "exit":
        raise SystemExit(2)
    return {"n": job.payload["n"]}


def sync_handler(job: Job) -> Any:
    if job.payload["do"] == "timeout":
        job_context().wait(30)  # returns once the worker gives up on it
        return {"late": True}
    return outcome_of(job)


async def async_handler(job: Job) -> Any:
    if job.payload["do"] == "timeout":
        await asyncio.sleep(30)
    return outcome_of(job)


class FaultyJobs:
    """A client whose chosen calls first fail with ``TransportError``."""

    def __init__(self, inner: Any, faults: dict[str, int]) -> None:
        self._inner = inner
        self._left = dict(faults)
        self.calls: dict[str, int] = {}

    def _fault(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self._left.get(name, 0) > 0:
            self._left[name] -= 1
            raise TransportError(f"simulated network fault in {name}")

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in FAULTS:
            return value
        if asyncio.iscoroutinefunction(value):

            async def async_call(*args: Any, **kwargs: Any) -> Any:
                self._fault(name)
                return await value(*args, **kwargs)

            return async_call

        def call(*args: Any, **kwargs: Any) -> Any:
            self._fault(name)
            return value(*args, **kwargs)

        return call


def wait_until(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)
