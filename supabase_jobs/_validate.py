"""Input validation before any network call: ids, names, numbers, times and texts.

Every failure raises a :class:`ValidationError` naming the field path and never the
value. All functions are pure. Payloads and job results are validated (and scrubbed)
by :mod:`._payload`.

Each name rule (job type, queue, SQL identifier) has ONE compiled pattern and ONE
predicate here (:func:`is_type_name`, :func:`is_queue_name`, :func:`is_identifier`); the
registry and the settings raise their own error types but ask these predicates, so a name
accepted at configuration time is never refused at dispatch time. The predicates match the
whole string: ``re.match`` with ``$`` would accept ``"send_email\n"``.
"""

from __future__ import annotations

import functools
import re
import uuid
from datetime import datetime, timedelta, timezone

from ._constants import (
    IDENTIFIER_PATTERN,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_MAX_ATTEMPTS,
    MAX_PRIORITY,
    MAX_WORKER_ID_LENGTH,
    MIN_PRIORITY,
    QUEUE_NAME_PATTERN,
    TYPE_NAME_PATTERN,
)
from ._errors import ValidationError

__all__ = [
    "encodes_as_utf8",
    "int_in_range",
    "is_identifier",
    "is_queue_name",
    "is_type_name",
    "validate_idempotency_key",
    "validate_max_attempts",
    "validate_priority",
    "validate_queue_name",
    "validate_run_at",
    "validate_tenant_id",
    "validate_type_name",
    "validate_uuid",
    "validate_worker_id",
]

_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_NIL_UUID = "00000000-0000-0000-0000-000000000000"
_MAX_UUID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
_TYPE_NAME = re.compile(TYPE_NAME_PATTERN)
_QUEUE_NAME = re.compile(QUEUE_NAME_PATTERN)
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


def is_type_name(value: object) -> bool:
    """Whether ``value`` is a ``str`` matching :data:`TYPE_NAME_PATTERN` as a whole."""
    return type(value) is str and _TYPE_NAME.fullmatch(value) is not None


def is_queue_name(value: object) -> bool:
    """Whether ``value`` is a ``str`` matching :data:`QUEUE_NAME_PATTERN` as a whole."""
    return type(value) is str and _QUEUE_NAME.fullmatch(value) is not None


def is_identifier(value: object) -> bool:
    """Whether ``value`` is a plain SQL identifier (:data:`IDENTIFIER_PATTERN`, whole string)."""
    return type(value) is str and _IDENTIFIER.fullmatch(value) is not None


@functools.lru_cache(maxsize=1024)  # tenant ids repeat: one dispatch after another
def _canonical_uuid(text: str) -> str | None:
    return text.lower() if _UUID.fullmatch(text) else None


def validate_uuid(value: object, *, path: str = "id") -> str:
    """Return ``value`` as a canonical lower-case UUID string.

    Accepts a :class:`uuid.UUID` or a ``str`` in the 8-4-4-4-12 hex form (any case).
    Refuses other spellings (``urn:uuid:``, braces, no hyphens), other types (bytes, int,
    bool, None) and the nil and max UUIDs, which are never real ids.

    Raises:
        ValidationError: naming ``path``.
    """
    text = _canonical_uuid(value) if type(value) is str else None
    if isinstance(value, uuid.UUID):
        text = str(value)
    elif text is None:
        raise ValidationError(
            path, "must be a UUID string like 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx'"
        )
    if text in (_NIL_UUID, _MAX_UUID):
        raise ValidationError(path, "must not be the nil or max UUID")
    return text


def validate_tenant_id(value: object, *, path: str = "tenant_id") -> str:
    """Return the canonical lower-case tenant id (see :func:`validate_uuid`)."""
    return validate_uuid(value, path=path)


def validate_type_name(value: object, *, path: str = "type") -> str:
    """Check a job type name against ``^[a-z][a-z0-9_.:-]{0,126}$`` (no trailing newline)."""
    if not is_type_name(value):
        raise ValidationError(path, f"must match {TYPE_NAME_PATTERN}")
    assert isinstance(value, str)
    return value


def validate_queue_name(value: object, *, path: str = "queue") -> str:
    """Check a queue name against ``^[a-z][a-z0-9_.:-]{0,62}$`` (no trailing newline)."""
    if not is_queue_name(value):
        raise ValidationError(path, f"must match {QUEUE_NAME_PATTERN}")
    assert isinstance(value, str)
    return value


def int_in_range(value: object, path: str, low: int, high: int) -> int:
    """Check an ``int`` in ``low..high``; ``bool`` is refused (``True`` as a limit is a bug).

    Raises:
        ValidationError: naming ``path`` and the range (never the value).
    """
    if type(value) is not int or not low <= value <= high:
        raise ValidationError(path, f"must be an integer in {low}..{high}")
    return value


def validate_priority(value: object, *, path: str = "priority") -> int:
    """Check a priority: an ``int`` in -100..100 (higher runs first)."""
    return int_in_range(value, path, MIN_PRIORITY, MAX_PRIORITY)


def validate_max_attempts(value: object, *, path: str = "max_attempts") -> int:
    """Check an attempt budget: an ``int`` in 1..1000."""
    return int_in_range(value, path, 1, MAX_MAX_ATTEMPTS)


def encodes_as_utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8, i.e. holds no lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _short_text(value: object, path: str, limit: int) -> str:
    if type(value) is not str or not 1 <= len(value) <= limit:
        raise ValidationError(path, f"must be a string of 1..{limit} characters")
    if "\x00" in value or not encodes_as_utf8(value):
        raise ValidationError(path, "must not contain NUL characters or lone surrogates")
    return value


def validate_idempotency_key(value: object, *, path: str = "idempotency_key") -> str:
    """Check an idempotency key: a ``str`` of 1..255 characters, no NUL or lone surrogate."""
    return _short_text(value, path, MAX_IDEMPOTENCY_KEY_LENGTH)


def validate_worker_id(value: object, *, path: str = "worker_id") -> str:
    """Check a worker id: a ``str`` of 1..255 characters, no NUL or lone surrogate."""
    return _short_text(value, path, MAX_WORKER_ID_LENGTH)


def validate_run_at(
    value: object, *, path: str = "run_at", now: datetime | None = None
) -> datetime:
    """Return when a job may run, as an aware UTC datetime.

    Args:
        value: A timezone-aware :class:`datetime` (a past time means "due now") or a
            non-negative :class:`timedelta` delay from ``now``. Naive datetimes are
            refused: their meaning depends on the machine's clock zone.
        path: The field path for errors.
        now: The clock for delays (tests); defaults to the current UTC time.

    Raises:
        ValidationError: naming ``path``.
    """
    try:
        if isinstance(value, timedelta):
            if value < timedelta(0):
                raise ValidationError(path, "must not be a negative delay")
            return (now or datetime.now(timezone.utc)).astimezone(timezone.utc) + value
        if isinstance(value, datetime) and value.utcoffset() is not None:
            return value.astimezone(timezone.utc)
    except OverflowError:
        raise ValidationError(path, "is out of the supported date range") from None
    raise ValidationError(path, "must be a timezone-aware datetime or a timedelta delay")
