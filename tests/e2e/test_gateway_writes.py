"""POST/PATCH/DELETE on tables: postgrest.md §1.2, §2.2 and §2.5 (Prefer)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import Client

from ._helpers import EXACT, data

pytestmark = pytest.mark.e2e

REPR = {"Prefer": "return=representation"}


@pytest.fixture
def parents(db: psycopg.Connection[Any]) -> None:
    db.execute("insert into public.e2e_parent values (1, 'one'), (2, 'two')")


def count(db: psycopg.Connection[Any], table: str) -> int:
    row = db.execute(f"select count(*) from public.{table}").fetchone()
    assert row is not None
    return int(row[0])


def test_post_object_default_minimal_is_201_without_body(http: httpx.Client, parents: None, db):
    response = http.post("/e2e_child", json={"parent_id": 1, "label": "a"})
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["content-range"] == "*/*"
    assert count(db, "e2e_child") == 1


def test_post_representation_returns_rows_with_defaults(http: httpx.Client, parents: None):
    response = http.post("/e2e_child", json={"parent_id": 1, "label": "a"}, headers=REPR)
    assert response.status_code == 201
    (row,) = response.json()
    assert (row["label"], row["score"], row["tags"]) == ("a", 7, None)
    assert response.headers["preference-applied"] == "return=representation"


def test_post_representation_with_select(http: httpx.Client, parents: None):
    response = http.post("/e2e_child?select=label,score", json={"label": "a"}, headers=REPR)
    assert response.json() == [{"label": "a", "score": 7}]


def test_post_array_with_count_exact(http: httpx.Client, parents: None):
    body = [{"label": "a", "score": 1}, {"label": "b", "score": 2}]
    response = http.post("/e2e_child", json=body, headers={"Prefer": "return=minimal,count=exact"})
    assert response.status_code == 201
    assert response.headers["content-range"] == "*/2"


def test_post_array_keys_must_match_without_columns(http: httpx.Client, db):
    response = http.post("/e2e_child", json=[{"label": "a"}, {"label": "b", "score": 2}])
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST102"
    assert response.json()["message"] == "All object keys must match"
    assert count(db, "e2e_child") == 0


def test_columns_missing_key_becomes_null(http: httpx.Client, parents: None):
    body = [{"label": "a"}, {"label": "b", "score": 2}]
    response = http.post('/e2e_child?columns="label","score"', json=body, headers=REPR)
    assert [row["score"] for row in response.json()] == [None, 2]


def test_columns_missing_default_uses_column_default(http: httpx.Client, parents: None):
    body = [{"label": "a"}, {"label": "b", "score": None}, {"label": "c", "score": 3}]
    response = http.post(
        '/e2e_child?columns="label","score"',
        json=body,
        headers={"Prefer": "return=representation,missing=default"},
    )
    assert [row["score"] for row in response.json()] == [7, None, 3]
    assert "missing=default" in response.headers["preference-applied"]


def test_columns_ignores_keys_not_listed(http: httpx.Client, parents: None):
    body = [{"label": "a", "score": 5, "meta": {"x": 1}}]
    response = http.post("/e2e_child?columns=label,score", json=body, headers=REPR)
    assert response.json()[0]["meta"] is None


def test_unknown_body_key_is_pgrst204(http: httpx.Client, parents: None):
    response = http.post("/e2e_child", json={"label": "a", "nope": 1})
    assert response.status_code == 400
    assert response.json() == {
        "code": "PGRST204",
        "details": None,
        "hint": None,
        "message": "Could not find the 'nope' column of 'e2e_child' in the schema cache",
    }


def test_json_values_convert_to_column_types(http: httpx.Client, parents: None):
    body = {"label": "t", "tags": ["x", "y z"], "meta": {"nested": [1, {"a": None}]}}
    response = http.post("/e2e_child", json=body, headers=REPR)
    row = response.json()[0]
    assert (row["tags"], row["meta"]) == (["x", "y z"], {"nested": [1, {"a": None}]})


def test_unique_violation_is_409_23505(http: httpx.Client, parents: None):
    response = http.post("/e2e_parent", json={"id": 1, "name": "dup"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "23505"
    assert body["message"] == 'duplicate key value violates unique constraint "e2e_parent_pkey"'
    assert body["details"] == "Key (id)=(1) already exists."
    assert response.headers["proxy-status"] == "PostgREST; error=23505"


def test_foreign_key_violation_is_409_23503(http: httpx.Client, parents: None):
    response = http.post("/e2e_child", json={"parent_id": 42, "label": "orphan"})
    assert response.status_code == 409
    assert response.json()["code"] == "23503"


def test_not_null_violation_is_400_23502(http: httpx.Client, parents: None):
    response = http.post("/e2e_child", json={"label": None})
    assert (response.status_code, response.json()["code"]) == (400, "23502")


def test_bad_value_is_400_22p02(http: httpx.Client, parents: None):
    response = http.post("/e2e_child", json={"label": "x", "score": "many"})
    assert (response.status_code, response.json()["code"]) == (400, "22P02")


def test_upsert_merge_duplicates_updates_and_answers_200(http: httpx.Client, parents: None, db):
    response = http.post(
        "/e2e_parent",
        json={"id": 1, "name": "uno"},
        headers={"Prefer": "return=representation,resolution=merge-duplicates"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == [{"id": 1, "name": "uno"}]
    assert "resolution=merge-duplicates" in response.headers["preference-applied"]


def test_upsert_merge_duplicates_with_new_row_answers_201(http: httpx.Client, parents: None):
    response = http.post(
        "/e2e_parent",
        json=[{"id": 1, "name": "uno"}, {"id": 3, "name": "tres"}],
        headers={"Prefer": "return=representation,resolution=merge-duplicates"},
    )
    assert response.status_code == 201
    assert sorted(row["id"] for row in response.json()) == [1, 3]


def test_upsert_ignore_duplicates_on_conflict_returns_only_new(http: httpx.Client, parents: None):
    response = http.post(
        "/e2e_parent?on_conflict=name",
        json=[{"id": 5, "name": "one"}, {"id": 6, "name": "six"}],
        headers={"Prefer": "return=representation,resolution=ignore-duplicates"},
    )
    assert response.status_code == 201
    assert response.json() == [{"id": 6, "name": "six"}]


def test_resolution_without_pk_or_on_conflict_is_not_applied(http: httpx.Client, db):
    response = http.post(
        "/e2e_nopk",
        json={"a": 1, "b": "x"},
        headers={"Prefer": "resolution=merge-duplicates"},
    )
    assert response.status_code == 201
    assert "preference-applied" not in response.headers


def test_headers_only_sets_location(http: httpx.Client, parents: None):
    response = http.post(
        "/e2e_parent", json={"id": 7, "name": "seven"}, headers={"Prefer": "return=headers-only"}
    )
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["location"] == "/e2e_parent?id=eq.7"


def test_patch_minimal_is_204_with_range(http: httpx.Client, parents: None, db):
    response = http.patch("/e2e_parent?id=eq.2", json={"name": "dos"})
    assert response.status_code == 204
    assert response.headers["content-range"] == "0-0/*"
    assert db.execute("select name from public.e2e_parent where id = 2").fetchone() == ("dos",)


def test_patch_representation_count_is_200(http: httpx.Client, parents: None):
    response = http.patch(
        "/e2e_parent?id=gte.1",
        json={"name": None},
        headers={"Prefer": "return=representation,count=exact"},
    )
    assert response.status_code == 400  # name is NOT NULL
    response = http.patch(
        "/e2e_parent?id=lte.2&name=like.t*",
        json={"name": "TWO"},
        headers={"Prefer": "return=representation,count=exact"},
    )
    assert response.status_code == 200
    assert response.json() == [{"id": 2, "name": "TWO"}]
    assert response.headers["content-range"] == "0-0/1"


def test_patch_with_no_match_is_204_star_range(http: httpx.Client, parents: None):
    response = http.patch("/e2e_parent?id=eq.99", json={"name": "x"})
    assert response.status_code == 204
    assert response.headers["content-range"] == "*/*"


def test_delete_minimal_is_204_and_representation_200(http: httpx.Client, parents: None, db):
    response = http.request("DELETE", "/e2e_parent?id=eq.1", json={})
    assert response.status_code == 204
    assert response.headers["content-range"] == "*/*"
    response = http.delete("/e2e_parent?id=eq.2", headers={"Prefer": "return=representation"})
    assert (response.status_code, response.json()) == (200, [{"id": 2, "name": "two"}])
    assert count(db, "e2e_parent") == 0


def test_delete_count_exact(http: httpx.Client, parents: None):
    response = http.delete("/e2e_parent?id=gt.0", headers={"Prefer": "count=exact"})
    assert response.headers["content-range"] == "*/2"


def test_strict_max_affected_rolls_back(http: httpx.Client, parents: None, db):
    response = http.delete(
        "/e2e_parent?id=gt.0", headers={"Prefer": "handling=strict,max-affected=1"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST124"
    assert count(db, "e2e_parent") == 2


def test_singular_insert_with_two_rows_rolls_back(http: httpx.Client, parents: None, db):
    response = http.post(
        "/e2e_child",
        json=[{"label": "a"}, {"label": "b"}],
        headers={"Prefer": "return=representation", "Accept": "application/vnd.pgrst.object+json"},
    )
    assert response.status_code == 406
    assert response.json()["code"] == "PGRST116"
    assert count(db, "e2e_child") == 0


def test_limit_on_delete_is_refused_not_widened(http: httpx.Client, parents: None, db):
    response = http.delete("/e2e_parent?id=gt.0&limit=1&order=id")
    assert (response.status_code, response.json()["code"]) == (400, "PGRST100")
    assert count(db, "e2e_parent") == 2


def test_supabase_py_insert_update_delete(sb: Client, parents: None):
    inserted = sb.table("e2e_child").insert({"parent_id": 1, "label": "x"}).execute()
    child_id = data(inserted)[0]["id"]
    updated = sb.table("e2e_child").update({"score": 99}).eq("id", child_id).execute()
    assert data(updated)[0]["score"] == 99
    deleted = sb.table("e2e_child").delete(count=EXACT).eq("id", child_id).execute()
    assert (deleted.count, data(deleted)[0]["id"]) == (1, child_id)


def test_supabase_py_bulk_insert_default_to_null_false(sb: Client, parents: None):
    rows: list[dict[str, Any]] = [{"label": "a"}, {"label": "b", "score": 2}]
    result = (
        sb.table("e2e_child")
        .insert(
            rows,
            count=EXACT,
            default_to_null=False,
        )
        .execute()
    )
    assert [row["score"] for row in data(result)] == [7, 2]
    assert result.count == 2


def test_supabase_py_upsert_ignore_duplicates(sb: Client, parents: None):
    result = (
        sb.table("e2e_parent")
        .upsert(
            [{"id": 1, "name": "one"}, {"id": 3, "name": "three"}],
            on_conflict="id",
            ignore_duplicates=True,
        )
        .execute()
    )
    assert result.data == [{"id": 3, "name": "three"}]


def test_supabase_py_conflict_raises_api_error(sb: Client, parents: None):
    with pytest.raises(APIError) as info:
        sb.table("e2e_parent").insert({"id": 2, "name": "again"}).execute()
    assert info.value.code == "23505"


async def test_async_supabase_py_upsert_merge(asb: Any, parents: None):
    result = await asb.table("e2e_parent").upsert({"id": 2, "name": "deux"}).execute()
    assert result.data == [{"id": 2, "name": "deux"}]
