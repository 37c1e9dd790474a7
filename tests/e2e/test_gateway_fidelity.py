"""PostgREST behaviours supabase-py users rely on: schema reload by NOTIFY, ``{...}`` values in
logic trees, ``nulls=stripped`` and hosted Supabase's safe-update guard.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from postgrest.exceptions import APIError
from supabase import Client

from supabase_jobs.local import Gateway, LocalStack
from supabase_jobs.local._gateway._listener import APPLICATION_NAME
from supabase_jobs.local._stack import authenticator_dsn

from ._helpers import data

pytestmark = pytest.mark.e2e


def _eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _listener_pids(db: psycopg.Connection[Any]) -> set[int]:
    rows = db.execute(
        "select pid from pg_stat_activity where application_name = %s", [APPLICATION_NAME]
    ).fetchall()
    return {row[0] for row in rows}


@pytest.fixture
def late_tables(db: psycopg.Connection[Any]) -> Iterator[Callable[[], str]]:
    """Create tables after the gateway started (dropped, and the cache reloaded, at the end)."""
    made: list[str] = []

    def make() -> str:
        name = f"e2e_late_{uuid.uuid4().hex[:10]}"
        db.execute(f"create table public.{name} (id int primary key, note text)")
        db.execute(f"grant select, insert on public.{name} to service_role")
        db.execute(f"insert into public.{name} values (1, 'late')")
        made.append(name)
        return name

    yield make
    for name in made:
        db.execute(f"drop table if exists public.{name}")
    db.execute("notify pgrst, 'reload schema'")


def _served(sb: Client, name: str) -> bool:
    try:
        return data(sb.table(name).select("*").execute()) == [{"id": 1, "note": "late"}]
    except APIError as exc:
        assert exc.code == "PGRST205"
        return False


@pytest.mark.parametrize(
    "notify", ["notify pgrst, 'reload schema'", "notify pgrst, 'reload config'", "notify pgrst"]
)
def test_table_created_after_start_is_served_after_notify(
    sb: Client, db: psycopg.Connection[Any], late_tables: Callable[[], str], notify: str
):
    name = late_tables()
    with pytest.raises(APIError) as caught:
        sb.table(name).select("*").execute()
    assert caught.value.code == "PGRST205"
    db.execute(notify)
    _eventually(lambda: _served(sb, name), f"{name} to be served after {notify!r}")
    sb.table(name).insert({"id": 2, "note": "via the api"}).execute()
    assert db.execute(f"select count(*) from public.{name}").fetchone() == (2,)


def test_other_channels_and_payloads_do_not_reload(
    stack: LocalStack, db: psycopg.Connection[Any], late_tables: Callable[[], str]
):
    # A gateway of its own: LISTEN only hears what is sent after it, so no other test's
    # NOTIFY can be counted here.
    with Gateway(authenticator_dsn(stack.database_url), stack.jwt_secret) as gw:
        app = gw._app
        assert app is not None and app.listener is not None
        name = late_tables()
        db.execute("notify pgrst, 'something else'")
        db.execute("notify other, 'reload schema'")
        db.execute("notify pgrst, 'reload schema'")  # handled after the two above
        key = stack.service_role_key
        headers = {"apikey": key, "Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=gw.rest_url, headers=headers, timeout=30) as client:
            _eventually(lambda: client.get("/" + name).status_code == 200, "the marker reload")
        assert app.listener.reloads == 1


def test_listener_reconnects_and_reloads_what_it_missed(
    sb: Client, db: psycopg.Connection[Any], late_tables: Callable[[], str]
):
    pids = _listener_pids(db)
    assert len(pids) == 1
    missed = late_tables()  # created while nobody will tell the gateway
    db.execute("select pg_terminate_backend(pid) from unnest(%s::int[]) pid", [list(pids)])
    # Reconnecting reloads once, since notifications sent while away are lost.
    _eventually(lambda: _served(sb, missed), "the reload after reconnecting")
    _eventually(lambda: bool(_listener_pids(db) - pids), "a new listening connection")
    later = late_tables()
    db.execute("notify pgrst, 'reload schema'")
    _eventually(lambda: _served(sb, later), "NOTIFY on the new connection")


# -- {...} values in logic trees ----------------------------------------------------------


@pytest.fixture
def tagged(db: psycopg.Connection[Any]) -> dict[str, int]:
    rows = db.execute(
        "insert into public.e2e_child (label, tags, score) values"
        " ('a', '{is:open,priority:high}', null), ('b', '{z}', 3), ('c', '{x}', 4),"
        " ('d', '{q,\"r,s\"}', 5) returning label, id"
    ).fetchall()
    return {label: ident for label, ident in rows}


def test_or_accepts_array_values(sb: Client, tagged: dict[str, int]):
    query = f"id.in.({tagged['c']},{tagged['d']}),tags.cs.{{is:open,priority:high}}"
    result = sb.table("e2e_child").select("label").or_(query).order("label").execute()
    assert data(result) == [{"label": "a"}, {"label": "c"}, {"label": "d"}]
    result = sb.table("e2e_child").select("label").or_("tags.ov.{z,q}").order("label").execute()
    assert data(result) == [{"label": "b"}, {"label": "d"}]


def test_and_and_nested_trees_accept_array_values(http: httpx.Client, tagged: dict[str, int]):
    response = http.get(
        "/e2e_child",
        params={
            "select": "label",
            "and": "(tags.ov.{z,q},or(label.eq.d,tags.cd.{x,z}))",
            "order": "label",
        },
    )
    assert response.json() == [{"label": "b"}, {"label": "d"}]
    response = http.get("/e2e_child", params={"select": "label", "or": "(tags.cs.{z,q)"})
    assert response.status_code == 400
    assert response.json()["code"] == "PGRST100"


# -- nulls=stripped ------------------------------------------------------------------------


def test_strip_nulls_for_arrays(sb: Client, http: httpx.Client, tagged: dict[str, int]):
    result = (
        sb.table("e2e_child").select("label,score,meta").in_("label", ["a", "b"]).order("label")
    )
    assert data(result.strip_nulls().execute()) == [{"label": "a"}, {"label": "b", "score": 3}]
    response = http.get(
        "/e2e_child",
        params={"select": "label,meta", "label": "eq.a"},
        headers={"Accept": "application/vnd.pgrst.array+json;nulls=stripped"},
    )
    assert response.json() == [{"label": "a"}]
    ctype = response.headers["content-type"]
    assert ctype == "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
    # Without the parameter nothing is stripped, and the answer is plain JSON.
    response = http.get(
        "/e2e_child",
        params={"select": "label,meta", "label": "eq.a"},
        headers={"Accept": "application/vnd.pgrst.array+json"},
    )
    assert response.json() == [{"label": "a", "meta": None}]
    assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_strip_nulls_for_single_and_writes(sb: Client, http: httpx.Client, tagged):
    single = sb.table("e2e_child").select("label,score,meta").eq("label", "a").strip_nulls()
    assert data(single.single().execute()) == {"label": "a"}
    response = http.post(
        "/e2e_child?select=label,score,meta",
        json={"label": "new", "score": None},
        headers={
            "Accept": "application/vnd.pgrst.object+json;nulls=stripped",
            "Prefer": "return=representation",
        },
    )
    assert response.status_code == 201
    assert response.json() == {"label": "new"}
    ctype = response.headers["content-type"]
    assert ctype == "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"


# -- safe-update guard --------------------------------------------------------------------


def test_update_without_filter_is_refused(sb: Client, db: psycopg.Connection[Any], tagged):
    with pytest.raises(APIError) as caught:
        sb.table("e2e_child").update({"label": "all"}).execute()
    assert (caught.value.code, caught.value.message) == ("21000", "UPDATE requires a WHERE clause")
    assert db.execute("select count(*) from public.e2e_child where label = 'all'").fetchone() == (
        0,
    )
    # With any filter it runs, as with pg_safeupdate.
    sb.table("e2e_child").update({"score": 9}).gte("id", 0).execute()
    assert db.execute("select count(*) from public.e2e_child where score = 9").fetchone() == (4,)


def test_delete_without_filter_is_refused(sb: Client, http: httpx.Client, db, tagged):
    with pytest.raises(APIError) as caught:
        sb.table("e2e_child").delete().execute()
    assert (caught.value.code, caught.value.message) == ("21000", "DELETE requires a WHERE clause")
    response = http.delete("/e2e_child")
    assert response.status_code == 400
    assert response.json() == {
        "code": "21000",
        "details": None,
        "hint": None,
        "message": "DELETE requires a WHERE clause",
    }
    assert db.execute("select count(*) from public.e2e_child").fetchone() == (4,)


# -- quantified operators (postgrest-py's like_all_of / like_any_of) -----------------------


@pytest.fixture
def countries(db: psycopg.Connection[Any]) -> None:
    db.execute(
        "insert into public.e2e_child (label, score) values"
        " ('Afghanistan', 4), ('Albania', 8), ('Algeria', 12)"
    )


@pytest.mark.parametrize(
    ("method", "pattern", "expected"),
    [
        ("like_all_of", "A*,*n", ["Afghanistan"]),
        ("like_any_of", "Al*,*ia", ["Albania", "Algeria"]),
        ("ilike_all_of", "a*,*n", ["Afghanistan"]),
        ("ilike_any_of", "al*,*ia", ["Albania", "Algeria"]),
    ],
)
def test_like_any_and_all_of(sb: Client, countries, method: str, pattern: str, expected):
    builder = sb.table("e2e_child").select("label").order("label")
    result = getattr(builder, method)("label", pattern).execute()
    assert [row["label"] for row in data(result)] == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("score=gt(any).{5,10}", ["Albania", "Algeria"]),
        ("score=eq(all).{4}", ["Afghanistan"]),
        ("label=not.like(any).{Al*}", ["Afghanistan"]),
        ("or=(score.eq(any).{4,8},label.eq.x)", ["Afghanistan", "Albania"]),
        ('label=eq(any).{"a,b",Albania}', ["Albania"]),
    ],
)
def test_quantified_operators(http: httpx.Client, countries, query: str, expected):
    response = http.get("/e2e_child?select=label&order=label&" + query)
    assert [row["label"] for row in response.json()] == expected


def test_quantified_operator_needs_an_array(http: httpx.Client, countries):
    response = http.get("/e2e_child?score=eq(any).(1,2)")
    assert response.status_code == 400
    assert response.json()["code"] == "22P02"  # Postgres: malformed array literal
