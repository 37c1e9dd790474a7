"""``queues``, ``queues limits``/``fair``, batched ``prune`` and the progress bars, run as
users run them (a subprocess) against the local stack."""

from __future__ import annotations

import errno
import os
import pty
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from supabase_jobs import JobsClient
from supabase_jobs.local import LocalStack
from supabase_jobs.testing import (  # noqa: F401  (fixtures for a source checkout)
    jobs_client,
    supabase_jobs_clean,
    supabase_jobs_stack,
)

from .test_cli_jobs import OTHER, TENANT, lines, run, sql

pytestmark = pytest.mark.e2e


def _queue(prefix: str) -> str:
    """A queue name of this test only (queue settings are not truncated between tests)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def run_on_a_terminal(stack: LocalStack, *args: str) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (so rich draws its progress bars).

    Returns the exit code, everything written to the terminal, and stdout (a pipe).
    """
    env = {
        **os.environ,
        "SUPABASE_URL": stack.url,
        "SUPABASE_SERVICE_ROLE_KEY": stack.service_role_key,
        "SUPABASE_JOBS_HTTP_TIMEOUT": "30",
        "COLUMNS": "120",
        "TERM": "xterm",
    }
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "supabase_jobs", *args],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=env,
        )
        os.close(terminal)
        terminal = -1
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError as exc:  # EIO: every writer closed the terminal
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
        stdout, _ = proc.communicate(timeout=180)
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace"), stdout.decode()


def test_queues_show_depth_age_running_and_finished_per_queue(
    jobs_client: JobsClient,  # noqa: F811
    supabase_jobs_stack: LocalStack,  # noqa: F811
) -> None:
    stack = supabase_jobs_stack
    mail, reports = _queue("mail"), _queue("reports")
    empty = run(stack, "queues", "--json")
    assert empty.returncode == 0, empty.stderr
    assert lines(empty) == []

    jobs_client.dispatch_many(
        [{"tenant_id": TENANT, "type": "test_job", "queue": mail} for _ in range(5)]
        + [{"tenant_id": OTHER, "type": "test_job", "queue": reports} for _ in range(3)]
    )
    running = jobs_client.claim("w", queues=[mail], limit=2, lease_seconds=120)
    assert len(running) == 2
    finished = jobs_client.claim("w", queues=[reports], limit=2, lease_seconds=120)
    jobs_client.complete(finished[0])
    jobs_client.fail(finished[1], "boom", retry=False)
    # The oldest due mail job has waited 3 minutes.
    sql(
        stack,
        "update public.jobs set run_at = now() - interval '3 minutes'"
        " where queue = %s and status = 'pending'",
        mail,
    )

    result = run(stack, "queues", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["queue"]: row for row in lines(result)}
    assert set(rows) == {mail, reports}
    assert (rows[mail]["pending"], rows[mail]["processing"]) == (3, 2)
    assert 170 <= rows[mail]["oldest_pending_age_seconds"] < 3600
    assert (rows[mail]["completed"], rows[mail]["failed"]) == (0, 0)
    assert rows[mail]["finished_last_hour"] == 0
    r = rows[reports]
    assert (r["pending"], r["processing"], r["completed"], r["failed"], r["cancelled"]) == (
        1,
        0,
        1,
        1,
        0,
    )
    assert r["finished_last_hour"] == 2
    assert len(r["finished_per_minute"]) == 61 and sum(r["finished_per_minute"]) == 2
    assert r["finished_per_minute_avg"] == round(2 / 60, 3)

    table = run(stack, "queues", "--table")
    assert table.returncode == 0, table.stderr
    assert "oldest pending" in table.stdout and "finished/min" in table.stdout
    mail_line = next(line for line in table.stdout.splitlines() if mail in line)
    assert "3m" in mail_line  # 3m00s..3m59s, however slow the machine is
    assert "Traceback" not in table.stderr

    down = run(stack, "queues", url="http://127.0.0.1:9")
    assert down.returncode == 5
    assert "Traceback" not in down.stderr


