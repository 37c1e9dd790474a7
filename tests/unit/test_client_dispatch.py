"""The exact HTTP of dispatch / dispatch_many, for JobsClient and AsyncJobsClient."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import httpx
import pytest
from pydantic import BaseModel

from supabase_jobs._core import idempotent_job_id
from supabase_jobs._errors import (
    ConfigurationError,
    ConflictError,
    MassAssignmentError,
    PayloadValidationError,
    ScrubbedFieldRequiredError,
    TransportTimeoutError,
    UnknownJobTypeError,
    ValidationError,
)
from supabase_jobs._models import JobStatus

from ._helpers import OTHER_TENANT, SERVICE_KEY, TENANT, Flavor, Recorder, job_row


def _calls(recorder: Recorder) -> list[str]:
    """Each request as ``POST`` (insert), ``GET`` (read by id) or ``RPC`` (read by key)."""
    return [
        "RPC" if "/rpc/" in r.url.path else r.method  # keys travel in a POST body only
        for r in recorder.requests
    ]


def _columns(request: httpx.Request) -> set[str]:
    return {c.strip('"') for c in request.url.params["columns"].split(",")}


def _common_headers(request: httpx.Request) -> None:
    assert request.headers["apikey"] == SERVICE_KEY
    assert request.headers["authorization"] == f"Bearer {SERVICE_KEY}"
    assert request.headers["content-profile"] == "public"
    assert request.headers["content-type"] == "application/json"


async def test_dispatch_is_one_plain_insert(jobs: Flavor, recorder: Recorder) -> None:
    job = await jobs.dispatch(TENANT, "test_job", {"test": "data", "model": "gpt-4"})

    assert len(recorder.requests) == 1
    request = recorder.last
    assert request.method == "POST"
    assert request.url.path == "/rest/v1/jobs"
    assert not request.url.params
    _common_headers(request)
    assert request.headers["prefer"] == "return=representation"
    # Only the seed columns: an old table without the added columns accepts this row.
    assert recorder.body() == {
        "tenant_id": TENANT,
        "type": "test_job",
        "payload": {"test": "data", "model": "gpt-4"},
    }
    assert job.status is JobStatus.PENDING
    assert str(job.tenant_id) == TENANT
    assert job.payload == {"test": "data", "model": "gpt-4"}


async def test_dispatch_sends_explicit_options_and_canonical_tenant(
    jobs: Flavor, recorder: Recorder
) -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    await jobs.dispatch(
        uuid.UUID(TENANT.upper()),
        "ai_generation",
        None,
        run_at=when,
        priority=0,
        queue="default",
        max_attempts=3,
    )
    assert recorder.body() == {
        "tenant_id": TENANT,
        "type": "ai_generation",
        "payload": {},
        "run_at": "2030-01-02T01:04:05+00:00",
        "priority": 0,
        "queue": "default",
        "max_attempts": 3,
    }


async def test_dispatch_delay_becomes_an_absolute_run_at(jobs: Flavor, recorder: Recorder) -> None:
    before = datetime.now(timezone.utc)
    await jobs.dispatch(TENANT, "test_job", run_at=timedelta(minutes=5))
    run_at = datetime.fromisoformat(recorder.body()["run_at"])
    assert before + timedelta(minutes=5) <= run_at
    assert run_at.utcoffset() == timedelta(0)


async def test_type_defaults_apply_and_call_wins(jobs: Flavor, recorder: Recorder) -> None:
    jobs.client.registry.register("send_email", queue="mail", priority=0, max_attempts=9)
    await jobs.dispatch(TENANT, "send_email", {"to": "a@example.com"})
    # priority 0 equals the database default and came from the type: not sent.
    assert recorder.body() == {
        "tenant_id": TENANT,
        "type": "send_email",
        "payload": {"to": "a@example.com"},
        "queue": "mail",
        "max_attempts": 9,
    }
    await jobs.dispatch(TENANT, "send_email", {}, queue="urgent", max_attempts=2)
    assert recorder.body()["queue"] == "urgent"
    assert recorder.body()["max_attempts"] == 2


async def test_idempotent_dispatch_is_one_upsert_on_the_happy_path(
    jobs: Flavor, recorder: Recorder
) -> None:
    job = await jobs.dispatch(TENANT, "test_job", {"n": 1}, idempotency_key="order-42")
    assert len(recorder.requests) == 1
    request = recorder.last
    assert request.method == "POST"
    assert request.url.path == "/rest/v1/jobs"
    # The primary key resolves a retry: the id is derived from tenant and key.
    assert request.url.params["on_conflict"] == "id"
    assert request.headers["prefer"] == (
        "return=representation,resolution=ignore-duplicates,missing=default"
    )
    assert recorder.body() == {
        "id": idempotent_job_id(TENANT, "order-42"),
        "tenant_id": TENANT,
        "type": "test_job",
        "payload": {"n": 1},
        "idempotency_key": "order-42",
    }
    assert job.idempotency_key == "order-42"


async def test_idempotent_duplicate_returns_the_existing_job(
    jobs: Flavor, recorder: Recorder
) -> None:
    existing = job_row(idempotency_key="order-42", payload={"n": 0})
    recorder.queue(httpx.Response(201, json=[]), httpx.Response(200, json=[existing]))

    job = await jobs.dispatch(TENANT, "test_job", {"n": 1}, idempotency_key="order-42")

    assert len(recorder.requests) == 2
    read = recorder.requests[1]
    assert read.method == "GET"
    assert read.url.path == "/rest/v1/jobs"
    # Read back by the derived id: the key itself never travels in a URL (URLs are logged).
    assert dict(read.url.params) == {
        "select": "*",
        "tenant_id": f"eq.{TENANT}",
        "id": f"in.({idempotent_job_id(TENANT, 'order-42')})",
    }
    assert "order-42" not in str(read.url)
    assert str(job.id) == existing["id"]
    assert job.payload == {"n": 0}


async def test_dispatch_many_is_one_bulk_insert_in_input_order(
    jobs: Flavor, recorder: Recorder
) -> None:
    def reversed_echo(request: httpx.Request) -> httpx.Response:
        rows = json.loads(request.content)
        return httpx.Response(201, json=[job_row(**row) for row in reversed(rows)])

    recorder.queue(reversed_echo)
    items = [
        {"tenant_id": TENANT, "type": "test_job", "payload": {"i": 0}},
        {"tenant_id": OTHER_TENANT, "type": "ai_generation", "payload": {"i": 1}, "priority": 5},
        {"tenant_id": TENANT, "type": "test_job", "payload": {"i": 2}, "queue": "bulk"},
    ]
    result = await jobs.dispatch_many(items)

    assert len(recorder.requests) == 1
    request = recorder.last
    assert request.method == "POST"
    assert request.url.path == "/rest/v1/jobs"
    _common_headers(request)
    assert request.headers["prefer"] == "return=representation,missing=default"
    assert "on_conflict" not in request.url.params
    assert _columns(request) == {"id", "tenant_id", "type", "payload", "priority", "queue"}
    body = recorder.body()
    assert [row["payload"] for row in body] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert body[1]["priority"] == 5 and "priority" not in body[0]
    assert len({row["id"] for row in body}) == 3
    assert [job.payload["i"] for job in result] == [0, 1, 2]
    assert [str(job.id) for job in result] == [row["id"] for row in body]


async def test_dispatch_many_with_keys_fetches_duplicates_once(
    jobs: Flavor, recorder: Recorder
) -> None:
    existing = job_row(idempotency_key="k-old", payload={"old": True})

    def insert_all_but_old(request: httpx.Request) -> httpx.Response:
        rows = [r for r in json.loads(request.content) if r.get("idempotency_key") != "k-old"]
        return httpx.Response(201, json=[job_row(**row) for row in rows])

    recorder.queue(insert_all_but_old, httpx.Response(200, json=[existing]))
    items = [
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "k-old"},
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "k-new"},
        {"tenant_id": TENANT, "type": "test_job"},
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "k-new"},
    ]
    result = await jobs.dispatch_many(items)

    assert len(recorder.requests) == 2
    upsert = recorder.requests[0]
    assert upsert.url.params["on_conflict"] == "id"
    assert upsert.headers["prefer"] == (
        "return=representation,resolution=ignore-duplicates,missing=default"
    )
    sent = recorder.body(0)
    # Keyed batches go in id order (two overlapping batches then cannot deadlock).
    assert [row["id"] for row in sent] == sorted(row["id"] for row in sent)
    by_key = {row.get("idempotency_key"): row["id"] for row in sent}
    assert set(by_key) == {"k-old", "k-new", None} and len(sent) == 3
    assert by_key["k-old"] == idempotent_job_id(TENANT, "k-old")
    assert by_key["k-new"] == idempotent_job_id(TENANT, "k-new")
    read = recorder.requests[1]
    assert read.method == "GET"
    assert read.url.params["tenant_id"] == f"eq.{TENANT}"
    assert read.url.params["id"] == f"in.({idempotent_job_id(TENANT, 'k-old')})"
    assert "k-old" not in str(read.url)
    assert result[0].payload == {"old": True}
    assert result[1].id == result[3].id
    assert len({result[1].id, result[2].id, result[0].id}) == 3


async def test_dispatch_many_of_nothing_sends_nothing(jobs: Flavor, recorder: Recorder) -> None:
    assert await jobs.dispatch_many([]) == []
    assert recorder.requests == []


class Invoice(BaseModel):
    amount: int
    api_key: str


INVALID_DISPATCHES = [
    ({"tenant_id": "not-a-uuid"}, ValidationError, "tenant_id"),
    ({"tenant_id": "00000000-0000-0000-0000-000000000000"}, ValidationError, "tenant_id"),
    ({"tenant_id": f"{{{TENANT}}}"}, ValidationError, "tenant_id"),
    ({"tenant_id": TENANT.replace("-", "")}, ValidationError, "tenant_id"),
    ({"tenant_id": None}, ValidationError, "tenant_id"),
    ({"type": "nope"}, UnknownJobTypeError, "type"),
    ({"type": "Bad Type"}, UnknownJobTypeError, "type"),
    ({"payload": ["not", "a", "dict"]}, ValidationError, "payload"),
    ({"payload": {"x": float("nan")}}, ValidationError, "payload.x"),
    ({"payload": {"when": datetime.now(timezone.utc)}}, ValidationError, "payload.when"),
    ({"priority": 101}, ValidationError, "priority"),
    ({"priority": True}, ValidationError, "priority"),
    ({"queue": "Not A Queue"}, ValidationError, "queue"),
    ({"max_attempts": 0}, ValidationError, "max_attempts"),
    ({"run_at": datetime(2030, 1, 1)}, ValidationError, "run_at"),
    ({"run_at": timedelta(seconds=-1)}, ValidationError, "run_at"),
    ({"run_at": "tomorrow"}, ValidationError, "run_at"),
    ({"idempotency_key": ""}, ValidationError, "idempotency_key"),
    ({"idempotency_key": "x" * 256}, ValidationError, "idempotency_key"),
]


@pytest.mark.parametrize(("change", "error", "path"), INVALID_DISPATCHES)
async def test_invalid_dispatch_raises_typed_error_and_sends_nothing(
    jobs: Flavor, recorder: Recorder, change: Any, error: Any, path: Any
) -> None:
    args = {"tenant_id": TENANT, "type": "test_job", "payload": {"ok": 1}, **change}
    with pytest.raises(error) as info:
        await jobs.dispatch(args.pop("tenant_id"), args.pop("type"), args.pop("payload"), **args)
    assert info.value.path == path
    assert recorder.requests == []


INVALID_BATCHES = [
    (
        [{"tenant_id": TENANT, "type": "test_job", "status": "completed"}],
        MassAssignmentError,
        "jobs[0].status",
    ),
    (
        [{"tenant_id": TENANT, "type": "test_job", "attempts": 0}],
        MassAssignmentError,
        "jobs[0].attempts",
    ),
    (
        [{"tenant_id": TENANT, "type": "test_job", "worker_id": "w"}],
        MassAssignmentError,
        "jobs[0].worker_id",
    ),
    (
        [{"tenant_id": TENANT, "type": "test_job", "created_at": "2020-01-01"}],
        MassAssignmentError,
        "jobs[0].created_at",
    ),
    (
        [{"tenant_id": TENANT, "type": "test_job", "colour": "red"}],
        ValidationError,
        "jobs[0].colour",
    ),
    (
        [{"tenant_id": TENANT, "type": "test_job"}, {"type": "test_job"}],
        ValidationError,
        "jobs[1].tenant_id",
    ),
    ([{"tenant_id": TENANT, "type": "test_job"}, "job"], ValidationError, "jobs[1]"),
    (
        [
            {"tenant_id": TENANT, "type": "test_job"},
            {"tenant_id": TENANT, "type": "test_job", "payload": {"items": [1, {"b": b"x"}]}},
        ],
        ValidationError,
        "jobs[1].payload.items[1].b",
    ),
    ({"tenant_id": TENANT, "type": "test_job"}, ValidationError, "jobs"),
]


@pytest.mark.parametrize(("items", "error", "path"), INVALID_BATCHES)
async def test_invalid_batch_raises_typed_error_and_sends_nothing(
    jobs: Flavor, recorder: Recorder, items: Any, error: Any, path: Any
) -> None:
    with pytest.raises(error) as info:
        await jobs.dispatch_many(items)
    assert info.value.path == path
    assert recorder.requests == []


async def test_scrubbed_payload_is_sent_and_logged_without_values(
    jobs: Flavor, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    payload = {
        "prompt": "hello",
        "max_tokens": 512,
        "password": "hunter2-very-secret",
        "nested": {"api_key": "key-123456789-secret"},
    }
    caplog.set_level(logging.DEBUG)
    job = await jobs.dispatch(TENANT, "test_job", payload)

    assert recorder.body()["payload"] == {"prompt": "hello", "max_tokens": 512, "nested": {}}
    assert payload["password"] == "hunter2-very-secret"  # the caller's dict is untouched
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "payload.password" in warnings[0].getMessage()
    assert "payload.nested.api_key" in warnings[0].getMessage()
    infos = [r for r in caplog.records if getattr(r, "action", None) == "dispatch"]
    assert len(infos) == 1
    assert infos[0].levelno == logging.INFO
    assert infos[0].__dict__["job_id"] == str(job.id)
    assert infos[0].__dict__["type"] == "test_job"
    assert infos[0].__dict__["tenant_id"] == TENANT
    text = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    for secret in ("hunter2-very-secret", "key-123456789-secret", SERVICE_KEY[6:]):
        assert secret not in text


async def test_batch_logs_one_info_with_count(
    jobs: Flavor, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="supabase_jobs")
    await jobs.dispatch_many([{"tenant_id": TENANT, "type": "test_job"}] * 3)
    infos = [r for r in caplog.records if r.name == "supabase_jobs" and r.levelno == logging.INFO]
    assert len(infos) == 1
    assert infos[0].__dict__["count"] == 3


async def test_scrubbing_a_required_model_field_is_a_typed_error(
    jobs: Flavor, recorder: Recorder
) -> None:
    jobs.client.registry.register("invoice", Invoice)
    with pytest.raises(ScrubbedFieldRequiredError) as info:
        await jobs.dispatch(TENANT, "invoice", {"amount": 3, "api_key": "abc"})
    assert info.value.path == "payload.api_key"
    assert recorder.requests == []


async def test_payload_model_errors_are_kept(jobs: Flavor, recorder: Recorder) -> None:
    @jobs.client.registry.register("resize")
    class Resize(BaseModel):
        width: int

    with pytest.raises(PayloadValidationError) as info:
        await jobs.dispatch(TENANT, "resize", {"width": "wide"})
    assert info.value.path == "payload.width"
    assert info.value.errors[0]["type"] == "int_parsing"
    assert "wide" not in str(info.value)
    assert recorder.requests == []
    await jobs.dispatch(TENANT, "resize", Resize(width=3))
    assert recorder.body()["payload"] == {"width": 3}


# ---- idempotency end to end against a stateful stand-in for PostgREST's upsert ---------


class KeyedTable:
    """Just enough of ``POST ?on_conflict=id`` + ``ignore-duplicates`` (with the partial
    unique index on ``(tenant_id, idempotency_key)`` answering 409 / 23505),
    ``GET ?tenant_id=eq.&id=in.(...)`` and ``POST /rpc/sj_keyed_jobs_v1`` to replay lost
    responses.

    ``lose_next`` commits the next write and then fails the response, like a timeout
    after the database committed.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.lose_next = False

    def _key(self, row: dict[str, Any]) -> tuple[str, str] | None:
        key = row.get("idempotency_key")
        return None if key is None else (row["tenant_id"], key)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            tenant = request.url.params["tenant_id"].removeprefix("eq.")
            ids = set(request.url.params["id"].removeprefix("in.(").removesuffix(")").split(","))
            found = [r for r in self.rows if r["tenant_id"] == tenant and r["id"] in ids]
            return httpx.Response(200, json=found)
        if request.url.path == "/rest/v1/rpc/sj_keyed_jobs_v1":
            args = json.loads(request.content)
            found = [
                r
                for r in self.rows
                if r["tenant_id"] == args["p_tenant_id"]
                and r["idempotency_key"] in set(args["p_keys"])
            ]
            return httpx.Response(200, json=found)
        assert request.url.params.get("on_conflict") in (None, "id")
        body = json.loads(request.content)
        ids = {r["id"] for r in self.rows}
        held = {self._key(r) for r in self.rows} - {None}
        inserted: list[dict[str, Any]] = []
        for row in body if isinstance(body, list) else [body]:
            if row.get("id") in ids:
                continue  # ON CONFLICT (id) DO NOTHING
            key = self._key(row)
            if key is not None and key in held:  # the partial unique index: all or nothing
                del self.rows[len(self.rows) - len(inserted) :]
                return httpx.Response(409, json=UNIQUE_VIOLATION)
            stored = job_row(**{"idempotency_key": None, **row})
            inserted.append(stored)
            self.rows.append(stored)
            ids.add(stored["id"])
            held.add(key)
        if self.lose_next:
            self.lose_next = False
            raise httpx.ReadTimeout("timed out")
        return httpx.Response(201, json=inserted)


