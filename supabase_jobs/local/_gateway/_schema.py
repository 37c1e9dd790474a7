"""The schema cache: tables, columns, primary keys and functions of the exposed schemas.

Loaded once when the gateway starts (and again on an explicit reload), never per request,
like PostgREST's schema cache. The catalog is read as ``authenticator``, which sees every
object's definition whatever its privileges; permissions are enforced later by Postgres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

__all__ = [
    "Arg",
    "Column",
    "Function",
    "SchemaCache",
    "Table",
    "denied_object",
    "load_schema_cache",
]

_TABLES_SQL = """
select n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attgenerated <> '',
       coalesce((select array_agg(pa.attname::text order by k.o)
                 from pg_catalog.pg_constraint con
                 cross join lateral unnest(con.conkey) with ordinality k(num, o)
                 join pg_catalog.pg_attribute pa on pa.attrelid = con.conrelid and pa.attnum = k.num
                 where con.conrelid = c.oid and con.contype = 'p'), '{}')
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
left join pg_catalog.pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'f', 'p')
order by n.nspname, c.relname, a.attnum
"""

_FUNCTIONS_SQL = """
select n.nspname, p.proname, p.proargnames, p.proargmodes::text[],
       array(select pg_catalog.format_type(t, null)
             from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality u(t, o)
             order by o),
       p.pronargdefaults, pg_catalog.format_type(p.prorettype, null), t.typtype,
       p.proretset, p.provolatile,
       coalesce('t' = any(p.proargmodes::text[]) or 'o' = any(p.proargmodes::text[])
                or 'b' = any(p.proargmodes::text[]), false)
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
join pg_catalog.pg_type t on t.oid = p.prorettype
where n.nspname = any(%s) and p.prokind = 'f'
order by n.nspname, p.proname, p.oid
"""

# What each role the login role may become can do with each exposed table and function,
# so a request can be refused before its body is read. Only what is denied is kept.
_DENIED_SQL = """
with roles as (
  select oid, rolname from pg_catalog.pg_roles
  where pg_catalog.pg_has_role(current_user, oid, 'MEMBER')
)
select r.rolname, n.nspname, c.relname, a.action
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
cross join roles r
cross join lateral (values
  ('insert', pg_catalog.has_any_column_privilege(r.oid, c.oid, 'INSERT')),
  ('update', pg_catalog.has_any_column_privilege(r.oid, c.oid, 'UPDATE'))) a(action, allowed)
where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'v', 'm', 'f', 'p')
  and not (a.allowed and pg_catalog.has_schema_privilege(r.oid, n.oid, 'USAGE'))
union all
select r.rolname, n.nspname, p.proname, 'execute'
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
cross join roles r
where n.nspname = any(%(schemas)s) and p.prokind = 'f'
group by r.rolname, n.nspname, p.proname
having not bool_or(pg_catalog.has_function_privilege(r.oid, p.oid, 'EXECUTE')
                   and pg_catalog.has_schema_privilege(r.oid, n.oid, 'USAGE'))
union all
select r.rolname, null, null, null from roles r
"""

# The same question for one object, asked live before a request is refused (grants may
# have changed since the cache was loaded; a stale cache must never refuse a request).
_STILL_DENIED_SQL = """
select case
  when not pg_catalog.has_schema_privilege(%(role)s, n.oid, 'USAGE') then 'schema'
  when %(action)s = 'execute' then
    case when bool_or(pg_catalog.has_function_privilege(%(role)s, p.oid, 'EXECUTE'))
         then null else 'function' end
  when not pg_catalog.has_any_column_privilege(
         %(role)s, (select c.oid from pg_catalog.pg_class c
                    where c.relnamespace = n.oid and c.relname = %(name)s),
         upper(%(action)s)) then 'table'
end
from pg_catalog.pg_namespace n
left join pg_catalog.pg_proc p on p.pronamespace = n.oid and p.proname = %(name)s
  and p.prokind = 'f'
where n.nspname = %(schema)s
group by n.oid
"""

_ROLE_SETTINGS_SQL = """
select r.rolname, s.setconfig
from pg_catalog.pg_db_role_setting s
join pg_catalog.pg_roles r on r.oid = s.setrole
where s.setdatabase in (0, (select oid from pg_catalog.pg_database
                            where datname = pg_catalog.current_database()))
