"""``list_page`` and ``delete_many``: argument checks before any request, exact queries.

Which rows the keyset filter selects is tested against the real database through the
CLI (tests/acceptance/test_cli_jobs.py); here only the outgoing HTTP is asserted.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

import httpx
import pytest

from supabase_jobs import NotFoundError, ValidationError
from supabase_jobs._paging import MAX_DELETE_IDS, keyset_filter, page_of, timestamp_filter_value

from ._helpers import TENANT, Flavor, Recorder, job_row

ID = "0b6f5c1e-3f5a-4a57-9a52-5c1f0e1d2c3b"


def _params(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": 10**30}, "limit"),
        ({"limit": True}, "limit"),
        ({"after": "not-a-uuid"}, "after"),
        ({"tenant_id": "x"}, "tenant_id"),
        ({"status": "done"}, "status"),
        ({"created_before": datetime(2026, 1, 1)}, "created_before"),
        ({"created_after": "2026-01-01"}, "created_after"),
        (
            {
                "created_before": datetime(2026, 1, 1, tzinfo=timezone.utc),
                "created_after": datetime(2026, 1, 2, tzinfo=timezone.utc),
            },
            "created_after",
        ),
    ],
)
async def test_list_page_checks_every_argument_before_any_request(
    jobs: Flavor, recorder: Recorder, kwargs: dict, path: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await jobs.list_page(**kwargs)
    assert caught.value.path == path
    assert recorder.requests == []


async def test_list_page_asks_one_row_more_and_returns_a_cursor(
    jobs: Flavor, recorder: Recorder
) -> None:
    rows = [job_row() for _ in range(3)]
    recorder.queue(httpx.Response(200, json=rows))
    page = await jobs.list_page(tenant_id=TENANT, status=["failed"], queue="mail", limit=2)
    assert [str(j.id) for j in page.jobs] == [rows[0]["id"], rows[1]["id"]]
    assert page.next_after == rows[1]["id"]
    params = dict(_params(recorder.last))
    assert params["limit"] == "3"
    assert params["tenant_id"] == f"eq.{TENANT}"
    assert params["status"] == "in.(failed)"
    assert params["queue"] == "eq.mail"
    assert params["order"] == "created_at.desc,id.desc"


async def test_list_page_continues_after_the_cursor_job(jobs: Flavor, recorder: Recorder) -> None:
    cursor = job_row(id=ID, created_at="2026-01-25T10:23:38.191585+00:00")
    recorder.queue(httpx.Response(200, json=[cursor]), httpx.Response(200, json=[]))
    before = datetime(2026, 2, 1, tzinfo=timezone(timedelta(hours=2)))
    page = await jobs.list_page(after=ID, created_before=before, limit=10)
    assert page.jobs == [] and page.next_after is None
    assert dict(_params(recorder.requests[0]))["id"] == f"eq.{ID}"
    params = dict(_params(recorder.last))
    stamp = "2026-01-25T10:23:38.191585Z"
    assert params["or"] == f"(created_at.lt.{stamp},and(created_at.eq.{stamp},id.lt.{ID}))"
    assert params["created_at"] == "lt.2026-01-31T22:00:00.000000Z"


async def test_list_page_with_a_vanished_cursor_is_not_found(
    jobs: Flavor, recorder: Recorder
) -> None:
    recorder.queue(httpx.Response(200, json=[]))
    with pytest.raises(NotFoundError):
        await jobs.list_page(after=ID)
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(
    ("ids", "path"),
    [
        ([], "jobs"),
        ("0b6f5c1e-3f5a-4a57-9a52-5c1f0e1d2c3b", "jobs"),
        (["nope"], "jobs[0]"),
        ([str(uuid.uuid4()) for _ in range(MAX_DELETE_IDS + 1)], "jobs"),
    ],
)
async def test_delete_many_checks_ids_before_any_request(
    jobs: Flavor, recorder: Recorder, ids: object, path: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await jobs.delete_many(ids)
    assert caught.value.path == path
    assert recorder.requests == []


async def test_delete_many_is_one_request_with_each_id_once(
    jobs: Flavor, recorder: Recorder
) -> None:
    other = str(uuid.uuid4())
    recorder.queue(httpx.Response(200, json=[job_row(id=ID)]))
    deleted = await jobs.delete_many([ID, other, ID.upper()], tenant_id=TENANT)
    assert [str(j.id) for j in deleted] == [ID]
    assert recorder.last.method == "DELETE"
    params = dict(_params(recorder.last))
    assert params["id"] == f"in.({ID},{other})"
    assert params["tenant_id"] == f"eq.{TENANT}"


def test_page_of_and_filters_are_pure() -> None:
    assert page_of([], 5).next_after is None
    naive_utc = timestamp_filter_value(datetime(2026, 1, 1, 1, tzinfo=timezone.utc))
    assert naive_utc == "2026-01-01T01:00:00.000000Z"
    assert keyset_filter(datetime(2026, 1, 1, tzinfo=timezone.utc), ID).endswith(f"id.lt.{ID})")
