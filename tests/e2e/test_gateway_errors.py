"""PostgREST-shaped errors for everything outside the happy path (§2.3, §2.5, §2.6)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from supabase_jobs.local import LocalStack

pytestmark = pytest.mark.e2e


def assert_postgrest_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert set(body) == {"code", "details", "hint", "message"}
    assert body["code"] == code
    assert "Traceback" not in response.text
    return dict(body)


def test_missing_table_is_pgrst205(http: httpx.Client):
    body = assert_postgrest_error(http.get("/nope"), 404, "PGRST205")
    assert body["message"] == "Could not find the table 'public.nope' in the schema cache"


def test_missing_column_in_select_is_42703(http: httpx.Client):
    body = assert_postgrest_error(http.get("/e2e_parent?select=nope"), 400, "42703")
    assert body["message"] == "column e2e_parent.nope does not exist"


def test_missing_column_in_filter_is_42703(http: httpx.Client):
    assert_postgrest_error(http.get("/e2e_parent?nope=eq.1"), 400, "42703")


@pytest.mark.parametrize(
    "query",
    [
        "id=1",  # no operator
        "id=xx.1",  # unknown operator
        "id=in.1,2",  # in without parentheses
        "id=is.maybe",
        "or=a.eq.1",  # logic tree without parentheses
        "order=id.sideways(",
        "limit=ten",
        "offset=-1",
        "id=fts.word",  # outside the supported subset
        "id=eq(some).{1,2}",  # only (any) and (all) quantify
        "id=neq(any).{1,2}",  # neq takes no quantifier in PostgREST
    ],
)
def test_bad_query_string_is_pgrst100(http: httpx.Client, query: str):
    assert_postgrest_error(http.get(f"/e2e_parent?{query}"), 400, "PGRST100")


def test_embedding_is_refused_with_pgrst200(http: httpx.Client):
    assert_postgrest_error(http.get("/e2e_child?select=*,e2e_parent(*)"), 400, "PGRST200")


def test_aggregate_is_refused_with_pgrst123(http: httpx.Client):
    assert_postgrest_error(http.get("/e2e_child?select=count()"), 400, "PGRST123")


def test_bad_type_in_filter_is_22p02(http: httpx.Client):
    assert_postgrest_error(http.get("/e2e_parent?id=eq.abc"), 400, "22P02")


def test_unexposed_profile_is_pgrst106(http: httpx.Client):
    response = http.get("/e2e_parent", headers={"Accept-Profile": "auth"})
    body = assert_postgrest_error(response, 406, "PGRST106")
    assert body["hint"] == "Only the following schemas are exposed: public"


def test_content_profile_is_used_for_writes(http: httpx.Client):
    response = http.post(
        "/e2e_parent", json={"id": 1, "name": "x"}, headers={"Content-Profile": "private"}
    )
    assert_postgrest_error(response, 406, "PGRST106")


def test_exposed_profile_is_echoed(http: httpx.Client):
    response = http.get("/e2e_parent", headers={"Accept-Profile": "public"})
    assert response.headers["content-profile"] == "public"


@pytest.mark.parametrize("body", [b"{", b"", b"[1, 2]", b"not json", b"\xff\xfe", b"NaN"])
def test_malformed_json_body_is_pgrst102(http: httpx.Client, body: bytes):
    response = http.post("/e2e_parent", content=body, headers={"Content-Type": "application/json"})
    assert_postgrest_error(response, 400, "PGRST102")


def test_malformed_json_with_columns_is_a_database_error(http: httpx.Client):
    response = http.post(
        "/e2e_parent?columns=id,name",
        content=b"{oops",
        headers={"Content-Type": "application/json"},
    )
    assert_postgrest_error(response, 400, "22P02")


def test_patch_with_array_body_is_pgrst102(http: httpx.Client):
    assert_postgrest_error(http.patch("/e2e_parent?id=eq.1", json=[{"name": "x"}]), 400, "PGRST102")


def test_unsupported_content_type_is_415(http: httpx.Client):
    response = http.post(
        "/e2e_parent", content=b"id,name\n1,a", headers={"Content-Type": "text/csv"}
    )
    assert_postgrest_error(response, 415, "PGRST107")


def test_unsupported_accept_is_406(http: httpx.Client):
    assert_postgrest_error(http.get("/e2e_parent", headers={"Accept": "text/csv"}), 406, "PGRST107")


def test_unsupported_method_is_405(http: httpx.Client):
    assert_postgrest_error(http.put("/e2e_parent?id=eq.1", json={"id": 1}), 405, "PGRST117")


def test_nested_path_is_pgrst125(http: httpx.Client):
    assert_postgrest_error(http.get("/e2e_parent/1"), 404, "PGRST125")


def test_outside_rest_v1_is_kong_style_404(stack: LocalStack):
    response = httpx.get(stack.url + "/storage/v1/bucket")
    assert response.status_code == 404
    assert response.json() == {"message": "no Route matched with those values"}


def test_unknown_prefer_is_ignored_by_default(http: httpx.Client, db: psycopg.Connection[Any]):
    response = http.post(
        "/e2e_parent", json={"id": 1, "name": "a"}, headers={"Prefer": "return=everything,bogus"}
    )
    assert response.status_code == 201
    assert "preference-applied" not in response.headers


def test_unknown_prefer_with_strict_handling_is_pgrst122(http: httpx.Client, db):
    response = http.post(
        "/e2e_parent",
        json={"id": 1, "name": "a"},
        headers={"Prefer": "handling=strict, bogus=1"},
    )
    body = assert_postgrest_error(response, 400, "PGRST122")
    assert body["details"] == "Invalid preferences: bogus=1"
    assert db.execute("select count(*) from public.e2e_parent").fetchone() == (0,)


def test_tx_rollback_is_not_honoured(http: httpx.Client, db: psycopg.Connection[Any]):
    response = http.post(
        "/e2e_parent", json={"id": 1, "name": "a"}, headers={"Prefer": "tx=rollback"}
    )
    assert response.status_code == 201
    assert db.execute("select count(*) from public.e2e_parent").fetchone() == (1,)


def test_injection_through_identifiers_and_values_is_inert(http: httpx.Client, db):
    db.execute("insert into public.e2e_parent values (1, 'one')")
    # Each hostile name or value is taken literally: an unknown column, a value that matches
    # nothing, or a parse error; never a row it should not return, never a dropped table.
    attempts = [
        ('/e2e_parent?select=id,"name; drop table e2e_parent;--"', 400, "42703"),
        ("/e2e_parent?name=eq.one';drop table public.e2e_parent;--", 200, None),
        ('/e2e_parent?order="id"; drop table e2e_parent;--', 400, "42703"),
        ("/e2e_parent?name=in.(one),(two)'))--", 400, "PGRST100"),
    ]
    for url, status, code in attempts:
        response = http.get(url)
        assert response.status_code == status, (url, response.text)
        assert response.json() == [] if code is None else response.json()["code"] == code, url
    # A quote inside a value is a plain character, so the ")" closes the tree early: a
    # parse error, as in PostgREST, never a filter of another shape.
    response = http.get('/e2e_parent?or=(name.eq.x"),id.eq.1)')
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "PGRST100"
    response = http.post('/e2e_parent?columns="id","na""me"', json=[{"id": 2}])
    assert response.json()["code"] == "PGRST204"
    assert db.execute("select count(*) from public.e2e_parent").fetchone() == (1,)
