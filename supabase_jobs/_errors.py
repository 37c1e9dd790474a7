"""Exceptions raised by supabase_jobs: the tree every caller catches.

Every error the SDK raises derives from :class:`JobsError`::

    JobsError
     ├── ConfigurationError             missing/malformed setting; names the variable
     │    └── NotServiceRoleError       anon/publishable key, or a signed-in user's token
     ├── ValidationError                bad input, caught before any request is sent
     │    ├── PayloadValidationError    a payload (or result) field, path ``payload.*``
     │    │    ├── PayloadTooLargeError        serialized size over the configured limit
     │    │    ├── SecretInPayloadError        a secret found while scrubbing in ``raise`` mode
     │    │    └── ScrubbedFieldRequiredError  scrubbing removed a field the model requires
     │    ├── UnknownJobTypeError       type not registered
     │    ├── MassAssignmentError       tried to set status / attempts / worker_id / ...
     │    └── NotClaimedError           a lease-fenced call got a job without a lease
     ├── NotFoundError                  SJ002, PGRST116, PT404, ``get()`` of a missing id
     ├── ConflictError                  23505, PT409
     │    ├── ForeignKeyViolationError  23503
     │    └── InvalidStateError         SJ003: e.g. cancel a completed job
     ├── PermissionDeniedError          42501, 28xxx, PGRST301-303, HTTP 401/403
     ├── LeaseLostError                 SJ001: the lease expired; ``job_ids``, ``completed``
     ├── BackendError                   anything else from PostgREST or the database
     │    ├── ConstraintViolationError  the database refused a value (23502/23514/22P02)
     │    ├── SchemaNotInstalledError   PGRST202/204/205/106, 42P01/42883/42703/42P10
     │    ├── RateLimitedError          HTTP 429
     │    └── ServiceUnavailableError   502/503/504, PGRST000-003, 08xxx, 53xxx, 40001
     ├── TransportError                 connection refused/reset, DNS, protocol errors
     │    └── TransportTimeoutError     any httpx timeout (also a builtin ``TimeoutError``)
     ├── JobFailedError                 ``wait()``: the job failed for good (``last_error``)
     ├── JobCancelledError              ``wait()``: the job was cancelled
     ├── WaitTimeoutError               ``wait()`` gave up (also a builtin ``TimeoutError``)
     ├── JobTimeoutError                worker: a handler ran past its ``timeout``
     ├── UnstorableResultError          worker: a handler's result cannot be stored
     └── AttemptCancelledError          worker: this attempt was abandoned (lease lost, ...)

A :class:`ValidationError` is always raised before anything is sent. The database can
still refuse a value the SDK let through (a CHECK the SDK does not know, a limit configured
differently from the SQL): that is :class:`ConstraintViolationError`, a
:class:`BackendError` (before 0.2 it derived from ``ValidationError``); it keeps the
``path``/``reason`` attributes.

Messages name the offending field path and a reason, never the offending value: the
value may be a secret, and messages end up in logs. Errors translated from PostgREST
carry ``code`` (SQLSTATE / ``PGRSTnnn``), ``hint``, ``status_code`` (the HTTP status of
the response, as openai-python's ``APIStatusError`` has it) and ``request_id``
attributes and chain the original exception; the server's ``message`` and ``details``
are never copied into our message because they can echo submitted values. Which code or HTTP status
becomes which class is decided in one place, :mod:`._translate`
(:func:`~._translate.translate_errors`); this module only defines the classes.

Usage::

    try:
        jobs.complete(job, result)
    except LeaseLostError:
        ...  # another worker owns the job now; drop the result
    except JobsError as exc:
        log.warning("jobs backend: %s (code %s)", exc, exc.code)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import Job

__all__ = [
    "AttemptCancelledError",
    "BackendError",
    "ConfigurationError",
    "ConflictError",
    "ConstraintViolationError",
    "ForeignKeyViolationError",
    "InvalidStateError",
    "JobCancelledError",
    "JobFailedError",
    "JobTimeoutError",
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
    "UnstorableResultError",
    "ValidationError",
    "WaitTimeoutError",
]


class JobsError(Exception):
    """Root of every error raised by supabase_jobs; catch it to handle them all.

    Attributes:
        code: The PostgREST / SQLSTATE code of a translated backend error, else ``None``.
        hint: PostgREST's hint, if it sent one.
        status_code: The HTTP status of the response the error was translated from;
            ``None`` when there was no response (validation, transport failures).
        request_id: The gateway's request id (``sb-request-id`` / ``x-request-id``), if any.
    """

    code: str | None = None
    hint: str | None = None
    status_code: int | None = None
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


class ConstraintViolationError(BackendError):
    """The database refused a value (NOT NULL, CHECK, bad input syntax: 23502/23514/22P02).

    The SDK validates first, so this means the table has rules the SDK does not know, or a
    job type / limit is configured differently from the SQL. It is raised from the
    database's answer, after the request was sent, so it is a :class:`BackendError`, not a
    :class:`ValidationError` (which is always raised before sending).

    Attributes:
        path: The column the database named (or ``row``).
        reason: What the database refused, without the value.
        constraint: The violated constraint's name, when the database named one.
    """

    def __init__(self, path: str, reason: str, *, constraint: str | None = None) -> None:
        self.path = path
        self.reason = reason
        self.constraint = constraint
        super().__init__(f"invalid {path}: {reason}")


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


def _scrubbed(text: str | None) -> str | None:
    # Imported here: the scrubber raises errors defined in this module.
    from ._sanitize import scrub_text

    return None if text is None else scrub_text(text)


# -- outcomes of a job, seen from outside (``wait()``) and from a worker ------------------


class JobFailedError(JobsError):
    """``wait()`` saw the job end ``failed`` (every attempt used, or failed without retry).

    Attributes:
        job: The job as last read (``status`` failed, ``errors`` the attempt history).
        job_id: The job's id.
        last_error: The stored last error message, scrubbed again for credentials;
            ``None`` when none was recorded. Not part of the message: it may hold user data.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.job_id = str(job.id)
        self.last_error = _scrubbed(job.last_error)
        super().__init__(f"job {job.id} (type {job.type}) failed after {job.attempts} attempt(s)")


