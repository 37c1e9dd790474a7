"""Worker processes for the signal, chaos and outage tests: the real ``supabase-jobs worker``.

The handler appends ``job_id lease_id`` to a shared file when it starts (one ``write`` of
a short line with O_APPEND, so lines from several processes never interleave) and returns
the lease it ran under, which the tests compare with the lease that completed the job.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from supabase_jobs.local import LocalStack

ROOT = Path(__file__).resolve().parents[2]

WORKER_MODULE = """
import os, time
from supabase_jobs import JobsClient, Worker, job_context

jobs = JobsClient.from_env(env_file=None)
worker = Worker(
    jobs,
    concurrency=int(os.environ.get("SJ_TEST_CONCURRENCY", "8")),
    lease_seconds=int(os.environ.get("SJ_TEST_LEASE", "3")),
    shutdown_timeout=float(os.environ.get("SJ_TEST_SHUTDOWN", "30")),
    poll_interval=0.5,
)
_log = os.open(os.environ["SJ_TEST_STARTS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


@worker.handler("test_job")
def handle(job):
    os.write(_log, f"{job.id} {job.lease_id}\\n".encode())
    seconds = job.payload.get("sleep", 0)
    if job.payload.get("ignore_cancel"):
        time.sleep(seconds)
    elif seconds:
        job_context().wait(seconds)
    return {"lease_id": str(job.lease_id)}
"""


class Workers:
    """Start, signal and kill ``supabase-jobs worker`` processes against one stack."""

    def __init__(self, stack: LocalStack, tmp: Path, **env: str) -> None:
        self.stack = stack
        self.tmp = tmp
        (tmp / "sj_test_worker.py").write_text(WORKER_MODULE, encoding="utf-8")
        self.starts = tmp / "starts.log"
        self.env = {
            **os.environ,
            "SUPABASE_URL": stack.url,
            "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp}",
            "SJ_TEST_STARTS": str(self.starts),
            **env,
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, *args: str, ignore_sigint: bool = False, **env: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"worker-{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "supabase_jobs", "worker", "sj_test_worker:worker", *args],
                env={**self.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
                if ignore_sigint
                else None,
            )
        self.procs.append(proc)
        return proc

    def output(self) -> str:
        return "\n".join(log.read_text(errors="replace") for log in self.logs)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)

    def started_leases(self) -> Counter[tuple[str, str]]:
        if not self.starts.exists():
            return Counter()
        lines = self.starts.read_text().split()
        return Counter(zip(lines[::2], lines[1::2], strict=True))


def query(stack: LocalStack, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def count(stack: LocalStack, where: str) -> int:
    return int(query(stack, f"select count(*) from public.jobs where {where}")[0][0])


def wait_for(predicate: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, message
        time.sleep(0.2)


def dispatch(stack: LocalStack, n: int, payload: str = "{}") -> None:
    query(
        stack,
        "insert into public.jobs (tenant_id, type, payload)"
        " select '00000000-0000-4000-8000-0000000000c1', 'test_job', %s::jsonb"
        " from generate_series(1, %s) returning id",
        [payload, n],
    )


def invariants(stack: LocalStack, workers: Workers) -> dict[str, int]:
    """Counts that must all be zero (or bounded) after a drain, from the database."""
    rows = query(stack, "select id::text, status, lease_id::text, result from public.jobs")
    starts = workers.started_leases()
    runs = Counter(job_id for job_id, _ in starts.elements())
    started = set(starts)
    completed = [r for r in rows if r[1] == "completed"]
    return {
        "jobs": len(rows),
        "not_completed": sum(1 for r in rows if r[1] != "completed"),
        "processing": sum(1 for r in rows if r[1] == "processing"),
        # The lease that completed the job must be the one the handler ran under...
        "stale_completions": sum(1 for r in completed if (r[3] or {}).get("lease_id") != r[2]),
        # ...and a run that really started.
        "completed_without_a_run": sum(1 for r in completed if (r[0], r[2]) not in started),
        "duplicate_lease_starts": sum(1 for c in starts.values() if c > 1),
        "max_runs_per_job": max(runs.values(), default=0),
        "never_started": sum(1 for r in rows if r[0] not in runs),
    }
