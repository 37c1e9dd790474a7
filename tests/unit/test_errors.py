"""translate_errors(): every PostgREST / proxy / httpx failure becomes the right JobsError."""

from __future__ import annotations

import logging
import pickle
import traceback
from typing import Any, NoReturn

import httpx
import pytest
from postgrest import APIError

from supabase_jobs._errors import (
    BackendError,
    ConfigurationError,
    ConflictError,
    ConstraintViolationError,
    ForeignKeyViolationError,
    InvalidStateError,
    JobsError,
    LeaseLostError,
    NotFoundError,
    NotServiceRoleError,
    PermissionDeniedError,
    RateLimitedError,
    SchemaNotInstalledError,
    ServiceUnavailableError,
    TransportError,
    TransportTimeoutError,
    ValidationError,
)
from supabase_jobs._translate import translate_errors

from ._helpers import SERVICE_KEY, TENANT, Flavor, Recorder

LOST = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f"

# (code, message, expected class)
CODES = [
    ("23505", 'duplicate key value violates unique constraint "jobs_pkey"', ConflictError),
    (
        "23503",
        'insert violates foreign key constraint "jobs_tenant_fkey"',
        ForeignKeyViolationError,
    ),
    ("23502", 'null value in column "tenant_id" of relation "jobs"', ConstraintViolationError),
    ("23514", 'new row violates check constraint "jobs_priority_check"', ConstraintViolationError),
    ("22P02", 'invalid input syntax for type uuid: "abc"', ConstraintViolationError),
    ("42501", "permission denied for table jobs", PermissionDeniedError),
    ("28P01", "password authentication failed", PermissionDeniedError),
    ("P0001", "custom raise", BackendError),
    ("PGRST116", "Cannot coerce the result to a single JSON object", NotFoundError),
    ("PGRST100", "bad query string", BackendError),
    ("PGRST102", "Empty or invalid json", BackendError),
    ("PGRST106", "Invalid schema: jobs", SchemaNotInstalledError),
    ("PGRST202", "Could not find the function public.sj_claim_v1", SchemaNotInstalledError),
    ("PGRST204", "Could not find the 'queue' column of 'jobs'", SchemaNotInstalledError),
    ("PGRST205", "Could not find the table 'public.jobs'", SchemaNotInstalledError),
    ("42P01", 'relation "public.jobs" does not exist', SchemaNotInstalledError),
    ("42883", "function public.sj_claim_v1 does not exist", SchemaNotInstalledError),
    ("42P10", "there is no unique or exclusion constraint", SchemaNotInstalledError),
    ("PGRST000", "Database connection error", ServiceUnavailableError),
    ("PGRST003", "Timed out acquiring connection", ServiceUnavailableError),
    ("PGRST301", "JWSError JWSInvalidSignature", PermissionDeniedError),
    ("PGRST303", "JWT expired", PermissionDeniedError),
    ("08006", "connection failure", ServiceUnavailableError),
    ("53300", "too many connections", ServiceUnavailableError),
    ("40001", "could not serialize access", ServiceUnavailableError),
    ("PT404", "nothing here", NotFoundError),
    ("PT409", "conflict", ConflictError),
    ("PT403", "forbidden", PermissionDeniedError),
    ("PT429", "slow down", RateLimitedError),
    ("PT503", "later", ServiceUnavailableError),
    ("PT400", "bad", BackendError),
    ("502", "Bad Gateway", ServiceUnavailableError),
    ("503", "Service Unavailable", ServiceUnavailableError),
    ("504", "Gateway Timeout", ServiceUnavailableError),
    ("429", "Too Many Requests", RateLimitedError),
    ("401", "Unauthorized", PermissionDeniedError),
    ("403", "Forbidden", PermissionDeniedError),
    ("404", "Not Found", BackendError),
    ("413", "Payload Too Large", BackendError),
    ("500", "Internal Server Error", BackendError),
    (None, "Invalid API key", PermissionDeniedError),
    (None, "something odd", BackendError),
    ("SJ001", "lease lost", LeaseLostError),
    ("SJ002", "job not found", NotFoundError),
    ("SJ003", "invalid state", InvalidStateError),
    ("XX000", "internal error", BackendError),
]


def _raise(code: Any, message: Any, details: Any = None, hint: Any = None) -> NoReturn:
    raise APIError({"code": code, "message": message, "details": details, "hint": hint})


@pytest.mark.parametrize(("code", "message", "expected"), CODES)
def test_api_error_codes_map_to_the_right_exception(code: Any, message: Any, expected: Any) -> None:
    with pytest.raises(expected) as info, translate_errors("test"):
        _raise(code, message, details="Key (id)=(secret-value-123) already exists.", hint="h")
    error = info.value
    assert type(error) is expected
    assert isinstance(error.__cause__, APIError)
    assert error.code == code
    assert error.hint == "h"
    # Generic, safe message: never the server's text or details.
    assert "secret-value-123" not in str(error)
    assert message not in str(error) or len(message) < 12


