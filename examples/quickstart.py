"""Quickstart: dispatch, claim and complete jobs for two tenants, and see RLS isolate them.

Run it with no Supabase project configured and it starts the local stack (a throwaway
PostgreSQL behind a PostgREST-compatible gateway) for the duration of the run::

    python examples/quickstart.py            # local stack unless SUPABASE_URL is set
    python examples/quickstart.py --local    # always the local stack

With ``SUPABASE_URL`` and ``SUPABASE_SERVICE_ROLE_KEY`` set (env or ``.env``) it runs
against that project instead; the migrations must be applied there
(``supabase-jobs migrations export`` + ``supabase db push``), and a user-JWT step that needs
the project's JWT secret is skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from dotenv import load_dotenv

from supabase_jobs import Job, JobsClient, JobsError, Worker

if TYPE_CHECKING:
    from supabase_jobs.local import LocalStack


@contextlib.contextmanager
def _project(force_local: bool) -> Iterator[tuple[JobsClient, LocalStack | None]]:
    load_dotenv()
    if not force_local and os.environ.get("SUPABASE_URL"):
        print(f"Using the Supabase project at {os.environ['SUPABASE_URL']}")
        with JobsClient.from_env() as jobs:
            yield jobs, None
        return
    from supabase_jobs.local import LocalStack

    print("No Supabase project configured: starting the local stack (PostgreSQL + gateway)...")
    with LocalStack() as stack:
        print(f"  SUPABASE_URL={stack.url}")
        with JobsClient.from_env(
            env_file=None, url=stack.url, service_role_key=stack.service_role_key
        ) as jobs:
            yield jobs, stack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", action="store_true", help="always use the local stack")
    args = parser.parse_args()
    # The SDK logs scrubbed field paths (never values) at WARNING; show them inline.
    logging.basicConfig(level=logging.WARNING, format="   [log] %(levelname)s %(message)s")
    tenant_a, tenant_b = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        with _project(args.local) as (jobs, stack):
            return _run(jobs, stack, tenant_a, tenant_b)
    except JobsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: the `with` blocks above already stopped the stack
        print("interrupted", file=sys.stderr)
        return 130


def _run(jobs: JobsClient, stack: LocalStack | None, tenant_a: str, tenant_b: str) -> int:
    print("\n1. Dispatch: 3 jobs for tenant A, 2 for tenant B (one request each batch)")
    batch_a = jobs.dispatch_many(
        [
            {"tenant_id": tenant_a, "type": "ai_generation", "payload": {"prompt": f"p{i}"}}
            for i in range(3)
        ]
    )
    batch_b = jobs.dispatch_many(
        [
            {"tenant_id": tenant_b, "type": "document_indexing", "payload": {"doc": i}}
            for i in range(2)
        ]
    )
    for job in [*batch_a, *batch_b]:
        print(f"   {job.id}  tenant={str(job.tenant_id)[:8]}  {job.type:<18} {job.status}")

    print("\n2. A payload with secrets: they are scrubbed before the request")
    secret_job = jobs.dispatch(
        tenant_a,
        "ai_generation",
        {"prompt": "hi", "max_tokens": 256, "api_key": "sk-live-not-for-storage", "password": "x"},
    )
    print(f"   stored payload: {secret_job.payload}")

    print("\n3. Idempotent dispatch: the same key twice gives the same job")
    first = jobs.dispatch(tenant_b, "document_export", {"user": 7}, idempotency_key="export-7")
    again = jobs.dispatch(tenant_b, "document_export", {"user": 7}, idempotency_key="export-7")
    print(f"   {first.id} == {again.id}: {first.id == again.id}")

    print("\n4. A worker runs every job (Worker, drain mode: returns once the queue is empty)")
    # Drain mode stops once the queue is empty: no Realtime subscription to wait on.
    worker = Worker(jobs, concurrency=4, lease_seconds=60, realtime=False)

    @worker.handler("ai_generation")
    @worker.handler("document_indexing")
    @worker.handler("document_export")
    def handle(job: Job) -> dict[str, bool]:
        print(f"   ran {job.id} ({job.type}, attempt {job.attempts})")
        return {"ok": True}  # stored as the job's result; raise to fail the attempt

    summary = worker.run(drain=True)
    print(f"   completed {summary.completed} jobs, failed {summary.failed}")

    if stack is not None:
        _show_isolation(stack, tenant_a, tenant_b)

    print("\n6. Summary")
    for tenant, name in ((tenant_a, "A"), (tenant_b, "B")):
        stats = jobs.stats(tenant_id=tenant)
        counts = {str(s): n for s, n in stats.by_status.items() if n}
        print(f"   tenant {name}: {stats.total} jobs {counts}")
    return 0


def _show_isolation(stack: LocalStack, tenant_a: str, tenant_b: str) -> None:
    import httpx
    from supabase import ClientOptions, create_client

    print("\n5. Tenant isolation (RLS): each tenant's signed-in user reads only its own jobs")
    for tenant, name in ((tenant_a, "A"), (tenant_b, "B")):
        token = stack.mint_user_jwt(tenant)
        with httpx.Client(timeout=10) as http:
            options = ClientOptions(headers={"Authorization": f"Bearer {token}"}, httpx_client=http)
            user = create_client(stack.url, stack.anon_key, options)
            rows = user.table("jobs").select("tenant_id").execute().data
        tenants = {row["tenant_id"] for row in rows if isinstance(row, dict)}
        print(f"   user of tenant {name} sees {len(rows)} jobs, tenants: {tenants}")
        if not tenants <= {tenant}:
            raise SystemExit(f"RLS leak: tenant {name}'s user saw {tenants}")


if __name__ == "__main__":
    raise SystemExit(main())
