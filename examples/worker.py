"""A worker loop: claim, heartbeat from a thread, complete or fail, stop cleanly on Ctrl-C.

    python examples/worker.py                  # SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY (env/.env)
    python examples/worker.py --local --drain  # local stack with demo jobs; exit when idle

Ctrl-C (SIGINT) or SIGTERM: the job in hand finishes (and is completed or failed), jobs
claimed but not started go back to ``pending`` at once with ``snooze`` (no attempt spent),
then the process exits 0. A job that is cancelled, or whose lease was taken over, makes the
heartbeat raise ``LeaseLostError``; the handler sees ``lost.is_set()`` and its outcome is
dropped. A worker that is killed outright stops heartbeating: its jobs are claimed again
once their lease expires.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from supabase_jobs import Job, JobsClient, JobsError, LeaseLostError

LEASE_SECONDS = 60  # heartbeats renew it every LEASE_SECONDS / 3
POLL_SECONDS = 2.0  # wait between empty claims


def handle(job: Job, lost: threading.Event) -> dict[str, Any]:
    """Your code. Check ``lost`` in long loops: once set, another worker may own the job."""
    if job.payload.get("fail"):
        raise RuntimeError("simulated failure")
    time.sleep(float(job.payload.get("seconds", 0.2)))
    return {"handled_by": "worker.py"}


@contextlib.contextmanager
def heartbeating(jobs: JobsClient, job: Job) -> Iterator[tuple[threading.Event, Callable[[], Job]]]:
    """Renew ``job``'s lease in a thread while the block runs; yields ``(lost, current)``."""
    stop, lost = threading.Event(), threading.Event()
    current = [job]

    def beat() -> None:
        while not stop.wait(LEASE_SECONDS / 3):
            try:
                current[0] = jobs.heartbeat(current[0], lease_seconds=LEASE_SECONDS)
            except LeaseLostError:
                lost.set()  # cancelled, or the lease expired and someone else took it
                return
            except JobsError as exc:  # transient: try again at the next beat
                print(f"  heartbeat failed: {type(exc).__name__}: {exc}")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield lost, lambda: current[0]
    finally:
        stop.set()
        thread.join()


def work(jobs: JobsClient, worker_id: str, *, drain: bool = False) -> int:
    """Run until SIGINT/SIGTERM (or, with ``drain``, until the queue is empty)."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    handled = 0
    while not stopping.is_set():
        claimed = jobs.claim(worker_id, limit=5, lease_seconds=LEASE_SECONDS)
        if not claimed:
            if drain:
                break
            stopping.wait(POLL_SECONDS)
            continue
        for i, job in enumerate(claimed):
            if stopping.is_set():  # release what we will not start, without spending an attempt
                for rest in claimed[i:]:
                    jobs.snooze(rest, timedelta(0))
                print(f"  released {len(claimed) - i} claimed job(s)")
                break
            error: Exception | None = None
            with heartbeating(jobs, job) as (lost, current):
                try:
                    result = handle(job, lost)
                except Exception as exc:  # the job failed, not the worker
                    error = exc
            try:  # the heartbeat thread has stopped: current() holds the latest lease
                if error is None:
                    done = jobs.complete(current(), result)
                else:
                    done = jobs.fail(current(), error)  # retried with backoff
                print(f"  {job.id} {job.type}: {done.status} (attempt {done.attempts})")
            except LeaseLostError:
                print(f"  {job.id}: lease lost (cancelled or taken over); outcome dropped")
            handled += 1
    print(f"stopped after {handled} job(s)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="local stack with demo jobs")
    parser.add_argument("--drain", action="store_true", help="exit when the queue is empty")
    parser.add_argument("--worker-id", default=f"worker-{uuid.uuid4().hex[:8]}")
    args = parser.parse_args()
    if not args.local:
        with JobsClient.from_env() as jobs:
            return work(jobs, args.worker_id, drain=args.drain)
    from supabase_jobs.local import LocalStack

    with (
        LocalStack() as stack,
        JobsClient.from_env(
            env_file=None, url=stack.url, service_role_key=stack.service_role_key
        ) as jobs,
    ):
        tenant = str(uuid.uuid4())
        jobs.dispatch_many(
            [
                {"tenant_id": tenant, "type": "test_job", "payload": {"n": n, "seconds": 0.5}}
                for n in range(9)
            ]
            + [{"tenant_id": tenant, "type": "test_job", "payload": {"fail": True}}]
        )
        print(f"dispatched 10 demo jobs; worker {args.worker_id} running (Ctrl-C to stop)")
        return work(jobs, args.worker_id, drain=args.drain)


if __name__ == "__main__":
    raise SystemExit(main())
