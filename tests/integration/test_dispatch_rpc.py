"""sj_dispatch_v1: dispatch from SQL with the SDK's rules (real PostgreSQL, as PostgREST would)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from supabase_jobs import _constants as C
from supabase_jobs._core import idempotent_job_id
from supabase_jobs._payload import prepare_payload
from supabase_jobs.sql import migrations

from ._helpers import raises_sqlstate
from .conftest import Database
from .test_security import user_claims

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TENANT = uuid.UUID("1521f0ae-4db7-4110-a993-c494535d9b00")


def dispatch(db: Database, payload: Any = None, options: Any = None, **args: Any) -> Any:
    params: dict[str, Any] = {"p_tenant_id": TENANT, "p_type": "test_job", **args}
    if payload is not None:
        params["p_payload"] = payload
    if options is not None:
        params["p_options"] = options
    return db.api().rpc("sj_dispatch_v1", params)


def primary(error: psycopg.Error) -> str:
    """The error's message without PL/pgSQL context lines."""
    return str(error.diag.message_primary)


def count_jobs(db: Database) -> int:
    row = db.admin.execute("select count(*) as n from public.jobs").fetchone()
    assert row is not None
    return int(row["n"])


def test_dispatch_with_defaults(db: Database) -> None:
    job = dispatch(db)
    assert job["status"] == "pending" and job["attempts"] == 0 and job["worker_id"] is None
    assert (job["queue"], job["priority"], job["max_attempts"]) == ("default", 0, 5)
    assert job["payload"] == {} and job["idempotency_key"] is None
    assert db.job(job["id"])["tenant_id"] == TENANT


def test_dispatch_with_options(db: Database) -> None:
    job = dispatch(
        db,
        {"prompt": "hi", "max_tokens": 512},
        {
            "queue": "emails",
            "priority": 7,
            "max_attempts": 3,
            "run_at": "2031-01-02T03:04:05+02:00",
        },
        p_type="ai_generation",
    )
    assert (job["type"], job["queue"], job["priority"], job["max_attempts"]) == (
        "ai_generation",
        "emails",
        7,
        3,
    )
    assert job["run_at"].isoformat() == "2031-01-02T01:04:05+00:00"
    assert job["payload"] == {"prompt": "hi", "max_tokens": 512}


BAD_OPTIONS = [
    ({"queue": "Upper"}, "p_options.queue"),
    ({"queue": 5}, "p_options.queue"),
    ({"queue": "q" * 64}, "p_options.queue"),
    ({"priority": 101}, "p_options.priority"),
    ({"priority": 1.5}, "p_options.priority"),
    ({"priority": "1"}, "p_options.priority"),
    ({"priority": 1e300}, "p_options.priority"),
    ({"max_attempts": 0}, "p_options.max_attempts"),
    ({"max_attempts": 1001}, "p_options.max_attempts"),
    ({"run_at": "2030-01-01T00:00:00"}, "p_options.run_at"),
    ({"run_at": "tomorrow"}, "p_options.run_at"),
    ({"run_at": 1700000000}, "p_options.run_at"),
    ({"idempotency_key": ""}, "p_options.idempotency_key"),
    ({"idempotency_key": "k" * 256}, "p_options.idempotency_key"),
    ({"idempotency_key": 7}, "p_options.idempotency_key"),
    ({"status": "completed"}, "p_options.status"),
    ({"attempts": 0}, "p_options.attempts"),
    ({"worker_id": "w"}, "p_options.worker_id"),
    ([], "p_options"),
]


@pytest.mark.parametrize(("options", "path"), BAD_OPTIONS)
def test_bad_options_are_refused_by_name(db: Database, options: Any, path: str) -> None:
    error = raises_sqlstate("22023", lambda: dispatch(db, {"a": 1}, options))
    assert primary(error).startswith(path + " "), primary(error)
    assert count_jobs(db) == 0


@pytest.mark.parametrize("payload", [[], "x", 3, None])
def test_payload_must_be_an_object(db: Database, payload: Any) -> None:
    if payload is None:
        # SQL NULL means "no payload" ({}), as the SDK's payload=None.
        assert (
            db.api().rpc(
                "sj_dispatch_v1", {"p_tenant_id": TENANT, "p_type": "test_job", "p_payload": None}
            )["payload"]
            == {}
        )
        return
    error = raises_sqlstate("22023", lambda: dispatch(db, payload))
    assert primary(error) == "p_payload must be a JSON object"