UNIQUE_VIOLATION = {
    "code": "23505",
    "details": "Key (tenant_id, idempotency_key)=(...) already exists.",
    "hint": None,
    "message": 'duplicate key value violates unique constraint "jobs_tenant_idempotency_key_idx"',
}


@pytest.fixture
def table(recorder: Recorder) -> KeyedTable:
    fake = KeyedTable()
    recorder.queue(*[fake] * 50)
    return fake


async def test_dispatch_retried_after_a_lost_response_returns_the_same_job(
    jobs: Flavor, recorder: Recorder, table: KeyedTable
) -> None:
    table.lose_next = True
    with pytest.raises(TransportTimeoutError):
        await jobs.dispatch(TENANT, "test_job", {"n": 1}, idempotency_key="order-42")
    assert len(table.rows) == 1  # committed, answer lost

    job = await jobs.dispatch(TENANT, "test_job", {"n": 1}, idempotency_key="order-42")
    assert str(job.id) == table.rows[0]["id"]
    assert len(table.rows) == 1
    # The same key for another tenant is another job.
    other = await jobs.dispatch(OTHER_TENANT, "test_job", {"n": 1}, idempotency_key="order-42")
    assert other.id != job.id and len(table.rows) == 2


async def test_dispatch_many_retried_after_a_lost_response_creates_nothing_twice(
    jobs: Flavor, recorder: Recorder, table: KeyedTable
) -> None:
    items = [
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "a", "payload": {"i": 0}},
        {"tenant_id": OTHER_TENANT, "type": "test_job", "idempotency_key": "a"},
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": 'b,c("q")'},
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "a", "payload": {"i": 3}},
    ]
    table.lose_next = True
    with pytest.raises(TransportTimeoutError):
        await jobs.dispatch_many(items)
    assert len(table.rows) == 3  # the in-batch duplicate was sent once

    result = await jobs.dispatch_many(items)
    assert len(table.rows) == 3
    ids = {(r["tenant_id"], r["idempotency_key"]): r["id"] for r in table.rows}
    assert [str(j.id) for j in result] == [
        ids[(TENANT, "a")],
        ids[(OTHER_TENANT, "a")],
        ids[(TENANT, 'b,c("q")')],
        ids[(TENANT, "a")],
    ]
    # One read per tenant, with an exact tenant filter (never another tenant's rows).
    reads = [r for r in recorder.requests if r.method == "GET"]
    assert sorted(r.url.params["tenant_id"] for r in reads) == sorted(
        [f"eq.{TENANT}", f"eq.{OTHER_TENANT}"]
    )


