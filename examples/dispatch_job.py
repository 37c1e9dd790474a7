"""Dispatch a job, read it back, show secret scrubbing, clean up: the existing app's check.

Reads ``SUPABASE_URL`` and ``SUPABASE_SERVICE_ROLE_KEY`` (or ``SUPABASE_SECRET_KEY``)
from the environment or ``.env``; the project must have the supabase-jobs migrations.

    python examples/dispatch_job.py [--env-file .env] [--tenant-id UUID]
    python examples/dispatch_job.py --local      # against a throwaway local stack

Exit codes: 0 all checks passed, 1 a check or a request failed, 2 no project configured.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from supabase_jobs import ConfigurationError, Job, JobsClient, JobsError, JobStatus

NOT_CONFIGURED = 2


def step(title: str) -> None:
    print(f"\n{title}")


def check(ok: bool, what: str) -> bool:
    print(f"  {'OK  ' if ok else 'FAIL'} {what}")
    return ok


def run(jobs: JobsClient, tenant_id: str) -> bool:
    """The validation run of the existing TypeScript dispatcher, step by step."""
    payload = {"test": "data", "model": "gpt-4", "prompt": "Generate a test document"}
    created: list[Job] = []
    try:
        step("Step 1: dispatching a test job")
        job = jobs.dispatch(tenant_id, "test_job", payload)
        created.append(job)
        print(f"  job id {job.id}, type {job.type}, status {job.status}")

        step("Step 2: reading it back from the queue")
        stored = jobs.get(job.id, tenant_id=tenant_id)
        print(f"  created at {stored.created_at.isoformat()}")

        step("Step 3: validating its properties")
        results = [
            check(stored.status is JobStatus.PENDING, 'status is "pending"'),
            check(str(stored.tenant_id) == tenant_id, "tenant id matches"),
            check(stored.type == "test_job", "type matches"),
            check(stored.attempts == 0, "attempts is 0"),
            check(stored.worker_id is None, "worker id is null (not claimed yet)"),
            check(stored.payload == payload, "payload matches"),
        ]

        step("Step 4: secret scrubbing (password and api_key go, max_tokens stays)")
        secret_payload = {
            "prompt": "Summarise this",
            "max_tokens": 512,
            "password": "hunter2",
            "api_key": "sk-test-0123456789abcdefghijklmnop",
        }
        scrubbed = jobs.dispatch(tenant_id, "test_job", secret_payload)
        created.append(scrubbed)
        print(f"  stored payload: {json.dumps(scrubbed.payload)}")
        results += [
            check("password" not in scrubbed.payload, "password was removed"),
            check("api_key" not in scrubbed.payload, "api_key was removed"),
            check(scrubbed.payload.get("max_tokens") == 512, "max_tokens survived"),
        ]
        return all(results)
    finally:
        step("Step 5: cleaning up")
        for job in created:
            jobs.delete(job.id, tenant_id=tenant_id)
            print(f"  deleted {job.id}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the example; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="dotenv file")
    parser.add_argument("--tenant-id", default=str(uuid.uuid4()), help="tenant (default: new)")
    parser.add_argument(
        "--local", action="store_true", help="start the local stack instead of using a project"
    )
    args = parser.parse_args(argv)
    if args.local:
        from supabase_jobs.local import LocalStack

        print("Starting the local stack (PostgreSQL + PostgREST-compatible gateway)...")
        with LocalStack() as stack:
            jobs = JobsClient.from_env(
                env_file=None, url=stack.url, service_role_key=stack.service_role_key
            )
            return _run_with(jobs, args.tenant_id)
    try:
        jobs = JobsClient.from_env(env_file=args.env_file)
    except ConfigurationError as exc:
        print(f"No usable Supabase project configured: {exc}", file=sys.stderr)
        print(
            "Set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY in the environment or in "
            f"{args.env_file} (see .env.example), then run the migrations "
            "(`supabase-jobs migrations export` + `supabase db push`), "
            "or run it with --local.",
            file=sys.stderr,
        )
        return NOT_CONFIGURED
    return _run_with(jobs, args.tenant_id)


def _run_with(jobs: JobsClient, tenant_id: str) -> int:
    print(f"Dispatching as tenant {tenant_id}")
    try:
        with jobs:
            passed = run(jobs, tenant_id)
    except JobsError as exc:
        print(f"\nFAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print("\nALL CHECKS PASSED" if passed else "\nSOME CHECKS FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
