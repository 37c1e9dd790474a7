# PGQueuer and Procrastinate are optional ([bench]); without them their decorators are untyped.
# mypy: disable-error-code="untyped-decorator"
"""Lifecycle throughput: process N no-op jobs with our SQL, PGQueuer and Procrastinate.

All three run against one throwaway PostgreSQL cluster (a fresh database per system and
round), interleaved for ``--runs`` rounds, with the jobs already enqueued (ours with run_at
1 ms apart, so claims take them in dispatch order, as a draining queue does) and the
connections already open; only processing is timed. Medians and ranges are printed.

- supabase_jobs: ``sj_claim_v1`` (limit 100) and ``sj_complete_many_v1``, each as its own
  transaction on an ``authenticator`` connection with PostgREST's ``set_config`` block,
  i.e. the work PostgREST does for two rpc calls (minus HTTP). The four statements of a call
  are pipelined and prepared, as PostgREST sends them. Headline: one worker whose claim loop
  and completion loop overlap (two connections, as two HTTP requests in flight would use).
  Extra lines: the same worker serial (claim, then complete, on one connection), serial
  without pipelining, and two serial workers.
- PGQueuer: ``QueueManager.run(mode=drain, batch_size=100)`` over asyncpg, on one connection
  (its dequeue and buffered acks overlap) and on a pool of 4; the faster of the two in each
  run is the baseline.
- Procrastinate: ``run_worker_async(wait=False, concurrency=10, delete_jobs="successful")``
  over ``PsycopgConnector``.

Run: ``.venv/bin/python bench/lifecycle_throughput.py [-n 5000] [--runs 3] [--durable]
[--dispatched-by 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import queue
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from supabase_jobs.local._postgres import PostgresServer, bootstrap_database

SET_CONFIG = (
    "select set_config('search_path', '\"public\", \"extensions\"', true),"
    " set_config('role', 'service_role', true),"
    " set_config('request.jwt.claims', '{\"role\":\"service_role\"}', true),"
    " set_config('request.method', 'POST', true), set_config('request.path', %s, true),"
    " set_config('request.headers', %s, true), set_config('request.cookies', '{}', true)"
)
HEADERS = json.dumps({"prefer": "return=representation", "user-agent": "bench"})


# Ids come back as text, as PostgREST hands them to a client, and go back out as JSON text.
CLAIM = "select id::text, lease_id::text from public.sj_claim_v1(p_worker_id := %s, p_limit := %s)"
COMPLETE = "select id from public.sj_complete_many_v1(p_items := %s)"


def _rpc(
    conn: psycopg.Connection[Any], path: str, query: str, params: list[Any], pipe: bool
) -> list[Any]:
    """One PostgREST rpc: BEGIN, the set_config block, the function call, COMMIT.

    With ``pipe`` the four statements go out in one network round trip, as PostgREST sends
    them over its pool connection; statements are prepared, as PostgREST prepares them.
    """
    if not pipe:
        with conn.transaction():
            conn.execute(SET_CONFIG, [path, HEADERS])
            return conn.execute(query, params).fetchall()
    with conn.pipeline(), conn.transaction():
        conn.execute(SET_CONFIG, [path, HEADERS], prepare=True)
        cur = conn.execute(query, params, prepare=True)
    return cur.fetchall()


def _drain(conn: psycopg.Connection[Any], batch: int, pipe: bool = True) -> int:
    """A serial worker: claim a batch, complete it, repeat until a claim comes back empty."""
    done = 0
    while jobs := _rpc(conn, "/rpc/sj_claim_v1", CLAIM, ["bench", batch], pipe):
        done += len(_rpc(conn, "/rpc/sj_complete_many_v1", COMPLETE, [_items(jobs)], pipe))
    return done


def _items(jobs: list[Any]) -> Jsonb:
    return Jsonb([{"id": i, "lease_id": lease, "result": None} for i, lease in jobs])


def _drain_overlapped(
    claimer: psycopg.Connection[Any], completer: psycopg.Connection[Any], batch: int
) -> int:
    """One worker whose claim loop and completion loop run side by side.

    A worker runtime claims while earlier batches are still being completed, as PGQueuer's
    drain dequeues while its buffered acks flush. Here a thread claims the next batch as soon
    as the previous one is handed on (one batch waits at most), and another completes them
    with ``complete_many``: two connections, as two HTTP requests in flight would use two of
    PostgREST's, each call still its own transaction.
    """
    handoff: queue.Queue[list[Any] | None] = queue.Queue(maxsize=1)
    stop = threading.Event()  # set when the completer fails, so the claimer cannot block

    def hand_on(jobs: list[Any] | None) -> None:
        while not stop.is_set():
            try:
                handoff.put(jobs, timeout=0.5)
                return
            except queue.Full:
                continue

    def claim_loop() -> None:
        try:
            while not stop.is_set() and (
                jobs := _rpc(claimer, "/rpc/sj_claim_v1", CLAIM, ["bench", batch], True)
            ):
                hand_on(jobs)
        finally:
            hand_on(None)

    def complete_loop() -> int:
        done = 0
        try:
            while (jobs := handoff.get()) is not None:
                rows = _rpc(completer, "/rpc/sj_complete_many_v1", COMPLETE, [_items(jobs)], True)
                done += len(rows)
        except BaseException:
            stop.set()
            raise
        return done

    with ThreadPoolExecutor(2) as pool:
        claims = pool.submit(claim_loop)
        completions = pool.submit(complete_loop)
        claims.result()
        done = completions.result()
    return done


def bench_ours(
    server: PostgresServer, n: int, batch: int, *, name: str, mode: str, dispatched_by: int = 1
) -> float:
    """Our functions; ``mode``: serial, unpipelined, overlapped or two-workers."""
    server.create_database(name)
    bootstrap_database(server.dsn(dbname=name))
    with psycopg.connect(server.dsn(dbname=name), autocommit=True) as admin:
        # Dispatched one after another (run_at 1 ms apart, an hour ago), so claims take them
        # in insertion order, page by page, as a real queue's would. With ``dispatched_by``
        # > 1, dispatch_many batches of that size share one run_at (the database default,
        # now()), so within a batch claims follow the random id order across its pages.
        admin.execute(
            "insert into public.jobs (tenant_id, type, run_at) select gen_random_uuid(),"
            " 'test_job', now() - interval '1 hour' + (g / %s) * interval '1 ms'"
            " from generate_series(1, %s) g",
            [dispatched_by, n],
        )
        admin.execute("vacuum analyze")
    dsn = server.dsn("authenticator", name)
    # Connected before the clock starts, as PGQueuer's connection is.
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(1 if mode in SERIAL else 2)]
    try:
        started = time.perf_counter()
        if mode == "overlapped":
            done = _drain_overlapped(conns[0], conns[1], batch)
        elif mode == "two-workers":
            with ThreadPoolExecutor(2) as pool:
                done = sum(pool.map(_drain, conns, [batch] * 2))
        else:
            done = _drain(conns[0], batch, pipe=mode == "serial")
        elapsed = time.perf_counter() - started
    finally:
        for conn in conns:
            conn.close()
    assert done == n, (done, n)
    return n / elapsed


SERIAL = ("serial", "unpipelined")


async def bench_pgqueuer(
    server: PostgresServer, n: int, batch: int, *, name: str, pool: bool = False
) -> float:
    """PGQueuer's drain; ``pool`` gives it an asyncpg pool (4 connections), not one connection."""
    import asyncpg
    from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver
    from pgqueuer.qm import QueueManager
    from pgqueuer.queries import Queries
    from pgqueuer.types import QueueExecutionMode

    server.create_database(name)
    dsn = server.dsn(dbname=name)
    conn = await asyncpg.connect(dsn)
    connections = await asyncpg.create_pool(dsn, min_size=4, max_size=4) if pool else None
    try:
        driver = AsyncpgPoolDriver(connections) if connections else AsyncpgDriver(conn)
        queries = Queries(driver)
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
            dequeue_timeout=timedelta(seconds=0.5),
            batch_size=batch,
            mode=QueueExecutionMode.drain,
        )
        elapsed = time.perf_counter() - started
    finally:
        if connections is not None:
            await connections.close()
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
        await app.run_worker_async(wait=False, concurrency=10, delete_jobs="successful")
        elapsed = time.perf_counter() - started
    assert seen == n, (seen, n)
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="jobs per library (default 5000)")
    parser.add_argument("--batch", type=int, default=100, help="claim / dequeue batch size")
    parser.add_argument("--runs", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--durable", action="store_true", help="keep fsync on (stock settings)")
    parser.add_argument("--skip-procrastinate", action="store_true", help="it is slow")
    parser.add_argument(
        "--dispatched-by",
        type=int,
        default=1,
        help="our jobs dispatched in batches of this size sharing one run_at (default 1)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("procrastinate").setLevel(logging.ERROR)
    logging.getLogger("pgqueuer").setLevel(logging.ERROR)

    n, batch, by = args.n, args.batch, args.dispatched_by
    ours = f"supabase_jobs 1 worker, claim({batch}) overlapping complete_many"
    ours_serial = f"supabase_jobs 1 worker, claim({batch}) then complete_many"
    ours_rt = "supabase_jobs, serial, 4 round trips per rpc (no pipeline)"
    ours_2w = f"supabase_jobs, 2 serial workers x claim({batch}) + complete_many"
    pgq = f"PGQueuer drain batch_size={batch}, one connection"
    pgq_pool = f"PGQueuer drain batch_size={batch}, pool of 4"
    pgq_best = "PGQueuer, the faster of the two in each run"
    proc = "Procrastinate run_worker_async concurrency=10"
    results: dict[str, list[float]] = {}
    with PostgresServer(fast=not args.durable) as server:
        settings = "durable" if args.durable else "fsync off"
        print(
            f"PostgreSQL cluster on port {server.port} ({settings}); N={n}; runs={args.runs};"
            f" our jobs dispatched by {by}"
        )
        for run in range(args.runs):
            # Interleaved, so background load on the machine hits every system alike.
            rates = {
                ours: bench_ours(
                    server, n, batch, name=f"bench_sj_{run}", mode="overlapped", dispatched_by=by
                ),
                pgq: asyncio.run(bench_pgqueuer(server, n, batch, name=f"bench_pgq_{run}")),
                ours_serial: bench_ours(
                    server, n, batch, name=f"bench_sjs_{run}", mode="serial", dispatched_by=by
                ),
                pgq_pool: asyncio.run(
                    bench_pgqueuer(server, n, batch, name=f"bench_pgqp_{run}", pool=True)
                ),
                ours_rt: bench_ours(
                    server, n, batch, name=f"bench_sjrt_{run}", mode="unpipelined", dispatched_by=by
                ),
                ours_2w: bench_ours(
                    server, n, batch, name=f"bench_sj2_{run}", mode="two-workers", dispatched_by=by
                ),
            }
            rates[pgq_best] = max(rates[pgq], rates[pgq_pool])
            if not args.skip_procrastinate:
                rates[proc] = asyncio.run(bench_procrastinate(server, n, name=f"bench_proc_{run}"))
            for name, rate in rates.items():
                results.setdefault(name, []).append(rate)
    width = max(len(name) for name in results)
    median = {name: statistics.median(runs) for name, runs in results.items()}
    for name, runs in results.items():
        print(
            f"{name:<{width}}  {median[name]:>9,.0f} jobs/s"
            f"  (range {min(runs):,.0f}-{max(runs):,.0f})"
        )

    def ratio(a: str, b: str) -> str:
        each = sorted(x / y for x, y in zip(results[a], results[b], strict=True))
        return f"{median[a] / median[b]:.2f}x (per run {each[0]:.2f}-{each[-1]:.2f}x)"

    # Headline: one worker process each. PGQueuer's drain overlaps its dequeue with its
    # buffered acks, and gets a pool too if that is faster; ours overlaps the next claim with
    # the previous batch's complete_many.
    print(f"ratio supabase_jobs / PGQueuer (1 worker each): {ratio(ours, pgq_best)}")
    if not args.skip_procrastinate:
        print(f"ratio supabase_jobs / Procrastinate: {ratio(ours, proc)}")
    print(f"extra: supabase_jobs serial worker / PGQueuer: {ratio(ours_serial, pgq_best)}")
    print(f"extra: supabase_jobs 2 serial workers / PGQueuer: {ratio(ours_2w, pgq_best)}")
    print(f"extra: supabase_jobs serial, no pipelining / PGQueuer: {ratio(ours_rt, pgq_best)}")


if __name__ == "__main__":
    main()
