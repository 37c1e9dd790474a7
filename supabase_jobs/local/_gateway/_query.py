"""Parse PostgREST query strings: ``select``, filters, logic trees, ``order``, ranges, ``columns``.

The grammar follows PostgREST v14 (``ApiRequest/QueryParams.hs``) for the subset supabase-py
sends. Anything outside it (embedding, aggregates, full-text operators) is a
PostgREST-shaped error, never silently ignored: ignoring a filter would widen a result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from supabase_jobs.local._gateway._errors import GatewayError, invalid_query
from supabase_jobs.local._gateway._limits import (
    MAX_JSON_PATH_DEPTH,
    MAX_LOGIC_DEPTH,
    refuse_nul,
    whole_number,
)

__all__ = [
    "Condition",
    "Field",
    "Logic",
    "OrderTerm",
    "QueryParams",
    "SelectItem",
    "parse_ident_list",
    "parse_query",
]

# Operators understood, mapped to their SQL in ``_sql``.
OPERATORS = frozenset(
    {"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch", "is", "in"}
    | {"isdistinct", "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj"}
)
_UNSUPPORTED_OPS = frozenset({"fts", "plfts", "phfts", "wfts"})
_OPS_ALT = "|".join(sorted(OPERATORS))
_UNSUPPORTED_ALT = "|".join(sorted(_UNSUPPORTED_OPS))
_OP_PREFIX = re.compile(
    rf"^(?:not\.)?(?:(?:{_OPS_ALT})(?:\((?:any|all)\))?|(?:{_UNSUPPORTED_ALT})(?:\([^)]*\))?)\."
)
# Operators PostgREST lets take ``(any)``/``(all)``.
_QUANTIFIED = re.compile(r"(eq|gt|gte|lt|lte|like|ilike|match|imatch)\((any|all)\)")
_LOGIC_KEYS = frozenset({"and", "or", "not.and", "not.or"})
_ARROW = re.compile(r"(->>?)")
_IS_VALUES = frozenset({"null", "not_null", "true", "false", "unknown"})


@dataclass(frozen=True)
class Field:
    """A column reference with an optional JSON path (``payload->a->>b``).

    Attributes:
        name: The column name.
        path: ``(arrow, key)`` pairs; ``key`` is ``int`` for an array index.
    """

    name: str
    path: tuple[tuple[str, str | int], ...] = ()

    @property
    def default_alias(self) -> str:
        """The JSON key PostgREST gives this field in results (last path key, else the name)."""
        return str(self.path[-1][1]) if self.path else self.name


@dataclass(frozen=True)
class SelectItem:
    """One ``select`` entry; ``field`` is ``None`` for ``*``."""

    field: Field | None
    alias: str | None = None
    cast: str | None = None


@dataclass(frozen=True)
class Condition:
    """A filter ``field=op.value`` (``values`` holds the ``in`` list).

    ``quantifier`` is ``any``/``all`` for ``like(any).{a,b}``: ``value`` is then an array
    literal compared with ``op ANY(...)``/``op ALL(...)``.
    """

    field: Field
    op: str
    value: str
    values: tuple[str, ...] = ()
    negated: bool = False
    quantifier: str | None = None


@dataclass(frozen=True)
class Logic:
    """An ``and``/``or`` tree (``or=(a.eq.1,b.eq.2)``)."""

    op: str
    children: tuple[Condition | Logic, ...]
    negated: bool = False


@dataclass(frozen=True)
class OrderTerm:
    """One ``order`` term."""

    field: Field
    desc: bool = False
    nulls: str | None = None


@dataclass
class QueryParams:
    """Everything the query string says about a request."""

    select: tuple[SelectItem, ...] | None = None
    filters: list[Condition | Logic] = field(default_factory=list)
    order: tuple[OrderTerm, ...] = ()
    limit: int | None = None
    offset: int = 0
    columns: tuple[str, ...] | None = None
    on_conflict: tuple[str, ...] | None = None
    args: dict[str, list[str]] = field(default_factory=dict)


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside double quotes and parentheses.

    As in PostgREST's grammar, a double quote opens a quoted token only where a token
    starts (after ``sep``, ``(`` or an operator's ``.``); elsewhere it is a plain
    character. A ``{`` there opens an array literal (``tags.cs.{a,b}``), which runs to the
    next ``}`` (PostgREST's ``pPgArray``: no nesting, no quoting inside). Unbalanced
    parentheses, braces or quotes are a parse error (PGRST100), never a differently-shaped
    filter.
    """
    parts: list[str] = []
    depth, quoted, braced, start, i = 0, False, False, 0, 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif braced:
            braced = ch != "}"
        elif ch == '"' and (i == 0 or text[i - 1] in f"{sep}(."):
            quoted = True
        elif ch == "{" and (i == 0 or text[i - 1] in f"{sep}(."):
            braced = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise invalid_query(f'"unbalanced parentheses ({text})"')
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if quoted or braced or depth:
        raise invalid_query(f'"unbalanced quotes, braces or parentheses ({text})"')
    parts.append(text[start:])
    return parts


