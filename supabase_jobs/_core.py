"""Sans-I/O core shared by the sync and async clients: build rows, RPC params, parse rows.

Nothing here imports supabase or touches the network; a client method is
``prepare (here) -> send (client) -> parse (here)``, which is what keeps
:class:`JobsClient` and :class:`AsyncJobsClient` from drifting.

Which columns a dispatch sends
------------------------------
Apps may point the SDK at the existing ``jobs`` table before our migrations add the
new columns. So a row carries ``tenant_id``, ``type`` and ``payload`` always, and an
added column (``queue``, ``priority``, ``max_attempts``, ``run_at``,
``idempotency_key``) only when the call set it explicitly or when the type's /
client's default differs from the database default. A plain dispatch therefore works
on the old table; asking for a feature the table lacks fails with
:class:`SchemaNotInstalledError` ("run the migrations"). Status, attempts, worker and
timestamps are never sent: the database defaults them (mass-assignment guard). A keyed
row also carries its ``id``, derived from tenant and key (:func:`idempotent_job_id`, in
:mod:`._idempotency`, which also holds how keyed dispatches are sent and resolved).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from ._constants import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_PRIORITY,
    DEFAULT_QUEUE,
    MAX_BATCH_SIZE,
    PROTECTED_COLUMNS,
)
from ._errors import (
    BackendError,
    MassAssignmentError,
    PayloadValidationError,
    ScrubbedFieldRequiredError,
    ValidationError,
)
from ._idempotency import IDEMPOTENCY_NAMESPACE, idempotent_job_id
from ._models import Job
from ._payload import prepare_payload
from ._registry import JobType, JobTypeRegistry
from ._sanitize import SHOWN_PATHS, summarize_paths
from ._settings import JobsConfig
from ._validate import (
    validate_idempotency_key,
    validate_max_attempts,
    validate_priority,
    validate_queue_name,
    validate_run_at,
    validate_tenant_id,
)

__all__ = [
    "DISPATCH_KEYS",
    "IDEMPOTENCY_NAMESPACE",
    "PreparedJob",
    "idempotent_job_id",
    "log_dispatched",
    "parse_job",
    "parse_jobs",
    "prepare_dispatch",
    "prepare_dispatch_many",
]

logger = logging.getLogger("supabase_jobs")

#: Keys a ``dispatch_many`` item may carry; the same names as ``dispatch``'s arguments.
DISPATCH_KEYS = frozenset(
    {
        "tenant_id",
        "type",
        "payload",
        "run_at",
        "priority",
        "queue",
        "max_attempts",
        "idempotency_key",
    }
)


@dataclass(frozen=True)
class PreparedJob:
    """A validated, scrubbed dispatch, ready to send.

    Attributes:
        row: The JSON body for PostgREST (only the columns that must be sent).
        tenant_id: Canonical lower-case tenant id.
        type: The registered type name.
        idempotency_key: The caller's key, if any.
        scrubbed_paths: Paths the scrubber removed or redacted (never values).
    """

    row: dict[str, Any]
    tenant_id: str
    type: str
    idempotency_key: str | None
    scrubbed_paths: tuple[str, ...]


def _pick(call: Any, spec: Any, client: Any) -> tuple[Any, bool]:
    """Return the effective value (call > type > client) and whether the call set it."""
    if call is not None:
        return call, True
    return (spec if spec is not None else client), False


def _loc_path(root: str, loc: Iterable[int | str]) -> str:
    """Render a pydantic ``loc`` like :func:`._sanitize.render_path` renders walk paths."""
    parts = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if part.isidentifier() else f"[{json.dumps(part)}]")
    return root + "".join(parts)


def _validate_model(
    spec: JobType, payload: dict[str, Any], scrubbed: tuple[str, ...], path: str
) -> None:
    """Validate ``payload`` against the type's model; a scrubbed required field is its own error."""
    assert spec.model is not None
    try:
        spec.model.model_validate(payload)
    except PydanticValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
        for error in errors:
            field_path = _loc_path(path, error["loc"])
            if any(field_path == p or field_path.startswith((p + ".", p + "[")) for p in scrubbed):
                raise ScrubbedFieldRequiredError(
                    field_path, "was scrubbed as a secret, but the payload model requires it"
                ) from None
        first = errors[0]
        # Not chained: pydantic's own text shows input values; ``errors`` keeps the
        # structured details without them.
        raise PayloadValidationError(
            _loc_path(path, first["loc"]), str(first["msg"]), errors=errors
        ) from None


