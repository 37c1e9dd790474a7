"""PostgREST-shaped errors: the JSON body, the SQLSTATE -> HTTP map and the gateway's own codes.

Every failure the gateway answers goes through :class:`GatewayError`, so a client never sees a
traceback or a non-JSON 500: the body is always ``{"code", "message", "details", "hint"}`` as
PostgREST v14 writes it (``Error.hs``), with ``Proxy-Status: PostgREST; error=<code>``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg

__all__ = [
    "GatewayError",
    "JsonObject",
    "db_error",
    "invalid_body",
    "invalid_query",
    "parse_json_keys",
    "status_for_sqlstate",
]

# Two-character SQLSTATE classes with a fixed status (PostgREST ``pgErrorStatus``).
_CLASS_STATUS = {
    "08": 503,
    "09": 500,
    "0L": 403,
    "0P": 403,
    "25": 500,
    "28": 403,
    "2D": 500,
    "38": 500,
    "39": 500,
    "3B": 500,
    "40": 500,
    "53": 503,
    "54": 500,
    "55": 500,
    "57": 500,
    "58": 500,
    "F0": 500,
    "HV": 500,
    "P0": 500,
    "XX": 500,
}
# Exact SQLSTATEs that override their class (checked first).
_EXACT_STATUS = {
    "23503": 409,
    "23505": 409,
    "25006": 405,
    "53400": 500,
    "57P01": 503,
    "P0001": 400,
    "42P01": 404,
    "42P17": 500,
    # Deliberate deviation (PostgREST: 500). A too-deep JSON body or a too-wide target list
    # is the client's choice, and a client must not be told to retry a 5xx for it.
    "54001": 400,
    "54011": 400,
}


class GatewayError(Exception):
    """An error answered as PostgREST's JSON body.

    Attributes:
        status: The HTTP status.
        code: A SQLSTATE or a ``PGRSTnnn`` code; ``None`` for Kong-level errors (as on Supabase).
        message: Human-readable summary.
        details: Optional JSON detail (PostgREST sends ``null`` when absent).
        hint: Optional JSON hint.
        headers: Extra response headers (``WWW-Authenticate`` on 401, custom ones from RAISE).
    """

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        details: Any = None,
        hint: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.headers = dict(headers or {})

    def body(self) -> bytes:
        """Return the JSON body, keys in PostgREST's order."""
        payload = {
            "code": self.code,
            "details": self.details,
            "hint": self.hint,
            "message": self.message,
        }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    def response_headers(self) -> dict[str, str]:
        """Return the headers PostgREST adds to an error response."""
        headers = {"content-type": "application/json; charset=utf-8"}
        if self.code is not None:
            headers["proxy-status"] = f"PostgREST; error={self.code}"
        if self.status == 401 and "www-authenticate" not in self.headers:
            headers["www-authenticate"] = "Bearer"
        headers.update(self.headers)
        return headers


def invalid_query(message: str, details: Any = None) -> GatewayError:
    """PGRST100: the query string could not be parsed (or is outside the supported subset)."""
    return GatewayError(400, "PGRST100", message, details)


def invalid_body(message: str = "Empty or invalid json", details: Any = None) -> GatewayError:
    """PGRST102: the request body is not the JSON the endpoint needs."""
    return GatewayError(400, "PGRST102", message, details)


class JsonObject(tuple[str, ...]):
    """A JSON object reduced to its keys, in order (its values are not kept)."""


def parse_json_keys(text: str | bytes) -> Any:
    """Parse a request body for its shape, or raise PGRST102 (NaN/Infinity are refused).

    The planner only needs which keys the objects have: the values reach SQL as the raw
    body. So every object becomes a :class:`JsonObject` of its keys, and objects with the
    same keys share one instance. A body of many small rows then costs a pointer per row,
    not a dict per row (about 20 times the body's size), whoever sent it.
    """
    shared: dict[tuple[str, ...], JsonObject] = {}

    def keys_only(pairs: list[tuple[str, Any]]) -> JsonObject:
        keys = tuple(dict.fromkeys(key for key, _ in pairs))  # a repeated key counts once
        found = shared.get(keys)
        if found is None:
            found = shared[keys] = JsonObject(keys)
        return found

    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    try:
        return json.loads(text, parse_constant=refuse, object_pairs_hook=keys_only)
    except (ValueError, RecursionError):
        # RecursionError: valid but absurdly nested JSON; refused, never a 500.
        raise invalid_body() from None


