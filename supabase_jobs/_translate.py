"""Translate postgrest's ``APIError`` and httpx's errors into :class:`._errors.JobsError`.

The ONE place that catches foreign exceptions: every PostgREST call runs inside
:func:`translate_errors`, which maps SQLSTATE / ``PGRSTnnn`` codes and HTTP statuses to
the classes of :mod:`._errors` (the tree is in that module's docstring), chains the
original, attaches ``code``, ``hint``, and the HTTP status and request id kept by
:func:`remember_response` (an httpx response hook), and logs the failure once.

Nothing the server echoes is trusted: the new error's message is generic, and the
chained ``APIError`` has its ``details`` withheld and quoted values masked
(:func:`_defuse`), so a logged traceback never carries payload values or keys. httpx
errors name the host only, since request URLs carry filter values.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

import httpx
from postgrest import APIError

from ._constants import SQLSTATE_INVALID_STATE, SQLSTATE_JOB_NOT_FOUND, SQLSTATE_LEASE_LOST
from ._errors import (
    BackendError,
    ConflictError,
    ConstraintViolationError,
    ForeignKeyViolationError,
    InvalidStateError,
    JobsError,
    LeaseLostError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SchemaNotInstalledError,
    ServiceUnavailableError,
    TransportError,
    TransportTimeoutError,
)

__all__ = ["remember_response", "translate_errors"]

logger = logging.getLogger("supabase_jobs")

_request_id: ContextVar[str | None] = ContextVar("supabase_jobs_request_id", default=None)
# postgrest-py's APIError drops the HTTP status; the hook keeps it for the translated error.
_status_code: ContextVar[int | None] = ContextVar("supabase_jobs_status_code", default=None)
#: Response headers that carry a request id, most specific first.
REQUEST_ID_HEADERS = ("sb-request-id", "x-request-id", "cf-ray")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CONSTRAINT = re.compile(r'constraint "([A-Za-z0-9_]{1,63})"')
_COLUMN = re.compile(r'column "([A-Za-z0-9_]{1,63})"')
_REQUEST_ID_SHAPE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SCHEMA_CODES = frozenset(
    {"PGRST202", "PGRST204", "PGRST205", "PGRST106", "42P01", "42883", "42703", "42P10"}
)
_UNAVAILABLE_CODES = frozenset(
    {"PGRST000", "PGRST001", "PGRST002", "PGRST003", "57P01", "57014", "40001", "40P01"}
)
_BAD_VALUE_CODES = frozenset({"23502", "23514", "22P02", "22001", "22003", "22007", "22008"})
_AUTH_CODES = frozenset({"42501", "PGRST301", "PGRST302", "PGRST303"})
_JOB_COLUMNS = (
    "tenant_id", "type", "status", "payload", "attempts", "worker_id", "queue", "priority",
    "run_at", "max_attempts", "lease_id", "locked_until", "idempotency_key", "result",
    "last_error", "errors",
)  # fmt: skip
_MIGRATE = (
    "the supabase-jobs schema is missing or out of date in this database: run the "
    "migrations (`supabase-jobs migrations export` then `supabase db push`, or "
    "`supabase-jobs migrations apply --db-url ...`)"
)


def remember_response(response: httpx.Response) -> None:
    """Keep the status and request id of ``response`` for the next translated error.

    An httpx response hook; it runs in the caller's context (task or thread), so the
    values are seen by the :func:`translate_errors` block around the call.
    """
    _status_code.set(response.status_code)
    for name in REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value and _REQUEST_ID_SHAPE.fullmatch(value):
            _request_id.set(value)
            return


def _by_status(status: int, from_sql: bool) -> JobsError:
    if status in (401, 403):
        return PermissionDeniedError(
            f"HTTP {status}: the gateway refused the credentials (is the key the project's "
            "service_role / secret key?)"
        )
    if status == 404:
        if from_sql:
            return NotFoundError()
        return BackendError("HTTP 404 from the gateway: check SUPABASE_URL")
    if status == 409:
        return ConflictError("the request conflicts with the current state")
    if status == 429:
        return RateLimitedError("too many requests (HTTP 429): slow down and retry later")
    if status in (408, 502, 503, 504) or 520 <= status <= 530:
        return ServiceUnavailableError(f"the service is temporarily unavailable (HTTP {status})")
    if status == 413:
        return BackendError("the request is too large for the gateway (HTTP 413)")
    return BackendError(f"the request failed (HTTP {status})")


def _bad_value(code: str, message: str) -> ConstraintViolationError:
    constraint = match.group(1) if (match := _CONSTRAINT.search(message)) else None
    column = match.group(1) if (match := _COLUMN.search(message)) else None
    if column is None and constraint is not None:
        # Postgres names CHECKs "<table>_<column>_check" by default.
        stem = re.sub(r"_(check|key|not_null)$", "", constraint)
        column = next((c for c in _JOB_COLUMNS if stem.endswith("_" + c) or stem == c), None)
    what = {"23502": "a required value is missing", "23514": "a CHECK constraint failed"}.get(
        code, "a value has the wrong type or is out of range"
    )
    return ConstraintViolationError(
        column or "row", f"rejected by the database: {what}", constraint=constraint
    )


def _from_api_error(exc: APIError, context: Mapping[str, str]) -> JobsError:
    code = (exc.code or "").strip()
    message = exc.message or ""
    if code == SQLSTATE_LEASE_LOST:
        ids = _UUID.findall(str(exc.details or "")) or (
            [context["job_id"]] if "job_id" in context else []
        )
        return LeaseLostError([i.lower() for i in ids])
    if code == SQLSTATE_JOB_NOT_FOUND:
        return NotFoundError("the job does not exist", job_id=context.get("job_id"))
    if code == SQLSTATE_INVALID_STATE:
        return InvalidStateError("the job's current status does not allow this operation")
    if code in _SCHEMA_CODES:
        return SchemaNotInstalledError(_MIGRATE)
    if code == "23505":
        return ConflictError("a row with the same unique values already exists")
    if code == "23503":
        error = ForeignKeyViolationError("a referenced row is missing or still referenced")
        error.constraint = match.group(1) if (match := _CONSTRAINT.search(message)) else None
        return error
    if code in _BAD_VALUE_CODES:
        return _bad_value(code, message)
    if code in _AUTH_CODES or code.startswith("28"):
        return PermissionDeniedError(
            "permission denied: use the service_role / secret key, and make sure the "
            "migrations (which grant service_role) ran"
        )
    if code == "PGRST116":
        return NotFoundError("expected exactly one row")
    if code in _UNAVAILABLE_CODES or code[:2] in ("08", "53"):
        return ServiceUnavailableError("the database is temporarily unavailable; retry later")
    if code.startswith("PT") and code[2:].isdigit():
        return _by_status(int(code[2:]), from_sql=True)
    if code.isdigit() and len(code) == 3:
        return _by_status(int(code), from_sql=False)
    if not code and re.search(r"api key|jwt|token", message, re.IGNORECASE):
        return PermissionDeniedError("the gateway refused the API key")
    if code == "P0001":
        return BackendError("a database function raised an error")
    return BackendError("the database rejected the request")


# A double-quoted literal in a server message, and the word before it. Postgres quotes
# identifiers after these words (safe, useful) and submitted values elsewhere
# (``invalid input syntax for type uuid: "<value>"``).
_QUOTED = re.compile(
    r"(?P<word>\b(?:constraint|relation|column|function|table|schema|index|type|role|"
    r'policy|view|sequence|trigger|operator|extension)\s+)?"(?:[^"]|"")*"',
    re.IGNORECASE,
)
_WITHHELD = "[withheld by supabase_jobs: may echo submitted values]"
_MAX_CAUSE_MESSAGE = 300


def _mask_values(message: str) -> str:
    masked = _QUOTED.sub(lambda m: m[0] if m["word"] else '"[value]"', message)
    return masked[:_MAX_CAUSE_MESSAGE]


def _defuse(exc: APIError) -> None:
    """Strip submitted values from the ``APIError`` we chain, in place.

    A traceback prints the whole cause chain, and ``str(APIError)`` is its raw dict:
    ``details`` of a CHECK violation is ``Failing row contains (<every column, payload
    included>)`` and of a unique violation ``Key (...)=(<idempotency key>)``; some
    messages quote the offending value too. Code and hint stay; the parts that echo
    values go, so ``logger.exception()`` never writes payload values or keys.
    """
    safe = {
        "code": exc.code,
        "message": _mask_values(exc.message) if isinstance(exc.message, str) else None,
        "hint": exc.hint if isinstance(exc.hint, str) else None,
        "details": None if exc.details in (None, "") else _WITHHELD,
    }
    exc._raw_error = safe
    exc.message = safe["message"]
    exc.details = safe["details"]
    exc.args = (str(safe),)


def _host(exc: httpx.RequestError) -> str:
    try:
        return exc.request.url.host or "the server"
    except RuntimeError:  # httpx raises when no request is attached
        return "the server"


def _translate(exc: BaseException, context: Mapping[str, str]) -> JobsError | None:
    if isinstance(exc, APIError):
        error = _from_api_error(exc, context)
        error.code = exc.code
        error.hint = exc.hint if isinstance(exc.hint, str) else None
        return error
    if isinstance(exc, httpx.TimeoutException):
        return TransportTimeoutError(f"timed out talking to {_host(exc)} ({type(exc).__name__})")
    if isinstance(exc, httpx.RequestError):
        return TransportError(f"could not reach {_host(exc)} ({type(exc).__name__})")
    return None


def _add_reference(error: JobsError) -> None:
    """Append the (safe) code and request id to the message: what support asks for first."""
    refs = [f"code {error.code}"] if error.code else []
    if error.request_id:
        refs.append(f"request id {error.request_id}")
    if refs and error.args:
        error.args = (f"{error.args[0]} [{', '.join(refs)}]", *error.args[1:])


@contextmanager
def translate_errors(action: str = "request", **context: str) -> Iterator[None]:
    """Turn postgrest ``APIError`` and httpx errors into :class:`JobsError` subclasses.

    A plain (sync) context manager, so it wraps ``await`` expressions just as well::

        with translate_errors("dispatch", tenant_id=tenant):
            response = await builder.execute()

    The new error chains the original (``raise ... from``), carries ``code``, ``hint``,
    ``status_code`` and ``request_id``, and is logged once with ``action`` and
    ``context`` (ids only, never payloads). Messages are generic: the server's
    ``message``/``details`` can echo submitted values, so they are never copied, and the
    chained ``APIError`` has them masked (see :func:`_defuse`). httpx errors name the
    host only: request URLs carry filter values (tenant ids).

    Args:
        action: What was attempted (``dispatch``, ``claim``...), for the log line.
        **context: Ids that help support (``job_id``, ``tenant_id``); never payloads.

    Raises:
        JobsError: The translated error (a subclass), chained to the original.
    """
    token = _request_id.set(None)
    status_token = _status_code.set(None)
    try:
        yield
    except JobsError:
        raise
    except (APIError, httpx.RequestError) as exc:
        error = _translate(exc, context)
        assert error is not None
        if isinstance(exc, APIError):
            _defuse(exc)  # after _translate, which reads the details it needs
        error.request_id = _request_id.get()
        if isinstance(exc, APIError):
            error.status_code = _status_code.get()
        _add_reference(error)
        logger.warning(
            "%s failed: %s",
            action,
            type(error).__name__,
            extra={
                "action": action,
                "error": type(error).__name__,
                "code": error.code,
                "status_code": error.status_code,
                "request_id": error.request_id,
                **context,
            },
        )
        raise error from exc
    finally:
        _request_id.reset(token)
        _status_code.reset(status_token)
