"""``worker.schedule`` end to end: three real ``supabase-jobs worker`` processes run the same
every-1-second schedule for 10 s through the local gateway. The database holds exactly one
job per slot (no gaps, no duplicates), and the workers run each slot's job once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from supabase_jobs.local import LocalStack

from ._worker_procs import ROOT, query, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TENANT = "00000000-0000-4000-8000-0000000000c2"
REPLICAS = 3
SECONDS = 10

WORKER_MODULE = f"""
import os
from datetime import timedelta
from supabase_jobs import JobsClient, Worker

jobs = JobsClient.from_env(env_file=None)
# A long poll interval: the slots must not wait for the next claim.
worker = Worker(jobs, poll_interval=30.0, idle_poll_interval=30.0, lease_seconds=10)
worker.schedule("every-second", every=timedelta(seconds=1), type="test_job",
                tenant_id="{TENANT}", payload={{"kind": "tick"}})
_log = os.open(os.environ["SJ_TEST_STARTS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


@worker.handler("test_job")
def handle(job):
    os.write(_log, f"{{job.id}}\\n".encode())
"""


def _slots(stack: LocalStack) -> list[tuple[Any, ...]]:
    return query(
        stack,
        "select run_at, idempotency_key, status, attempts,"
        " count(*) over (partition by run_at) from public.jobs where tenant_id = %s"
        " order by run_at",
        [TENANT],
    )


def test_three_worker_processes_enqueue_exactly_one_job_per_slot(
    supabase_jobs_clean: LocalStack, tmp_path: Path
) -> None:
    stack = supabase_jobs_clean
    (tmp_path / "sj_sched_worker.py").write_text(WORKER_MODULE, encoding="utf-8")
    starts = tmp_path / "starts.log"
    env = {
        **os.environ,
        "SUPABASE_URL": stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}",
        "SJ_TEST_STARTS": str(starts),
    }
    logs = [tmp_path / f"worker-{i}.log" for i in range(REPLICAS)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for log in logs:
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "supabase_jobs", "worker", "sj_sched_worker:worker"],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        # Every process is up once it has logged its start; the window starts after that.
        wait_for(lambda: all(log.stat().st_size > 0 for log in logs), 60, "workers not up")
        wait_for(lambda: bool(_slots(stack)), 30, "no slot enqueued")
        started = datetime.now(timezone.utc)
        time.sleep(SECONDS)
        ended = datetime.now(timezone.utc)
        assert all(p.poll() is None for p in procs), "a worker died"
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    output = "\n".join(log.read_text(errors="replace") for log in logs)
    assert codes == [0] * REPLICAS, output
    assert "Traceback" not in output, output

    rows = _slots(stack)
    slots = [r[0] for r in rows]
    assert all(r[4] == 1 for r in rows), "a slot was enqueued twice"
    assert len({r[1] for r in rows}) == len(rows)
    assert all(b - a == timedelta(seconds=1) for a, b in pairwise(slots)), slots
    window = [s for s in slots if started - timedelta(seconds=1) <= s <= ended]
    assert SECONDS - 1 <= len(window) <= SECONDS + 2, (len(window), started, ended)
    assert slots[-1] >= ended.replace(microsecond=0) - timedelta(seconds=3)
    # Each slot's job ran at most once (a stop may leave the newest ones pending).
    runs = Counter(starts.read_text().split()) if starts.exists() else Counter()
    assert max(runs.values(), default=0) == 1
    assert all(r[3] <= 1 and r[2] in ("completed", "pending") for r in rows)
    # The 30 s poll interval did not delay them: each enqueue woke the claim lane.
    assert sum(1 for r in rows if r[2] == "completed") >= len(rows) - 4
