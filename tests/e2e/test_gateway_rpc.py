"""``/rpc``: function choice by name + argument names, result shapes, RAISE mapping (§2.3-2.4)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import Client

from ._helpers import EXACT, data

pytestmark = pytest.mark.e2e


@pytest.fixture
def children(db: psycopg.Connection[Any]) -> None:
    db.execute(
        "insert into public.e2e_child (id, label, score) values"
        " (1, 'a', 1), (2, 'b', 5), (3, 'c', 9)"
    )


def test_scalar_function_returns_json_scalar(http: httpx.Client):
    response = http.post("/rpc/e2e_add", json={"a": 2, "b": 3})
    assert (response.status_code, response.json()) == (200, 5)


def test_default_parameter_may_be_omitted(http: httpx.Client):
    assert http.post("/rpc/e2e_add", json={"a": 2}).json() == 3


def test_extra_key_means_no_match_pgrst202(http: httpx.Client):
    response = http.post("/rpc/e2e_add", json={"a": 1, "c": 2})
    assert response.status_code == 404
    assert response.json() == {
        "code": "PGRST202",
        "details": "Searched for the function public.e2e_add with parameters a, c or with a"
        " single unnamed json/jsonb parameter, but no matches were found in the schema cache.",
        "hint": None,
        "message": "Could not find the function public.e2e_add(a, c) in the schema cache",
    }


def test_missing_function_without_params_pgrst202(http: httpx.Client):
    response = http.post("/rpc/e2e_nope", json={})
    assert response.status_code == 404
    assert response.json()["message"] == (
        "Could not find the function public.e2e_nope without parameters in the schema cache"
    )


def test_overloads_chosen_by_argument_names(http: httpx.Client):
    assert http.post("/rpc/e2e_over", json={"y": 1}).json() == "y"


def test_ambiguous_overloads_are_pgrst203(http: httpx.Client):
    response = http.post("/rpc/e2e_over", json={"x": 1})
    assert response.status_code == 300
    assert response.json()["code"] == "PGRST203"


def test_single_unnamed_json_parameter_takes_whole_body(http: httpx.Client):
    body = {"any": ["thing", 1], "x": None}
    assert http.post("/rpc/e2e_echo", json=body).json() == body
    assert http.post("/rpc/e2e_echo", json=[1, 2]).json() == [1, 2]


def test_void_function_answers_204(http: httpx.Client):
    response = http.post(
        "/rpc/e2e_void", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, response.content) == (204, b"")


def test_setof_scalar_returns_array(http: httpx.Client):
    assert http.post("/rpc/e2e_series", json={"n": 3}).json() == [1, 2, 3]


def test_returns_table_with_filters_order_limit(http: httpx.Client):
    response = http.post("/rpc/e2e_pairs?select=k&v=gte.2&order=v.desc&limit=1", json={})
    assert response.json() == [{"k": "c"}]


def test_setof_rows_count_exact_206(http: httpx.Client, children: None):
    response = http.post(
        "/rpc/e2e_children?limit=2", json={"p_min": 1}, headers={"Prefer": "count=exact"}
    )
    assert response.status_code == 206
    assert response.headers["content-range"] == "0-1/3"
    assert [row["id"] for row in response.json()] == [1, 2]


def test_get_rpc_with_query_arguments(http: httpx.Client):
    assert http.get("/rpc/e2e_add", params={"a": "40", "b": "2"}).json() == 42


def test_get_rpc_filters_are_not_arguments(http: httpx.Client, children: None):
    response = http.get("/rpc/e2e_children", params={"p_min": "2", "label": "eq.c"})
    assert [row["id"] for row in response.json()] == [3]


def test_head_rpc_counts(http: httpx.Client, children: None):
    response = http.head("/rpc/e2e_children", headers={"Prefer": "count=exact"})
    assert response.status_code == 200
    assert response.headers["content-range"] == "0-2/3"


def test_argument_types_from_json(http: httpx.Client):
    body = {
        "p_tags": ["a", "b c"],
        "p_at": "2024-05-06T07:08:09+00:00",
        "p_id": "00000000-0000-0000-0000-0000000000aa",
        "p_obj": {"k": [1, 2]},
    }
    response = http.post("/rpc/e2e_types", json=body)
    assert response.json() == {
        "tags": ["a", "b c"],
        "year": 2024,
        "id": "00000000-0000-0000-0000-0000000000aa",
        "obj": {"k": [1, 2]},
        "flag": False,
    }


def test_volatile_function_over_get_is_read_only_405(http: httpx.Client, db):
    response = http.get("/rpc/e2e_touch")
    assert (response.status_code, response.json()["code"]) == (405, "25006")
    assert db.execute("select count(*) from public.e2e_nopk").fetchone() == (0,)
    assert http.post("/rpc/e2e_touch", json={}).json() == 1


def test_rpc_method_not_allowed_pgrst101(http: httpx.Client):
    response = http.patch("/rpc/e2e_void", json={})
    assert (response.status_code, response.json()["code"]) == (405, "PGRST101")


def test_raise_p0001_is_400_with_detail_and_hint(http: httpx.Client):
    response = http.post("/rpc/e2e_raise", json={"p_code": "P0001", "p_message": "boom"})
    assert response.status_code == 400
    assert response.json() == {
        "code": "P0001",
        "details": "the detail",
        "hint": "the hint",
        "message": "boom",
    }


@pytest.mark.parametrize(("code", "status"), [("PT402", 402), ("PT418", 418), ("PT503", 503)])
def test_raise_ptxyz_sets_status(http: httpx.Client, code: str, status: int):
    response = http.post("/rpc/e2e_raise", json={"p_code": code, "p_message": "custom"})
    assert response.status_code == status
    assert response.json()["code"] == code


def test_unknown_custom_sqlstate_is_400(http: httpx.Client):
    response = http.post("/rpc/e2e_raise", json={"p_code": "SJ001", "p_message": "lease lost"})
    assert (response.status_code, response.json()["code"]) == (400, "SJ001")


@pytest.mark.parametrize(
    ("code", "status"), [("P0002", 500), ("40001", 500), ("53300", 503), ("42P01", 404)]
)
def test_sqlstate_class_map(http: httpx.Client, code: str, status: int):
    response = http.post("/rpc/e2e_raise", json={"p_code": code, "p_message": "m"})
    assert response.status_code == status


def test_raise_sqlstate_pgrst_sets_body_status_and_headers(http: httpx.Client):
    response = http.post("/rpc/e2e_pgrst_raise", json={})
    assert response.status_code == 418
    assert response.headers["x-e2e"] == "yes"
    assert response.json() == {"code": "E2E1", "details": None, "hint": "h", "message": "custom"}


def test_supabase_py_rpc_post_get_and_head(sb: Client, children: None):
    assert sb.rpc("e2e_add", {"a": 1, "b": 1}).execute().data == 2
    got = sb.rpc(
        "e2e_types",
        {
            "p_tags": ["a", "b c"],
            "p_at": "2020-01-01T00:00:00Z",
            "p_id": "00000000-0000-0000-0000-000000000001",
            "p_obj": {"x": 1},
        },
        get=True,
    ).execute()
    assert data(got)["tags"] == ["a", "b c"]
    head = sb.rpc("e2e_children", {"p_min": 5}, head=True, count=EXACT).execute()
    assert head.count == 2


def test_supabase_py_rpc_error(sb: Client):
    with pytest.raises(APIError) as info:
        sb.rpc("e2e_raise", {"p_code": "SJ002", "p_message": "job not found"}).execute()
    assert (info.value.code, info.value.message) == ("SJ002", "job not found")


async def test_async_supabase_py_rpc_select(asb: Any, children: None):
    result = await asb.rpc("e2e_children", {}).select("id").gt("score", 3).execute()
    assert result.data == [{"id": 2}, {"id": 3}]
