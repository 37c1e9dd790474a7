"""SQL for one request, built with ``psycopg.sql``: identifiers quoted, every value bound.

Each builder returns one statement whose single result row is ``(total, page, inserted, body)``:
the exact count when asked for, the rows in this page, rows really inserted by an upsert, and
the JSON body already built by Postgres (``json_agg``), so Python only forwards text. The
shapes follow PostgREST's ``QueryBuilder.hs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from supabase_jobs.local._gateway._errors import GatewayError, invalid_query
from supabase_jobs.local._gateway._limits import MAX_PARAMS, MAX_TARGET_COLUMNS
from supabase_jobs.local._gateway._query import Condition, Field, Logic, OrderTerm, SelectItem
from supabase_jobs.local._gateway._schema import Column, Table

__all__ = ["Params", "Shape", "condition_sql", "result_select", "select_list", "where_sql"]

_BINARY_OPS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
    "isdistinct": "IS DISTINCT FROM",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
}
_IS_SQL = {
    "null": "IS NULL",
    "not_null": "IS NOT NULL",
    "true": "IS TRUE",
    "false": "IS FALSE",
    "unknown": "IS UNKNOWN",
}
# ``select=col::type`` casts: only these names (a type name cannot be bound as a value).
_CASTS = {
    "text": "text",
    "int": "integer",
    "int4": "integer",
    "integer": "integer",
    "int8": "bigint",
    "bigint": "bigint",
    "int2": "smallint",
    "smallint": "smallint",
    "numeric": "numeric",
    "float8": "double precision",
    "float4": "real",
    "bool": "boolean",
    "boolean": "boolean",
    "uuid": "uuid",
    "json": "json",
    "jsonb": "jsonb",
    "date": "date",
    "timestamptz": "timestamptz",
    "timestamp": "timestamp",
}
_BATCH = 50  # jsonb_build_object takes at most 100 arguments.


@dataclass
class Params:
    """Collects bound values under generated names (so a value may be used twice)."""

    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any, cast: str | None = None) -> sql.Composable:
        """Bind ``value`` and return its placeholder (with a fixed ``::cast`` if given)."""
        if len(self.values) >= MAX_PARAMS:
            raise invalid_query(
                "too many values in the request",
                f"A request may bind at most {MAX_PARAMS} values (filters, JSON path keys).",
            )
        name = f"p{len(self.values)}"
        self.values[name] = value
        if cast is None:
            return sql.Placeholder(name)
        return sql.SQL("{}::{}").format(sql.Placeholder(name), sql.SQL(cast))

    @property
    def last_name(self) -> str | None:
        """The name of the most recently bound value."""
        return f"p{len(self.values) - 1}" if self.values else None


@dataclass(frozen=True)
class Shape:
    """How to turn the result relation into a body."""

    singular: bool = False
    scalar: bool = False
    head: bool = False
    strip: bool = False  # ``Accept: ...;nulls=stripped``: drop null-valued object keys

    def body(self) -> sql.Composable:
        """The body expression over the result subquery ``_r``."""
        if self.head:
            return sql.SQL("NULL::text")
        value = sql.SQL("_r.pgrst_scalar" if self.scalar else "_r")
        agg = sql.SQL("json_agg({})").format(value)
        if self.strip:
            agg = sql.SQL("json_strip_nulls({})").format(agg)
        if self.singular:
            return sql.SQL("coalesce(({}->0)::text, 'null')").format(agg)
        return sql.SQL("coalesce({}, '[]')::text").format(agg)


def array_literal(values: Sequence[str]) -> str:
    """A Postgres array literal with every element quoted (the ``in.(...)`` list)."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def field_sql(fld: Field, qual: sql.Composable, params: Params) -> sql.Composable:
    """A column reference qualified by ``qual``, with its JSON path."""
    # One flat sequence ``((col -> k1) -> k2)``: nesting a Composed per key would make
    # rendering recurse once per key.
    parts: list[sql.Composable] = [sql.SQL("(" * len(fld.path))]
    parts.append(sql.SQL("{}.{}").format(qual, sql.Identifier(fld.name)))
    for arrow, key in fld.path:
        key_sql = sql.Literal(key) if isinstance(key, int) else params.add(key, "text")
        parts += (sql.SQL(f" {arrow} "), key_sql, sql.SQL(")"))
    return sql.Composed(parts)


def condition_sql(cond: Condition, qual: sql.Composable, params: Params) -> sql.Composable:
    """SQL for one filter."""
    col = field_sql(cond.field, qual, params)
    if cond.op == "is":
        expr: sql.Composable = sql.SQL("{} {}").format(col, sql.SQL(_IS_SQL[cond.value.lower()]))
    elif cond.op == "in":
        expr = sql.SQL("{} = ANY({})").format(col, params.add(array_literal(cond.values)))
    elif cond.quantifier is not None:
        value = cond.value.replace("*", "%") if cond.op in ("like", "ilike") else cond.value
        expr = sql.SQL("{} {} {}({})").format(
            col,
            sql.SQL(_BINARY_OPS[cond.op]),
            sql.SQL("ANY" if cond.quantifier == "any" else "ALL"),
            params.add(value),
        )
    else:
        value = cond.value.replace("*", "%") if cond.op in ("like", "ilike") else cond.value
        expr = sql.SQL("{} {} {}").format(col, sql.SQL(_BINARY_OPS[cond.op]), params.add(value))
    return sql.SQL("NOT ({})").format(expr) if cond.negated else expr


