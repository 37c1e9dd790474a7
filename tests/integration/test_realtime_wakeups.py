"""Migration 0007: one wake-up per statement per queue with jobs due now, never a failed insert."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from supabase_jobs import sql
from supabase_jobs.local._postgres import PostgresServer

from .conftest import Database

pytestmark = pytest.mark.integration

TENANT = str(uuid.UUID(int=7))


def messages(db: Database) -> list[dict[str, Any]]:
    return db.admin.execute(
        "select topic, event, payload, private, extension from realtime.messages"
        " order by inserted_at"
    ).fetchall()


def rows(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"tenant_id": TENANT, "type": "test_job", **extra} for _ in range(n)]


def test_dispatch_many_of_5000_sends_one_message_per_queue(db: Database) -> None:
    api = db.api()
    batch = rows(2500, queue="emails") + rows(2500, queue="reports")
    assert len(api.insert(batch)) == 5000
    found = messages(db)
    assert sorted(m["topic"] for m in found) == [
        "supabase_jobs:queue:emails",
        "supabase_jobs:queue:reports",
    ]
    for message in found:
        assert message["event"] == "jobs_available"
        assert message["private"] is True and message["extension"] == "broadcast"
        # "queue X has work" and the id realtime.send adds: no tenant, job ids or payload.
        assert set(message["payload"]) == {"queue", "id"}
        assert message["payload"]["queue"] == message["topic"].rsplit(":", 1)[1]


def test_future_jobs_send_nothing_and_a_mixed_statement_names_only_due_queues(
    db: Database,
) -> None:
    api = db.api()
    api.insert(rows(3, queue="later", run_at="2999-01-01T00:00:00Z"))
    assert messages(db) == []
    api.insert(
        rows(2, queue="later", run_at="2999-01-01T00:00:00Z")
        + rows(1, queue="now", run_at="2000-01-01T00:00:00Z")
    )
    assert [m["topic"] for m in messages(db)] == ["supabase_jobs:queue:now"]


def test_lifecycle_wakes_only_when_a_job_becomes_due(db: Database) -> None:
    api = db.api()
    (job,) = api.insert(rows(1))
    db.admin.execute("truncate realtime.messages")
    (claimed,) = api.rpc("sj_claim_v1", {"p_worker_id": "w1"})
    api.rpc("sj_heartbeat_v1", {"p_job_ids": [job["id"]], "p_lease_ids": [claimed["lease_id"]]})
    api.rpc(
        "sj_snooze_v1",
        {"p_job_id": job["id"], "p_lease_id": claimed["lease_id"], "p_run_at": "2999-01-01"},
    )
    assert messages(db) == [], "claim, heartbeat and a snooze to later send nothing"
    db.expire()
    db.admin.execute("update public.jobs set run_at = now() - interval '1 s'")
    db.admin.execute("truncate realtime.messages")
    (claimed,) = api.rpc("sj_claim_v1", {"p_worker_id": "w1"})
    api.rpc(
        "sj_snooze_v1",
        {"p_job_id": job["id"], "p_lease_id": claimed["lease_id"], "p_run_at": "2000-01-01"},
    )
    assert len(messages(db)) == 1, "a snooze to now wakes"
    (claimed,) = api.rpc("sj_claim_v1", {"p_worker_id": "w1"})
    api.rpc("sj_complete_v1", {"p_job_id": job["id"], "p_lease_id": claimed["lease_id"]})
    assert len(messages(db)) == 1, "claim and complete send nothing"
    db.admin.execute("update public.jobs set status = 'failed'")
    db.admin.execute("truncate realtime.messages")
    api.rpc("sj_retry_v1", {"p_job_id": job["id"]})
    assert [m["topic"] for m in messages(db)] == ["supabase_jobs:queue:default"]


def test_a_failing_realtime_send_never_fails_the_insert(db: Database) -> None:
    db.admin.execute(
        "create or replace function realtime.send(payload jsonb, event text, topic text,"
        " private boolean default true) returns void language plpgsql as $$"
        " begin raise exception 'realtime is down'; end $$"
    )
    notices: list[str] = []
    api = db.api()
    api.conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
    assert len(api.insert(rows(3))) == 3
    assert db.admin.execute("select count(*) as n from public.jobs").fetchone() == {"n": 3}
    assert any("wake-up not sent" in n and "realtime is down" in n for n in notices), notices


def test_without_the_realtime_schema_dispatch_works_and_enabling_it_later_wakes(
    pg_server: PostgresServer,
) -> None:
    dsn = pg_server.create_database(f"nort_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        sql.apply_shim(conn)
        conn.execute("drop schema realtime cascade")
        applied = sql.apply_migrations(conn)
        assert 7 in {m.version for m in applied}
        conn.execute(
            "insert into public.jobs (tenant_id, type) select %s, 'test_job'"
            " from generate_series(1, 100)",
            [TENANT],
        )
        assert conn.execute("select count(*) as n from public.jobs").fetchone() == {"n": 100}
        # Realtime switched on afterwards: the next statement wakes, no new migration needed.
        sql.apply_shim(conn)
        conn.execute("insert into public.jobs (tenant_id, type) values (%s, 'test_job')", [TENANT])
        found = conn.execute("select topic from realtime.messages").fetchall()
        assert found == [{"topic": "supabase_jobs:queue:default"}]


def test_messages_are_notified_after_commit_only(db: Database) -> None:
    with psycopg.connect(db.dsn(), autocommit=True) as listener:
        listener.execute("listen supabase_jobs_realtime")
        api = db.api()
        with psycopg.connect(db.dsn()) as writer:
            writer.execute(
                "insert into public.jobs (tenant_id, type) values (%s, 'test_job')", [TENANT]
            )
            writer.rollback()
        api.insert(rows(2))
        notes = list(listener.notifies(timeout=5, stop_after=2))
        assert len(notes) == 1
        note = json.loads(notes[0].payload)
        assert note["topic"] == "supabase_jobs:queue:default" and note["private"] is True
        assert note["event"] == "jobs_available" and note["payload"]["queue"] == "default"


def test_one_message_per_queue_per_transaction(db: Database) -> None:
    api = db.api()
    jobs = api.insert(rows(3, queue="batch"))
    db.admin.execute("truncate realtime.messages")
    claimed = api.rpc("sj_claim_v1", {"p_worker_id": "w1", "p_limit": 3})
    assert len(claimed) == 3
    items = [
        {
            "id": str(j["id"]),
            "lease_id": str(j["lease_id"]),
            "error": {"type": None, "message": "again"},
            "retry": True,
            "retry_in_seconds": 0,
        }
        for j in claimed
    ]
    assert len(api.rpc("sj_fail_many_v1", {"p_items": items})) == 3
    assert [m["topic"] for m in messages(db)] == ["supabase_jobs:queue:batch"], (
        "three jobs retried at once in one call wake once"
    )
    db.admin.execute("truncate realtime.messages")
    with psycopg.connect(db.dsn()) as conn:
        for _ in range(3):
            conn.execute(
                "insert into public.jobs (tenant_id, type, queue) values (%s, 'test_job', 'tx')",
                [TENANT],
            )
        conn.execute("update public.jobs set status = 'failed' where id = %s", [jobs[0]["id"]])
        conn.execute(
            "update public.jobs set status = 'pending', run_at = now() where id = %s",
            [jobs[0]["id"]],
        )
        conn.commit()
    assert sorted(m["topic"] for m in messages(db)) == [
        "supabase_jobs:queue:batch",
        "supabase_jobs:queue:tx",
    ]