def status_for_sqlstate(sqlstate: str, message: str, *, anon: bool) -> int:
    """Map a SQLSTATE to the HTTP status PostgREST answers.

    Args:
        sqlstate: The five-character SQLSTATE.
        message: The primary message (two codes depend on it).
        anon: Whether the request ran as the anonymous role (42501 is then 401, else 403).

    Returns:
        The HTTP status; anything unlisted is 400, like PostgREST.
    """
    if sqlstate in _EXACT_STATUS:
        return _EXACT_STATUS[sqlstate]
    if sqlstate == "42501":
        return 401 if anon else 403
    if sqlstate == "42883":
        return 406 if message.startswith("function xmlagg(") else 404
    if sqlstate == "21000":
        return 400 if message.endswith("requires a WHERE clause") else 500
    if sqlstate == "22023":
        is_role = message.startswith("role") and message.endswith("does not exist")
        return 401 if is_role else 400
    if sqlstate.startswith("PT"):
        digits = sqlstate[2:]
        status = int(digits) if digits.isdigit() else 0
        return status if 100 <= status <= 599 else 500
    return _CLASS_STATUS.get(sqlstate[:2], 400)


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_PGRST_MESSAGE_HINT = (
    "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional"
    " keys: 'details', 'hint'."
)
_PGRST_DETAIL_HINT = (
    "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional"
    " key: 'status_text'."
)


def _pgrst_parse_error(details: str, hint: str) -> GatewayError:
    return GatewayError(
        500,
        "PGRST121",
        "Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error",
        details,
        hint,
    )


def _loads_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_optional_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _raised_pgrst(message: str, detail: str | None) -> GatewayError:
    """Decode ``RAISE SQLSTATE 'PGRST'`` as PostgREST's ``parseRaisePGRST`` does.

    MESSAGE must be an object with string ``code`` and ``message``; DETAIL must be an object
    with an integer ``status`` and a string-to-string ``headers`` object. Stricter than
    PostgREST on one point: a status outside 100-599 or a header that HTTP cannot carry (a
    CR/LF in a value, a space in a name) is refused too, because sending it would make the
    HTTP layer drop the connection instead of answering.
    """
    body = _loads_object(message)
    if (
        body is None
        or not isinstance(body.get("code"), str)
        or not isinstance(body.get("message"), str)
        or not _is_optional_text(body.get("details"))
        or not _is_optional_text(body.get("hint"))
    ):
        return _pgrst_parse_error(
            f"Invalid JSON value for MESSAGE: '{message}'", _PGRST_MESSAGE_HINT
        )
    if detail is None:
        return _pgrst_parse_error("DETAIL is missing in the RAISE statement", _PGRST_DETAIL_HINT)
    extra = _loads_object(detail)
    status = extra.get("status") if extra is not None else None
    headers = extra.get("headers") if extra is not None else None
    if (
        not isinstance(status, int)
        or isinstance(status, bool)
        or not 100 <= status <= 599
        or not isinstance(headers, dict)
        or not all(_header_ok(k, v) for k, v in headers.items())
    ):
        return _pgrst_parse_error(f"Invalid JSON value for DETAIL: '{detail}'", _PGRST_DETAIL_HINT)
    return GatewayError(
        status,
        body["code"],
        body["message"],
        body.get("details"),
        body.get("hint"),
        {k.lower(): v for k, v in headers.items()},
    )


def _header_ok(name: str, value: Any) -> bool:
    return (
        bool(_HEADER_NAME.match(name))
        and isinstance(value, str)
        and not any(ch in value for ch in "\r\n\0")
    )


def db_error(exc: psycopg.Error, *, anon: bool) -> GatewayError:
    """Turn a database error into PostgREST's answer.

    Connection-level failures (no SQLSTATE) become PGRST001/503 like PostgREST's
    "Database client error"; never a 500 with a traceback.

    Args:
        exc: The psycopg error.
        anon: Whether the request ran as the anonymous role.

    Returns:
        The error to answer.
    """
    diag = exc.diag
    sqlstate = diag.sqlstate
    if not sqlstate and isinstance(exc, (psycopg.DataError, psycopg.ProgrammingError)):
        # psycopg refused a value before sending it (a NUL in text, too many parameters):
        # the request's fault, never the retryable 503 of a broken connection.
        return GatewayError(400, "22000", "The request holds a value the database cannot take")
    if not sqlstate:
        return GatewayError(503, "PGRST001", "Database client error. Retrying the connection.")
    message = diag.message_primary or ""
    if sqlstate == "PGRST":
        return _raised_pgrst(message, diag.message_detail)
    status = status_for_sqlstate(sqlstate, message, anon=anon)
    return GatewayError(status, sqlstate, message, diag.message_detail, diag.message_hint)