def test_check_violation_names_the_column_and_constraint() -> None:
    with pytest.raises(ConstraintViolationError) as info, translate_errors():
        _raise(
            "23514", 'new row for relation "jobs" violates check constraint "jobs_priority_check"'
        )
    assert info.value.path == "priority"
    assert info.value.constraint == "jobs_priority_check"
    # Raised from the database's answer, after sending: a BackendError, never a
    # ValidationError (which promises that nothing was sent).
    assert isinstance(info.value, BackendError)
    assert not isinstance(info.value, ValidationError)


def test_lease_lost_lists_the_job_ids_from_details() -> None:
    with pytest.raises(LeaseLostError) as info, translate_errors("heartbeat"):
        _raise("SJ001", "lease lost", details=f'["{LOST}"]')
    assert info.value.job_ids == (LOST,)
    assert LOST in str(info.value)


def test_lease_lost_falls_back_to_the_job_in_context() -> None:
    with pytest.raises(LeaseLostError) as info, translate_errors("complete", job_id=LOST):
        _raise("SJ001", "lease lost")
    assert info.value.job_ids == (LOST,)


def test_not_found_carries_the_job_id() -> None:
    with pytest.raises(NotFoundError) as info, translate_errors("cancel", job_id=LOST):
        _raise("SJ002", "job not found")
    assert info.value.job_id == LOST


def test_schema_missing_says_run_the_migrations() -> None:
    with pytest.raises(SchemaNotInstalledError, match="run the migrations"), translate_errors():
        _raise("PGRST205", "Could not find the table 'public.jobs' in the schema cache")


def test_timeouts_and_connection_errors_are_transport_errors() -> None:
    request = httpx.Request("POST", "http://db.example.test/rest/v1/jobs")
    with pytest.raises(TransportTimeoutError) as info, translate_errors():
        raise httpx.ReadTimeout("timed out", request=request)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, TransportError)
    assert "db.example.test" in str(info.value)
    with pytest.raises(TransportError) as refused, translate_errors():
        raise httpx.ConnectError("[Errno 111] Connection refused")
    assert type(refused.value) is TransportError
    assert isinstance(refused.value.__cause__, httpx.ConnectError)


def test_jobs_errors_and_other_exceptions_pass_through() -> None:
    original = NotFoundError("x")
    with pytest.raises(NotFoundError) as info, translate_errors():
        raise original
    assert info.value is original
    with pytest.raises(KeyError), translate_errors():
        raise KeyError("k")


def test_translation_is_logged_with_context_and_no_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="supabase_jobs")
    with pytest.raises(ConflictError), translate_errors("dispatch", tenant_id=TENANT):
        _raise("23505", "duplicate", details="Key (idempotency_key)=(hunter2) already exists.")
    (record,) = caplog.records
    assert record.__dict__["action"] == "dispatch"
    assert record.__dict__["code"] == "23505"
    assert record.__dict__["tenant_id"] == TENANT
    assert "hunter2" not in caplog.text


def test_the_hierarchy_is_rooted_and_errors_pickle() -> None:
    for cls in (ConfigurationError, NotServiceRoleError, BackendError, TransportTimeoutError):
        assert issubclass(cls, JobsError)
    lost = LeaseLostError([LOST], completed=("done",))
    clone = pickle.loads(pickle.dumps(lost))
    assert clone.job_ids == (LOST,) and clone.completed == ("done",)
    assert str(clone) == str(lost)
    found = pickle.loads(pickle.dumps(NotFoundError("gone", job_id=LOST)))
    assert found.job_id == LOST


# ---- through the clients: sync and async, real supabase-py parsing -------------------


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (409, {"code": "23505", "message": "dup"}, {}, ConflictError),
        (403, {"code": "42501", "message": "denied"}, {}, PermissionDeniedError),
        (404, {"code": "PGRST205", "message": "no table"}, {}, SchemaNotInstalledError),
        (400, {"code": "23514", "message": "check"}, {}, ConstraintViolationError),
        (502, "<html>Bad Gateway</html>", {}, ServiceUnavailableError),
        (503, "", {"Proxy-Status": "PostgREST; error=PGRST001"}, ServiceUnavailableError),
        (429, "slow", {}, RateLimitedError),
        (401, {"message": "Invalid API key"}, {}, PermissionDeniedError),
    ],
)
async def test_client_maps_http_errors(
    jobs: Flavor, recorder: Recorder, status: Any, body: Any, headers: Any, expected: Any
) -> None:
    if isinstance(body, dict):
        reply = httpx.Response(status, json=body, headers=headers)
    else:
        reply = httpx.Response(status, text=body, headers=headers)
    recorder.queue(reply)
    with pytest.raises(expected) as info:
        await jobs.dispatch(TENANT, "test_job", {"a": 1})
    assert "Bad Gateway</html>" not in str(info.value)
    # The HTTP status postgrest-py's APIError drops, kept as on openai-python's errors.
    assert info.value.status_code == status


