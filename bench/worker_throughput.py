# PGQueuer and Procrastinate are optional ([bench]); without them their decorators are untyped.
# mypy: disable-error-code="untyped-decorator"
"""Worker throughput: our runtime through the gateway vs PGQueuer and Procrastinate workers.

Every system drains N no-op jobs from one throwaway PostgreSQL cluster (a fresh database
per system and round), interleaved for ``--runs`` rounds; medians and ranges are printed.

- supabase_jobs: ``supabase-jobs worker`` processes (``AsyncWorker``, or ``Worker`` where
  named) talking HTTP to the local gateway, as in production. The jobs are inserted before
  the processes start; the rate is N / (last ``finished_at`` - first ``started_at``), both
  database clocks, so process start-up is not counted. One process at concurrency 1 (on
  N/10 jobs: one slot does one job per round trip), 8 and 32; 2 and 4 processes at 32.
- PGQueuer: ``QueueManager.run(mode=drain)`` with a no-op entrypoint over asyncpg, batch
  sizes 10 (its default) and 100; the faster is the baseline.
- Procrastinate: ``run_worker_async(wait=False, concurrency=32)``.

Latency: with one idle ``supabase-jobs worker`` (default ``poll_interval`` 2 s, no wake-up
source), single jobs are dispatched through the gateway at random moments; dispatch-to-start
is ``started_at - created_at``. This is the baseline a Realtime wake-up must beat.

Run: ``.venv/bin/python bench/worker_throughput.py [-n 10000] [--runs 2] [--samples 40]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from supabase_jobs import JobsClient
from supabase_jobs.local import LocalStack
from supabase_jobs.local._postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[1]
MODULE = """
import os
from supabase_jobs import AsyncJobsClient, AsyncWorker, JobsClient, Worker

POLL = float(os.environ["BENCH_POLL"])

if os.environ.get("BENCH_SYNC"):
    worker = Worker(JobsClient.from_env(env_file=None), lease_seconds=60, poll_interval=POLL)

    @worker.handler("test_job")
    def noop(job):
        return None

else:
    worker = AsyncWorker(None, lease_seconds=60, poll_interval=POLL)
    _run = worker.run

    async def _run_with_client(*, drain=False):
        # An AsyncJobsClient belongs to the loop that runs the worker: build it there.
        async with await AsyncJobsClient.from_env(env_file=None) as client:
            worker.jobs = client
            return await _run(drain=drain)

    worker.run = _run_with_client

    @worker.handler("test_job")
    async def noop(job):
        return None
