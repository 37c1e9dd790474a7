"""Replay SQL the way PostgREST runs it, without an HTTP server.

Each call is one transaction on a connection logged in as ``authenticator``: PostgREST's
``set_config`` block (search_path, role, request.jwt.claims, request.method, request.path,
request.headers, request.cookies), then the statement PostgREST generates: for an rpc,
``json_to_record`` of the JSON body feeding named arguments; for an insert,
``json_to_recordset`` feeding ``INSERT ... SELECT`` with an optional ``ON CONFLICT``.
STABLE functions and reads run in a READ ONLY transaction, as PostgREST does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

__all__ = ["PostgrestSim"]


def _json_default(value: object) -> str:
    if isinstance(value, (UUID, datetime)):
        return str(value) if isinstance(value, UUID) else value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _dumps(value: object) -> str:
    return json.dumps(value, default=_json_default)


@dataclass(frozen=True)
class _Function:
    arg_types: dict[str, str]
    returns_set: bool
    returns_composite: bool
    read_only: bool


class PostgrestSim:
    """One ``authenticator`` connection acting as PostgREST for a given role and JWT.

    Args:
        dsn: Connection URL for user ``authenticator``.
        role: The role PostgREST would take from the JWT (``service_role``, ``anon``...).
        claims: The JWT claims; ``{"role": role}`` when omitted.
    """

    def __init__(self, dsn: str, role: str = "service_role", claims: dict[str, Any] | None = None):
        self.conn: psycopg.Connection[dict[str, Any]] = psycopg.connect(
            dsn, row_factory=dict_row, autocommit=True
        )
        self.role = role
        self.claims = claims if claims is not None else {"role": role}
        self._functions: dict[str, _Function] = {}
        self._columns: dict[str, str] | None = None

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def _request(
        self,
        method: str,
        path: str,
        query: sql.Composed | sql.SQL,
        params: list[Any],
        read_only: bool,
    ) -> list[dict[str, Any]]:
        headers = {"prefer": "return=representation", "user-agent": "postgrest-sim"}
        with self.conn.transaction():
            if read_only:
                self.conn.execute("set transaction read only")
            self.conn.execute(
                "select set_config('search_path', %s, true), set_config('role', %s, true),"
                " set_config('request.jwt.claims', %s, true),"
                " set_config('request.method', %s, true), set_config('request.path', %s, true),"
                " set_config('request.headers', %s, true), set_config('request.cookies', %s, true)",
                [
                    '"public", "extensions"',
                    self.role,
                    _dumps(self.claims),
                    method,
                    path,
                    _dumps(headers),
                    "{}",
                ],
            )
            return self.conn.execute(query, params).fetchall()

    def _function(self, name: str) -> _Function:
        if name not in self._functions:
            row = self.conn.execute(
                "select p.proargnames as names,"
                " array(select format_type(t, null) from unnest(p.proargtypes) t) as types,"
                " p.proretset as retset, ty.typtype = 'c' as composite,"
                " p.provolatile <> 'v' as read_only"
                " from pg_proc p join pg_type ty on ty.oid = p.prorettype"
                " where p.pronamespace = 'public'::regnamespace and p.proname = %s",
                [name],
            ).fetchone()
            if row is None:
                raise LookupError(f"no function public.{name}")
            self._functions[name] = _Function(
                # proargnames also lists OUT columns (after the inputs) for RETURNS TABLE.
                arg_types=dict(
                    zip((row["names"] or [])[: len(row["types"])], row["types"], strict=True)
                ),
                returns_set=row["retset"],
                returns_composite=row["composite"],
                read_only=row["read_only"],
            )
        return self._functions[name]

    def rpc(self, name: str, args: dict[str, Any] | None = None) -> Any:
        """Call ``public.<name>`` with named arguments, as ``POST /rpc/<name>`` would.

        Returns:
            A list of row dicts for a set-returning function, one dict (or ``None``) for a
            composite, else the scalar value.
        """
        fn = self._function(name)
        args = args or {}
        fields = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(k), sql.SQL(fn.arg_types[k])) for k in args
        )
        call_args = sql.SQL(", ").join(
            sql.SQL("{} := pgrst_body.{}").format(sql.Identifier(k), sql.Identifier(k))
            for k in args
        )
        query = sql.SQL(
            "select pgrst_call.* from (select * from json_to_record(%s::json) as _({fields}))"
            " pgrst_body,"
            " lateral public.{fn}({args}) pgrst_call"
        ).format(fields=fields, fn=sql.Identifier(name), args=call_args)
        if not args:
            query = sql.SQL("select pgrst_call.* from public.{fn}() pgrst_call").format(
                fn=sql.Identifier(name)
            )
        params = [_dumps(args)] if args else []
        rows = self._request("POST", f"/rpc/{name}", query, params, fn.read_only)
        if fn.returns_set:
            return rows
        if fn.returns_composite:
            row = rows[0] if rows else None
            return None if row is None or all(v is None for v in row.values()) else row
        return next(iter(rows[0].values())) if rows else None

    def insert(
        self,
        rows: list[dict[str, Any]],
        *,
        on_conflict: tuple[str, ...] | None = None,
        ignore_duplicates: bool = False,
    ) -> list[dict[str, Any]]:
        """``POST /jobs`` with ``return=representation`` (and ``resolution=...`` if asked)."""
        if self._columns is None:
            cols = self.conn.execute(
                "select attname, format_type(atttypid, atttypmod) as type from pg_attribute"
                " where attrelid = 'public.jobs'::regclass and attnum > 0 and not attisdropped"
            ).fetchall()
            self._columns = {c["attname"]: c["type"] for c in cols}
        keys = list(dict.fromkeys(k for row in rows for k in row))
        names = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
        fields = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(k), sql.SQL(self._columns[k])) for k in keys
        )
        query = sql.SQL(
            "insert into public.jobs ({names}) select {names} from (select %s::json as json_data)"
            " pgrst_payload, lateral (select {names} from"
            " json_to_recordset(pgrst_payload.json_data) as _({fields})) pgrst_body"
        ).format(names=names, fields=fields)
        if on_conflict:
            target = sql.SQL(", ").join(sql.Identifier(c) for c in on_conflict)
            if ignore_duplicates:
                query += sql.SQL(" on conflict ({}) do nothing").format(target)
            else:
                updates = sql.SQL(", ").join(
                    sql.SQL("{} = excluded.{}").format(sql.Identifier(k), sql.Identifier(k))
                    for k in keys
                )
                query += sql.SQL(" on conflict ({}) do update set {}").format(target, updates)
        query += sql.SQL(" returning *")
        return self._request("POST", "/jobs", query, [_dumps(rows)], read_only=False)

    def select(self, where: str = "true", params: list[Any] | None = None) -> list[dict[str, Any]]:
        """``GET /jobs`` with a filter, in a read-only transaction."""
        query = sql.SQL("select * from public.jobs where ") + sql.SQL(where)
        return self._request("GET", "/jobs", query, params or [], read_only=True)

    def execute(self, method: str, statement: str, params: list[Any] | None = None) -> int:
        """Run a raw write (``PATCH``/``DELETE``) as this role; returns affected rows."""
        query = sql.SQL(statement)
        rows = self._request(method, "/jobs", query + sql.SQL(" returning id"), params or [], False)
        return len(rows)