order by s.setdatabase
"""


@dataclass(frozen=True)
class Column:
    """A table column: its SQL type (``format_type``) and default expression, if any."""

    name: str
    type: str
    default: str | None
    generated: bool = False


@dataclass
class Table:
    """A table, view or materialized view in an exposed schema."""

    schema: str
    name: str
    columns: dict[str, Column] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class Arg:
    """An input parameter of a function (``name`` is ``""`` when unnamed)."""

    name: str
    type: str
    has_default: bool
    variadic: bool = False


@dataclass(frozen=True)
class Function:
    """A function callable through ``/rpc``.

    Attributes:
        returns: ``"void"``, ``"composite"`` (a row type, or OUT/TABLE columns), ``"scalar"``
            or ``"record"`` (a bare ``record``, which cannot be called without a column list).
    """

    schema: str
    name: str
    args: tuple[Arg, ...]
    returns: str
    return_type: str
    returns_set: bool
    volatile: bool

    @property
    def required(self) -> frozenset[str]:
        """Names of the parameters without a DEFAULT."""
        return frozenset(a.name for a in self.args if not a.has_default)

    @property
    def names(self) -> frozenset[str]:
        """Names of every input parameter."""
        return frozenset(a.name for a in self.args)

    @property
    def single_unnamed_json(self) -> bool:
        """Whether this is ``f(json)`` / ``f(jsonb)``: the whole body is its argument."""
        return (
            len(self.args) == 1 and not self.args[0].name and self.args[0].type in ("json", "jsonb")
        )

    def signature(self) -> str:
        """``schema.name(a => type, ...)`` as PostgREST lists overloads."""
        inner = ", ".join(f"{a.name} => {a.type}" if a.name else a.type for a in self.args)
        return f"{self.schema}.{self.name}({inner})"


@dataclass
class SchemaCache:
    """What the gateway knows about the database, by ``(schema, name)``."""

    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    functions: dict[tuple[str, str], list[Function]] = field(default_factory=dict)
    role_settings: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    timezones: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    denied: frozenset[tuple[str, str, str, str]] = frozenset()

    def may_be_denied(self, role: str, schema: str, name: str, action: str) -> bool:
        """Whether ``role`` lacked ``action`` on ``schema.name`` when the cache was loaded.

        ``action`` is ``insert``/``update`` (tables) or ``execute`` (functions). A role the
        login role could not become at load time is never reported: Postgres decides.
        """
        return role in self.roles and (role, schema, name, action) in self.denied


def _function_from_row(row: Sequence[Any]) -> Function:
    schema, name, argnames, modes, types, ndefaults, rettype, typtype, retset, vol, has_out = row
    total = len(types)
    names = list(argnames or []) + [""] * (total - len(argnames or []))
    modes = list(modes or ["i"] * total)
    inputs = [(names[i] or "", types[i], modes[i]) for i in range(total) if modes[i] in "ibv"]
    first_default = len(inputs) - int(ndefaults or 0)
    args = tuple(
        Arg(arg_name, arg_type, i >= first_default, mode == "v")
        for i, (arg_name, arg_type, mode) in enumerate(inputs)
    )
    if rettype == "void":
        returns = "void"
    elif typtype == "c" or (rettype == "record" and has_out):
        returns = "composite"
    elif rettype == "record":
        returns = "record"
    else:
        returns = "scalar"
    return Function(schema, name, args, returns, rettype, bool(retset), vol == "v")


async def load_schema_cache(
    conn: psycopg.AsyncConnection[Any], schemas: Sequence[str]
) -> SchemaCache:
    """Read the catalog once.

    Args:
        conn: A connection (any role that may read the catalog; the gateway uses its pool).
        schemas: The exposed schemas.

    Returns:
        A fresh cache.
    """
    cache = SchemaCache()
    names = list(schemas)
    cur = await conn.execute(_TABLES_SQL, [names])
    for schema, table, column, typ, default, generated, pkey in await cur.fetchall():
        entry = cache.tables.get((schema, table))
        if entry is None:
            entry = cache.tables[(schema, table)] = Table(schema, table, {}, tuple(pkey))
        entry.columns[column] = Column(column, typ, default, bool(generated))
    cur = await conn.execute(_FUNCTIONS_SQL, [names])
    for row in await cur.fetchall():
        fn = _function_from_row(row)
        cache.functions.setdefault((fn.schema, fn.name), []).append(fn)
    cur = await conn.execute(_DENIED_SQL, {"schemas": names})
    roles: set[str] = set()
    denied: set[tuple[str, str, str, str]] = set()
    for role, schema, name, action in await cur.fetchall():
        roles.add(role)
        if action is not None:
            denied.add((role, schema, name, action))
    cache.roles, cache.denied = frozenset(roles), frozenset(denied)
    cur = await conn.execute(_ROLE_SETTINGS_SQL)
    for role, settings in await cur.fetchall():
        for item in settings or []:
            key, _, value = str(item).partition("=")
            cache.role_settings.setdefault(role, []).append((key, value))
    cur = await conn.execute("select name from pg_catalog.pg_timezone_names")
    cache.timezones = frozenset(row[0] for row in await cur.fetchall())
    # The catalog reads above opened a transaction on a non-autocommit connection.
    if not conn.autocommit:
        await conn.rollback()
    return cache


async def denied_object(
    conn: psycopg.AsyncConnection[Any], role: str, schema: str, name: str, action: str
) -> str | None:
    """Ask the database now whether ``role`` may ``action`` ``schema.name``.

    Returns:
        ``None`` when allowed, else what is missing: ``"schema"`` (no USAGE), ``"table"`` or
        ``"function"``, for Postgres's "permission denied for <kind> <name>" message.
    """
    cur = await conn.execute(
        _STILL_DENIED_SQL, {"role": role, "schema": schema, "name": name, "action": action}
    )
    row = await cur.fetchone()
    if not conn.autocommit:
        await conn.rollback()
    return None if row is None else row[0]