async def test_retrying_a_large_keyed_batch_reads_duplicates_in_bounded_gets(
    jobs: Flavor, recorder: Recorder, table: KeyedTable
) -> None:
    items = [
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": f"{i:04d}-" + "k" * 40}
        for i in range(1200)
    ]
    first = await jobs.dispatch_many(items)
    again = await jobs.dispatch_many(items)
    assert [j.id for j in again] == [j.id for j in first]
    assert len(table.rows) == 1200
    reads = [r for r in recorder.requests if r.method == "GET"]
    # One GET naming 1200 keys would be a ~60 KB URL that gateways refuse.
    assert len(reads) > 1
    assert all(len(str(r.url)) < 8000 for r in reads)


async def test_keyed_and_unkeyed_rows_in_one_batch(
    jobs: Flavor, recorder: Recorder, table: KeyedTable
) -> None:
    await jobs.dispatch(TENANT, "test_job", idempotency_key="old")
    result = await jobs.dispatch_many(
        [
            {"tenant_id": TENANT, "type": "test_job"},
            {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "old"},
            {"tenant_id": TENANT, "type": "test_job"},
        ]
    )
    assert len(table.rows) == 3
    assert result[1].id == UUID(table.rows[0]["id"])
    assert len({result[0].id, result[1].id, result[2].id}) == 3
    assert result[0].idempotency_key is None and result[2].idempotency_key is None


