"""Hostile query strings, generated: the gateway never answers 5xx for input a client chose.

Hypothesis builds query strings from PostgREST's own grammar tokens (operators, quotes,
parentheses, braces, JSON arrows, casts, logic trees nested at random depths) mixed with
arbitrary text, NUL and non-ASCII characters. Every answer must be a 2xx, or a 4xx with
PostgREST's error object, and nothing may be logged at ERROR (a traceback).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

_COLUMNS = ["id", "label", "score", "tags", "meta", "parent_id", "created_at", '"la,bel"', "nope"]
_OPS = ["eq", "neq", "gt", "lt", "like", "ilike", "is", "in", "cs", "cd", "ov", "fts", "match"]
_TOKENS = [
    "(", ")", ",", ".", '"', "{", "}", "->", "->>", "::", ":", "*", "not.", "\\", "%",
    "\x00", "null", "true", "1", "-1", "é", "\u202e", "'", ";", "--", "..", "()", "!inner",
]  # fmt: skip

_text = st.text(max_size=6)
_noise = st.lists(st.sampled_from(_TOKENS) | _text, max_size=12).map("".join)
_field = st.builds(
    lambda col, path: col + "".join(path),
    st.sampled_from(_COLUMNS),
    st.lists(st.sampled_from(["->a", "->>b", "->0", "->", "->>"]), max_size=4),
)
_value = _noise | st.sampled_from(["(1,2)", "{a,b}", '"x,y"', "(", "{", "null", "2024-01-01"])
_op = st.builds(lambda neg, op: neg + op, st.sampled_from(["", "not."]), st.sampled_from(_OPS))
_condition = st.builds(lambda f, op, v: f"{f}.{op}.{v}", _field, _op, _value)
_tree: st.SearchStrategy[str] = st.recursive(
    _condition | _noise,
    lambda inner: st.builds(
        lambda op, kids: f"{op}({','.join(kids)})",
        st.sampled_from(["and", "or", "not.and", "not.or", ""]),
        st.lists(inner, min_size=1, max_size=3),
    ),
    max_leaves=12,
)


def _deep(depth: int, leaf: str) -> str:
    return "or(" * depth + leaf + ")" * depth


_pair = st.one_of(
    st.tuples(_field, st.builds(lambda op, v: f"{op}.{v}", _op, _value)),
    st.tuples(st.sampled_from(["or", "and", "not.or"]), _tree.map(lambda t: f"({t})")),
    st.tuples(
        st.sampled_from(["or", "and"]),
        st.builds(lambda d, leaf: f"({_deep(d, leaf)})", st.integers(0, 400), _condition),
    ),
    st.tuples(
        st.sampled_from(["select", "order", "columns", "on_conflict"]),
        st.lists(_field | _noise, max_size=8).map(",".join),
    ),
    st.tuples(st.sampled_from(["limit", "offset"]), _noise | st.integers(-5, 10**30).map(str)),
    st.tuples(_noise, _noise),
)
_query = st.lists(_pair, min_size=1, max_size=5).map(
    lambda pairs: "&".join(f"{quote(k, safe='')}={quote(v, safe='(),.:*')}" for k, v in pairs)
)


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        body: Any = response.json()
        assert isinstance(body, dict) and "code" in body and "message" in body, body


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(query=_query, method=st.sampled_from(["GET", "PATCH", "DELETE", "RPC"]))
def test_hostile_query_strings_never_get_a_5xx(
    http: httpx.Client, caplog: pytest.LogCaptureFixture, query: str, method: str
):
    caplog.set_level(logging.WARNING, logger="supabase_jobs")
    if method == "GET":
        response = http.get("/e2e_child?" + query)
    elif method == "RPC":
        response = http.get("/rpc/e2e_children?" + query)
    elif method == "PATCH":
        response = http.patch("/e2e_child?" + query, json={"label": "fuzz"})
    else:
        response = http.delete("/e2e_child?" + query)
    _check(response)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


_header_value = st.lists(
    st.sampled_from(
        ["return=representation", "count=exact", "handling=strict", "max-affected=", "timezone=",
         "application/vnd.pgrst.object+json", "application/vnd.pgrst.array+json", "nulls=stripped",
         "text/csv", "*/*", ";", ",", "=", "9" * 30, "-", "0", " "]
    )
    | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=8),
    max_size=8,
).map(lambda parts: "".join(parts).strip() or "x")  # fmt: skip
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=16,
)
_body = st.one_of(
    _json.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["a", "b", "label", "score", "meta", "nope"]), _json).map(
        lambda v: json.dumps(v).encode()
    ),
    st.integers(0, 3000).map(lambda d: b'{"a":' + b"[" * d + b"]" * d + b"}"),
    st.binary(max_size=40),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(
        ["/e2e_nopk", "/e2e_nopk?columns=a,b", "/e2e_child?select=label", "/rpc/e2e_echo",
         "/rpc/e2e_add", "/rpc/e2e_types", "/rpc/e2e_children?select=id&limit=1"]
    ),
    prefer=_header_value,
    accept=_header_value,
    body=_body,
)  # fmt: skip
def test_hostile_headers_and_bodies_never_get_a_5xx(
    http: httpx.Client,
    caplog: pytest.LogCaptureFixture,
    target: str,
    prefer: str,
    accept: str,
    body: bytes,
):
    caplog.set_level(logging.WARNING, logger="supabase_jobs")
    headers = {"Prefer": prefer, "Accept": accept, "Content-Type": "application/json"}
    _check(http.post(target, content=body, headers=headers))
    _check(http.get(target, headers={"Accept": accept, "Range": prefer, "Prefer": prefer}))
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
