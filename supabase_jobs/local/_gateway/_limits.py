"""Bounds on what one request may make the gateway do (anyone with the anon key can send it).

PostgREST leans on Warp, Postgres and a proxy for these limits; the local gateway has to
state them itself so that no client-chosen input reaches a recursion limit, a libpq limit or
a Postgres program limit (which would surface as a 500 or a retryable 503). Every bound here
is far above what supabase-py and the SDK send.
"""

from __future__ import annotations

import os

from supabase_jobs._constants import HARD_MAX_PAYLOAD_DEPTH, MAX_BATCH_SIZE
from supabase_jobs.local._gateway._errors import GatewayError

__all__ = [
    "BODY_LIMIT_ENV",
    "DEFAULT_MAX_BODY_BYTES",
    "MAX_JSON_PATH_DEPTH",
    "MAX_LOGIC_DEPTH",
    "MAX_PARAMS",
    "MAX_QUERY_BYTES",
    "MAX_TARGET_COLUMNS",
    "default_max_body_bytes",
    "refuse_nul",
    "whole_number",
]

#: Bytes one jobs row costs in a ``dispatch_many`` body besides its payload: the uuid, tenant,
#: type, queue, timestamps and a 255-character idempotency key, JSON-quoted (measured: under
#: 600 bytes, rounded up).
_ROW_OVERHEAD_BYTES = 1024
#: A generous typical payload. The SDK accepts up to 256 KiB per job, but 10,000 of those
#: (2.5 GiB) is no request a gateway should buffer; raise the limit for such batches.
_TYPICAL_PAYLOAD_BYTES = 4 * 1024
#: The largest ``dispatch_many`` (10,000 jobs) with typical payloads: 50,000 KiB (~49 MiB).
DEFAULT_MAX_BODY_BYTES = MAX_BATCH_SIZE * (_ROW_OVERHEAD_BYTES + _TYPICAL_PAYLOAD_BYTES)
#: Environment variable that overrides :data:`DEFAULT_MAX_BODY_BYTES` (a byte count).
BODY_LIMIT_ENV = "SUPABASE_JOBS_GATEWAY_MAX_BODY_BYTES"

#: ``a->b->...``: no stored payload is deeper than the SDK's hard depth limit, so a longer
#: path can never match anything.
MAX_JSON_PATH_DEPTH = HARD_MAX_PAYLOAD_DEPTH
#: Nesting of ``or=(and(or(...)))``: the parser and the SQL builder recurse once per level.
MAX_LOGIC_DEPTH = 64
#: Postgres refuses a target list longer than this (``select`` plus ``order`` terms), 54011.
MAX_TARGET_COLUMNS = 1664
#: libpq binds at most 65,535 parameters per statement; beyond, psycopg fails client-side.
MAX_PARAMS = 65_535
#: The raw (percent-encoded) query string, in bytes. PostgREST has no limit of its own but
#: every proxy in front of it has one, and uvicorn's HTTP parser refuses a request line past
#: 64 KiB with a plain-text 400; below that, the gateway answers a JSON 414 instead.
MAX_QUERY_BYTES = 60 * 1024


def default_max_body_bytes() -> int:
    """The body limit: :data:`BODY_LIMIT_ENV` when set, else :data:`DEFAULT_MAX_BODY_BYTES`.

    Raises:
        ValueError: The variable is set but is not a positive whole number of bytes.
    """
    raw = os.environ.get(BODY_LIMIT_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BODY_BYTES
    if not (raw.isascii() and raw.isdigit()) or int(raw) <= 0:
        raise ValueError(f"{BODY_LIMIT_ENV} must be a positive number of bytes")
    return int(raw)


def whole_number(text: str, max_digits: int = 18) -> int | None:
    """``text`` as a non-negative int, or ``None`` if it is not ASCII digits or too long.

    Python refuses to convert more than 4,300 digits (a ValueError, so a 500), and no count,
    offset or size the gateway handles needs more than a bigint's 18 safe digits.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > max_digits:
        return None
    return int(text)


def refuse_nul(text: str) -> None:
    """Refuse a NUL character the way Postgres does for text (22021, so 400, not a 503).

    Postgres text cannot hold NUL and libpq cannot even send it, so without this check the
    failure happens inside psycopg with no SQLSTATE and looks like a connection problem.
    """
    if "\0" in text:
        raise GatewayError(400, "22021", 'invalid byte sequence for encoding "UTF8": 0x00')
