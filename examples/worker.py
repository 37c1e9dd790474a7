"""A worker on the runtime: handlers, outcomes, hooks, graceful stop.

    python examples/worker.py                  # SUPABASE_URL + SUPABASE_SERVICE_ROLE_KEY (env/.env)
    python examples/worker.py --local --drain  # local stack with demo jobs; exit when idle

The same worker from the command line (the module builds its client at import)::

    supabase-jobs worker myapp.jobs:worker --concurrency 8 --queues default

``Worker`` claims only as many jobs as it has free slots, renews every lease with one
heartbeat, writes outcomes in batches and rides out outages. Ctrl-C / SIGTERM: no new
claims, running handlers get ``shutdown_timeout`` seconds, then whatever still runs is
handed back (pending again, no attempt spent); a second signal hands back at once.
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from supabase_jobs import (
    Fail,
    Job,
    JobOutcome,
    JobsClient,
    Snooze,
    Worker,
    WorkerHooks,
    job_context,
)


class PrintOutcomes(WorkerHooks):
    """A lifecycle hook: one line per job (ids and numbers only, never the payload)."""

    def __init__(self) -> None:
        self.handled = 0

    def job_finished(self, job: Job, outcome: JobOutcome) -> None:
        self.handled += 1
        print(f"  {job.id} {job.type}: {outcome.kind} (attempt {job.attempts})", flush=True)


def build_worker(jobs: JobsClient, hooks: PrintOutcomes) -> Worker:
    worker = Worker(jobs, concurrency=4, lease_seconds=60, hooks=[hooks])

    @worker.handler("test_job", timeout=30)
    def handle(job: Job) -> dict[str, Any]:
        """Your code. Long loops should check job_context().cancelled and stop."""
        if job.payload.get("fail"):
            raise RuntimeError("simulated failure")  # a failed attempt, retried with backoff
        if job.payload.get("not_yet"):
            raise Snooze(60)  # back to pending in 60 s, no attempt spent
        if job.payload.get("bad_input"):
            raise Fail("bad input", retry=False)  # failed for good
        job_context().wait(float(job.payload.get("seconds", 0.2)))  # a cancellable sleep
        return {"handled_by": "worker.py"}  # stored as the result

    return worker


def run(jobs: JobsClient, *, drain: bool) -> int:
    hooks = PrintOutcomes()
    stats = build_worker(jobs, hooks).run(drain=drain)
    print(f"stopped after {hooks.handled} job(s) ({stats.reason}, exit code {stats.exit_code})")
    return stats.exit_code or 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="local stack with demo jobs")
    parser.add_argument("--drain", action="store_true", help="exit when the queue is empty")
    args = parser.parse_args()
    if not args.local:
        with JobsClient.from_env() as jobs:
            return run(jobs, drain=args.drain)
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
        print("dispatched 10 demo jobs; worker running (Ctrl-C to stop)", flush=True)
        started = time.monotonic()
        code = run(jobs, drain=args.drain)
        print(f"ran for {time.monotonic() - started:.1f} s")
        return code


if __name__ == "__main__":
    raise SystemExit(main())