def prepare_dispatch(
    config: JobsConfig,
    registry: JobTypeRegistry,
    tenant_id: object,
    type: object,
    payload: object = None,
    *,
    run_at: object = None,
    priority: object = None,
    queue: object = None,
    max_attempts: object = None,
    idempotency_key: object = None,
    now: datetime | None = None,
    path: str = "",
) -> PreparedJob:
    """Validate, scrub and build the row for one job; raise before any I/O on bad input.

    Args:
        config: Client limits and defaults.
        registry: The accepted job types.
        tenant_id: Canonical UUID (``str`` or :class:`uuid.UUID`).
        type: A registered type name.
        payload: A JSON-native ``dict`` (or a pydantic model instance); ``None`` = ``{}``.
        run_at: Aware ``datetime`` or a ``timedelta`` delay; ``None`` = now.
        priority: -100..100, higher first; ``None`` = type default, then client default.
        queue: Queue name; ``None`` = type default, then client default.
        max_attempts: 1..1000; ``None`` = type default, then client default.
        idempotency_key: 1..255 chars; a second dispatch with the same key (and
            tenant) returns the first job.
        now: The clock for ``timedelta`` delays (tests).
        path: Prefix for error paths (``jobs[3].`` in a batch).

    Returns:
        The :class:`PreparedJob`.

    Raises:
        ValidationError: (or a subclass) naming the offending field path.
    """
    tenant = validate_tenant_id(tenant_id, path=f"{path}tenant_id")
    spec = registry.get(type, path=f"{path}type")
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    payload_path = f"{path}payload"
    prepared = prepare_payload(
        payload,
        mode=config.scrub_mode,
        max_bytes=config.max_payload_bytes,
        max_depth=config.max_payload_depth,
        path=payload_path,
    )
    clean: dict[str, Any] = prepared.value
    scrubbed = prepared.scrubbed_paths
    if spec.model is not None:
        _validate_model(spec, clean, scrubbed, payload_path)

    row: dict[str, Any] = {"tenant_id": tenant, "type": spec.name, "payload": clean}
    # Added columns: sent when the call set them, or when the effective default
    # differs from the database's (see the module docstring).
    value, explicit = _pick(queue, spec.queue, config.default_queue)
    if validate_queue_name(value, path=f"{path}queue") != DEFAULT_QUEUE or explicit:
        row["queue"] = value
    value, explicit = _pick(priority, spec.priority, config.default_priority)
    if validate_priority(value, path=f"{path}priority") != DEFAULT_PRIORITY or explicit:
        row["priority"] = value
    value, explicit = _pick(max_attempts, spec.max_attempts, config.default_max_attempts)
    if validate_max_attempts(value, path=f"{path}max_attempts") != DEFAULT_MAX_ATTEMPTS or explicit:
        row["max_attempts"] = value
    if run_at is not None:
        row["run_at"] = validate_run_at(run_at, path=f"{path}run_at", now=now).isoformat()
    key = None
    if idempotency_key is not None:
        key = validate_idempotency_key(idempotency_key, path=f"{path}idempotency_key")
        row = {"id": idempotent_job_id(tenant, key), **row, "idempotency_key": key}
    return PreparedJob(row, tenant, spec.name, key, scrubbed)


