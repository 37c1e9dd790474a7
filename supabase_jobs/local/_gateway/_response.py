"""Success and error responses: statuses, ``Content-Range`` and the pre-COMMIT checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote, urlencode

from starlette.responses import Response

from supabase_jobs.local._gateway._errors import GatewayError
from supabase_jobs.local._gateway._plan import Plan
from supabase_jobs.local._gateway._prefer import Preferences
from supabase_jobs.local._gateway._tx import Result

__all__ = ["build_response", "content_range", "error_response", "make_checker"]

_JSON = "application/json; charset=utf-8"
_OBJECT = "application/vnd.pgrst.object+json; charset=utf-8"
_ARRAY_STRIPPED = "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
_OBJECT_STRIPPED = "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"


def content_range(lower: int, upper: int, total: int | None) -> str:
    """PostgREST's ``contentRangeH``."""
    in_range = total != 0 and lower <= upper
    head = f"{lower}-{upper}" if in_range else "*"
    return f"{head}/{'*' if total is None else total}"


def error_response(err: GatewayError) -> Response:
    """The JSON error response for ``err``."""
    return Response(err.body(), err.status, headers=err.response_headers())


def make_checker(plan: Plan, prefs: Preferences, singular: bool) -> Callable[[Result], None] | None:
    """Checks to run before COMMIT (they roll back on failure), or ``None`` when none apply."""
    limit = prefs.max_affected if prefs.strict and plan.kind != "read" else None
    ranged = plan.kind in ("read", "rpc") and prefs.count is not None and plan.offset > 0
    if not singular and limit is None and not ranged:
        return None

    def check(result: Result) -> None:
        if singular and result.page != 1:
            raise GatewayError(
                406,
                "PGRST116",
                "Cannot coerce the result to a single JSON object",
                f"The result contains {result.page} rows",
            )
        if limit is not None and result.page > limit:
            raise GatewayError(
                400,
                "PGRST124",
                "Query result exceeds max-affected preference constraint",
                f"The query affects {result.page} rows",
            )
        if ranged and result.total is not None and plan.offset > result.total:
            raise GatewayError(
                416,
                "PGRST103",
                "Requested range not satisfiable",
                f"An offset of {plan.offset} was requested, but there are only"
                f" {result.total} rows.",
            )

    return check


def build_response(
    plan: Plan,
    result: Result,
    prefs: Preferences,
    singular: bool,
    head: bool,
    *,
    strip: bool = False,
) -> Response:
    """The success response PostgREST gives for ``plan``'s result (``Response.hs``).

    ``strip`` (``Accept: ...;nulls=stripped``) names the stripped media type in the
    ``Content-Type``, as PostgREST does.
    """
    headers: dict[str, str] = {}
    applied = prefs.applied(resolution=plan.resolution_applied, missing=plan.missing_applied)
    if applied:
        headers["preference-applied"] = applied
    content = (result.body or "").encode()
    if strip:
        ctype = _OBJECT_STRIPPED if singular else _ARRAY_STRIPPED
    else:
        ctype = _OBJECT if singular else _JSON
    if plan.kind in ("read", "rpc"):
        if plan.void:
            return Response(b"", 204, headers=headers)
        lower, upper = plan.offset, plan.offset + result.page - 1
        status = 200
        if result.total is not None and result.page < result.total and lower <= result.total:
            status = 206
        headers["content-range"] = content_range(lower, upper, result.total)
        headers["content-type"] = ctype
        return Response(b"" if head else content, status, headers=headers)
    representation = prefs.return_ == "representation"
    if plan.kind == "insert":
        status = 201
        if prefs.resolution == "merge-duplicates" and plan.resolution_applied:
            status = 200 if result.inserted == 0 and result.page > 0 else 201
        headers["content-range"] = content_range(1, 0, result.total)
        if plan.primary_key and result.page == 1 and result.body:
            row = json.loads(result.body)[0]
            location = urlencode([(k, f"eq.{row[k]}") for k in plan.primary_key])
            headers["location"] = f"/{quote(plan.table)}?{location}"
    elif plan.kind == "update":
        status = 200 if representation else 204
        headers["content-range"] = content_range(0, result.page - 1, result.total)
    else:
        status = 200 if representation else 204
        headers["content-range"] = content_range(1, 0, result.total)
    if not representation:
        return Response(b"", status if plan.kind == "insert" else 204, headers=headers)
    headers["content-type"] = ctype
    return Response(content, status, headers=headers)
