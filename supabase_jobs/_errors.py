"""Exceptions raised by supabase_jobs, and the one place foreign errors are translated.

Every error the SDK raises derives from :class:`JobsError`::

    JobsError
     ├── ConfigurationError           missing/malformed setting; names the variable
     │    └── NotServiceRoleError     anon/publishable key, or a signed-in user's token
     ├── ValidationError              bad input, caught before any request is sent
     │    ├── PayloadValidationError  a payload (or result) field, path ``payload.*``
     │    │    ├── PayloadTooLargeError        serialized size over the configured limit
     │    │    ├── SecretInPayloadError        a secret found while scrubbing in ``raise`` mode
     │    │    └── ScrubbedFieldRequiredError  scrubbing removed a field the model requires
     │    ├── UnknownJobTypeError     type not registered
     │    ├── MassAssignmentError     tried to set status / attempts / worker_id / ...
     │    ├── NotClaimedError         a lease-fenced call got a job without a lease
     │    └── ConstraintViolationError  the database refused a value (23502/23514/22P02)
     ├── NotFoundError                SJ002, PGRST116, PT404, ``get()`` of a missing id
     ├── ConflictError                23505, PT409
     │    ├── ForeignKeyViolationError  23503
     │    └── InvalidStateError       SJ003: e.g. cancel a completed job
     ├── PermissionDeniedError        42501, 28xxx, PGRST301-303, HTTP 401/403
     ├── LeaseLostError               SJ001: the lease expired; ``job_ids``, ``completed``
     ├── BackendError                 anything else from PostgREST or the database
     │    ├── SchemaNotInstalledError   PGRST202/204/205/106, 42P01/42883/42703/42P10
     │    ├── RateLimitedError          HTTP 429
     │    └── ServiceUnavailableError   502/503/504, PGRST000-003, 08xxx, 53xxx, 40001
     └── TransportError               connection refused/reset, DNS, protocol errors
          └── TransportTimeoutError   any httpx timeout (also a builtin ``TimeoutError``)

Messages name the offending field path and a reason, never the offending value: the
value may be a secret, and messages end up in logs. Errors translated from PostgREST
carry ``code`` (SQLSTATE / ``PGRSTnnn``), ``hint`` and ``request_id`` attributes and
chain the original exception; the server's ``message`` and ``details`` are never copied
into our message because they can echo submitted values.

Usage::

    try:
        jobs.complete(job, result)
    except LeaseLostError:
        ...  # another worker owns the job now; drop the result
    except JobsError as exc:
        log.warning("jobs backend: %s (code %s)", exc, exc.code)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx
from postgrest import APIError

from ._constants import SQLSTATE_INVALID_STATE, SQLSTATE_JOB_NOT_FOUND, SQLSTATE_LEASE_LOST

__all__ = [
    "BackendError",
    "ConfigurationError",
    "ConflictError",
    "ConstraintViolationError",
    "ForeignKeyViolationError",
    "InvalidStateError",
    "JobsError",
    "LeaseLostError",
    "MassAssignmentError",
    "NotClaimedError",
    "NotFoundError",
    "NotServiceRoleError",
    "PayloadTooLargeError",
    "PayloadValidationError",
    "PermissionDeniedError",
    "RateLimitedError",
    "SchemaNotInstalledError",
    "ScrubbedFieldRequiredError",
    "SecretInPayloadError",
    "ServiceUnavailableError",
    "TransportError",
    "TransportTimeoutError",
    "UnknownJobTypeError",
    "ValidationError",
    "remember_request_id",
    "translate_errors",
]

logger = logging.getLogger("supabase_jobs")


class JobsError(Exception):
    """Root of every error raised by supabase_jobs; catch it to handle them all.

    Attributes:
        code: The PostgREST / SQLSTATE code of a translated backend error, else ``None``.
        hint: PostgREST's hint, if it sent one.
        request_id: The gateway's request id (``sb-request-id`` / ``x-request-id``), if any.
    """

    code: str | None = None
    hint: str | None = None
    request_id: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments; rebuild without __init__ (see below).
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(cls: type[JobsError], args: tuple[Any, ...]) -> JobsError:
    """Recreate an unpickled error; its attributes come back through ``__dict__``."""
    error = cls.__new__(cls)
    error.args = args
    return error


class ValidationError(JobsError):
    """An argument failed validation; nothing was sent.

    Attributes:
        path: The field path, e.g. ``tenant_id`` or ``payload.items[3].when``.
        reason: Why it was refused, without the value.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"invalid {path}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:
        # The default reduce calls cls(message), which subclasses with keyword-only
        # attributes cannot take; rebuild without __init__ so every subclass pickles.
        return (_rebuild, (type(self), self.args), self.__dict__)


class PayloadValidationError(ValidationError):
    """A payload (or job result) is not a JSON-native value within the limits.

    Attributes:
        errors: Structured details, e.g. pydantic's errors for a registered payload
            model (input values excluded); empty when the reason says it all.
    """

    def __init__(self, path: str, reason: str, *, errors: Iterable[Any] = ()) -> None:
        super().__init__(path, reason)
        self.errors = tuple(errors)


class PayloadTooLargeError(PayloadValidationError):
    """The compact UTF-8 JSON encoding of the payload exceeds the configured limit.

    Attributes:
        size: The encoded size in bytes.
        limit: The configured limit in bytes.
    """

    def __init__(self, path: str, reason: str, *, size: int, limit: int) -> None:
        super().__init__(path, reason)
        self.size = size
        self.limit = limit


