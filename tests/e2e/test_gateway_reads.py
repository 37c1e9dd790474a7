"""GET/HEAD on tables: postgrest.md §1.2 filters and §2.2 statuses and Content-Range."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import Client

from ._helpers import EXACT

pytestmark = pytest.mark.e2e


@pytest.fixture
def rows(db: psycopg.Connection[Any]) -> None:
    db.execute("insert into public.e2e_parent values (1, 'one'), (2, 'two, \"quoted\"')")
    db.execute(
        "insert into public.e2e_child (id, parent_id, label, score, tags, meta) values"
        " (1, 1, 'alpha', 10, '{a,b}', '{\"k\": \"x\", \"n\": 1}'),"
        " (2, 1, 'beta', 20, '{b}', '{\"k\": \"y\", \"n\": 2}'),"
        " (3, 2, 'gamma', null, null, null),"
        " (4, null, 'Delta', 40, '{c}', '{\"k\": \"x\", \"n\": 4}')"
    )


def ids(response: httpx.Response) -> list[int]:
    return [row["id"] for row in response.json()]


def test_get_all_rows_answers_200_with_open_content_range(http: httpx.Client, rows: None):
    response = http.get("/e2e_child", params={"select": "*", "order": "id"})
    assert response.status_code == 200
    assert response.headers["content-range"] == "0-3/*"
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert ids(response) == [1, 2, 3, 4]
    assert set(response.json()[0]) == {
        "id",
        "parent_id",
        "label",
        "score",
        "tags",
        "meta",
        "created_at",
    }


def test_empty_result_has_star_range(http: httpx.Client, rows: None):
    response = http.get("/e2e_child", params={"id": "eq.99"})
    assert (response.status_code, response.json()) == (200, [])
    assert response.headers["content-range"] == "*/*"


def test_count_exact_with_limit_answers_206(http: httpx.Client, rows: None):
    response = http.get(
        "/e2e_child", params={"order": "id", "limit": "2"}, headers={"Prefer": "count=exact"}
    )
    assert response.status_code == 206
    assert response.headers["content-range"] == "0-1/4"


def test_count_exact_full_page_answers_200(http: httpx.Client, rows: None):
    response = http.get("/e2e_child", headers={"Prefer": "count=exact"})
    assert response.status_code == 200
    assert response.headers["content-range"] == "0-3/4"


def test_count_exact_empty_answers_star_zero(http: httpx.Client, rows: None):
    response = http.get("/e2e_child?id=gt.100", headers={"Prefer": "count=exact"})
    assert response.headers["content-range"] == "*/0"


def test_offset_past_total_is_416(http: httpx.Client, rows: None):
    response = http.get("/e2e_child?offset=10&limit=2", headers={"Prefer": "count=exact"})
    assert response.status_code == 416
    assert response.json()["code"] == "PGRST103"


def test_offset_and_limit_page(http: httpx.Client, rows: None):
    response = http.get("/e2e_child?order=id&offset=1&limit=2", headers={"Prefer": "count=exact"})
    assert ids(response) == [2, 3]
    assert response.headers["content-range"] == "1-2/4"


def test_head_has_no_body_but_range(http: httpx.Client, rows: None):
    response = http.head("/e2e_child", headers={"Prefer": "count=exact"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-range"] == "0-3/4"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"score": "eq.20"}, [2]),
        ({"score": "neq.20"}, [1, 4]),
        ({"score": "gt.10"}, [2, 4]),
        ({"score": "gte.20"}, [2, 4]),
        ({"score": "lt.20"}, [1]),
        ({"score": "lte.20"}, [1, 2]),
        ({"label": "like.*ta"}, [2, 4]),
        ({"label": "ilike.d*"}, [4]),
        ({"label": "like.D*"}, [4]),
        ({"score": "is.null"}, [3]),
        ({"parent_id": "not.is.null"}, [1, 2, 3]),
        ({"id": "in.(1,3)"}, [1, 3]),
        ({"id": "not.in.(1,3)"}, [2, 4]),
        ({"label": 'in.(alpha,"gamma")'}, [1, 3]),
        ({"tags": "cs.{b}"}, [1, 2]),
        ({"meta->>k": "eq.x"}, [1, 4]),
        ({"meta->n": "gt.1"}, [2, 4]),
        ({"or": "(score.eq.10,label.eq.gamma)"}, [1, 3]),
        ({"or": "(id.eq.4,and(score.gte.10,score.lt.20))"}, [1, 4]),
        ({"not.or": "(id.eq.1,id.eq.2)"}, [3, 4]),
        ({"and": "(score.gt.5,label.neq.beta)"}, [1, 4]),
        ({"label": "match.^[ab]"}, [1, 2]),
        ({"label": "imatch.^d"}, [4]),
        ({"score": "isdistinct.10"}, [2, 3, 4]),
    ],
)
def test_filters(http: httpx.Client, rows: None, params: dict[str, str], expected: list[int]):
    response = http.get("/e2e_child", params={**params, "order": "id"})
    assert response.status_code == 200, response.text
    assert ids(response) == expected


def test_in_list_with_quoted_comma(http: httpx.Client, rows: None):
    response = http.get("/e2e_parent", params={"name": 'in.("two, \\"quoted\\"",zzz)'})
    assert [row["id"] for row in response.json()] == [2]


def test_order_desc_nullslast_and_nullsfirst(http: httpx.Client, rows: None):
    last = http.get("/e2e_child?order=score.desc.nullslast,id")
    first = http.get("/e2e_child?order=score.desc.nullsfirst")
    assert ids(last) == [4, 2, 1, 3]
    assert ids(first) == [3, 4, 2, 1]


def test_select_columns_alias_cast_and_json_path(http: httpx.Client, rows: None):
    response = http.get(
        "/e2e_child", params={"select": "id,name:label,score::text,meta->>k,meta->n", "id": "eq.1"}
    )
    assert response.json() == [{"id": 1, "name": "alpha", "score": "10", "k": "x", "n": 1}]


def test_singular_accept_returns_object(http: httpx.Client, rows: None):
    response = http.get(
        "/e2e_child?select=id,label&id=eq.2",
        headers={"Accept": "application/vnd.pgrst.object+json"},
    )
    assert response.status_code == 200
    assert response.json() == {"id": 2, "label": "beta"}
    assert response.headers["content-type"].startswith("application/vnd.pgrst.object+json")


@pytest.mark.parametrize(("query", "count"), [("id=gt.1", 3), ("id=eq.99", 0)])
def test_singular_with_wrong_row_count_is_pgrst116(
    http: httpx.Client, rows: None, query: str, count: int
):
    response = http.get(
        f"/e2e_child?{query}", headers={"Accept": "application/vnd.pgrst.object+json"}
    )
    assert response.status_code == 406
    assert response.json() == {
        "code": "PGRST116",
        "details": f"The result contains {count} rows",
        "hint": None,
        "message": "Cannot coerce the result to a single JSON object",
    }


def test_max_rows_caps_unpaginated_reads(http: httpx.Client, db: psycopg.Connection[Any]):
    db.execute("insert into public.e2e_nopk select g, 'x' from generate_series(1, 1005) g")
    response = http.get("/e2e_nopk", headers={"Prefer": "count=exact"})
    assert len(response.json()) == 1000
    assert response.headers["content-range"] == "0-999/1005"
    assert response.status_code == 206


def test_range_header_pages_like_limit_offset(http: httpx.Client, rows: None):
    response = http.get("/e2e_child?order=id", headers={"Range": "1-2"})
    assert ids(response) == [2, 3]


def test_supabase_py_select_builder(sb: Client, rows: None):
    result = (
        sb.table("e2e_child")
        .select("id, label", count=EXACT)
        .in_("label", ["alpha", "beta", "x,y"])
        .lt("score", 100)
        .order("score", desc=True)
        .limit(1)
        .execute()
    )
    assert result.data == [{"id": 2, "label": "beta"}]
    assert result.count == 2


def test_supabase_py_single_and_maybe_single(sb: Client, rows: None):
    one = sb.table("e2e_child").select("label").eq("id", 1).single().execute()
    assert one.data == {"label": "alpha"}
    with pytest.raises(APIError) as info:
        sb.table("e2e_child").select("label").gt("id", 0).single().execute()
    assert info.value.code == "PGRST116"
    assert sb.table("e2e_child").select("label").eq("id", 99).maybe_single().execute() is None


def test_supabase_py_range_and_head_count(sb: Client, rows: None):
    page = sb.table("e2e_child").select("id").order("id").range(2, 3).execute()
    assert page.data == [{"id": 3}, {"id": 4}]
    head = sb.table("e2e_child").select("*", count=EXACT, head=True).execute()
    assert head.count == 4


async def test_async_supabase_py_select(asb: Any, rows: None):
    result = await asb.table("e2e_child").select("id").is_("score", "null").execute()
    assert result.data == [{"id": 3}]
