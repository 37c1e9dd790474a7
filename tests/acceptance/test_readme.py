"""The README's Python examples run as written against the local stack."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from supabase_jobs import JobsClient, JobStatus
from supabase_jobs.local import LocalStack

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)

pytestmark = pytest.mark.integration


@pytest.fixture
def project_env(
    supabase_jobs_stack: LocalStack, supabase_jobs_clean: None, monkeypatch: pytest.MonkeyPatch
) -> LocalStack:
    monkeypatch.setenv("SUPABASE_URL", supabase_jobs_stack.url)
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", supabase_jobs_stack.service_role_key)
    return supabase_jobs_stack


def test_readme_has_the_examples_this_module_runs() -> None:
    assert len(BLOCKS) >= 4
    assert BLOCKS[0].startswith("from supabase_jobs import JobsClient")


def test_first_screen_example_dispatches_and_scrubs(project_env: LocalStack) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(BLOCKS[0], "README.md[first screen]", "exec"), namespace)
    job = namespace["job"]
    assert job.status is JobStatus.PENDING
    assert job.payload == {"prompt": "Summarise the doc", "max_tokens": 512}
    namespace["jobs"].close()


def test_first_screen_worker_example(project_env: LocalStack) -> None:
    # The block ends in worker.run(), which runs until SIGTERM; drain mode returns once the
    # queue is empty, which is what a test needs. Nothing else is changed.
    block = BLOCKS[1]
    assert block.count("worker.run()") == 1
    with JobsClient.from_env(env_file=None) as jobs:
        tenant = str(uuid.uuid4())
        good = jobs.dispatch(tenant, "ai_generation", {"prompt": "hi"})
        bad = jobs.dispatch(tenant, "ai_generation", {"n": 1})
        namespace: dict[str, Any] = {"__name__": "readme"}
        source = block.replace("worker.run()", "worker.run(drain=True)")
        exec(compile(source, "README.md[first screen worker]", "exec"), namespace)
        assert jobs.get(good.id).status is JobStatus.COMPLETED
        assert jobs.get(good.id).result == {"tokens": 512}
        failed = jobs.get(bad.id)
        assert failed.status is JobStatus.FAILED  # Fail(..., retry=False): no retry
        assert failed.attempts == 1
        namespace["worker"].jobs.close()


def test_run_workers_section_example(project_env: LocalStack) -> None:
    block = next(b for b in BLOCKS if "AsyncWorker(" in b)
    assert block.count("await worker.run()") == 1
    source = block.replace("await worker.run()", "await worker.run(drain=True)")
    with JobsClient.from_env(env_file=None) as jobs:
        tenant = str(uuid.uuid4())
        done, gone, busy = (
            jobs.dispatch(tenant, "video_ingestion", {"source": s}, queue="media")
            for s in ("ok", "deleted", "busy")
        )
        namespace: dict[str, Any] = {"__name__": "readme"}
        exec(compile(source, "README.md[run workers]", "exec"), namespace)
        asyncio.run(namespace["main"]())
        assert jobs.get(done.id).status is JobStatus.COMPLETED
        assert jobs.get(done.id).result == {"frames": 1200}
        assert jobs.get(gone.id).status is JobStatus.CANCELLED
        snoozed = jobs.get(busy.id)
        assert snoozed.status is JobStatus.PENDING
        assert snoozed.attempts == 0  # a snooze spends no attempt


def test_dispatch_section_example(project_env: LocalStack) -> None:
    block = next(b for b in BLOCKS if "dispatch_many" in b)
    namespace: dict[str, Any] = {"tenant_id": str(uuid.uuid4())}
    exec(compile(block, "README.md[dispatch]", "exec"), namespace)
    batch = namespace["batch"]
    assert [job.payload["doc"] for job in batch] == list(range(1000))
    assert namespace["job"].queue == "media"


def test_worker_section_example(project_env: LocalStack) -> None:
    block = next(b for b in BLOCKS if "jobs.claim(" in b)
    with JobsClient.from_env(env_file=None) as jobs:
        tenant = str(uuid.uuid4())
        good = jobs.dispatch(tenant, "ai_generation", {"n": 1})
        bad = jobs.dispatch(tenant, "ai_generation", {"n": 2})

        class Result:
            tokens = 7

        def run(payload: dict[str, Any]) -> Result:
            if payload["n"] == 2:
                raise RuntimeError("model unavailable")
            return Result()

        exec(compile(block, "README.md[worker]", "exec"), {"jobs": jobs, "run": run})
        assert jobs.get(good.id).status is JobStatus.COMPLETED
        assert jobs.get(good.id).result == {"tokens": 7}
        failed = jobs.get(bad.id)
        assert failed.status is JobStatus.PENDING  # retried later with backoff
        assert failed.last_error is not None and "model unavailable" in failed.last_error


def test_job_types_section_example(project_env: LocalStack) -> None:
    block = next(b for b in BLOCKS if "class SendEmail" in b)
    with JobsClient.from_env(env_file=None) as jobs:
        exec(compile(block, "README.md[job types]", "exec"), {"jobs": jobs})
        job = jobs.dispatch(str(uuid.uuid4()), "send_email", {"to": "a@b.c", "subject": "hi"})
        assert (job.queue, job.max_attempts) == ("email", 10)


def test_async_section_example(project_env: LocalStack) -> None:
    block = next(b for b in BLOCKS if "asyncio.run(main())" in b)
    exec(compile(block, "README.md[async]", "exec"), {"__name__": "readme"})
    with JobsClient.from_env(env_file=None) as jobs:
        [job] = jobs.list()
        assert job.status is JobStatus.COMPLETED
        assert job.result == {"ok": True}
