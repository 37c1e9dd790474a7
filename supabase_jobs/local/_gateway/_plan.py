"""Plans for table requests: GET/HEAD reads and POST/PATCH/DELETE writes.

A plan is one SQL statement plus what the response needs to know about it. The request body
reaches SQL as a single ``json`` parameter expanded by ``json_to_recordset`` with the columns'
declared types, so a 10,000-row insert costs no per-row Python work.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from supabase_jobs.local._gateway._errors import GatewayError
from supabase_jobs.local._gateway._prefer import Preferences
from supabase_jobs.local._gateway._query import QueryParams
from supabase_jobs.local._gateway._schema import Table
from supabase_jobs.local._gateway._sql import (
    Params,
    Shape,
    check_columns,
    defaults_object,
    order_sql,
    recordset_def,
    result_select,
    select_list,
    table_ident,
    where_sql,
)

__all__ = [
    "Plan",
    "plan_delete",
    "plan_insert",
    "plan_read",
    "plan_update",
    "refuse_range_on_write",
    "require_where",
]

_SOURCE = sql.Identifier("pgrst_source")


@dataclass
class Plan:
    """One statement and the facts the response is built from.

    ``body_param`` names the parameter holding the request body, so a cached rpc plan can be
    reused with another body (:meth:`with_body`) without composing its SQL again.
    """

    statement: sql.Composed | bytes
    params: dict[str, Any]
    read_only: bool
    kind: str
    shape: Shape = field(default_factory=Shape)
    offset: int = 0
    void: bool = False
    resolution_applied: bool = False
    missing_applied: bool = False
    primary_key: tuple[str, ...] = ()
    table: str = ""
    body_param: str | None = None

    def rendered(self) -> Plan:
        """This plan with its statement rendered to bytes once (for reuse across requests)."""
        if isinstance(self.statement, sql.Composable):
            return dataclasses.replace(self, statement=self.statement.as_bytes(None))
        return self

    def with_body(self, body: str) -> Plan:
        """This plan with ``body`` bound in place of the body it was built with."""
        if self.body_param is None:
            return self
        return dataclasses.replace(self, params={**self.params, self.body_param: body})


def _count(prefs: Preferences, source: sql.Composable) -> sql.Composable | None:
    if prefs.count is None:
        return None
    return sql.SQL("(SELECT pg_catalog.count(*) FROM {})").format(source)


def plan_read(
    table: Table, query: QueryParams, prefs: Preferences, *, shape: Shape, max_rows: int | None
) -> Plan:
    """GET/HEAD on a table or view."""
    params = Params()
    qual = table_ident(table)
    items = select_list(query.select, qual, params, list(table.columns.values()))
    where = where_sql(query.filters, qual, params)
    limit = query.limit
    if max_rows is not None:
        limit = max_rows if limit is None else min(limit, max_rows)
    tail = order_sql(query.order, qual, params)
    if limit is not None:
        tail += sql.SQL(" LIMIT {}").format(params.add(limit))
    if query.offset:
        tail += sql.SQL(" OFFSET {}").format(params.add(query.offset))
    source = sql.SQL("SELECT {} FROM {}{}{}").format(items, qual, where, tail)
    count = _count(prefs, sql.SQL("{}{}").format(qual, where))
    statement = result_select(source, shape=shape, count=count)
    return Plan(statement, params.values, True, "read", shape, query.offset)


def _returning(table: Table, prefs: Preferences) -> sql.Composable:
    if prefs.return_ == "representation":
        return sql.SQL("{}.*").format(table_ident(table))
    if prefs.return_ == "headers-only" and table.primary_key:
        return sql.SQL(", ").join(sql.Identifier(c) for c in table.primary_key)
    return sql.SQL("1")


def _mutation(
    table: Table,
    query: QueryParams,
    prefs: Preferences,
    cte: sql.Composable,
    *,
    shape: Shape,
    kind: str,
    params: Params,
    inserted: sql.Composable | None = None,
) -> Plan:
    representation = prefs.return_ == "representation"
    headers_only = prefs.return_ == "headers-only" and bool(table.primary_key)
    if representation:
        items = select_list(query.select, _SOURCE, params, list(table.columns.values()))
    elif headers_only:
        items = sql.SQL(", ").join(sql.Identifier(c) for c in table.primary_key)
    else:
        items = sql.SQL("1 AS pgrst_one")
        shape = Shape(head=True)
    source = sql.SQL("SELECT {} FROM {}").format(items, _SOURCE)
    body = result_select(source, shape=shape, count=_count(prefs, _SOURCE), inserted=inserted)
    statement = sql.SQL("WITH pgrst_source AS ({}) {}").format(cte, body)
    pk = table.primary_key if headers_only else ()
    return Plan(statement, params.values, False, kind, shape, primary_key=pk, table=table.name)


def plan_insert(
    table: Table,
    query: QueryParams,
    prefs: Preferences,
    body: str,
    keys: list[str],
    *,
    shape: Shape,
) -> Plan:
    """POST on a table: insert, or upsert with ``resolution``.

    Args:
        table: The target table.
        query: Parsed query (``columns``, ``on_conflict``, ``select``).
        prefs: Parsed preferences.
        body: The raw JSON body (an object or an array of objects).
        keys: The columns to insert (``columns=`` or the body's keys).
        shape: The body shape the client accepts.
    """
    params = Params()
    columns = check_columns(table, keys)
    conflict = query.on_conflict or table.primary_key
    if query.on_conflict:
        check_columns(table, query.on_conflict)
    payload = params.add(body, "json")
    elements = sql.SQL(
        "CASE WHEN json_typeof({p}) = 'array' THEN {p} ELSE json_build_array({p}) END"
    ).format(p=payload)
    missing = prefs.missing == "default" and bool(columns)
    if not columns:
        rows = sql.SQL("SELECT FROM json_array_elements({})").format(elements)
    elif missing:
        rows = sql.SQL(
            "SELECT {cols} FROM jsonb_to_recordset((SELECT coalesce(jsonb_agg({defaults} || e),"
            " '[]') FROM jsonb_array_elements(({elements})::jsonb) e)) AS {rec}"
        ).format(
            cols=sql.SQL(", ").join(sql.Identifier(c.name) for c in columns),
            defaults=defaults_object(columns),
            elements=elements,
            rec=recordset_def(columns),
        )
    else:
        rows = sql.SQL("SELECT {} FROM json_to_recordset({}) AS {}").format(
            sql.SQL(", ").join(sql.Identifier(c.name) for c in columns),
            elements,
            recordset_def(columns),
        )
    target = sql.SQL("({})").format(sql.SQL(", ").join(sql.Identifier(c.name) for c in columns))
    insert = sql.SQL("INSERT INTO {} {} {}").format(
        table_ident(table), target if columns else sql.SQL(""), rows
    )
    resolution = prefs.resolution is not None and bool(conflict)
    inserted = None
    returning = _returning(table, prefs)
    if resolution:
        insert += sql.SQL(" ON CONFLICT ({})").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in conflict)
        )
        if prefs.resolution == "ignore-duplicates" or not columns:
            insert += sql.SQL(" DO NOTHING")
        else:
            insert += sql.SQL(" DO UPDATE SET ") + sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c.name)) for c in columns
            )
            returning += sql.SQL(", (xmax = 0) AS pgrst_inserted")
            inserted = sql.SQL(
                "(SELECT pg_catalog.count(*) FROM pgrst_source WHERE pgrst_inserted)"
            )
    cte = insert + sql.SQL(" RETURNING ") + returning
    plan = _mutation(
        table, query, prefs, cte, shape=shape, kind="insert", params=params, inserted=inserted
    )
    plan.resolution_applied = resolution
    plan.missing_applied = missing
    return plan


def plan_update(
    table: Table,
    query: QueryParams,
    prefs: Preferences,
    body: str,
    keys: list[str],
    *,
    shape: Shape,
) -> Plan:
    """PATCH on a table: ``UPDATE ... SET`` from one JSON object (``body``), filtered."""
    params = Params()
    qual = table_ident(table)
    columns = check_columns(table, keys)
    where = where_sql(query.filters, qual, params)
    if columns:
        require_where(query, "UPDATE")
    if not columns:
        # PostgREST answers an empty PATCH without touching any row.
        cte = sql.SQL("SELECT {}.* FROM {} WHERE false").format(qual, qual)
    else:
        sets = sql.SQL(", ").join(
            sql.SQL("{0} = pgrst_body.{0}").format(sql.Identifier(c.name)) for c in columns
        )
        cte = sql.SQL(
            "UPDATE {tbl} SET {sets} FROM (SELECT * FROM json_to_record({body}) AS {rec})"
            " pgrst_body{where} RETURNING {ret}"
        ).format(
            tbl=qual,
            sets=sets,
            body=params.add(body, "json"),
            rec=recordset_def(columns),
            where=where,
            ret=_returning(table, prefs),
        )
    return _mutation(table, query, prefs, cte, shape=shape, kind="update", params=params)


def plan_delete(table: Table, query: QueryParams, prefs: Preferences, *, shape: Shape) -> Plan:
    """DELETE on a table, filtered."""
    require_where(query, "DELETE")
    params = Params()
    qual = table_ident(table)
    where = where_sql(query.filters, qual, params)
    cte = sql.SQL("DELETE FROM {}{} RETURNING {}").format(qual, where, _returning(table, prefs))
    return _mutation(table, query, prefs, cte, shape=shape, kind="delete", params=params)


def require_where(query: QueryParams, verb: str) -> None:
    """Hosted Supabase's guard (``pg_safeupdate``): no UPDATE or DELETE of every row.

    Supabase loads ``safeupdate`` for the API's login role, so an unfiltered PATCH or DELETE
    fails at parse analysis with 21000, which PostgREST answers 400 because the message ends
    "requires a WHERE clause".
    """
    if not query.filters:
        raise GatewayError(400, "21000", f"{verb} requires a WHERE clause")


def refuse_range_on_write(query: QueryParams) -> None:
    """PATCH/DELETE with ``order``/``limit``/``offset``: refused rather than widened."""
    if query.limit is not None or query.offset or query.order:
        raise GatewayError(
            400,
            "PGRST100",
            "limit, offset and order are not supported on PATCH and DELETE",
            "PostgREST v14 does not limit updates or deletes; filter on the primary key instead.",
        )