def test_missing_tenant_or_type(db: Database) -> None:
    raises_sqlstate("22023", lambda: dispatch(db, p_tenant_id=None))
    raises_sqlstate("22023", lambda: dispatch(db, p_type=None))


@pytest.mark.parametrize("bad_type", ["Upper", "1abc", "a" * 128, "has space"])
def test_table_checks_refuse_bad_type_names(db: Database, bad_type: str) -> None:
    raises_sqlstate("23514", lambda: dispatch(db, p_type=bad_type))


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def test_depth_limit_is_the_sdks(db: Database) -> None:
    limit = C.DEFAULT_MAX_PAYLOAD_DEPTH
    assert dispatch(db, nested(limit))["payload"] == nested(limit)
    prepare_payload(nested(limit))  # the SDK accepts the same depth
    error = raises_sqlstate("22023", lambda: dispatch(db, nested(limit + 1)))
    assert primary(error) == f"p_payload is nested deeper than {limit} levels"
    # Lists count as levels too.
    raises_sqlstate("22023", lambda: dispatch(db, {"l": [[[[[[[[nested(limit - 8)]]]]]]]]}))


def test_size_limit_is_the_sdks(db: Database) -> None:
    limit = C.DEFAULT_MAX_PAYLOAD_BYTES
    # jsonb's text form of {"s": "..."} is 9 bytes plus the string.
    assert dispatch(db, {"s": "x" * (limit - 9)})["id"]
    error = raises_sqlstate("22023", lambda: dispatch(db, {"s": "x" * (limit - 8)}))
    assert primary(error) == f"p_payload is larger than {limit} bytes"
    assert count_jobs(db) == 1


def test_known_types_when_configured(db: Database) -> None:
    assert dispatch(db, p_type="anything_goes")["type"] == "anything_goes"
    db.admin.execute("insert into supabase_jobs.job_types (type) values ('send_email')")
    assert dispatch(db, p_type="send_email")["type"] == "send_email"
    error = raises_sqlstate("22023", lambda: dispatch(db, p_type="test_job"))
    assert primary(error) == "p_type is not a known job type"
    assert count_jobs(db) == 2


def test_secret_keys_are_removed_at_any_depth(db: Database) -> None:
    payload = {
        "prompt": "hi",
        "max_tokens": 512,
        "password": "hunter2",
        "apiKey": "k",
        "user": {"name": "a", "access_token": "t", "sessions": [{"cookie": "c", "id": 1}]},
        "headers": [["Authorization", "x"], ["Accept", "json"]],
        "primary_key": 3,
        "idempotency_key": "not-an-option-here",
    }
    job = dispatch(db, payload)
    assert job["payload"] == {
        "prompt": "hi",
        "max_tokens": 512,
        "user": {"name": "a", "sessions": [{"id": 1}]},
        "headers": [["Authorization", "[REDACTED]"], ["Accept", "json"]],
        "primary_key": 3,
        "idempotency_key": "not-an-option-here",
    }
    assert "hunter2" not in json.dumps(db.job(job["id"])["payload"])


