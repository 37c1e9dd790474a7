"""Small assertions shared by the integration tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
import pytest


def raises_sqlstate(code: str, call: Callable[[], Any]) -> psycopg.Error:
    """Run ``call`` and assert it fails with SQLSTATE ``code``; return the error."""
    with pytest.raises(psycopg.Error) as info:
        call()
    assert info.value.sqlstate == code, (info.value.sqlstate, str(info.value))
    return info.value


def lost_ids(error: psycopg.Error) -> list[str]:
    """The job ids an SJ001 error lists in its DETAIL."""
    detail = error.diag.message_detail
    assert detail is not None
    ids: list[str] = json.loads(detail)
    return ids


# The rows supabase_jobs.active_jobs must hold: one per live job, mirroring these columns
# (the lease only while processing). See migrations/0003_active_jobs.sql.
_MIRROR_DIFF = """
    with expected as (
      select id, type, queue, priority, run_at, attempts, max_attempts,
             case when status = 'processing' then lease_id end as lease_id,
             case when status = 'processing' then locked_until end as locked_until
        from public.jobs where status in ('pending', 'processing')
    ),
    actual as (
      select id, type, queue, priority, run_at, attempts, max_attempts, lease_id, locked_until
        from supabase_jobs.active_jobs
    )
    select 'missing or different' as problem, e.id from (table expected except table actual) e
    union all
    select 'extra or different', a.id from (table actual except table expected) a
"""


def assert_mirrored(conn: psycopg.Connection[Any]) -> None:
    """Assert active_jobs mirrors the live jobs exactly (the invariant the claim relies on)."""
    problems = conn.execute(_MIRROR_DIFF).fetchall()
    assert problems == [], problems