def test_the_derived_id_depends_on_tenant_and_key_only() -> None:
    job_id = idempotent_job_id(TENANT, "order-42")
    assert job_id == str(
        uuid.uuid5(UUID("b7c688bc-4dfb-5315-b44e-c66628fd0721"), f"{TENANT}:order-42")
    )
    assert job_id == idempotent_job_id(TENANT, "order-42")
    assert job_id != idempotent_job_id(OTHER_TENANT, "order-42")
    assert job_id != idempotent_job_id(TENANT, "order-43")


async def test_a_key_another_writer_holds_returns_that_job(
    jobs: Flavor, recorder: Recorder, table: KeyedTable
) -> None:
    # An existing app stored the key under an id of its own: the partial unique index refuses
    # the SDK's insert (409); the read by derived id finds nothing, one read by key (in a
    # POST body) finds the job. Never an error, never a second job.
    foreign = job_row(idempotency_key="order-42", payload={"from": "app"})
    table.rows.append(foreign)
    job = await jobs.dispatch(TENANT, "test_job", {"n": 1}, idempotency_key="order-42")
    assert str(job.id) == foreign["id"] and job.payload == {"from": "app"}
    assert _calls(recorder) == ["POST", "GET", "RPC"]
    assert recorder.body(2) == {"p_tenant_id": TENANT, "p_keys": ["order-42"]}
    assert all("order-42" not in str(r.url) for r in recorder.requests)
    assert len(table.rows) == 1