# Payloads whose secrets are all in key names (the SQL twin does not judge values by shape):
# the SQL scrub must equal the SDK's "remove" mode exactly.
SCRUB_CORPUS: list[dict[str, Any]] = [
    {},
    {"a": 1, "b": [1, "two", None, True, 2.5]},
    {"password": "p", "Password": "p", "PASSWORD": "p", "passwd": "p", "pwd": "p"},
    {"client_secret": "s", "clientSecret": "s", "secret_key": "k", "secretKey": "k"},
    {"X-Auth-Token": "t", "x-api-key": "k", "auth": "a", "author": "b", "oauth_provider": "c"},
    {"max_tokens": 1, "token_count": 2, "tokenizer": "t", "tokens": [1], "refresh_tokens": ["r"]},
    {"nested": {"deeper": {"private_key": "k", "keep": {"jwt": "j", "ok": [{"cookie": 1}]}}}},
    {"list": [{"credentials": {"a": 1}}, [["Authorization", "x"]], ["Authorization", "y"]]},
    {"pairs": [["cookie", {"a": 1}], ["Set-Cookie", "x"], ["a b", "c"], ["token", 1, 2]]},
    {"ｐａｓｓｗｏｒｄ": "fullwidth", "pa\u200bssword": "zero width", "PAẞWORD": "eszett"},
    {"idempotency_key": "k", "cache_key": "c", "primary_key": "p", "monkey": "m", "hotkey": 1},
    {"auth_header": "h", "auth_method": "m", "basic_auth": "b", "BasicAuth": "b", "HTTPAuth": 1},
    {"l": [[[{"api_key": "k", "v": [[["token", "t"]]]}]]]},
    {"argv": ["run", "--password", "x", "--user", "u", "--api-key", {"a": 1}, "-pw", "y"]},
    {"argv": ["--verbose", "--password-file", "f", "--password", "[REDACTED]", "--token"]},
    {"h": ["Authorization", "x"], "l": [["Authorization", "[REDACTED]"], ["--secret", 2]]},
    {"big": list(range(2000)), "strings": ["-", "--", "-x", "--max-tokens", 5]},
]


@pytest.mark.parametrize("payload", SCRUB_CORPUS)
def test_scrub_equals_the_sdks_remove_mode(db: Database, payload: dict[str, Any]) -> None:
    expected = prepare_payload(payload, mode="remove").value
    assert dispatch(db, payload)["payload"] == expected


def test_idempotency_key_returns_the_existing_job(db: Database) -> None:
    first = dispatch(db, {"n": 1}, {"idempotency_key": "order-42"})
    again = dispatch(db, {"n": 2}, {"idempotency_key": "order-42", "priority": 9})
    assert again == first  # as stored: the first dispatch's payload and options win
    assert count_jobs(db) == 1
    # The id the SDK derives for the same tenant and key.
    assert str(first["id"]) == idempotent_job_id(str(TENANT), "order-42")
    other_tenant = db.api().rpc(
        "sj_dispatch_v1",
        {
            "p_tenant_id": uuid.UUID(int=7),
            "p_type": "test_job",
            "p_options": {"idempotency_key": "order-42"},
        },
    )
    assert other_tenant["id"] != first["id"]
    assert count_jobs(db) == 2


@pytest.mark.parametrize("key", ["k", "order-42", "ünïcödé ключ 🔑", "x" * 255, "a:b:c"])
def test_sql_derives_the_sdks_ids(db: Database, key: str) -> None:
    tenant = str(uuid.uuid4())
    row = db.admin.execute(
        "select supabase_jobs.sj_idempotent_job_id(%s, %s) as id", [tenant, key]
    ).fetchone()
    assert row is not None and str(row["id"]) == idempotent_job_id(tenant, key)


def test_key_dedupes_with_a_job_stored_under_another_id(db: Database) -> None:
    # Another writer stored the key under an id of its own: that job is returned.
    (existing,) = db.add_jobs(1, tenant_id=TENANT, idempotency_key="legacy-1")
    assert dispatch(db, {}, {"idempotency_key": "legacy-1"})["id"] == existing
    assert count_jobs(db) == 1


def test_derived_id_taken_by_a_row_without_the_key(db: Database) -> None:
    # The row at the derived id no longer holds the key (edited): the key is free, and is
    # stored under a random id, as the SDK does.
    derived = uuid.UUID(idempotent_job_id(str(TENANT), "moved"))
    db.add_jobs(1, id=derived, tenant_id=TENANT, idempotency_key="renamed")
    job = dispatch(db, {}, {"idempotency_key": "moved"})
    assert job["id"] != derived and job["idempotency_key"] == "moved"
    assert dispatch(db, {}, {"idempotency_key": "moved"})["id"] == job["id"]
    assert count_jobs(db) == 2


