"""Concurrency through HTTP: 8 worker threads drain 2,000 jobs, each executed exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from supabase import ClientOptions, create_client

from supabase_jobs import JobsClient
from supabase_jobs.local import LocalStack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TENANT = "00000000-0000-4000-8000-0000000000d1"
WORKERS = 8
JOBS = 2000


def test_eight_workers_drain_two_thousand_jobs(supabase_jobs_clean: LocalStack, jobs_client):
    stack = supabase_jobs_clean
    dispatched = jobs_client.dispatch_many(
        [{"tenant_id": TENANT, "type": "test_job", "payload": {"i": i}} for i in range(JOBS)]
    )
    executed: list[str] = []
    lock = threading.Lock()

    def work(worker: int) -> int:
        with httpx.Client(timeout=30) as http:
            options = ClientOptions(httpx_client=http)
            client = JobsClient(create_client(stack.url, stack.service_role_key, options))
            done = 0
            while batch := client.claim(f"worker-{worker}", limit=25):
                with lock:
                    executed.extend(str(job.id) for job in batch)
                client.complete_many([(job, {"by": worker}) for job in batch])
                done += len(batch)
            return done

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        counts = list(pool.map(work, range(WORKERS)))
    assert sum(counts) == JOBS
    assert sorted(executed) == sorted(str(job.id) for job in dispatched)
    assert jobs_client.stats(TENANT).by_status["completed"] == JOBS