def prepare_dispatch_many(
    config: JobsConfig,
    registry: JobTypeRegistry,
    items: object,
    *,
    now: datetime | None = None,
) -> list[PreparedJob]:
    """Validate every item of a batch (all before any I/O); paths read ``jobs[i].field``.

    Each item is a mapping with the keyword names of ``dispatch``: ``tenant_id``,
    ``type``, ``payload``, ``run_at``, ``priority``, ``queue``, ``max_attempts``,
    ``idempotency_key``. Columns the queue manages (``status``, ``attempts``, ...) are
    refused with :class:`MassAssignmentError`.
    """
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ValidationError("jobs", "must be a list of job mappings")
    materialised = list(items)
    if len(materialised) > MAX_BATCH_SIZE:
        raise ValidationError("jobs", f"must hold at most {MAX_BATCH_SIZE} jobs")
    prepared = []
    when = now or datetime.now(timezone.utc)
    for index, item in enumerate(materialised):
        path = f"jobs[{index}]"
        if not isinstance(item, Mapping):
            raise ValidationError(path, "must be a mapping of dispatch options")
        for key in item:
            if key in PROTECTED_COLUMNS:
                raise MassAssignmentError(f"{path}.{key}", "is managed by the queue")
            if key not in DISPATCH_KEYS:
                raise ValidationError(f"{path}.{key}", "is not a dispatch option")
        if "tenant_id" not in item or "type" not in item:
            missing = "tenant_id" if "tenant_id" not in item else "type"
            raise ValidationError(f"{path}.{missing}", "is required")
        options = dict(item)
        prepared.append(
            prepare_dispatch(
                config,
                registry,
                options.pop("tenant_id"),
                options.pop("type"),
                options.pop("payload", None),
                now=when,
                path=f"{path}.",
                **options,
            )
        )
    return prepared


def parse_job(row: object) -> Job:
    """Parse one row into a frozen :class:`Job`.

    Raises:
        BackendError: The row does not look like a ``jobs`` row (wrong table or schema).
    """
    try:
        return Job.model_validate(row)
    except PydanticValidationError:
        # Not chained: pydantic's text would echo column values (payloads) into logs.
        raise BackendError(
            "unexpected response: not a jobs row (is SUPABASE_JOBS_TABLE right?)"
        ) from None


_JOB_LIST: TypeAdapter[list[Job]] = TypeAdapter(list[Job])


def parse_jobs(data: object) -> list[Job]:
    """Parse a list of rows (a single object is accepted as a one-row list)."""
    if data is None:
        return []
    if isinstance(data, Mapping):
        return [parse_job(data)]
    if not isinstance(data, list):
        raise BackendError("unexpected response: expected a list of jobs rows")
    try:
        # One validator call for the whole list: about half the cost of one call per row,
        # which matters for claim(100) / complete_many answers.
        return _JOB_LIST.validate_python(data)
    except PydanticValidationError:
        raise BackendError(
            "unexpected response: not a list of jobs rows (is SUPABASE_JOBS_TABLE right?)"
        ) from None


def log_dispatched(jobs: Sequence[Job], prepared: Sequence[PreparedJob]) -> None:
    """One WARNING listing scrubbed paths (never values) and INFO lines for the dispatch."""
    scrubbed = [p for job in prepared for p in job.scrubbed_paths]
    if scrubbed:
        # One bounded line however large the batch (issue 8): the first paths and a count.
        logger.warning(
            "scrubbed secrets from job payload at %s",
            summarize_paths(scrubbed),
            extra={"action": "scrub", "paths": scrubbed[:SHOWN_PATHS], "count": len(scrubbed)},
        )
    if len(jobs) == 1 and len(prepared) == 1:
        job = jobs[0]
        logger.info(
            "dispatched job %s (type %s, tenant %s)",
            job.id,
            job.type,
            job.tenant_id,
            extra={
                "action": "dispatch",
                "job_id": str(job.id),
                "type": job.type,
                "tenant_id": str(job.tenant_id),
            },
        )
    else:
        logger.info(
            "dispatched %d jobs",
            len(jobs),
            extra={"action": "dispatch_many", "count": len(jobs)},
        )