async def test_a_foreign_holder_in_a_custom_table_is_a_configuration_error(
    recorder: Recorder, table: KeyedTable
) -> None:
    # sj_keyed_jobs_v1 reads public.jobs only: never ask it about another table's keys.
    from supabase_jobs._settings import JobsConfig
    from supabase_jobs._sync._client import JobsClient

    from ._helpers import sync_supabase

    table.rows.append(job_row(idempotency_key="order-42"))
    client = JobsClient(sync_supabase(recorder), config=JobsConfig(table="app_jobs"))
    with pytest.raises(ConfigurationError, match="sj_keyed_jobs_v1"):
        client.dispatch(TENANT, "test_job", idempotency_key="order-42")
    assert _calls(recorder) == ["POST", "GET"]


async def test_dispatch_many_with_a_key_another_writer_holds(
    jobs: Flavor, recorder: Recorder, table: KeyedTable
) -> None:
    foreign = job_row(idempotency_key="k-app", payload={"from": "app"})
    table.rows.append(foreign)
    items = [
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "k-new"},
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "k-app"},
        {"tenant_id": TENANT, "type": "test_job"},
    ]
    result = await jobs.dispatch_many(items)
    # Refused as a whole (409), the batch's keys read once (by id, then by key), the other
    # rows sent again.
    assert _calls(recorder) == ["POST", "GET", "RPC", "POST"]
    assert {row.get("idempotency_key") for row in recorder.body(3)} == {"k-new", None}
    assert str(result[1].id) == foreign["id"]
    assert str(result[0].id) == idempotent_job_id(TENANT, "k-new")
    assert len(table.rows) == 3 and len({j.id for j in result}) == 3
    # Sent again, the whole batch resolves to the same jobs and stores nothing new.
    again = await jobs.dispatch_many(items[:2])
    assert [j.id for j in again] == [j.id for j in result[:2]]
    assert len(table.rows) == 3