def unquote(token: str) -> str:
    """Strip PostgREST double quotes (with ``\\`` escapes) from a token."""
    if len(token) >= 2 and token[0] == '"' and token[-1] == '"':
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def parse_ident_list(text: str) -> tuple[str, ...]:
    """Parse ``columns`` / ``on_conflict``: comma-separated, optionally quoted names."""
    names = tuple(unquote(part.strip()) for part in split_top(text))
    if any(not name for name in names):
        raise invalid_query(f'"failed to parse columns parameter ({text})"')
    return names


def parse_field(text: str) -> Field:
    """Parse a column with an optional JSON path."""
    pieces = _ARROW.split(text)
    name = unquote(pieces[0])
    if not name or "(" in name or ")" in name:
        raise invalid_query(f'"failed to parse field ({text})"')
    if len(pieces) // 2 > MAX_JSON_PATH_DEPTH:
        raise invalid_query(
            f'"failed to parse json path ({pieces[0]}->...)"',
            f"A JSON path may have at most {MAX_JSON_PATH_DEPTH} keys.",
        )
    path: list[tuple[str, str | int]] = []
    for arrow, key in zip(pieces[1::2], pieces[2::2], strict=False):
        key = unquote(key)
        if not key:
            raise invalid_query(f'"failed to parse json path ({text})"')
        # An array index is an int4 in Postgres; a longer number can only be an object key.
        index = re.fullmatch(r"-?[0-9]{1,9}", key)
        path.append((arrow, int(key) if index else key))
    return Field(name, tuple(path))


def parse_select(text: str) -> tuple[SelectItem, ...] | None:
    """Parse ``select``; ``None`` means ``*``."""
    items: list[SelectItem] = []
    for raw in split_top(text):
        token = raw.strip()
        if not token:
            raise invalid_query(f'"failed to parse select parameter ({text})"')
        if token == "*":
            items.append(SelectItem(None))
            continue
        if token.endswith(")") or token.startswith("..."):
            if re.search(r"(^|\.)(count|sum|avg|min|max)\(\)(::\w+)?$", token):
                raise GatewayError(400, "PGRST123", "Use of aggregate functions is not allowed")
            rel = re.split(r"[(!:]", token.lstrip("."), maxsplit=1)[0]
            raise GatewayError(
                400,
                "PGRST200",
                f"Could not find a relationship for '{rel}' in the schema cache",
                "Resource embedding is not supported by the local gateway.",
            )
        alias, cast = None, None
        head, sep, tail = token.partition("::")
        if sep:
            token, cast = head, tail
        if ":" in token and not token.startswith('"'):
            alias, _, token = token.partition(":")
            alias = unquote(alias)
        items.append(SelectItem(parse_field(token), alias, cast))
    if len(items) == 1 and items[0].field is None:
        return None
    return tuple(items)


def _parse_in_list(text: str, original: str) -> tuple[str, ...]:
    if not (text.startswith("(") and text.endswith(")")):
        raise invalid_query(f'"failed to parse filter ({original})"')
    inner = text[1:-1]
    if not inner:
        return ()
    return tuple(unquote(part) for part in split_top(inner))


def parse_condition(fld: Field, text: str, *, in_logic: bool = False) -> Condition:
    """Parse ``op.value`` (with an optional ``not.``) for ``fld``."""
    negated = text.startswith("not.")
    body = text[4:] if negated else text
    op, sep, value = body.partition(".")
    if not sep:
        raise invalid_query(f'"failed to parse filter ({text})"')
    quantified = _QUANTIFIED.fullmatch(op)
    if quantified is not None:
        # The value is an array literal ({a,b}) that Postgres parses, as with PostgREST.
        value = unquote(value) if in_logic else value
        return Condition(fld, quantified[1], value, (), negated, quantified[2])
    base_op = op.split("(", 1)[0]
    if base_op in _UNSUPPORTED_OPS or "(" in op:
        raise invalid_query(
            f'"failed to parse filter ({text})"',
            f"The operator '{op}' is not supported by the local gateway.",
        )
    if op not in OPERATORS:
        raise invalid_query(f'"failed to parse filter ({text})"', f"unknown operator '{op}'")
    if op == "in":
        return Condition(fld, op, value, _parse_in_list(value, text), negated)
    if in_logic:
        value = unquote(value)
    if op == "is" and value.lower() not in _IS_VALUES:
        raise invalid_query(f'"failed to parse filter ({text})"')
    return Condition(fld, op, value, (), negated)


