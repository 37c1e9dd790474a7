"""Wake-up latency: dispatch-return to handler-start, Realtime wake-ups vs polling only.

One local stack (gateway with its Realtime endpoint) on a throwaway PostgreSQL. For each
configuration, ``--workers`` idle ``Worker`` instances (sync, concurrency 8, each with its
own jobs client and, with Realtime, its own socket on a loop thread) serve one queue; jobs
are dispatched one at a time over HTTP at random intervals of 50-500 ms. Latency is the
handler's start minus the moment ``dispatch`` returned (one process, one monotonic clock).

- realtime: the default worker (``realtime=True``, ``poll_interval`` 2 s,
  ``idle_poll_interval`` 90 s).
- polling: ``realtime=False`` at the default ``poll_interval`` (2 s): the baseline.

Claims are counted with a wrapper on each worker's jobs client: claims per job during the
dispatch phase (the claim storm), and empty claims per minute of one idle worker over
``--idle-seconds`` (after a settle period) in each mode.

Run: ``.venv/bin/python bench/wakeup_latency.py [--jobs 200] [--idle-seconds 120]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
import uuid
from typing import Any

import httpx
from supabase import ClientOptions, create_client

from supabase_jobs import JobsClient, Worker
from supabase_jobs.local import LocalStack
from supabase_jobs.local._postgres import PostgresServer

TENANT = "00000000-0000-4000-8000-00000000be01"


class Counting:
    """A jobs client whose claims are counted."""

    def __init__(self, jobs: JobsClient) -> None:
        self._jobs = jobs
        self.claims = 0
        self.empty = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._jobs, name)

    def claim(self, *args: Any, **kwargs: Any) -> Any:
        found = self._jobs.claim(*args, **kwargs)
        with self._lock:
            self.claims += 1
            self.empty += not found
        return found


def client(stack: LocalStack, http: httpx.Client) -> JobsClient:
    options = ClientOptions(httpx_client=http, postgrest_client_retry=False)
    return JobsClient(create_client(stack.url, stack.service_role_key, options))


class Fleet:
    """``n`` idle workers on one queue, on threads; handler start times by job id."""

    def __init__(self, stack: LocalStack, n: int, *, realtime: bool, queue: str) -> None:
        self.http = [httpx.Client(timeout=60) for _ in range(n)]
        self.counters = [Counting(client(stack, h)) for h in self.http]
        self.started: dict[str, float] = {}
        self.workers = [
            Worker(c, queues=[queue], realtime=realtime, install_signal_handlers=False)
            for c in self.counters
        ]
        for worker in self.workers:
            worker.handler("test_job")(self._handle)
        self.threads = [threading.Thread(target=w.run, daemon=True) for w in self.workers]

    def _handle(self, job: Any) -> None:
        self.started.setdefault(str(job.id), time.monotonic())

    def __enter__(self) -> Fleet:
        for thread in self.threads:
            thread.start()
        deadline = time.monotonic() + 60
        while not all(w.wakeup is None or w.wakeup.healthy for w in self.workers):
            assert time.monotonic() < deadline, "subscribing"
            time.sleep(0.05)
        time.sleep(5.0)  # past the subscription's wake-up claim and the first backoffs
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.stop()
        for thread in self.threads:
            thread.join(timeout=60)
        for http in self.http:
            http.close()

    @property
    def claims(self) -> int:
        return sum(c.claims for c in self.counters)

    @property
    def empty(self) -> int:
        return sum(c.empty for c in self.counters)


def latency(stack: LocalStack, n_workers: int, jobs: int, *, realtime: bool) -> dict[str, Any]:
    rng = random.Random(n_workers * 2 + realtime)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    with httpx.Client(timeout=60) as http, Fleet(stack, n_workers, realtime=realtime,
                                                  queue=queue) as fleet:  # fmt: skip
        dispatcher = client(stack, http)
        claims0, empty0 = fleet.claims, fleet.empty
        sent: dict[str, float] = {}
        for _ in range(jobs):
            time.sleep(0.05 + rng.random() * 0.45)
            job = dispatcher.dispatch(TENANT, "test_job", queue=queue)
            sent[str(job.id)] = time.monotonic()
        deadline = time.monotonic() + 60
        while len(fleet.started.keys() & sent.keys()) < len(sent):
            assert time.monotonic() < deadline, "not every job started"
            time.sleep(0.05)
        delays = sorted((fleet.started[k] - t) * 1000 for k, t in sent.items())
        return {
            "p50": statistics.quantiles(delays, n=100)[49],
            "p95": statistics.quantiles(delays, n=100)[94],
            "p99": statistics.quantiles(delays, n=100)[98],
            "claims_per_job": (fleet.claims - claims0) / jobs,
            "empty_per_job": (fleet.empty - empty0) / jobs,
        }


def idle_claims(stack: LocalStack, seconds: float, *, realtime: bool) -> float:
    """Empty claims per minute of one idle worker (after the settle period)."""
    with Fleet(stack, 1, realtime=realtime, queue=f"idle-{uuid.uuid4().hex[:8]}") as fleet:
        empty0 = fleet.empty
        time.sleep(seconds)
        return (fleet.empty - empty0) * 60 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs per configuration")
    parser.add_argument("--idle-seconds", type=float, default=120.0, help="idle window")
    parser.add_argument("--workers", default="1,8", help="fleet sizes, comma-separated")
    args = parser.parse_args()
    sizes = [int(s) for s in args.workers.split(",")]
    with PostgresServer(fast=True) as server:
        server.create_database("bench_wakeup")
        with LocalStack(server.dsn(dbname="bench_wakeup")) as stack:
            print(f"{args.jobs} jobs per configuration, 50-500 ms apart; latency in ms")
            print(f"{'mode':9} {'workers':>7} {'p50':>7} {'p95':>7} {'p99':>7} "
                  f"{'claims/job':>10} {'empty/job':>9}")  # fmt: skip
            for n in sizes:
                for realtime in (True, False):
                    r = latency(stack, n, args.jobs, realtime=realtime)
                    mode = "realtime" if realtime else "polling"
                    print(f"{mode:9} {n:7d} {r['p50']:7.0f} {r['p95']:7.0f} {r['p99']:7.0f} "
                          f"{r['claims_per_job']:10.2f} {r['empty_per_job']:9.2f}",
                          flush=True)  # fmt: skip
            for realtime in (True, False):
                rate = idle_claims(stack, args.idle_seconds, realtime=realtime)
                mode = "realtime" if realtime else "polling"
                print(f"idle worker, {mode}: {rate:.2f} empty claims/minute "
                      f"(over {args.idle_seconds:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
