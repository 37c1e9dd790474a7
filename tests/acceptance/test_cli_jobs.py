"""The operator commands, run as users run them (a subprocess) against the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from supabase_jobs import JobsClient
from supabase_jobs.local import LocalStack
from supabase_jobs.testing import (  # noqa: F401  (fixtures for a source checkout)
    jobs_client,
    supabase_jobs_clean,
    supabase_jobs_stack,
)

pytestmark = pytest.mark.e2e

TENANT = "1521f0ae-4db7-4110-a993-c494535d9b00"
OTHER = "2b0e7c1a-0d5e-4f3a-9c51-0f6f3a2b9e11"


def run(
    stack: LocalStack, *args: str, stdin: str | None = None, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SUPABASE_URL": url or stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
        "SUPABASE_JOBS_HTTP_TIMEOUT": "30",
    }
    return subprocess.run(
        [sys.executable, "-m", "supabase_jobs", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
        input=stdin,
    )


def lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert "Traceback" not in result.stderr, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def sql(stack: LocalStack, query: str, *params: Any) -> None:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(query.encode(), params)


def test_list_pages_with_a_cursor_stay_stable_while_jobs_arrive(
    jobs_client: JobsClient,  # noqa: F811
    supabase_jobs_stack: LocalStack,  # noqa: F811
) -> None:
    stack = supabase_jobs_stack
    created = jobs_client.dispatch_many(
        [{"tenant_id": TENANT, "type": "test_job", "payload": {"n": i}} for i in range(7)]
    )
    seen: list[str] = []
    after: list[str] = []
    for _ in range(10):
        page = lines(run(stack, "jobs", "list", "--json", "--limit", "3", *after))
        assert page[-1].keys() == {"next_after"}
        seen += [job["id"] for job in page[:-1]]
        # Newer jobs arriving between pages never shift the pages still to come.
        jobs_client.dispatch(TENANT, "test_job", {"late": True})
        if page[-1]["next_after"] is None:
            break
        after = ["--after", page[-1]["next_after"]]
    assert sorted(seen) == sorted(str(job.id) for job in created)
    assert len(seen) == len(set(seen)) == 7


def test_list_filters(
    jobs_client: JobsClient,  # noqa: F811
    supabase_jobs_stack: LocalStack,  # noqa: F811
) -> None:
    stack = supabase_jobs_stack
    old = jobs_client.dispatch(TENANT, "ai_generation", {}, queue="slow")
    new = jobs_client.dispatch(OTHER, "test_job", {})
    failed = jobs_client.dispatch(TENANT, "test_job", {})
    claimed = jobs_client.claim("w", limit=10, lease_seconds=60)
    target = next(job for job in claimed if job.id == failed.id)
    jobs_client.fail(target, "boom", retry=False)
    sql(
        stack,
        "update public.jobs set created_at = now() - interval '2 hours' where id = %s",
        old.id,
    )

    def ids(*args: str) -> set[str]:
        return {job["id"] for job in lines(run(stack, "jobs", "list", "--json", *args))[:-1]}

    assert ids("--status", "failed") == {str(failed.id)}
    assert ids("--type", "ai_generation") == {str(old.id)}
    assert ids("--queue", "slow") == {str(old.id)}
    assert ids("--tenant-id", OTHER) == {str(new.id)}
    assert ids("--older-than", "1h") == {str(old.id)}
    assert ids("--newer-than", "1h") == {str(new.id), str(failed.id)}
    table = run(stack, "jobs", "list", "--table", "--status", "failed")
    assert table.returncode == 0, table.stderr
    assert str(failed.id) in table.stdout and "boom" in table.stdout
    assert "last page" in table.stderr


def test_show_prints_every_column_and_the_error_history(
    jobs_client: JobsClient,  # noqa: F811
    supabase_jobs_stack: LocalStack,  # noqa: F811
) -> None:
    stack = supabase_jobs_stack
    job = jobs_client.dispatch(
        TENANT, "test_job", {"doc": 7, "api_key": "sk-live-hidden"}, max_attempts=3
    )
    for attempt in (1, 2):
        (claimed,) = jobs_client.claim("worker-a", limit=1, lease_seconds=60)
        jobs_client.fail(claimed, ValueError(f"attempt {attempt} broke"), retry_in=0)
    shown = lines(run(stack, "jobs", "show", str(job.id), "--json"))
    assert len(shown) == 1
    row = shown[0]
    assert set(row) >= {"id", "status", "payload", "errors", "attempts", "lease_id", "run_at"}
    assert row["payload"] == {"doc": 7}  # as stored: the secret was scrubbed at dispatch
    assert [e["attempt"] for e in row["errors"]] == [1, 2]
    assert [e["error"]["message"] for e in row["errors"]] == ["attempt 1 broke", "attempt 2 broke"]
    table = run(stack, "jobs", "show", str(job.id), "--table")
    assert table.returncode == 0, table.stderr
    assert "errors, one per failed attempt" in table.stdout
    assert "attempt 2 broke" in table.stdout and "worker-a" in table.stdout
    assert "sk-live-hidden" not in table.stdout


def test_show_exit_codes(supabase_jobs_clean: LocalStack) -> None:  # noqa: F811
    missing = run(supabase_jobs_clean, "jobs", "show", str(uuid.uuid4()))
    assert missing.returncode == 4
    assert "does not exist" in missing.stderr
    malformed = run(supabase_jobs_clean, "jobs", "show", "42")
    assert malformed.returncode == 2
    down = run(supabase_jobs_clean, "jobs", "show", str(uuid.uuid4()), url="http://127.0.0.1:9")
    assert down.returncode == 5
    assert "Traceback" not in down.stderr


def test_retry_cancel_delete_report_each_id(
    jobs_client: JobsClient,  # noqa: F811
    supabase_jobs_stack: LocalStack,  # noqa: F811
) -> None:
    stack = supabase_jobs_stack
    a, b, c = jobs_client.dispatch_many(
        [{"tenant_id": TENANT, "type": "test_job"} for _ in range(3)]
    )
    ghost = str(uuid.uuid4())

    cancelled = run(stack, "jobs", "cancel", str(a.id), ghost, "--reason", "ops", "--json")
    assert cancelled.returncode == 4  # every failure was a missing job
    outcome = {o["id"]: o for o in lines(cancelled)}
    assert outcome[str(a.id)] == {"id": str(a.id), "ok": True, "status": "cancelled"}
    assert outcome[ghost]["ok"] is False

    assert {j.id for j in jobs_client.claim("w", limit=10, lease_seconds=60)} == {b.id, c.id}
    retried = run(stack, "jobs", "retry", str(a.id), str(b.id), "--json")
    assert retried.returncode == 1  # b is processing: not retryable, yet a was retried
    outcome = {o["id"]: o for o in lines(retried)}
    assert outcome[str(a.id)]["status"] == "pending"
    assert outcome[str(b.id)]["ok"] is False
    assert jobs_client.get(a.id).status == "pending"

    deleted = run(stack, "jobs", "delete", str(b.id), str(c.id), ghost, "--json")
    assert deleted.returncode == 4
    assert [o["ok"] for o in lines(deleted)] == [True, True, False]
    assert [str(j.id) for j in jobs_client.list()] == [str(a.id)]
    assert run(stack, "jobs", "delete", str(a.id)).returncode == 0


def test_stats_and_prune(
    jobs_client: JobsClient,  # noqa: F811
    supabase_jobs_stack: LocalStack,  # noqa: F811
) -> None:
    stack = supabase_jobs_stack
    jobs_client.dispatch_many([{"tenant_id": TENANT, "type": "test_job"} for _ in range(4)])
    done = jobs_client.complete_many(jobs_client.claim("w", limit=3, lease_seconds=60))
    (stats,) = lines(run(stack, "stats", "--json"))
    assert stats["total"] == 4
    assert stats["by_status"] == {
        "pending": 1,
        "processing": 0,
        "completed": 3,
        "failed": 0,
        "cancelled": 0,
    }
    assert stats["by_type"]["test_job"]["completed"] == 3
    table = run(stack, "stats", "--table")
    assert table.returncode == 0 and "test_job" in table.stdout and "total" in table.stdout
    old = [str(job.id) for job in done[:2]]
    sql(
        stack,
        "update public.jobs set finished_at = now() - interval '8 days' where id = any(%s::uuid[])",
        old,
    )
    pruned = lines(run(stack, "prune", "--older-than", "7d", "--json"))
    assert pruned[-1] == {"deleted": 2}  # after one line per batch
    assert [step["batch"] for step in pruned[:-1]] == [1]
    again = run(stack, "prune", "--older-than", "7d", "--json").stdout.splitlines()
    assert again[-1] == '{"deleted":0}'
    assert len(jobs_client.list()) == 2


def test_dispatch_from_file_reports_bad_lines_and_dispatches_the_rest_once(
    jobs_client: JobsClient,  # noqa: F811
    supabase_jobs_stack: LocalStack,  # noqa: F811
    tmp_path: Path,
) -> None:
    stack = supabase_jobs_stack
    good = [
        json.dumps({"tenant_id": TENANT, "type": "test_job", "ref": f"r{i}", "payload": {"i": i}})
        for i in range(25)
    ]
    rows = [
        *good[:10],
        '{"tenant_id": "' + TENANT + '", "type": "test_job", "ref": "x", "password": "pw"',
        json.dumps({"tenant_id": TENANT, "type": "no_such_type", "ref": "t"}),
        json.dumps({"tenant_id": "nope", "type": "test_job", "ref": "u"}),
        json.dumps({"tenant_id": TENANT, "type": "test_job"}),
        json.dumps({"tenant_id": TENANT, "type": "test_job", "ref": "s", "status": "completed"}),
        "",
        *good[10:],
    ]
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = ("dispatch", "--from-file", str(path), "--key-field", "ref", "--batch-size", "4")

    first = run(stack, *args, "--json")
    assert first.returncode == 1
    out = lines(first)
    rejected = {o["line"]: o["rejected"] for o in out if "line" in o}
    assert sorted(rejected) == [11, 12, 13, 14, 15]
    assert rejected[11] == "not valid JSON"
    assert rejected[12].startswith("type:")
    assert rejected[13].startswith("tenant_id:")
    assert rejected[14] == "ref: missing (--key-field names it)"
    assert rejected[15].startswith("status:")
    assert "pw" not in first.stdout + first.stderr
    assert out[-1] == {"dispatched": 25, "rejected": 5}
    assert len(jobs_client.list(limit=1000)) == 25

    again = run(stack, *args, "--table")  # the same file again: keys make it a no-op
    assert again.returncode == 1
    assert "dispatched 25 job(s), rejected 5 line(s)" in again.stdout
    assert "line 11: not valid JSON" in again.stderr
    stored = jobs_client.list(limit=1000)
    assert len(stored) == 25
    assert {job.idempotency_key for job in stored} == {f"r{i}" for i in range(25)}

    piped = run(
        stack,
        "dispatch",
        "--from-file",
        "-",
        "--allow-type",
        "send_email",
        "--json",
        stdin=json.dumps({"tenant_id": OTHER, "type": "send_email", "payload": {"to": 1}}),
    )
    assert piped.returncode == 0, piped.stderr
    assert lines(piped) == [{"dispatched": 1, "rejected": 0}]


def test_dispatch_one_job_keeps_its_flags(supabase_jobs_clean: LocalStack) -> None:  # noqa: F811
    result = run(
        supabase_jobs_clean,
        "dispatch",
        TENANT,
        "test_job",
        '{"n": 1}',
        "--queue",
        "mail",
        "--priority",
        "5",
        "--idempotency-key",
        "k1",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    (job,) = lines(result)
    assert (job["queue"], job["priority"], job["payload"]) == ("mail", 5, {"n": 1})
    bad = run(supabase_jobs_clean, "dispatch", TENANT, "test_job", "{not json")
    assert bad.returncode == 2
    assert "payload" in bad.stderr


def test_stats_into_a_closed_pipe_ends_quietly(supabase_jobs_clean: LocalStack) -> None:  # noqa: F811
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {
        **os.environ,
        "SUPABASE_URL": supabase_jobs_clean.url,
        "SUPABASE_SERVICE_ROLE_KEY": supabase_jobs_clean.service_role_key,
    }
    try:
        result = subprocess.run(
            [sys.executable, "-m", "supabase_jobs", "stats", "--table"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
            env=env,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == ""