async def test_other_conflicts_are_not_swallowed(jobs: Flavor, recorder: Recorder) -> None:
    recorder.queue(httpx.Response(409, json=UNIQUE_VIOLATION))
    with pytest.raises(ConflictError):
        await jobs.dispatch(TENANT, "test_job", {"n": 1})  # unkeyed: not an idempotency case
    assert len(recorder.requests) == 1


async def test_a_conflict_that_is_not_about_the_key_still_raises(
    jobs: Flavor, recorder: Recorder
) -> None:
    # 23505 from some other unique index of the app's: the key is not held by anyone, so
    # the refusal is reported, not turned into "the dispatched job was not returned".
    nobody = [httpx.Response(200, json=[]), httpx.Response(200, json=[])]
    recorder.queue(httpx.Response(409, json=UNIQUE_VIOLATION), *nobody)
    with pytest.raises(ConflictError):
        await jobs.dispatch(TENANT, "test_job", {"n": 1}, idempotency_key="order-42")
    assert _calls(recorder) == ["POST", "GET", "RPC"]
    recorder.queue(httpx.Response(409, json=UNIQUE_VIOLATION), *nobody)
    with pytest.raises(ConflictError):
        await jobs.dispatch_many(
            [{"tenant_id": TENANT, "type": "test_job", "idempotency_key": "k"}]
        )
    assert _calls(recorder)[3:] == ["POST", "GET", "RPC"]