async def test_client_errors_carry_the_request_id(jobs: Flavor, recorder: Recorder) -> None:
    recorder.queue(
        httpx.Response(
            409, json={"code": "23505", "message": "dup"}, headers={"sb-request-id": "req-7"}
        )
    )
    with pytest.raises(ConflictError) as info:
        await jobs.dispatch(TENANT, "test_job")
    assert info.value.request_id == "req-7"
    assert "request id req-7" in str(info.value)


async def test_client_timeouts_and_refusals(jobs: Flavor, recorder: Recorder) -> None:
    recorder.queue(httpx.ReadTimeout("timed out"), httpx.ConnectError("refused"))
    with pytest.raises(TransportTimeoutError) as timeout:
        await jobs.dispatch(TENANT, "test_job")
    with pytest.raises(TransportError) as refused:
        await jobs.get(LOST)
    assert timeout.value.status_code is None and refused.value.status_code is None


async def test_status_code_belongs_to_the_failing_response_only(
    jobs: Flavor, recorder: Recorder
) -> None:
    # A keyed dispatch: the insert is refused (409), the reads answer 200, then the
    # refusal is raised: it carries the refused response's status, not the last one seen.
    recorder.queue(
        httpx.Response(409, json={"code": "23505", "message": "dup"}),
        httpx.Response(200, json=[]),
        httpx.Response(200, json=[]),
    )
    with pytest.raises(ConflictError) as info:
        await jobs.dispatch(TENANT, "test_job", idempotency_key="k")
    assert info.value.status_code == 409
    with pytest.raises(ValidationError) as invalid:
        await jobs.dispatch(TENANT, "test_job", priority=1000)
    assert invalid.value.status_code is None


def test_real_connection_refused_is_a_transport_error() -> None:
    from supabase import ClientOptions, create_client

    from supabase_jobs._sync._client import JobsClient

    http = httpx.Client(timeout=5)
    sb = create_client(
        "http://127.0.0.1:9",
        SERVICE_KEY,
        ClientOptions(httpx_client=http, postgrest_client_retry=False),
    )
    with pytest.raises(TransportError) as info:
        JobsClient(sb).dispatch(TENANT, "test_job")
    assert "127.0.0.1" in str(info.value)
    assert SERVICE_KEY[6:] not in str(info.value)
    http.close()


# ---- the cause chain a traceback prints carries no submitted values -------------------


def _traceback_text(error: BaseException) -> str:
    """What a logged traceback says about every exception in the chain (not source lines,
    which would show this test's own literals)."""
    parts = []
    seen: BaseException | None = error
    while seen is not None:
        parts += [*traceback.format_exception_only(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return "".join(parts)


def test_chained_api_error_withholds_row_values_but_keeps_the_code() -> None:
    failing_row = 'Failing row contains (id, tenant, {"ssn": "078-05-1120"}, order-secret-42).'
    with pytest.raises(ConstraintViolationError) as info, translate_errors("dispatch"):
        _raise(
            "23514",
            'new row for relation "jobs" violates check constraint "jobs_priority_check"',
            details=failing_row,
            hint="check the priority",
        )
    text = _traceback_text(info.value)
    assert "078-05-1120" not in text and "order-secret-42" not in text
    cause = info.value.__cause__
    assert isinstance(cause, APIError)
    assert cause.code == "23514" and cause.hint == "check the priority"
    assert cause.message is not None and '"jobs_priority_check"' in cause.message
    assert info.value.path == "priority"  # translated from the full message first


def test_chained_api_error_masks_quoted_values_in_the_message() -> None:
    with pytest.raises(ConstraintViolationError) as info, translate_errors("get"):
        _raise("22P02", 'invalid input syntax for type uuid: "tenant-secret-99"')
    text = _traceback_text(info.value)
    assert "tenant-secret-99" not in text
    assert "22P02" in text and "invalid input syntax for type uuid" in text


def test_lease_lost_ids_are_read_before_the_details_are_withheld() -> None:
    with pytest.raises(LeaseLostError) as info, translate_errors("heartbeat"):
        _raise("SJ001", "lease lost", details=f'["{LOST}"]')
    assert info.value.job_ids == (LOST,)


def test_real_refused_read_names_no_filter_value() -> None:
    from supabase import ClientOptions, create_client

    from supabase_jobs._sync._client import JobsClient

    http = httpx.Client(timeout=5)
    sb = create_client(
        "http://127.0.0.1:9",
        SERVICE_KEY,
        ClientOptions(httpx_client=http, postgrest_client_retry=False),
    )
    with pytest.raises(TransportError) as info:
        JobsClient(sb).list(tenant_id=TENANT, type="test_job")
    text = _traceback_text(info.value)
    assert TENANT not in text and "test_job" not in text
    assert SERVICE_KEY[6:] not in text
    http.close()