"""


def _workers(
    stack: LocalStack, tmp: Path, processes: int, concurrency: int, *, sync: bool, poll: float,
    drain: bool = True,
) -> list[subprocess.Popen[bytes]]:  # fmt: skip
    env = {
        **os.environ,
        "SUPABASE_URL": stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp}",
        "BENCH_POLL": str(poll),
        **({"BENCH_SYNC": "1"} if sync else {}),
    }
    args = ["--concurrency", str(concurrency), "--log-level", "warning"]
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "supabase_jobs",
                "worker",
                "bench_worker:worker",
                *args,
                *(["--drain"] if drain else []),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]


def bench_ours(
    server: PostgresServer, n: int, tmp: Path, *, name: str, processes: int, concurrency: int,
    sync: bool = False,
) -> float:  # fmt: skip
    server.create_database(name)
    with LocalStack(server.dsn(dbname=name)) as stack:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute(
                "insert into public.jobs (tenant_id, type) select gen_random_uuid(), 'test_job'"
                " from generate_series(1, %s)",
                [n],
            )
            conn.execute("vacuum analyze public.jobs")
        procs = _workers(stack, tmp, processes, concurrency, sync=sync, poll=0.05)
        for proc in procs:
            assert proc.wait(timeout=900) == 0, "a worker failed"
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            done, first, last = conn.execute(
                "select count(*) filter (where status = 'completed'), min(started_at),"
                " max(finished_at) from public.jobs"
            ).fetchone() or (0, None, None)
    assert done == n, (done, n)
    return float(n / (last - first).total_seconds())


async def bench_pgqueuer(server: PostgresServer, n: int, batch: int, *, name: str) -> float:
    import asyncpg
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.qm import QueueManager
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    server.create_database(name)
    conn = await asyncpg.connect(server.dsn(dbname=name))
    try:
        queries = Queries(AsyncpgDriver(conn))
        await queries.install()
        await queries.enqueue(["noop"] * n, [None] * n, [0] * n)
        await conn.execute("vacuum analyze")
        qm = QueueManager(queries)
        seen = 0

        @qm.entrypoint("noop")
        async def noop(job: Any) -> None:
            nonlocal seen
            seen += 1

        started = time.perf_counter()
        await qm.run(
            dequeue_timeout=timedelta(seconds=0.5), batch_size=batch, mode=QueueExecutionMode.drain
        )
        elapsed = time.perf_counter() - started
    finally:
        await conn.close()
    assert seen == n, (seen, n)
    return n / elapsed


async def bench_procrastinate(server: PostgresServer, n: int, *, name: str) -> float:
    import procrastinate

    server.create_database(name)
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=server.dsn(dbname=name))
    )
    seen = 0

    @app.task(name="noop")
    async def noop() -> None:
        nonlocal seen
        seen += 1

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        await noop.batch_defer_async(*({} for _ in range(n)))
        started = time.perf_counter()
        await app.run_worker_async(wait=False, concurrency=32, delete_jobs="successful")
        elapsed = time.perf_counter() - started
    assert seen == n, (seen, n)
    return n / elapsed


def bench_latency(server: PostgresServer, tmp: Path, samples: int) -> list[float]:
    """Dispatch-to-start of single jobs sent to one idle worker with the default poll."""
    server.create_database("bench_latency")
    rng = random.Random(1)
    with LocalStack(server.dsn(dbname="bench_latency")) as stack:
        (proc,) = _workers(stack, tmp, 1, 8, sync=False, poll=2.0, drain=False)
        try:
            with JobsClient.from_env(
                env_file=None, url=stack.url, service_role_key=stack.service_role_key
            ) as jobs:
                time.sleep(5)  # the worker is up and idle, its poll backed off
                ids = []
                for _ in range(samples):
                    time.sleep(0.5 + rng.random() * 2.0)
                    ids.append(jobs.dispatch(str(jobs_tenant()), "test_job", {}).id)
                deadline = time.monotonic() + 60
                with psycopg.connect(stack.database_url, autocommit=True) as conn:
                    while time.monotonic() < deadline:
                        rows = conn.execute(
                            "select extract(epoch from started_at - created_at) from public.jobs"
                            " where id = any(%s) and started_at is not null",
                            [ids],
                        ).fetchall()
                        if len(rows) == len(ids):
                            return sorted(float(r[0]) for r in rows)
                        time.sleep(0.2)
                raise AssertionError("not every job started")
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def jobs_tenant() -> str:
    return "00000000-0000-4000-8000-00000000be00"


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):8.0f} jobs/s  (range {min(values):.0f}-{max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="jobs per system (default 10000)")
    parser.add_argument("--runs", type=int, default=2, help="rounds; medians are reported")
    parser.add_argument("--samples", type=int, default=40, help="latency samples")
    parser.add_argument("--skip-procrastinate", action="store_true", help="it is slow")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="only PGQueuer and 1 process x 32 (no Procrastinate, no latency): for A/B runs",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for name in ("procrastinate", "pgqueuer", "httpx", "psycopg.pool"):
        logging.getLogger(name).setLevel(logging.ERROR)
    n = args.n
    ours = {
        (1, 1): "supabase_jobs AsyncWorker, 1 process, concurrency 1 (N/10)",
        (1, 8): "supabase_jobs AsyncWorker, 1 process, concurrency 8",
        (1, 32): "supabase_jobs AsyncWorker, 1 process, concurrency 32",
        (2, 32): "supabase_jobs AsyncWorker, 2 processes x concurrency 32",
        (4, 32): "supabase_jobs AsyncWorker, 4 processes x concurrency 32",
    }
    sync32 = "supabase_jobs Worker (threads), 1 process, concurrency 32"
    pgq10, pgq100 = "PGQueuer drain batch_size=10", "PGQueuer drain batch_size=100"
    pgq_best = "PGQueuer, the faster of the two in each run"
    proc = "Procrastinate run_worker_async concurrency=32"
    if args.quick:
        ours = {(1, 32): ours[(1, 32)]}
    results: dict[str, list[float]] = {}
    with PostgresServer(fast=True) as server, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "bench_worker.py").write_text(MODULE, encoding="utf-8")
        print(f"PostgreSQL cluster on port {server.port} (fsync off); N={n}; runs={args.runs}")
        for run in range(args.runs):
            rates: dict[str, float] = {}
            rates[pgq10] = asyncio.run(bench_pgqueuer(server, n, 10, name=f"b_pgq10_{run}"))
            for (procs, conc), label in ours.items():
                # One slot runs one job per round trip: N/10 jobs measure the same rate.
                size = max(n // 10, 100) if conc == 1 else n
                rates[label] = bench_ours(server, size, tmp, name=f"b_sj_{procs}_{conc}_{run}",
                                          processes=procs, concurrency=conc)  # fmt: skip
            rates[pgq100] = asyncio.run(bench_pgqueuer(server, n, 100, name=f"b_pgq100_{run}"))
            if not args.quick:
                rates[sync32] = bench_ours(server, n, tmp, name=f"b_sjs_{run}", processes=1,
                                           concurrency=32, sync=True)  # fmt: skip
            rates[pgq_best] = max(rates[pgq10], rates[pgq100])
            if not args.skip_procrastinate and not args.quick:
                rates[proc] = asyncio.run(bench_procrastinate(server, n, name=f"b_proc_{run}"))
            for label, rate in rates.items():
                results.setdefault(label, []).append(rate)
            head = rates[ours[(1, 32)]] / rates[pgq_best]
            print(f"run {run + 1}: 1 process x 32 = {head:.2f}x PGQueuer (best)", flush=True)
        latencies = [] if args.quick else bench_latency(server, tmp, args.samples)
    print()
    for label, values in results.items():
        print(f"{label:62s} {_summary(values)}")
    print()
    base = results[pgq_best]
    for label in (*ours.values(), *([] if args.quick else [sync32])):
        ratios = [a / b for a, b in zip(results[label], base, strict=True)]
        print(f"{label:62s} {statistics.median(ratios):.2f}x PGQueuer (runs "
              f"{min(ratios):.2f}-{max(ratios):.2f})")  # fmt: skip
    if not latencies:
        return
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    print(
        f"\ndispatch-to-start, idle worker, poll_interval 2 s: p50 {p50 * 1000:.0f} ms,"
        f" p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms (n={len(latencies)})"
    )


if __name__ == "__main__":
    main()