def parse_logic(key: str, text: str, depth: int = 1) -> Logic:
    """Parse ``or=(...)`` / ``and=(...)`` (and their ``not.`` forms), nested.

    Nesting deeper than :data:`MAX_LOGIC_DEPTH` is a parse error: both this parser and the
    SQL builder recurse once per level.
    """
    negated = key.startswith("not.")
    op = key[4:] if negated else key
    if not (text.startswith("(") and text.endswith(")")) or len(text) < 3:
        raise invalid_query(f'"failed to parse logic tree ({text[:200]})"')
    if depth > MAX_LOGIC_DEPTH:
        raise invalid_query(
            '"failed to parse logic tree (nested too deeply)"',
            f"A logic tree may nest at most {MAX_LOGIC_DEPTH} levels.",
        )
    children: list[Condition | Logic] = []
    for raw in split_top(text[1:-1]):
        item = raw.strip()
        match = re.match(r"^(not\.)?(and|or)(\(.*\))$", item, re.S)
        if match:
            children.append(parse_logic((match[1] or "") + match[2], match[3], depth + 1))
            continue
        name, sep, rest = _split_field(item)
        if not sep:
            raise invalid_query(f'"failed to parse logic tree ({text})"')
        children.append(parse_condition(parse_field(name), rest, in_logic=True))
    return Logic(op, tuple(children), negated)


def _split_field(item: str) -> tuple[str, str, str]:
    """Split ``field.op.value`` at the first dot outside quotes."""
    quoted = False
    for i, ch in enumerate(item):
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            return item[:i], ".", item[i + 1 :]
    return item, "", ""


def parse_order(text: str) -> tuple[OrderTerm, ...]:
    """Parse ``order=a.desc.nullslast,b``."""
    terms: list[OrderTerm] = []
    for raw in split_top(text):
        parts = raw.strip().split(".")
        nulls = None
        desc = False
        if len(parts) > 1 and parts[-1] in ("nullsfirst", "nullslast"):
            nulls = parts.pop()[5:]
        if len(parts) > 1 and parts[-1] in ("asc", "desc"):
            desc = parts.pop() == "desc"
        name = ".".join(parts)
        if not name or "(" in name:
            raise invalid_query(f'"failed to parse order ({text})"')
        terms.append(OrderTerm(parse_field(name), desc, nulls))
    return tuple(terms)


def _parse_int(name: str, value: str) -> int:
    # ASCII only: str.isdigit() accepts "²", which int() then rejects with a ValueError.
    number = whole_number(value)
    if number is None:
        raise invalid_query(f'"failed to parse {name} parameter ({value[:40]})"')
    return number


def is_filter_value(value: str) -> bool:
    """Whether a query value starts with an operator (so it is a filter, not an rpc argument)."""
    return bool(_OP_PREFIX.match(value))


def parse_query(items: Iterable[tuple[str, str]], *, rpc: bool = False) -> QueryParams:
    """Parse a request's decoded query items.

    Args:
        items: ``(key, value)`` pairs in order, already percent-decoded.
        rpc: Whether this is an ``/rpc`` call; then plain ``key=value`` pairs are arguments.

    Returns:
        The parsed query.

    Raises:
        GatewayError: PGRST100 (or PGRST200/123 for embedding/aggregates) on anything unparsable.
    """
    query = QueryParams()
    for key, value in items:
        refuse_nul(key)
        refuse_nul(value)
        if key == "select":
            query.select = parse_select(value)
        elif key == "order":
            query.order = parse_order(value)
        elif key == "limit":
            query.limit = _parse_int("limit", value)
        elif key == "offset":
            query.offset = _parse_int("offset", value)
        elif key == "columns":
            query.columns = parse_ident_list(value)
        elif key == "on_conflict":
            query.on_conflict = parse_ident_list(value)
        elif key in _LOGIC_KEYS:
            query.filters.append(parse_logic(key, value))
        elif rpc and not is_filter_value(value):
            query.args.setdefault(key, []).append(value)
        elif "." in key.split("->", 1)[0] and not key.startswith('"'):
            raise GatewayError(
                400,
                "PGRST200",
                f"Could not find a relationship for '{key.split('.', 1)[0]}' in the schema cache",
                "Filters on embedded resources are not supported by the local gateway.",
            )
        else:
            query.filters.append(parse_condition(parse_field(key), value))
    return query
