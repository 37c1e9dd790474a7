"""``/rpc/<fn>``: choose the function by name plus argument names, then build its call.

PostgREST's rules (``Plan.hs``): every parameter without a DEFAULT must be given, any key that
is not a parameter rules the overload out, two matches are ambiguous (PGRST203), none is
PGRST202, and a function with a single unnamed ``json``/``jsonb`` parameter takes the whole
POST body when no named overload matches.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import sql

from supabase_jobs.local._gateway._errors import (
    GatewayError,
    JsonObject,
    invalid_query,
    parse_json_keys,
)
from supabase_jobs.local._gateway._plan import Plan
from supabase_jobs.local._gateway._prefer import Preferences
from supabase_jobs.local._gateway._query import QueryParams
from supabase_jobs.local._gateway._schema import Arg, Function, SchemaCache
from supabase_jobs.local._gateway._sql import (
    Params,
    Shape,
    array_literal,
    order_sql,
    result_select,
    select_list,
    where_sql,
)

__all__ = ["RpcPlanner", "plan_rpc", "resolve_function"]

_SOURCE = sql.Identifier("pgrst_source")


def _not_found(schema: str, name: str, keys: Iterable[str]) -> GatewayError:
    names = sorted(keys)
    if names:
        listed = ", ".join(names)
        message = f"Could not find the function {schema}.{name}({listed}) in the schema cache"
        searched = f"with parameters {listed}"
    else:
        message = (
            f"Could not find the function {schema}.{name} without parameters in the schema cache"
        )
        searched = "without parameters"
    details = (
        f"Searched for the function {schema}.{name} {searched} or with a single unnamed"
        " json/jsonb parameter, but no matches were found in the schema cache."
    )
    return GatewayError(404, "PGRST202", message, details)


def resolve_function(
    cache: SchemaCache, schema: str, name: str, keys: frozenset[str], *, json_body: bool
) -> Function:
    """Pick the overload PostgREST would call.

    Args:
        cache: The schema cache.
        schema: The schema from the profile headers.
        name: The function name from the path.
        keys: Argument names (POST body keys, ``columns=`` or GET query names).
        json_body: Whether a JSON body could be passed whole to ``f(json)``.

    Raises:
        GatewayError: PGRST202 (404) when nothing matches, PGRST203 (300) when ambiguous.
    """
    candidates = cache.functions.get((schema, name), [])
    matches = [
        fn for fn in candidates if all(a.name for a in fn.args) and fn.required <= keys <= fn.names
    ]
    if not matches and json_body:
        matches = [fn for fn in candidates if fn.single_unnamed_json]
    if len(matches) > 1:
        raise GatewayError(
            300,
            "PGRST203",
            "Could not choose the best candidate function between: "
            + ", ".join(fn.signature() for fn in matches),
            hint="Try renaming the parameters or the function itself in the database so"
            " function overloading can be resolved",
        )
    if not matches:
        raise _not_found(schema, name, keys)
    return matches[0]


def _arg(arg: Arg, value: sql.Composable) -> sql.Composable:
    prefix = sql.SQL("VARIADIC ") if arg.variadic else sql.SQL("")
    return prefix + sql.SQL("{} := {}").format(sql.Identifier(arg.name), value)


def _call_from(
    fn: Function,
    keys: frozenset[str],
    params: Params,
    body: str | None,
    get_args: dict[str, list[str]],
) -> tuple[sql.Composable, sql.Composable | None]:
    """Return ``(call expression, FROM clause providing the arguments, if any)``."""
    ident = sql.Identifier(fn.schema, fn.name)
    if fn.single_unnamed_json:
        value = params.add(body if body is not None else "{}", fn.args[0].type)
        return sql.SQL("{}({})").format(ident, value), None
    used = [a for a in fn.args if a.name in keys]
    if not used:
        return sql.SQL("{}()").format(ident), None
    if body is None:
        values = []
        for arg in used:
            raw = get_args[arg.name]
            text = raw[0] if len(raw) == 1 and not arg.variadic else array_literal(raw)
            values.append(_arg(arg, params.add(text, arg.type)))
        return sql.SQL("{}({})").format(ident, sql.SQL(", ").join(values)), None
    rec = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(a.name), sql.SQL(a.type)) for a in used
    )
    source = sql.SQL(" FROM json_to_record({}) AS pgrst_args({})").format(
        params.add(body, "json"), rec
    )
    args = sql.SQL(", ").join(
        _arg(a, sql.SQL("pgrst_args.{}").format(sql.Identifier(a.name))) for a in used
    )
    return sql.SQL("{}({})").format(ident, args), source


def plan_rpc(
    fn: Function,
    keys: frozenset[str],
    query: QueryParams,
    prefs: Preferences,
    *,
    body: str | None,
    read_only: bool,
    singular: bool,
    head: bool,
    max_rows: int | None,
) -> Plan:
    """Build the call of ``fn`` with result filtering, ordering and paging.

    Args:
        fn: The resolved function.
        keys: The argument names given.
        query: The parsed query (GET arguments are in ``query.args``).
        prefs: Parsed preferences.
        body: The JSON body for POST, ``None`` for GET/HEAD.
        read_only: Whether the transaction is read only (GET/HEAD or a non-volatile function).
        singular: Whether the client asked for one object.
        head: Whether to skip the body.
        max_rows: The server-side cap on returned rows.
    """
    params = Params()
    call, args_from = _call_from(fn, keys, params, body, query.args)
    # The body, when used, is always the first value bound (see ``_call_from``).
    body_param = params.last_name if body is not None and params.values else None
    if fn.returns == "record":
        raise GatewayError(
            400,
            "PGRST100",
            f"The function {fn.schema}.{fn.name} returns an untyped record",
            "Declare OUT parameters or RETURNS TABLE so the result has columns.",
        )
    scalar = fn.returns in ("scalar", "void")
    if scalar:
        if query.select is not None or query.filters or query.order:
            raise invalid_query(
                "select, filters and order are not supported on functions returning scalars"
            )
        inner = sql.SQL("SELECT {} AS pgrst_scalar{}").format(call, args_from or sql.SQL(""))
    elif args_from is not None:
        inner = sql.SQL("SELECT pgrst_call.*{}, LATERAL {} pgrst_call").format(args_from, call)
    else:
        inner = sql.SQL("SELECT pgrst_call.* FROM {} pgrst_call").format(call)
    where = where_sql(query.filters, _SOURCE, params)
    items = (
        sql.SQL("pgrst_source.pgrst_scalar")
        if scalar
        else select_list(query.select, _SOURCE, params, None)
    )
    limit = query.limit
    if max_rows is not None and fn.returns_set:
        limit = max_rows if limit is None else min(limit, max_rows)
    tail = order_sql(query.order, _SOURCE, params)
    if limit is not None:
        tail += sql.SQL(" LIMIT {}").format(params.add(limit))
    if query.offset:
        tail += sql.SQL(" OFFSET {}").format(params.add(query.offset))
    source = sql.SQL("SELECT {} FROM pgrst_source{}{}").format(items, where, tail)
    shape = Shape(
        singular=singular or not fn.returns_set, scalar=scalar, head=head or fn.returns == "void"
    )
    count = None
    if prefs.count is not None:
        count = sql.SQL("(SELECT pg_catalog.count(*) FROM pgrst_source{})").format(where)
    statement = sql.SQL("WITH pgrst_source AS ({}) {}").format(
        inner, result_select(source, shape=shape, count=count)
    )
    return Plan(
        statement,
        params.values,
        read_only,
        "rpc",
        shape,
        query.offset,
        void=fn.returns == "void",
        body_param=body_param,
    )


class RpcPlanner:
    """Plan ``/rpc`` calls, reusing the SQL of plain POST calls.

    The SDK's rpc POSTs carry no select, filters, order or paging, so their statement depends
    only on the function, the argument names and the response shape. It is composed and
    rendered once, then bound to each request's body: composing SQL with ``psycopg.sql``
    was the largest gateway cost per call. Entries only exist for resolved functions (a
    request cannot grow the cache with made-up names), and a schema reload clears them.

    Args:
        max_rows: The server-side cap on returned rows.
    """

    _MAX_ENTRIES = 1024

    def __init__(self, max_rows: int | None) -> None:
        self._max_rows = max_rows
        self._plans: dict[tuple[Any, ...], Plan] = {}

    def clear(self) -> None:
        """Forget every cached plan (after a schema reload)."""
        self._plans.clear()

    def plan(
        self,
        cache: SchemaCache,
        schema: str,
        name: str,
        method: str,
        query: QueryParams,
        prefs: Preferences,
        body: str | None,
        *,
        shape: Shape,
    ) -> Plan:
        """Resolve the function and build (or reuse) the call's plan.

        Args:
            cache: The schema cache.
            schema: The schema from the profile headers.
            name: The function name from the path.
            method: ``GET``, ``HEAD`` or ``POST``.
            query: The parsed query string.
            prefs: Parsed preferences.
            body: The raw POST body (``None`` for GET/HEAD).
            shape: Whether the client wants one object and/or no body.

        Raises:
            GatewayError: PGRST102 for a bad body, PGRST202/203 when no single function fits.
        """
        if method != "POST":
            keys = frozenset(query.args)
            fn = resolve_function(cache, schema, name, keys, json_body=False)
            return self._build(fn, keys, query, prefs, None, True, shape)
        text = body if body and body.strip() else "{}"
        if query.columns is not None:
            keys = frozenset(query.columns)
        else:
            parsed = parse_json_keys(text)
            keys = frozenset(parsed) if isinstance(parsed, JsonObject) else frozenset({"\0"})
        plain = (
            query.select is None
            and not query.filters
            and not query.order
            and query.limit is None
            and not query.offset
        )
        key = (schema, name, keys, shape, prefs.count is not None)
        cached = self._plans.get(key) if plain else None
        if cached is not None:
            return cached.with_body(text)
        fn = resolve_function(cache, schema, name, keys, json_body=True)
        plan = self._build(fn, keys, query, prefs, text, not fn.volatile, shape)
        if plain:
            if len(self._plans) >= self._MAX_ENTRIES:
                self._plans.clear()
            self._plans[key] = plan.rendered()
        return plan

    def _build(
        self,
        fn: Function,
        keys: frozenset[str],
        query: QueryParams,
        prefs: Preferences,
        body: str | None,
        read_only: bool,
        shape: Shape,
    ) -> Plan:
        return plan_rpc(
            fn,
            keys,
            query,
            prefs,
            body=body,
            read_only=read_only,
            singular=shape.singular,
            head=shape.head,
            max_rows=self._max_rows,
        )
