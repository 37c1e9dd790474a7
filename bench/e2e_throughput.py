"""End-to-end throughput: the SDK over HTTP (gateway) against psycopg straight to the database.

One run, one local stack (throwaway PostgreSQL + the PostgREST-compatible gateway), every
figure measured in the same run. The stack runs in its own process (``supabase-jobs local
start``), as PostgREST runs beside an app in production; ``--in-process`` runs it in this
process instead, where the gateway and the client share one GIL.

(a) ``dispatch_many`` of N jobs (default 10,000) with :class:`JobsClient` through the gateway,
    against ONE multi-row ``INSERT ... RETURNING *`` of the same rows through psycopg
    (the rows come back in both cases: the SDK returns the stored jobs). Target >= 0.3.
(b) Processing M no-op jobs (default 5,000) with the SDK's ``claim(limit=100)`` +
    ``complete_many`` through HTTP, against the same two functions called directly through
    psycopg (``select * from sj_claim_v1(...)`` / ``sj_complete_many_v1(...)``, autocommit,
    rows fetched). Target >= 0.5.

A ratio is baseline time / SDK time (1.0 = as fast as psycopg). Each side runs ``--rounds``
times on a freshly truncated table and the best round counts.

Run: ``.venv/bin/python bench/e2e_throughput.py [-n 10000] [-m 5000] [--rounds 3] [--check]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from supabase import ClientOptions, create_client

from supabase_jobs import JobsClient
from supabase_jobs.local import LocalStack

TENANTS = [f"00000000-0000-4000-8000-{i:012d}" for i in range(1, 11)]
TARGET_DISPATCH = 0.3
TARGET_PROCESS = 0.5


def items(n: int) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": TENANTS[i % len(TENANTS)],
            "type": "test_job",
            "payload": {"i": i, "prompt": "summarise the attached document", "max_tokens": 512},
        }
        for i in range(n)
    ]


@dataclass(frozen=True)
class Stack:
    """What the benchmark needs of a running stack."""

    url: str
    service_role_key: str
    database_url: str


@contextlib.contextmanager
def stack_in_subprocess() -> Iterator[Stack]:
    """``supabase-jobs local start`` in a child process; Ctrl-C (SIGINT) stops it."""
    cmd = [sys.executable, "-m", "supabase_jobs", "local", "start"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            values: dict[str, str] = {}
            while len(values) < 5 and (line := proc.stdout.readline()):
                if "=" in line and not line.startswith("#"):
                    name, _, value = line.strip().partition("=")
                    values[name] = value
            yield Stack(
                values["SUPABASE_URL"],
                values["SUPABASE_SERVICE_ROLE_KEY"],
                values["DATABASE_URL"],
            )
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)


@contextlib.contextmanager
def stack_in_process() -> Iterator[Stack]:
    with LocalStack() as local:
        yield Stack(local.url, local.service_role_key, local.database_url)


def truncate(stack: Stack) -> None:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("truncate public.jobs")


def best(rounds: int, prepare: Callable[[], None], run: Callable[[], int], expect: int) -> float:
    times = []
    for _ in range(rounds):
        prepare()
        started = time.perf_counter()
        done = run()
        times.append(time.perf_counter() - started)
        if done != expect:
            raise RuntimeError(f"expected {expect} jobs, got {done}")
    return min(times)


def psycopg_insert(stack: Stack, rows: list[dict[str, Any]]) -> int:
    values = sql.SQL(", ").join(sql.SQL("(%s, %s, %s)") for _ in rows)
    query = sql.SQL(
        "insert into public.jobs (tenant_id, type, payload) values {} returning *"
    ).format(values)
    params: list[Any] = []
    for row in rows:
        params += [row["tenant_id"], row["type"], Jsonb(row["payload"])]
    with psycopg.connect(stack.database_url) as conn:
        inserted = conn.execute(query, params).fetchall()
        conn.commit()
    return len(inserted)


def seed(stack: Stack, m: int) -> None:
    truncate(stack)
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(
            "insert into public.jobs (tenant_id, type, payload)"
            " select %s, 'test_job', jsonb_build_object('i', g) from generate_series(1, %s) g",
            [TENANTS[0], m],
        )
        conn.execute("analyze public.jobs")


def sdk_process(client: JobsClient) -> int:
    done = 0
    while batch := client.claim("bench-http", limit=100):
        done += len(client.complete_many(batch))
    return done


def psycopg_process(stack: Stack) -> int:
    done = 0
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        while True:
            cur = conn.execute("select * from public.sj_claim_v1(%s, %s)", ["bench-db", 100])
            claimed = cur.fetchall()
            if not claimed:
                return done
            names = [column.name for column in cur.description or []]
            id_at, lease_at = names.index("id"), names.index("lease_id")
            batch = [
                {"id": str(row[id_at]), "lease_id": str(row[lease_at]), "result": None}
                for row in claimed
            ]
            completed = conn.execute(
                "select * from public.sj_complete_many_v1(%s)", [Jsonb(batch)]
            ).fetchall()
            done += len(completed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=10_000, help="jobs in the dispatch_many batch")
    parser.add_argument("-m", type=int, default=5_000, help="jobs to process")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--in-process", action="store_true", help="run the gateway in this process (one GIL)"
    )
    args = parser.parse_args(argv)
    rows = items(args.n)
    start = stack_in_process if args.in_process else stack_in_subprocess
    with start() as stack, httpx.Client(timeout=120) as http:
        options = ClientOptions(httpx_client=http, postgrest_client_retry=False)
        client = JobsClient(create_client(stack.url, stack.service_role_key, options))
        client.dispatch_many(rows[:100])  # warm up connections and caches
        prepare = lambda: truncate(stack)  # noqa: E731
        sdk_a = best(args.rounds, prepare, lambda: len(client.dispatch_many(rows)), args.n)
        db_a = best(args.rounds, prepare, lambda: psycopg_insert(stack, rows), args.n)
        sdk_b = best(args.rounds, lambda: seed(stack, args.m), lambda: sdk_process(client), args.m)
        db_b = best(
            args.rounds, lambda: seed(stack, args.m), lambda: psycopg_process(stack), args.m
        )
    ratio_a, ratio_b = db_a / sdk_a, db_b / sdk_b
    report = {
        "gateway": "in-process" if args.in_process else "own process",
        "dispatch_many": {
            "jobs": args.n,
            "sdk_http_s": round(sdk_a, 4),
            "psycopg_insert_s": round(db_a, 4),
            "ratio": round(ratio_a, 3),
            "target": TARGET_DISPATCH,
        },
        "claim_complete_many": {
            "jobs": args.m,
            "sdk_http_s": round(sdk_b, 4),
            "psycopg_direct_s": round(db_b, 4),
            "ratio": round(ratio_b, 3),
            "target": TARGET_PROCESS,
        },
    }
    print(json.dumps(report, indent=2))
    print(
        f"(a) dispatch_many {args.n}: SDK {args.n / sdk_a:,.0f} jobs/s vs psycopg"
        f" {args.n / db_a:,.0f} jobs/s -> ratio {ratio_a:.2f} (target >= {TARGET_DISPATCH})"
    )
    print(
        f"(b) claim(100)+complete_many {args.m}: SDK {args.m / sdk_b:,.0f} jobs/s vs psycopg"
        f" {args.m / db_b:,.0f} jobs/s -> ratio {ratio_b:.2f} (target >= {TARGET_PROCESS})"
    )
    missed = ratio_a < TARGET_DISPATCH or ratio_b < TARGET_PROCESS
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
