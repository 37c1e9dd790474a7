"""Reading one request's headers and body, within the limits of ``_limits``.

The body is read only after the request was authorised (see ``GatewayApp._handle``), and
never buffered past ``max_body_bytes``: a declared ``Content-Length`` over the limit is refused
unread, a streamed body as soon as it crosses the limit.
"""

from __future__ import annotations

import re

from starlette.requests import Request

from supabase_jobs.local._gateway._errors import GatewayError, invalid_body
from supabase_jobs.local._gateway._limits import refuse_nul, whole_number
from supabase_jobs.local._gateway._query import QueryParams

__all__ = ["apply_range_header", "media_of", "read_body", "unread_body"]

_SINGULAR_TYPES = frozenset({"application/vnd.pgrst.object+json", "application/vnd.pgrst.object"})
_ARRAY_TYPES = frozenset({"*/*", "application/json", "application/*", ""})
_STRIPPABLE_TYPES = frozenset(
    {"application/vnd.pgrst.array+json", "application/vnd.pgrst.array"} | _SINGULAR_TYPES
)
# 18 digits at most: Python refuses to convert more than 4,300, and no range needs 19.
_RANGE = re.compile(r"^\s*([0-9]{1,18})-([0-9]{0,18})\s*$")


def media_of(accept: str | None) -> tuple[bool, bool]:
    """``(singular, strip nulls)`` from ``Accept``; the first type offered that fits wins.

    ``application/vnd.pgrst.object+json`` asks for one object, and ``;nulls=stripped`` on it
    or on ``application/vnd.pgrst.array+json`` drops null-valued keys (PostgREST's
    ``strip_nulls``).

    Raises:
        GatewayError: PGRST107 (406) when no offered type can be produced.
    """
    if not accept:
        return False, False
    for part in accept.split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        strip = media in _STRIPPABLE_TYPES and "nulls=stripped" in params
        if media in _SINGULAR_TYPES:
            return True, strip
        if media in _ARRAY_TYPES or media in _STRIPPABLE_TYPES:
            return False, strip
    raise GatewayError(406, "PGRST107", f"None of these media types are available: {accept}")


async def read_body(request: Request, limit: int) -> str:
    """Read a JSON body of at most ``limit`` bytes.

    Raises:
        GatewayError: 415 for another Content-Type, 413 past the limit, PGRST102 for bytes
            that are not UTF-8, 22021 for a raw NUL.
    """
    media = request.headers.get("content-type", "application/json").split(";", 1)[0]
    if media.strip().lower() not in ("application/json", ""):
        raise GatewayError(415, "PGRST107", f"Content-Type not acceptable: {media.strip()}")
    declared = request.headers.get("content-length", "")
    chunks: list[bytes] = []
    size = 0
    if declared.isascii() and declared.isdigit():
        number = whole_number(declared)
        size = limit + 1 if number is None else number  # 19+ digits: over every limit
    if size <= limit:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                break
            chunks.append(chunk)
    if size > limit:
        # What a proxy in front of PostgREST answers; the code is the status, as
        # supabase-py reports a proxy's non-JSON error.
        raise GatewayError(
            413, "413", "Payload Too Large", f"The request body exceeds {limit} bytes."
        )
    request.state.body_read = True
    try:
        text = b"".join(chunks).decode()
    except UnicodeDecodeError:
        raise invalid_body() from None
    # A raw NUL is not JSON; one reaching libpq unparsed (``columns=``) would be a 503.
    refuse_nul(text)
    return text


def unread_body(request: Request) -> bool:
    """Whether the request announced a body that was not (fully) read."""
    if getattr(request.state, "body_read", False):
        return False
    headers = request.headers
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in ("", "0")


def apply_range_header(request: Request, query: QueryParams) -> None:
    """Narrow ``offset``/``limit`` by a ``Range: start-end`` header on reads.

    Raises:
        GatewayError: PGRST103 (416) when ``end`` is before ``start``.
    """
    value = request.headers.get("range")
    if request.method not in ("GET", "HEAD") or not value:
        return
    match = _RANGE.match(value)
    if match is None:
        return
    start = int(match[1])
    query.offset = max(query.offset, start)
    if match[2]:
        count = int(match[2]) - start + 1
        if count < 0:
            raise GatewayError(416, "PGRST103", "Requested range not satisfiable")
        query.limit = count if query.limit is None else min(query.limit, count)