async def test_dispatch_many_rides_out_key_races_then_gives_up(
    jobs: Flavor, recorder: Recorder
) -> None:
    # Concurrent dispatches of the same keys committing first: each refusal reads who holds
    # which key and resends the rest, for at most KEY_CONFLICT_ROUNDS inserts.
    held_1 = job_row(idempotency_key="k1")
    held_2 = job_row(idempotency_key="k2")

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json=[job_row(**row) for row in json.loads(request.content)])

    refused = httpx.Response(409, json=UNIQUE_VIOLATION)
    recorder.queue(
        refused,
        httpx.Response(200, json=[held_1]),
        refused,
        httpx.Response(200, json=[held_2]),
        echo,
    )
    items = [
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": k} for k in ("k1", "k2", "k3")
    ]
    result = await jobs.dispatch_many(items)
    assert [r.method for r in recorder.requests] == ["POST", "GET", "POST", "GET", "POST"]
    assert [row["idempotency_key"] for row in recorder.body(4)] == ["k3"]
    assert [str(j.id) for j in result] == [
        held_1["id"],
        held_2["id"],
        idempotent_job_id(TENANT, "k3"),
    ]
    # A race on every round: the third refusal is raised, nothing is guessed.
    recorder.queue(
        refused,
        httpx.Response(200, json=[held_1]),
        refused,
        httpx.Response(200, json=[held_2]),
        refused,
    )
    with pytest.raises(ConflictError):
        await jobs.dispatch_many(items)
    assert len(recorder.requests) == 10


async def test_a_key_whose_derived_id_is_taken_by_another_row_is_still_stored(
    jobs: Flavor, recorder: Recorder, table: KeyedTable
) -> None:
    # The job first stored under "order-42" had its key edited by hand: the derived id is
    # taken, nobody holds the key. The dispatch stores a new job under a random id, and
    # later dispatches of the key find that one by key.
    table.rows.append(job_row(id=idempotent_job_id(TENANT, "order-42"), idempotency_key="x"))
    job = await jobs.dispatch(TENANT, "test_job", {"n": 1}, idempotency_key="order-42")
    assert _calls(recorder) == ["POST", "GET", "POST"]
    assert str(job.id) != idempotent_job_id(TENANT, "order-42")
    assert job.idempotency_key == "order-42" and len(table.rows) == 2
    again = await jobs.dispatch(TENANT, "test_job", {"n": 2}, idempotency_key="order-42")
    assert again.id == job.id and len(table.rows) == 2
    items = [
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "order-42"},
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": "fresh"},
    ]
    table.rows.append(job_row(id=idempotent_job_id(TENANT, "fresh"), idempotency_key="y"))
    batch = await jobs.dispatch_many(items)
    assert batch[0].id == job.id
    assert batch[1].idempotency_key == "fresh"
    assert str(batch[1].id) != idempotent_job_id(TENANT, "fresh")
    assert len(table.rows) == 4
