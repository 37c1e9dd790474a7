"""Scheduling at scale: isolation, fairness, stats and prune, before and after migration 0006.

Every scenario runs side by side in two databases of one throwaway cluster: ``before`` has
the migrations up to 0005 (today's behaviour), ``after`` has all of them. SQL functions are
called directly (no HTTP); a claim being measured runs in a transaction that is rolled back,
so every repetition sees the same rows. Medians of ``--reps`` calls are printed, with ratios
computed within the same run (the machine is shared: absolute numbers are noisy).

Scenarios:
- isolation: 1,000,000 pending ``ai_generation`` jobs (1,000 tenants) in queue ``default``
  plus 200 due ``tenant_cleanup`` jobs; a claim of 100 filtered by type, an empty poll of an
  unknown queue, an unfiltered claim behind the backlog, and the baseline the target is
  stated against: an unfiltered claim of 100 on a table holding only 200 jobs.
- fairness: tenant A dispatches 20,000 jobs, then tenant B 50; which claim of 100 starts B's
  last job, and how much of each claim A gets.
- lifecycle: claim(100) + complete_many over N jobs, one serial worker, jobs spread over
  1,000 tenants (and one tenant per job, as bench/lifecycle_throughput.py dispatches them):
  before, after with fairness on (the default) and after with fairness off.
- stats: ``sj_stats_v1()`` (and ``sj_queue_stats_v1()`` after) at 1M and 3M rows (99%
  completed, 1% pending); ``--big`` adds 10M.
- prune: ``sj_prune_batch_v1`` over 1M old completed rows (after only): time per batch.

Run: ``PYTHONPATH=$PWD .venv/bin/python bench/scale.py [--reps 15] [--runs 3] [-n 5000] [--big]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from supabase_jobs import sql
from supabase_jobs.local._postgres import PostgresServer

sys.path.insert(0, str(Path(__file__).parent))
from lifecycle_throughput import _drain

BEFORE = 5  # the last migration before 0006
TENANT = "('00000000-0000-0000-0000-' || lpad((g %% {n})::text, 12, '0'))::uuid"


def setup(server: PostgresServer, name: str, upto: int | None) -> str:
    """A database with the shim and the migrations numbered <= ``upto`` (all if None)."""
    server.create_database(name)
    dsn = server.dsn(dbname=name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        sql.apply_shim(conn)
        for migration in sql.migrations():
            if upto is None or migration.version <= upto:
                conn.execute(migration.sql.encode())
        conn.execute("alter role authenticator with login password null")
    return dsn


def timed(conn: psycopg.Connection[Any], query: str, params: list[Any], reps: int) -> float:
    """Median milliseconds of ``query``, each call in a transaction rolled back."""
    times = []
    for _ in range(reps):
        conn.execute("begin")
        started = time.perf_counter()
        conn.execute(query, params).fetchall()
        times.append((time.perf_counter() - started) * 1000)
        conn.execute("rollback")
    return statistics.median(times)


CLAIM = "select id from public.sj_claim_v1(%s, %s, 300, %s, %s)"


def isolation(server: PostgresServer, reps: int) -> None:
    print("\n## isolation: 1,000,000 pending jobs of another type (and queue) in the table")
    rows: dict[str, dict[str, float]] = {}
    for label, upto in (("before", BEFORE), ("after", None)):
        dsn = setup(server, f"iso_{label}", upto)
        small = setup(server, f"iso_small_{label}", upto)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "insert into public.jobs (tenant_id, type, run_at) select "
                + TENANT.format(n=1000).replace("%%", "%")
                + ", 'ai_generation', now() - interval '1 hour' from generate_series(1, 1000000) g"
            )
            conn.execute(
                "insert into public.jobs (tenant_id, type, run_at) select gen_random_uuid(),"
                " 'tenant_cleanup', now() - interval '1 minute' from generate_series(1, 200)"
            )
            conn.execute("vacuum analyze public.jobs")
            timed(conn, CLAIM, ["w", 100, None, None], 3)  # warm the caches
            rows[label] = {
                "filtered claim(100), types=[tenant_cleanup]": timed(
                    conn, CLAIM, ["w", 100, ["tenant_cleanup"], None], reps
                ),
                "empty poll, queues=[other]": timed(conn, CLAIM, ["w", 100, None, ["other"]], reps),
                "unfiltered claim(100) behind the backlog": timed(
                    conn, CLAIM, ["w", 100, None, None], reps
                ),
            }
        with psycopg.connect(small, autocommit=True) as conn:
            conn.execute(
                "insert into public.jobs (tenant_id, type, run_at) select gen_random_uuid(),"
                " 'tenant_cleanup', now() - interval '1 minute' from generate_series(1, 200)"
            )
            conn.execute("vacuum analyze public.jobs")
            timed(conn, CLAIM, ["w", 100, None, None], 3)
            rows[label]["baseline: unfiltered claim(100), table of 200 jobs"] = timed(
                conn, CLAIM, ["w", 100, None, None], reps
            )
    base = rows["after"]["baseline: unfiltered claim(100), table of 200 jobs"]
    print("| scenario | before (ms) | after (ms) | after / before | after / baseline |")
    print("|---|---|---|---|---|")
    for name in rows["after"]:
        b, a = rows["before"][name], rows["after"][name]
        print(f"| {name} | {b:.2f} | {a:.2f} | {a / b:.2f}x | {a / base:.2f}x |")


def fairness(server: PostgresServer) -> None:
    print("\n## fairness: tenant A dispatches 20,000 jobs, then tenant B 50")
    for label, upto in (("before", BEFORE), ("after", None)):
        dsn = setup(server, f"fair_{label}", upto)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "insert into public.jobs (tenant_id, type, run_at) select"
                " '00000000-0000-0000-0000-00000000000a', 'test_job',"
                " now() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 20000) g"
            )
            conn.execute(
                "insert into public.jobs (tenant_id, type) select"
                " '00000000-0000-0000-0000-00000000000b', 'test_job' from generate_series(1, 50)"
            )
            conn.execute("vacuum analyze public.jobs")
            b_left, claims, shares = 50, 0, []
            while b_left and claims < 500:
                got = conn.execute(
                    "select tenant_id::text from public.sj_claim_v1('w', 100)"
                ).fetchall()
                claims += 1
                b = sum(1 for (t,) in got if t.endswith("b"))
                b_left -= b
                shares.append((len(got) - b, b))
        print(
            f"- {label}: all of B's jobs started by claim {claims};"
            f" (A, B) per claim: {shares[:3]}{' ...' if len(shares) > 3 else ''}"
        )


def lifecycle(server: PostgresServer, n: int, runs: int) -> None:
    print(f"\n## lifecycle: claim(100) + complete_many, one serial worker, N={n}")
    results: dict[str, list[float]] = {}
    for run in range(runs):
        for tenants in ("1000", "random"):
            for label, upto, fair in (
                ("before", BEFORE, True),
                ("after, fair", None, True),
                ("after, unfair", None, False),
            ):
                name = f"lc_{run}_{tenants}_{label.replace(', ', '_')}"
                dsn = setup(server, name, upto)
                tenant = "gen_random_uuid()" if tenants == "random" else TENANT.format(n=1000)
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(
                        f"insert into public.jobs (tenant_id, type, run_at) select {tenant},"
                        " 'test_job', now() - interval '1 hour' + g * interval '1 ms'"
                        " from generate_series(1, %s) g",
                        [n],
                    )
                    if not fair:
                        conn.execute("select public.sj_set_queue_fair_v1('default', false)")
                    conn.execute("vacuum analyze")
                with psycopg.connect(server.dsn("authenticator", name), autocommit=True) as w:
                    started = time.perf_counter()
                    done = _drain(w, 100)
                    rate = done / (time.perf_counter() - started)
                assert done == n, (done, n)
                results.setdefault(f"{tenants} tenants, {label}", []).append(rate)
    print(
        "| jobs spread over | before (jobs/s) | after, fair | after, unfair"
        " | fair / unfair | unfair / before | fair / before |"
    )
    print("|---|---|---|---|---|---|---|")
    for tenants in ("1000", "random"):
        m = {
            label: statistics.median(results[f"{tenants} tenants, {label}"])
            for label in ("before", "after, fair", "after, unfair")
        }
        spread = "1,000 tenants" if tenants == "1000" else "one tenant per job"
        print(
            f"| {spread} | {m['before']:,.0f} | {m['after, fair']:,.0f} | {m['after, unfair']:,.0f}"
            f" | {m['after, fair'] / m['after, unfair']:.2f}x"
            f" | {m['after, unfair'] / m['before']:.2f}x | {m['after, fair'] / m['before']:.2f}x |"
        )


def load(conn: psycopg.Connection[Any], rows: int) -> None:
    """``rows`` jobs, 99% completed (finished over the last day), 1% pending, in 1M chunks."""
    done = 0
    while done < rows:
        chunk = min(1_000_000, rows - done)
        conn.execute(
            "insert into public.jobs (tenant_id, type, status, queue, finished_at, run_at)"
            " select " + TENANT.format(n=1000) + ", (array['ai_generation','document_export',"
            "'tenant_cleanup'])[1 + g %% 3], case when g %% 100 = 0 then 'pending' else"
            " 'completed' end, (array['default','media'])[1 + g %% 2], case when g %% 100 <> 0"
            " then now() - (g %% 1440) * interval '1 minute' end, now() - interval '1 hour'"
            " from generate_series(%s, %s) g",
            [done + 1, done + chunk],
        )
        done += chunk
    conn.execute("vacuum analyze public.jobs")


def stats(server: PostgresServer, reps: int, big: bool) -> None:
    print("\n## stats() (sj_stats_v1, all tenants) and queue_stats() (after only)")
    print("| rows | before (ms) | after (ms) | after: queue_stats (ms) |")
    print("|---|---|---|---|")
    sizes = [1_000_000, 3_000_000] + ([10_000_000] if big else [])
    dsns = {
        label: setup(server, f"st_{label}", upto)
        for label, upto in (("before", BEFORE), ("after", None))
    }
    loaded = 0
    for size in sizes:
        out: dict[str, float] = {}
        for label, dsn in dsns.items():
            with psycopg.connect(dsn, autocommit=True) as conn:
                load(conn, size - loaded)
                out[label] = timed(conn, "select * from public.sj_stats_v1()", [], reps)
                if label == "after":
                    out["qs"] = timed(conn, "select * from public.sj_queue_stats_v1()", [], reps)
        loaded = size
        print(f"| {size:,} | {out['before']:.1f} | {out['after']:.2f} | {out['qs']:.2f} |")
    for dsn in dsns.values():
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("truncate public.jobs")


def prune(server: PostgresServer) -> None:
    print("\n## prune: 1,000,000 completed jobs older than a day")
    for label, upto in (("before", BEFORE), ("after", None)):
        dsn = setup(server, f"pr_{label}", upto)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "insert into public.jobs (tenant_id, type, status, finished_at) select"
                " gen_random_uuid(), 'test_job', 'completed', now() - interval '2 days'"
                " from generate_series(1, 1000000)"
            )
            conn.execute("vacuum analyze public.jobs")
            if label == "before":
                started = time.perf_counter()
                (deleted,) = conn.execute("select public.sj_prune_v1(86400)").fetchone() or (0,)
                took = time.perf_counter() - started
                print(
                    f"- before: one statement deleted {deleted:,} rows in {took:.2f} s"
                    " (one transaction holding every row lock)"
                )
                continue
            page, batches, total, longest = 0, 0, 0, 0.0
            started = time.perf_counter()
            while True:
                t0 = time.perf_counter()
                row = conn.execute(
                    "select * from public.sj_prune_batch_v1(86400, p_from_page := %s)", [page]
                ).fetchone()
                assert row is not None
                d, page, pages = row
                longest = max(longest, time.perf_counter() - t0)
                batches += 1
                total += d
                if page >= pages:
                    break
            took = time.perf_counter() - started
            print(
                f"- after: {batches} batches deleted {total:,} rows in {took:.2f} s;"
                f" longest transaction {longest * 1000:.0f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15, help="calls per median")
    parser.add_argument("--runs", type=int, default=3, help="lifecycle rounds (medians)")
    parser.add_argument("-n", type=int, default=5000, help="lifecycle jobs per round")
    parser.add_argument("--big", action="store_true", help="stats at 10M rows too (slow)")
    parser.add_argument(
        "--only", default="isolation,fairness,lifecycle,stats,prune", help="comma-separated"
    )
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    steps: dict[str, Callable[[PostgresServer], None]] = {
        "isolation": lambda s: isolation(s, args.reps),
        "fairness": fairness,
        "lifecycle": lambda s: lifecycle(s, args.n, args.runs),
        "stats": lambda s: stats(s, args.reps, args.big),
        "prune": prune,
    }
    with PostgresServer(fast=True) as server:
        print(
            f"PostgreSQL cluster on port {server.port} (fsync off);"
            f" before = migrations <= {BEFORE:04d}"
        )
        for name, step in steps.items():
            if name in chosen:
                step(server)
                sys.stdout.flush()


if __name__ == "__main__":
    main()
