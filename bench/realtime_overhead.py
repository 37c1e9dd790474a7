"""Cost of the Realtime wake-up triggers (migration 0007) on processing and on dispatch.

Every figure is a ratio of the same work with the triggers enabled and disabled
(``alter table public.jobs disable trigger ...``), measured in one run, interleaved, on one
throwaway cluster whose database has the shim's ``realtime`` schema (so every wake-up really
inserts into ``realtime.messages`` and notifies, as on a Supabase project with Realtime on).

(a) Lifecycle: ``bench/lifecycle_throughput.py``'s drains of N pre-dispatched jobs
    (``sj_claim_v1`` limit 100 + ``sj_complete_many_v1`` as PostgREST sends them), one worker
    overlapped and one serial. The UPDATE trigger fires on every claim and completion and
    finds no pending, due row.
(b) Dispatch: ``bench/e2e_throughput.py``'s (a): ``dispatch_many`` of M jobs through the
    gateway, and the same rows as one psycopg ``INSERT ... RETURNING *``. One wake-up each.

A ratio is rate with triggers / rate without (1.00 = free); medians of ``--runs`` rounds.
On a shared, loaded machine those ratios swing by tens of percent from round to round, so
(c) also measures the triggers' own time inside the server, which load barely skews:
``track_functions = 'all'`` gives the total time spent in ``sj_wake_v1`` (the trigger
function) against the time of the statements that fired it: the lifecycle functions' total
time for a drain, the INSERT statement's duration for a 10,000-row dispatch.

Run: ``.venv/bin/python bench/realtime_overhead.py [-n 5000] [-m 10000] [--runs 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
from supabase import ClientOptions, create_client

sys.path.insert(0, str(Path(__file__).resolve().parent))

import e2e_throughput as e2e
import lifecycle_throughput as lt

from supabase_jobs import JobsClient
from supabase_jobs.local._postgres import PostgresServer, bootstrap_database

TRIGGERS = ("sj_wake_on_insert", "sj_wake_on_update")


def set_triggers(conn: psycopg.Connection[object], on: bool) -> None:
    verb = "enable" if on else "disable"
    for name in TRIGGERS:
        conn.execute(f"alter table public.jobs {verb} trigger {name}")


def drain(server: PostgresServer, n: int, *, name: str, on: bool, overlapped: bool) -> float:
    """Jobs per second of one drain of ``n`` jobs."""
    server.create_database(name)
    bootstrap_database(server.dsn(dbname=name))
    with psycopg.connect(server.dsn(dbname=name), autocommit=True) as admin:
        set_triggers(admin, on)
        admin.execute(
            "insert into public.jobs (tenant_id, type, run_at) select gen_random_uuid(),"
            " 'test_job', now() - interval '1 hour' + g * interval '1 ms'"
            " from generate_series(1, %s) g",
            [n],
        )
        admin.execute("vacuum analyze")
    dsn = server.dsn("authenticator", name)
    conns = [psycopg.connect(dsn, autocommit=True) for _ in range(2)]
    try:
        started = time.perf_counter()
        if overlapped:
            done = lt._drain_overlapped(conns[0], conns[1], 100)
        else:
            done = lt._drain(conns[0], 100)
        elapsed = time.perf_counter() - started
    finally:
        for conn in conns:
            conn.close()
    assert done == n, (done, n)
    return n / elapsed


def server_share_drain(server: PostgresServer, n: int, *, name: str) -> float:
    """sj_wake_v1's share of the lifecycle functions' server time over one serial drain."""
    server.create_database(name)
    bootstrap_database(server.dsn(dbname=name))
    with psycopg.connect(server.dsn(dbname=name), autocommit=True) as admin:
        admin.execute(f"alter database {name} set track_functions = 'all'")
        admin.execute(
            "insert into public.jobs (tenant_id, type, run_at) select gen_random_uuid(),"
            " 'test_job', now() - interval '1 hour' + g * interval '1 ms'"
            " from generate_series(1, %s) g",
            [n],
        )
        admin.execute("vacuum analyze")
    with psycopg.connect(server.dsn("authenticator", name), autocommit=True) as conn:
        assert lt._drain(conn, 100) == n
    time.sleep(1.5)  # the worker backend has exited and flushed its function statistics
    with psycopg.connect(server.dsn(dbname=name), autocommit=True) as admin:
        stats: dict[str, float] = dict(
            admin.execute(
                "select funcname, total_time from pg_stat_user_functions"
                " where funcname in ('sj_wake_v1', 'sj_claim_v1', 'sj_complete_many_v1')"
            ).fetchall()
        )
    return float(stats.get("sj_wake_v1", 0.0)) / float(
        stats["sj_claim_v1"] + stats["sj_complete_many_v1"]
    )


def server_share_dispatch(
    server: PostgresServer, m: int, *, name: str, rounds: int
) -> tuple[float, float]:
    """For an ``m``-row INSERT ... RETURNING on one connection, alternating triggers on/off.

    Returns:
        sj_wake_v1's median share of the statement's duration (triggers on), and the ratio
        of the fastest statement with triggers off to the fastest with them on (the
        minimum filters out the load of the other processes on the machine).
    """
    server.create_database(name)
    bootstrap_database(server.dsn(dbname=name))
    rows = psycopg.types.json.Jsonb(e2e.items(m))
    shares: list[float] = []
    best = {True: float("inf"), False: float("inf")}
    with psycopg.connect(server.dsn(dbname=name)) as conn:
        conn.execute("set track_functions = 'all'")
        for i in range(rounds * 2):
            on = i % 2 == 0
            set_triggers(conn, on)
            conn.execute("truncate public.jobs")
            conn.commit()
            started = time.perf_counter()
            conn.execute(
                "insert into public.jobs (tenant_id, type, payload)"
                " select tenant_id, type, payload from jsonb_to_recordset(%s)"
                " as r(tenant_id uuid, type text, payload jsonb) returning *",
                [rows],
            ).fetchall()
            elapsed_ms = (time.perf_counter() - started) * 1000
            best[on] = min(best[on], elapsed_ms)
            row = conn.execute(
                "select total_time from pg_stat_xact_user_functions where funcname = 'sj_wake_v1'"
            ).fetchone()
            conn.commit()
            if on:
                shares.append(float(row[0]) / elapsed_ms if row else 0.0)
    return statistics.median(shares), best[False] / best[True]


def timed(prepare: Callable[[], None], run: Callable[[], int], expect: int) -> float:
    prepare()
    started = time.perf_counter()
    done = run()
    elapsed = time.perf_counter() - started
    assert done == expect, (done, expect)
    return expect / elapsed


def report(results: dict[str, list[float]]) -> None:
    width = max(len(name) for name in results)
    for name, runs in results.items():
        print(f"{name:<{width}}  {statistics.median(runs):>9,.0f} jobs/s  (runs {len(runs)})")
    names = sorted({name.rsplit(", ", 1)[0] for name in results})
    for base in names:
        on, off = results[f"{base}, triggers on"], results[f"{base}, triggers off"]
        each = sorted(a / b for a, b in zip(on, off, strict=True))
        print(
            f"ratio on/off {base}: medians {statistics.median(on) / statistics.median(off):.3f},"
            f" best rounds {max(on) / max(off):.3f} (per round {each[0]:.3f}-{each[-1]:.3f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=5000, help="jobs per drain")
    parser.add_argument("-m", type=int, default=10_000, help="jobs per dispatch_many")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        results.setdefault(name, []).append(value)

    with PostgresServer() as server:
        for run in range(args.runs):
            for on in (run % 2 == 0, run % 2 != 0):  # alternate which goes first
                label = "triggers on" if on else "triggers off"
                tag = f"{run}_{int(on)}"
                add(
                    f"(a) drain overlapped, {label}",
                    drain(server, args.n, name=f"rt_o_{tag}", on=on, overlapped=True),
                )
                add(
                    f"(a) drain serial, {label}",
                    drain(server, args.n, name=f"rt_s_{tag}", on=on, overlapped=False),
                )
        drain_share = statistics.median(
            server_share_drain(server, args.n, name=f"rt_share_{run}") for run in range(3)
        )
        dispatch_share, dispatch_best = server_share_dispatch(
            server, args.m, name="rt_share_d", rounds=15
        )
    rows = e2e.items(args.m)
    with e2e.stack_in_subprocess() as stack, httpx.Client(timeout=120) as http:
        options = ClientOptions(httpx_client=http, postgrest_client_retry=False)
        client = JobsClient(create_client(stack.url, stack.service_role_key, options))
        client.dispatch_many(rows[:100])  # warm up connections and caches
        with psycopg.connect(stack.database_url, autocommit=True) as admin:

            def prepare() -> None:
                admin.execute("truncate public.jobs, realtime.messages")

            for run in range(args.runs):
                for on in (run % 2 == 0, run % 2 != 0):
                    label = "triggers on" if on else "triggers off"
                    set_triggers(admin, on)
                    add(
                        f"(b) dispatch_many over HTTP, {label}",
                        timed(prepare, lambda: len(client.dispatch_many(rows)), args.m),
                    )
                    add(
                        f"(b) psycopg INSERT RETURNING, {label}",
                        timed(prepare, lambda: e2e.psycopg_insert(stack, rows), args.m),
                    )
            messages = admin.execute("select count(*) from realtime.messages").fetchone()
    report(results)
    print(f"(c) sj_wake_v1 share of claim + complete_many server time (drain): {drain_share:.3%}")
    print(f"(c) sj_wake_v1 share of a {args.m}-row INSERT RETURNING: {dispatch_share:.3%}")
    print(
        f"(c) fastest {args.m}-row INSERT RETURNING of 15, on/off rate ratio (capture of the"
        f" transition table included): {dispatch_best:.3f}"
    )
    print(f"wake-up messages for the last dispatch round: {messages[0] if messages else None}")


if __name__ == "__main__":
    main()