def test_helpers_are_locked_down(db: Database) -> None:
    rows = db.admin.execute(
        "select p.proname, p.prosecdef, p.proconfig,"
        " has_function_privilege('anon', p.oid, 'execute') as anon,"
        " has_function_privilege('authenticated', p.oid, 'execute') as authenticated,"
        " has_function_privilege('service_role', p.oid, 'execute') as service"
        " from pg_proc p where p.pronamespace = 'supabase_jobs'::regnamespace"
        " or p.proname = 'sj_dispatch_v1' order by 1"
    ).fetchall()
    assert [r["proname"] for r in rows] == [
        "sj_dispatch_v1",
        "sj_idempotent_job_id",
        "sj_is_secret_key",
        "sj_scrub_secret_keys",
        "sj_sha1",
    ]
    for row in rows:
        assert row["prosecdef"] is False and row["proconfig"] == ['search_path=""'], row
        assert (row["anon"], row["authenticated"], row["service"]) == (False, False, True), row
    for role in ("anon", "authenticated"):
        api = db.api(role, user_claims(TENANT) if role == "authenticated" else None)
        raises_sqlstate(
            "42501",
            lambda a=api: a.rpc("sj_dispatch_v1", {"p_tenant_id": TENANT, "p_type": "test_job"}),  # type: ignore[misc]
        )
        refused_as(db, role, "select supabase_jobs.sj_is_secret_key('x')")
        refused_as(db, role, "select * from supabase_jobs.job_types")
    assert count_jobs(db) == 0


def refused_as(db: Database, role: str, statement: str) -> None:
    """``statement`` run as ``role`` (through the API's login role) fails with 42501."""
    with psycopg.connect(db.dsn("authenticator"), autocommit=True) as conn:
        conn.execute(f"set role {role}")
        raises_sqlstate("42501", lambda: conn.execute(statement.encode()))


def test_sql_limits_repeat_the_constants() -> None:
    (migration,) = [m for m in migrations() if m.name == "0008_dispatch_rpc"]
    text = migration.sql
    assert f"p_depth > {C.DEFAULT_MAX_PAYLOAD_DEPTH}" in text
    assert f"> {C.DEFAULT_MAX_PAYLOAD_BYTES} then" in text
    assert f"between {C.MIN_PRIORITY} and {C.MAX_PRIORITY}" in text
    assert f"between 1 and {C.MAX_MAX_ATTEMPTS}" in text
    assert f"between 1 and {C.MAX_IDEMPOTENCY_KEY_LENGTH}" in text
    assert f"v_queue text := '{C.DEFAULT_QUEUE}'" in text
    assert f"v_max_attempts integer := {C.DEFAULT_MAX_ATTEMPTS}" in text
    from supabase_jobs._core import IDEMPOTENCY_NAMESPACE

    assert f"'{IDEMPOTENCY_NAMESPACE}'::uuid" in text


# --- the examples in examples/sql ------------------------------------------------------------


def test_trigger_example_enqueues_on_insert(db: Database) -> None:
    db.admin.execute((ROOT / "examples/sql/enqueue_on_insert.sql").read_text().encode())
    doc = uuid.uuid4()
    # The insert comes from a signed-in user through the API: the trigger still enqueues.
    db.admin.execute("grant insert on public.documents to authenticated")
    user = db.api("authenticated", user_claims(TENANT))
    with user.conn.transaction():
        user.conn.execute("select set_config('role', 'authenticated', true)")
        user.conn.execute(
            "insert into public.documents (id, tenant_id, title, storage_path)"
            " values (%s, %s, 'Q3 report', 'docs/q3.pdf')",
            [doc, TENANT],
        )
    (job,) = db.admin.execute("select * from public.jobs").fetchall()
    assert (job["type"], job["queue"], job["priority"]) == ("document_indexing", "indexing", 10)
    assert job["payload"] == {"document_id": str(doc), "storage_path": "docs/q3.pdf"}
    assert job["tenant_id"] == TENANT
    assert job["id"] == uuid.UUID(idempotent_job_id(str(TENANT), f"document_indexing:{doc}"))
    # A rolled-back insert leaves no job behind.
    with pytest.raises(psycopg.errors.RaiseException), db.admin.transaction():
        db.admin.execute(
            "insert into public.documents (tenant_id, title) values (%s, 'x')", [TENANT]
        )
        db.admin.execute("do $$ begin raise exception 'abort'; end $$")
    assert count_jobs(db) == 1
    # The trigger function cannot be called by the API roles.
    row = db.admin.execute(
        "select has_function_privilege('authenticated', 'public.enqueue_document_indexing()',"
        " 'execute') as ok"
    ).fetchone()
    assert row is not None and row["ok"] is False