def _node_sql(node: Condition | Logic, qual: sql.Composable, params: Params) -> sql.Composable:
    if isinstance(node, Condition):
        return condition_sql(node, qual, params)
    joiner = sql.SQL(" AND " if node.op == "and" else " OR ")
    inner = joiner.join(_node_sql(child, qual, params) for child in node.children)
    expr = sql.SQL("({})").format(inner)
    return sql.SQL("NOT {}").format(expr) if node.negated else expr


def where_sql(
    filters: Sequence[Condition | Logic], qual: sql.Composable, params: Params
) -> sql.Composable:
    """`` WHERE ...`` for every filter (ANDed), or nothing."""
    if not filters:
        return sql.SQL("")
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(_node_sql(f, qual, params) for f in filters)


def order_sql(order: Sequence[OrderTerm], qual: sql.Composable, params: Params) -> sql.Composable:
    """`` ORDER BY ...`` or nothing."""
    if not order:
        return sql.SQL("")
    check_target_width(len(order))
    terms = []
    for term in order:
        text = " DESC" if term.desc else " ASC"
        if term.nulls:
            text += " NULLS FIRST" if term.nulls == "first" else " NULLS LAST"
        terms.append(field_sql(term.field, qual, params) + sql.SQL(text))
    return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(terms)


def select_list(
    items: Sequence[SelectItem] | None,
    qual: sql.Composable,
    params: Params,
    columns: Sequence[Column] | None,
) -> sql.Composable:
    """The select list; ``*`` expands to ``columns`` when known (else ``qual.*``)."""
    parts: list[sql.Composable] = []
    for item in items or (SelectItem(None),):
        if item.field is None:
            if columns is None:
                parts.append(sql.SQL("{}.*").format(qual))
            else:
                parts.extend(sql.SQL("{}.{}").format(qual, sql.Identifier(c.name)) for c in columns)
            continue
        expr = field_sql(item.field, qual, params)
        if item.cast is not None:
            cast = _CASTS.get(item.cast.lower())
            if cast is None:
                raise invalid_query(
                    f'"failed to parse select parameter (::{item.cast})"',
                    f"The cast to '{item.cast}' is not supported by the local gateway.",
                )
            expr = sql.SQL("CAST({} AS {})").format(expr, sql.SQL(cast))
        if item.alias is not None or item.field.path or item.cast is not None:
            alias = item.alias or item.field.default_alias
            expr = sql.SQL("{} AS {}").format(expr, sql.Identifier(alias))
        parts.append(expr)
    check_target_width(len(parts))
    return sql.SQL(", ").join(parts)


def check_target_width(count: int) -> None:
    """Refuse a select (or order) list Postgres would refuse (54011) before it runs.

    Postgres answers 54011, which PostgREST maps to a 500; the width is the client's choice,
    so the gateway answers 400 with the same code and message instead.
    """
    if count > MAX_TARGET_COLUMNS:
        raise GatewayError(
            400,
            "54011",
            f"target lists can have at most {MAX_TARGET_COLUMNS} entries",
            f"The request asks for {count} columns.",
        )


def result_select(
    source: sql.Composable,
    *,
    shape: Shape,
    count: sql.Composable | None,
    inserted: sql.Composable | None = None,
) -> sql.Composed:
    """``SELECT total, page, inserted, body FROM (<source>) _r``."""
    return sql.SQL(
        "SELECT {total}, pg_catalog.count(*), {inserted}, {body} FROM ({source}) _r"
    ).format(
        total=count if count is not None else sql.SQL("NULL::bigint"),
        inserted=inserted if inserted is not None else sql.SQL("NULL::bigint"),
        body=shape.body(),
        source=source,
    )


def table_ident(table: Table) -> sql.Composable:
    """``"schema"."table"``."""
    return sql.Identifier(table.schema, table.name)


def check_columns(table: Table, names: Sequence[str]) -> list[Column]:
    """Resolve body keys / ``columns`` to columns, PGRST204 for an unknown one."""
    found = []
    for name in names:
        column = table.columns.get(name)
        if column is None:
            raise GatewayError(
                400,
                "PGRST204",
                f"Could not find the '{name}' column of '{table.name}' in the schema cache",
            )
        found.append(column)
    return found


def recordset_def(columns: Sequence[Column]) -> sql.Composable:
    """``_("a" type, ...)``: the typed record definition for ``json_to_recordset``."""
    defs = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.type)) for c in columns
    )
    return sql.SQL("_({})").format(defs)


def defaults_object(columns: Sequence[Column]) -> sql.Composable:
    """``jsonb_build_object('a', <default of a>, ...)`` for columns with a DEFAULT.

    The default expressions come from the catalog (``pg_get_expr``), not from the request.
    """
    with_default = [c for c in columns if c.default is not None]
    if not with_default:
        return sql.SQL("'{}'::jsonb")
    chunks = []
    for start in range(0, len(with_default), _BATCH):
        pairs = sql.SQL(", ").join(
            sql.SQL("{}, ({})").format(sql.Literal(c.name), sql.SQL(c.default or "NULL"))
            for c in with_default[start : start + _BATCH]
        )
        chunks.append(sql.SQL("jsonb_build_object({})").format(pairs))
    return sql.SQL(" || ").join(chunks)