def test_prune_runs_in_batches_and_reports_each_one(
    jobs_client: JobsClient,  # noqa: F811
    supabase_jobs_stack: LocalStack,  # noqa: F811
) -> None:
    stack = supabase_jobs_stack
    jobs_client.dispatch_many([{"tenant_id": TENANT, "type": "test_job"} for _ in range(13)])
    done = jobs_client.complete_many(jobs_client.claim("w", limit=12, lease_seconds=120))
    old = [str(job.id) for job in done[:10]]
    sql(
        stack,
        "update public.jobs set finished_at = now() - interval '8 days' where id = any(%s::uuid[])",
        old,
    )

    result = run(stack, "prune", "--older-than", "7d", "--batch-size", "3", "--json")
    assert result.returncode == 0, result.stderr
    out = lines(result)
    assert out[-1] == {"deleted": 10}
    steps = out[:-1]
    assert len(steps) >= 4  # 10 rows, 3 per batch
    assert [step["batch"] for step in steps] == list(range(1, len(steps) + 1))
    assert all(step["batch_deleted"] <= 3 for step in steps)
    assert sum(step["batch_deleted"] for step in steps) == 10
    assert [step["deleted"] for step in steps] == [
        sum(s["batch_deleted"] for s in steps[: i + 1]) for i in range(len(steps))
    ]
    assert steps[-1]["total_pages"] >= 1 and steps[-1]["page"] == steps[-1]["total_pages"]
    remaining = jobs_client.list(limit=100)
    assert len(remaining) == 3  # one pending and two recently completed are kept
    assert {str(job.id) for job in remaining}.isdisjoint(old)
    assert {str(job.status) for job in remaining} == {"pending", "completed"}

    # The other two, by status filter, on a terminal: a real bar with the pages as total.
    jobs_client.fail(jobs_client.claim("w", limit=1, lease_seconds=120)[0], "x", retry=False)
    sql(stack, "update public.jobs set finished_at = now() - interval '8 days'")
    code, screen, stdout = run_on_a_terminal(
        stack, "prune", "--older-than", "7d", "--status", "failed", "--batch-size", "1"
    )
    assert code == 0, screen
    assert "pruning: 1 deleted" in screen and "100%" in screen
    # stdout is a pipe: the JSON lines go there, never into the bar's terminal.
    assert stdout.splitlines()[-1] == '{"deleted":1}'
    assert '"batch"' in stdout and '"batch"' not in screen
    assert [str(job.status) for job in jobs_client.list(limit=100)] == ["completed"] * 2

    bad = run(stack, "prune", "--older-than", "7d", "--batch-size", "100001")
    assert bad.returncode == 2
    assert "--batch-size" in bad.stderr


def test_limits_and_fairness_round_trip(
    jobs_client: JobsClient,  # noqa: F811
    supabase_jobs_stack: LocalStack,  # noqa: F811
) -> None:
    stack = supabase_jobs_stack
    queue = _queue("openai")

    def show() -> list[dict[str, object]]:
        result = run(stack, "queues", "limits", "show", queue, "--json")
        assert result.returncode == 0, result.stderr
        return lines(result)

    assert show() == []
    created = run(
        stack,
        "queues",
        "limits",
        "set",
        queue,
        "--max-running",
        "100",
        "--max-running-per-tenant",
        "3",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    assert lines(created) == [
        {
            "queue": queue,
            "tenant_id": None,
            "fair": None,
            "max_running": 100,
            "max_running_per_tenant": 3,
        }
    ]
    override = run(
        stack, "queues", "limits", "set", queue, "--tenant-id", TENANT.upper(),
        "--max-running-per-tenant", "10", "--json",
    )  # fmt: skip
    assert override.returncode == 0, override.stderr
    assert lines(override)[0]["tenant_id"] == TENANT
    # A cap not given keeps its stored value.
    merged = run(stack, "queues", "limits", "set", queue, "--max-running-per-tenant", "5")
    assert merged.returncode == 0, merged.stderr
    unfair = run(stack, "queues", "fair", queue, "off")
    assert unfair.returncode == 0 and unfair.stdout == ""
    assert f"fair claiming off for {queue}" in unfair.stderr

    rows = show()
    assert [(r["tenant_id"], r["max_running"], r["max_running_per_tenant"]) for r in rows] == [
        (None, 100, 5),
        (TENANT, None, 10),
    ]
    assert rows[0]["fair"] is False
    stored = jobs_client.queue_limits(queue)
    assert [(s.max_running, s.max_running_per_tenant, s.fair) for s in stored] == [
        (100, 5, False),
        (None, 10, None),
    ]
    table = run(stack, "queues", "limits", "show", "--table")
    assert table.returncode == 0 and queue in table.stdout and "(queue-wide)" in table.stdout

    removed = run(stack, "queues", "limits", "set", queue, "--max-running", "none", "--json")
    assert lines(removed)[0]["max_running"] is None
    assert lines(removed)[0]["max_running_per_tenant"] == 5

    assert run(stack, "queues", "limits", "clear", queue, "--tenant-id", TENANT).returncode == 0
    assert [r["tenant_id"] for r in show()] == [None]
    assert run(stack, "queues", "limits", "clear", queue).returncode == 0
    assert [(r["max_running"], r["max_running_per_tenant"], r["fair"]) for r in show()] == [
        (None, None, False)  # clearing the caps keeps the fairness switch
    ]
    assert run(stack, "queues", "fair", queue, "on").returncode == 0
    assert jobs_client.queue_limits(queue) == []  # back to the defaults: no row left

    refused = run(
        stack, "queues", "limits", "set", queue, "--tenant-id", TENANT, "--max-running", "1"
    )
    assert refused.returncode == 2
    assert "queue-wide" in refused.stderr
    assert run(stack, "queues", "limits", "show", "No Such Queue").returncode == 2


def test_dispatch_progress_follows_the_file_size_in_bytes(
    jobs_client: JobsClient,  # noqa: F811
    supabase_jobs_stack: LocalStack,  # noqa: F811
    tmp_path: Path,
) -> None:
    rows = [
        f'{{"tenant_id": "{TENANT}", "type": "test_job", "payload": {{"i": {i}}}}}'
        for i in range(9)
    ]
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    size = path.stat().st_size
    code, screen, stdout = run_on_a_terminal(
        supabase_jobs_stack, "dispatch", "--from-file", str(path), "--batch-size", "4"
    )
    assert code == 0, screen
    assert f"{size}/{size}" in screen and "100%" in screen
    assert stdout == '{"dispatched":9,"rejected":0}\n'
    assert len(jobs_client.list(limit=100)) == 9