CRON_STANDIN = """
-- pg_cron is not installed in the test cluster: a stand-in for its API that records the
-- command, which the test then runs for real (as pg_cron would, as the scheduling role).
create schema cron;
create table cron.job (jobname text primary key, schedule text, command text);
create function cron.schedule(job_name text, schedule text, command text) returns bigint
language sql as $$
  insert into cron.job values (job_name, schedule, command)
  on conflict (jobname) do update set schedule = excluded.schedule, command = excluded.command;
  select 1::bigint $$;
"""


def test_pg_cron_example_enqueues_once_per_night(db: Database) -> None:
    db.admin.execute(CRON_STANDIN)
    db.admin.execute((ROOT / "examples/sql/pg_cron_dispatch.sql").read_text().encode())
    cron = db.admin.execute("select * from cron.job").fetchone()
    assert cron is not None and cron["schedule"] == "0 3 * * *"
    tenants = [uuid.UUID(int=1), uuid.UUID(int=2)]
    for tenant in tenants:
        db.add_jobs(1, tenant_id=tenant)
    db.admin.execute(cron["command"].encode())
    db.admin.execute(cron["command"].encode())  # a duplicated run of the same night
    cleanup = db.admin.execute(
        "select tenant_id, queue from public.jobs where type = 'tenant_cleanup' order by 1"
    ).fetchall()
    assert cleanup == [{"tenant_id": t, "queue": "maintenance"} for t in tenants]


def test_edge_function_calls_the_rpc_with_its_argument_names() -> None:
    source = (ROOT / "examples/edge-function/dispatch-job/index.ts").read_text()
    call = re.search(r'rpc\("sj_dispatch_v1", \{(.*?)\}\)', source, re.DOTALL)
    assert call is not None
    names = re.findall(r"(p_\w+):", call.group(1))
    assert names == ["p_tenant_id", "p_type", "p_payload", "p_options"]
    assert "SUPABASE_SERVICE_ROLE_KEY" in source


def test_null_options_mean_defaults(db: Database) -> None:
    job = dispatch(db, {}, {"queue": None, "priority": None, "idempotency_key": None})
    assert (job["queue"], job["priority"], job["idempotency_key"]) == ("default", 0, None)
    raises_sqlstate("22023", lambda: dispatch(db, {}, {"status": None}))


def waiting_on_lock(db: Database) -> bool:
    row = db.admin.execute(
        "select count(*) as n from pg_stat_activity"
        " where datname = current_database() and wait_event_type = 'Lock'"
    ).fetchone()
    return row is not None and row["n"] > 0


def test_concurrent_dispatches_of_one_key_make_one_job(db: Database) -> None:
    # The first dispatch holds its transaction open (a trigger inside a longer transaction);
    # the second waits on the key instead of inserting a duplicate, then returns that job.
    first = psycopg.connect(db.dsn("authenticator"))
    try:
        first.execute("set role service_role")
        (first_id,) = first.execute(
            "select (public.sj_dispatch_v1(%s, 'test_job', '{}', %s)).id",
            [TENANT, json.dumps({"idempotency_key": "race"})],
        ).fetchone() or (None,)
        results: list[Any] = []

        def second() -> None:
            with psycopg.connect(db.dsn("authenticator"), autocommit=True) as conn:
                conn.execute("set role service_role")
                row = conn.execute(
                    "select (public.sj_dispatch_v1(%s, 'test_job', '{\"n\": 2}', %s)).id",
                    [TENANT, json.dumps({"idempotency_key": "race"})],
                ).fetchone()
                results.append(row[0] if row else None)

        thread = threading.Thread(target=second)
        thread.start()
        # Wait (generously: shared machine) until the second call blocks on the first's key.
        deadline = time.monotonic() + 60
        while not waiting_on_lock(db) and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert thread.is_alive() and waiting_on_lock(db)  # blocked, not inserting a duplicate
        first.commit()
        thread.join(60)
        assert not thread.is_alive()
    finally:
        first.close()
    assert results == [first_id]
    assert count_jobs(db) == 1
