"""Parsing responses into ``Job`` models: shapes, and no row values in errors."""

from __future__ import annotations

import uuid

import pytest

from supabase_jobs import BackendError, Job, JobStatus
from supabase_jobs._core import parse_job, parse_jobs

ROW = {
    "id": str(uuid.uuid4()),
    "tenant_id": str(uuid.uuid4()),
    "type": "test_job",
    "status": "pending",
    "payload": {"note": "hello"},
    "attempts": 0,
    "worker_id": None,
    "created_at": "2026-01-25T10:23:38.191585+00:00",
}


def test_parse_jobs_keeps_order_and_accepts_old_table_rows() -> None:
    rows = [{**ROW, "id": str(uuid.uuid4())} for _ in range(3)]
    jobs = parse_jobs(rows)
    assert [str(job.id) for job in jobs] == [row["id"] for row in rows]
    assert all(isinstance(job, Job) and job.status is JobStatus.PENDING for job in jobs)
    assert jobs[0].queue is None  # a seed-columns-only row still parses


def test_parse_jobs_single_object_and_none() -> None:
    assert [job.type for job in parse_jobs(ROW)] == ["test_job"]
    assert parse_jobs(None) == []


@pytest.mark.parametrize("parse", [parse_job, lambda row: parse_jobs([ROW, row])])
def test_a_row_that_is_not_a_job_never_echoes_values(parse) -> None:
    bad = {**ROW, "status": "SECRET-STATUS-VALUE", "payload": {"password": "hunter2"}}
    with pytest.raises(BackendError) as info:
        parse(bad)
    text = str(info.value) + repr(info.value)
    assert "SECRET-STATUS-VALUE" not in text and "hunter2" not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_parse_jobs_refuses_a_non_list() -> None:
    with pytest.raises(BackendError):
        parse_jobs("not rows")


def test_model_error_paths_never_print_a_key_that_holds_a_credential() -> None:
    from supabase_jobs._core import _loc_path

    assert _loc_path("payload", ["env", "DB_PASSWORD=hunter2", 0]) == "payload.env[<key>][0]"
    assert _loc_path("payload", ["items", 3, "when"]) == "payload.items[3].when"
    assert _loc_path("payload", ["a b"]) == 'payload["a b"]'