class JobCancelledError(JobsError):
    """``wait()`` saw the job end ``cancelled``.

    Attributes:
        job: The job as last read.
        job_id: The job's id.
        last_error: The stored reason, scrubbed; ``None`` when none was recorded.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.job_id = str(job.id)
        self.last_error = _scrubbed(job.last_error)
        super().__init__(f"job {job.id} (type {job.type}) was cancelled")


class WaitTimeoutError(JobsError, TimeoutError):
    """``wait()`` gave up: the job was not finished when ``timeout`` passed.

    The job keeps running; wait again or read it later. Also a builtin ``TimeoutError``.

    Attributes:
        job: The job as last read (still ``pending`` or ``processing``).
        job_id: The job's id.
        timeout: The timeout that passed, in seconds.
    """

    def __init__(self, job: Job, timeout: float) -> None:
        self.job = job
        self.job_id = str(job.id)
        self.timeout = timeout
        super().__init__(f"job {job.id} still {job.status.value} after waiting {timeout:g} s")


class JobTimeoutError(JobsError):
    """A handler ran past its ``timeout``; the attempt failed and is retried."""


class UnstorableResultError(JobsError):
    """A handler returned a value that cannot be stored (not JSON, too large, a secret)."""


class AttemptCancelledError(JobsError):
    """Raised by :meth:`JobContext.raise_if_cancelled` once this attempt is cancelled.

    The attempt was abandoned by the worker (lease lost, timeout or shutdown); its outcome
    is dropped. Not to be confused with ``JobCancelledError``, which ``wait()`` raises for a
    job whose status is ``cancelled``.
    """


# Stored in a job's error history as "<module>.<name>": the public path, not this module's.
for _cls in (JobTimeoutError, UnstorableResultError, AttemptCancelledError):
    _cls.__module__ = "supabase_jobs"
