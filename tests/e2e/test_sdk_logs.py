"""No idempotency key, payload value or secret reaches any log record, of any logger.

Every record of every logger at DEBUG (ours, httpx, httpcore, postgrest, supabase, the
local gateway's) is rendered as a handler would see it (``getMessage()``, the record's
attributes, ``exc_info`` and ``stack_info`` text) while the SDK dispatches through the
real gateway: keyed dispatch, duplicates, batches, a key another writer holds, a derived
id another row took, scrubbing, and dispatches the database refuses.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from supabase_jobs import (
    AsyncJobsClient,
    ConflictError,
    ConstraintViolationError,
    JobsClient,
    ValidationError,
)
from supabase_jobs._core import idempotent_job_id
from supabase_jobs.local import LocalStack

pytestmark = pytest.mark.e2e

TENANT = "00000000-0000-4000-8000-0000000000d1"
LOGGERS = ("", "httpx", "httpcore", "postgrest", "supabase", "supabase_jobs", "hpack", "h11")


class Capture(logging.Handler):
    """Keeps the full text a handler could write for each record."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.names: set[str] = set()
        self._format = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        parts = [record.getMessage(), repr(record.args), repr(record.__dict__)]
        if record.exc_info:
            parts.append(self._format.formatException(record.exc_info))
        if record.stack_info:
            parts.append(record.stack_info)
        self.names.add(record.name)
        self.texts.append("\n".join(parts))


@pytest.fixture
def captured() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def secret(label: str) -> str:
    """A unique marker: found in a log line only if the value itself leaked."""
    return f"{label}-{uuid.uuid4().hex}"


def assert_clean(captured: Capture, stack: LocalStack, markers: list[str]) -> None:
    assert captured.texts, "nothing was logged: the capture is not wired"
    # The request lines of httpx and the connection events of httpcore were seen, so their
    # absence of markers means something.
    assert "httpx" in captured.names
    assert any(name.startswith("httpcore") for name in captured.names)
    text = "\n".join(captured.texts)
    for marker in [*markers, stack.service_role_key[6:]]:
        assert marker not in text, f"leaked into a log record: {marker[:12]}..."


def test_sync_dispatches_log_no_key_payload_or_secret(
    jobs_client: JobsClient, supabase_jobs_stack: LocalStack, captured: Capture
) -> None:
    stack = supabase_jobs_stack
    keys = [secret("idem-key") for _ in range(6)]
    values = [secret("payload-value") for _ in range(6)]
    markers = keys + values

    # A new keyed job, then the same key again (read back by id), as a retry would.
    first = jobs_client.dispatch(TENANT, "test_job", {"note": values[0]}, idempotency_key=keys[0])
    again = jobs_client.dispatch(TENANT, "test_job", {"note": values[0]}, idempotency_key=keys[0])
    assert again.id == first.id

    # A batch with keys (one already stored, one twice in the batch) and a retry of it.
    items: list[dict[str, Any]] = [
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": keys[0]},
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": keys[1]},
        {"tenant_id": TENANT, "type": "test_job", "payload": {"v": values[1]}},
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": keys[1]},
    ]
    batch = jobs_client.dispatch_many(items)
    retried = jobs_client.dispatch_many(items[:2] + items[3:])
    assert [j.id for j in retried] == [batch[0].id, batch[1].id, batch[3].id]

    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        # Another writer stored keys[2] under an id of its own: found by key, in a body.
        conn.execute(
            "insert into public.jobs (tenant_id, type, payload, idempotency_key)"
            " values (%s, 'test_job', '{}', %s)",
            [TENANT, keys[2]],
        )
        # keys[3]'s derived id is taken by a row whose key was edited by hand.
        conn.execute(
            "insert into public.jobs (id, tenant_id, type, payload, idempotency_key)"
            " values (%s, %s, 'test_job', '{}', 'edited')",
            [idempotent_job_id(TENANT, keys[3]), TENANT],
        )
    foreign = jobs_client.dispatch(TENANT, "test_job", {}, idempotency_key=keys[2])
    assert foreign.idempotency_key == keys[2]
    stored = jobs_client.dispatch(TENANT, "test_job", {}, idempotency_key=keys[3])
    assert stored.idempotency_key == keys[3]
    assert jobs_client.dispatch(TENANT, "test_job", {}, idempotency_key=keys[3]).id == stored.id
    assert jobs_client.dispatch_many(
        [{"tenant_id": TENANT, "type": "test_job", "idempotency_key": k} for k in keys[2:4]]
    ) == [foreign, stored]

    # Scrubbed: the secret's value is dropped and never logged.
    scrubbed = jobs_client.dispatch(
        TENANT, "test_job", {"password": values[2], "note": values[3]}, idempotency_key=keys[4]
    )
    assert "password" not in scrubbed.payload

    # Refused by the database: a CHECK the SDK does not know, and a unique index of the
    # app's that is not about the key (nobody holds the key: the refusal is raised).
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(
            "alter table public.jobs add constraint e2e_no_reject"
            " check (payload ->> 'reject' is null) not valid"
        )
        conn.execute(
            "create unique index e2e_unique_u on public.jobs ((payload ->> 'u'))"
            " where payload ? 'u'"
        )
    try:
        with pytest.raises(ConstraintViolationError) as refused:
            jobs_client.dispatch(TENANT, "test_job", {"reject": values[4]}, idempotency_key=keys[5])
        assert refused.value.status_code == 400 and refused.value.code == "23514"
        jobs_client.dispatch(TENANT, "test_job", {"u": values[5]})
        with pytest.raises(ConflictError) as conflict:
            jobs_client.dispatch(TENANT, "test_job", {"u": values[5]}, idempotency_key=keys[5])
        assert conflict.value.status_code == 409
        with pytest.raises(ConflictError):
            jobs_client.dispatch_many(
                [{"tenant_id": TENANT, "type": "test_job", "payload": {"u": values[5]}}]
            )
    finally:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute("alter table public.jobs drop constraint e2e_no_reject")
            conn.execute("drop index public.e2e_unique_u")

    # Refused before sending: the message names the field, never the value.
    with pytest.raises(ValidationError) as invalid_payload:
        jobs_client.dispatch(TENANT, "test_job", {"x": {values[0]}}, idempotency_key=keys[0])
    with pytest.raises(ValidationError) as invalid_key:
        jobs_client.dispatch(TENANT, "test_job", {}, idempotency_key=keys[0] + "\x00")

    # An app logs what it caught, traceback and cause chain included.
    app = logging.getLogger("e2e.app")
    for caught in (refused, conflict, invalid_payload, invalid_key):
        app.error("dispatch failed", exc_info=caught.value)

    assert_clean(captured, stack, markers)


async def test_async_dispatches_log_no_key_or_payload(
    async_jobs_client: AsyncJobsClient, supabase_jobs_stack: LocalStack, captured: Capture
) -> None:
    keys = [secret("idem-key") for _ in range(3)]
    value = secret("payload-value")
    first = await async_jobs_client.dispatch(
        TENANT, "test_job", {"v": value}, idempotency_key=keys[0]
    )
    items: list[dict[str, Any]] = [
        {"tenant_id": TENANT, "type": "test_job", "idempotency_key": k} for k in keys
    ]
    batch = await async_jobs_client.dispatch_many(items)
    assert batch[0].id == first.id
    assert [j.id for j in await async_jobs_client.dispatch_many(items)] == [j.id for j in batch]
    assert_clean(captured, supabase_jobs_stack, [*keys, value])