class SecretInPayloadError(PayloadValidationError):
    """Scrubbing in ``raise`` mode found secret-looking fields.

    Attributes:
        paths: Every offending field path (never a value); ``path`` is the first.
    """

    def __init__(self, path: str, reason: str, *, paths: Iterable[str] = ()) -> None:
        super().__init__(path, reason)
        self.paths = tuple(paths) or (path,)


class ConfigurationError(JobsError):
    """Missing or malformed configuration (environment variable, key, client, registry).

    Attributes:
        variables: The environment variables at fault, when known.
    """

    def __init__(self, message: str, *, variables: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.variables = variables


class NotServiceRoleError(ConfigurationError):
    """The client would not act as ``service_role``: an anon/publishable key or a user's token."""


class UnknownJobTypeError(ValidationError):
    """The job type is not registered with the client's registry."""


class MassAssignmentError(ValidationError):
    """A dispatch tried to set a column the queue manages (status, attempts, ...)."""


class ScrubbedFieldRequiredError(PayloadValidationError):
    """Secret scrubbing removed a field that the type's payload model requires."""


class NotClaimedError(ValidationError):
    """A lease-fenced call got a job that was not returned by ``claim`` (no lease)."""


class ConstraintViolationError(ValidationError):
    """The database rejected the values (NOT NULL, CHECK, bad input syntax).

    The SDK validates first, so this means the table has rules the SDK does not know,
    or a job type / limit is configured differently from the SQL.

    Attributes:
        constraint: The violated constraint's name, when the database named one.
    """

    def __init__(self, path: str, reason: str, *, constraint: str | None = None) -> None:
        super().__init__(path, reason)
        self.constraint = constraint


class NotFoundError(JobsError):
    """The job (or row) does not exist (``SJ002``, ``PGRST116``, ``PT404``).

    Attributes:
        job_id: The id looked up, when known.
    """

    def __init__(self, message: str = "not found", *, job_id: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


class ConflictError(JobsError):
    """The write conflicts with existing data (``23505`` unique, ``PT409``)."""


class ForeignKeyViolationError(ConflictError):
    """A referenced row does not exist or is still referenced (``23503``).

    Attributes:
        constraint: The foreign key's name, when the database named it.
    """

    constraint: str | None = None


class InvalidStateError(ConflictError):
    """The job's status does not allow the operation (``SJ003``: e.g. cancel a completed job)."""


class PermissionDeniedError(JobsError):
    """The database or gateway refused the credentials (``42501``, 401/403, bad JWT)."""


class LeaseLostError(JobsError):
    """The worker no longer holds the lease of these jobs (``SJ001``).

    The lease expired and the job may be running elsewhere; never retry the write blindly.

    Attributes:
        job_ids: The ids whose lease was lost (empty when the server did not say).
        completed: For ``complete_many``, the jobs that *were* completed (their results
            are stored); for a batch ``heartbeat``, the jobs the server did renew.
    """

    def __init__(
        self,
        job_ids: Sequence[str] = (),
        *,
        completed: Sequence[Any] = (),
        message: str | None = None,
    ) -> None:
        self.job_ids = tuple(job_ids)
        self.completed = tuple(completed)
        shown = ", ".join(self.job_ids[:5]) + (" ..." if len(self.job_ids) > 5 else "")
        super().__init__(
            message or f"lease lost for {len(self.job_ids)} job(s): {shown}".rstrip(": ")
        )


class BackendError(JobsError):
    """PostgREST or the database failed in a way not classified more precisely."""


class SchemaNotInstalledError(BackendError):
    """The table, a column or an ``sj_*`` function is missing: run the migrations."""


class RateLimitedError(BackendError):
    """A proxy answered 429; slow down and retry later."""


class ServiceUnavailableError(BackendError):
    """Transient: gateway, pool or database unavailable (502/503/504, ``PGRST00x``, ``08*``)."""


class TransportError(JobsError):
    """The request did not complete at the HTTP level (connection refused, reset, DNS)."""


class TransportTimeoutError(TransportError, TimeoutError):
    """The HTTP request timed out (connect, read, write or pool)."""


# --------------------------------------------------------------------------------------
# Translation: the ONE place that catches postgrest's APIError and httpx's exceptions.
# --------------------------------------------------------------------------------------

_request_id: ContextVar[str | None] = ContextVar("supabase_jobs_request_id", default=None)
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


def remember_request_id(response: httpx.Response) -> None:
    """Keep the request id of ``response`` for the next translated error (an httpx hook)."""
    for name in REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value and _REQUEST_ID_SHAPE.match(value):
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

    The new error chains the original (``raise ... from``), carries ``code``, ``hint``
    and ``request_id``, and is logged once with ``action`` and ``context`` (ids only,
    never payloads). Messages are generic: the server's ``message``/``details`` can echo
    submitted values, so they are never copied, and the chained ``APIError`` has them
    masked (see :func:`_defuse`). httpx errors name the host only: request URLs carry
    filter values (tenant ids, idempotency keys).

    Args:
        action: What was attempted (``dispatch``, ``claim``...), for the log line.
        **context: Ids that help support (``job_id``, ``tenant_id``); never payloads.

    Raises:
        JobsError: The translated error (a subclass), chained to the original.
    """
    token = _request_id.set(None)
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
        _add_reference(error)
        logger.warning(
            "%s failed: %s",
            action,
            type(error).__name__,
            extra={
                "action": action,
                "error": type(error).__name__,
                "code": error.code,
                "request_id": error.request_id,
                **context,
            },
        )
        raise error from exc
    finally:
        _request_id.reset(token)
