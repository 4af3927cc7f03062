"""The SQL compiler: lookups, ordering and windows to SQL text plus parameters.

Pure functions of a :class:`~.table.Table` and a
:class:`~persist_mixins.query.QueryState`.  The text depends only on the query's
*shape* (fields, operators, which values are None, whether there is a window), so
it is built once per shape and cached on the table; parameters are collected
afresh for every call.  Identifiers come from the table; everything a user
passes, dict keys in nested paths included, is a parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import InvalidLookup
from ...lookups import And, Condition, Node, Not
from ...query import QueryState
from .schema import EXPIRES, JSON_KINDS, NUMERIC_KINDS, TYPES, Table, as_utc, json_text, quote

__all__ = ["ALIVE", "compile_order", "compile_where", "count_sql", "select_sql"]

#: Rows that have not expired; part of every read.
ALIVE = f"({quote(EXPIRES)} IS NULL OR {quote(EXPIRES)} > statement_timestamp())"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _scalar(cond: Condition, value: Any) -> Any:
    """A lookup value as a parameter for a top-level column."""
    if isinstance(value, str):
        _no_nul(value)
    if cond.kind in JSON_KINDS:
        return json_text(value)
    return as_utc(value)


def _array(cond: Condition, values: tuple[Any, ...]) -> list[Any]:
    items = [v for v in values if v is not None]
    if cond.kind in NUMERIC_KINDS:
        return [str(v) for v in items]
    return [_scalar(cond, v) for v in items]


def _array_type(cond: Condition, nested: bool) -> str:
    if nested or cond.kind in JSON_KINDS:
        return "jsonb[]"
    if cond.kind in NUMERIC_KINDS:
        return "numeric[]"
    return "text[]" if cond.kind == "any" else TYPES[cond.kind] + "[]"


_COMPARE = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_JSON_TYPE = {bool: "boolean", int: "number", float: "number", str: "string"}


def _json_type(value: Any) -> str:
    for klass, name in _JSON_TYPE.items():
        if isinstance(value, klass):
            return name
    return "string"  # dates, datetimes, UUIDs and Decimals are strings inside documents


def _column_expr(table: Table, cond: Condition) -> str:
    if cond.path == ("pk",) and table.hidden_pk:
        return table.qpk
    return quote(cond.path[0])


#: A condition's SQL text, and the function that collects its parameters (in placeholder order).
Compiled = tuple[str, Callable[[Condition], list[Any]]]


def _shape(cond: Condition) -> tuple[Any, ...]:
    """What decides a condition's SQL text (its values do not, except None and JSON types)."""
    op, value = cond.op, cond.value
    if op in ("eq", "ne", "isnull"):
        extra: Any = value if op == "isnull" else value is None
    elif op in ("in", "not_in"):
        extra = any(v is None for v in value)
    elif op in _COMPARE or op == "range":
        extra = _json_type(value[0] if op == "range" else value)
    elif op == "contains":
        extra = (isinstance(value, str), isinstance(value, (list, tuple, dict)))
    else:
        extra = None
    return (cond.path, op, cond.kind, extra)


def _compile_one(table: Table, cond: Condition) -> Compiled:
    """SQL text for one condition's shape, and its parameter collector."""
    op, value = cond.op, cond.value
    col = _column_expr(table, cond)
    nested = len(cond.path) > 1
    is_json = nested or cond.kind in JSON_KINDS
    # j: the value as jsonb; t: as text.  A nested path is a parameter each time it appears.
    if nested:
        j, t = f"({col} #> %s::text[])", f"({col} #>> %s::text[])"
    else:
        j, t = col, (f"({col} #>> '{{}}')" if is_json else col)

    def path(c: Condition) -> list[Any]:
        return [list(c.path[1:])] if nested else []

    def param(v: Any) -> Any:
        return json_text(v) if is_json else _scalar(cond, v)

    def null_test(want_null: bool) -> tuple[str, int]:
        if is_json:
            sql = f"({j} IS NULL OR {j} = 'null'::jsonb)"
            return (sql if want_null else f"NOT {sql}"), 2
        return (f"{col} IS NULL" if want_null else f"{col} IS NOT NULL"), 0

    cast = "::jsonb" if is_json else ""
    if op == "isnull" or (op in ("eq", "ne") and value is None):
        sql, uses = null_test(bool(value) if op == "isnull" else op == "eq")
        return sql, lambda c: path(c) * uses
    if op == "eq":
        return f"{j} = %s{cast}", lambda c: [*path(c), param(c.value)]
    if op == "ne":
        return f"{j} IS DISTINCT FROM %s{cast}", lambda c: [*path(c), param(c.value)]
    if op in ("in", "not_in"):
        has_none = any(v is None for v in value)
        member = f"{j} = ANY(%s::{_array_type(cond, nested)})"

        def items(c: Condition) -> list[Any]:
            return [json_text(v) for v in c.value if v is not None] if is_json else _array(c, c.value)

        if op == "in" and not has_none:
            return member, lambda c: [*path(c), items(c)]
        nul, uses = null_test(op == "in" or not has_none)
        if op == "in":
            return f"({member} OR {nul})", lambda c: [*path(c), items(c), *path(c) * uses]
        joiner = "AND" if has_none else "OR"
        return f"({nul} {joiner} NOT {member})", lambda c: [*path(c) * uses, *path(c), items(c)]
    if op in _COMPARE or op == "range":
        if is_json:
            guard = f"jsonb_typeof({j}) = '{_json_type(value[0] if op == 'range' else value)}'"
            if op == "range":
                return (
                    f"({guard} AND {j} >= %s::jsonb AND {j} <= %s::jsonb)",
                    lambda c: [*path(c), *path(c), json_text(c.value[0]), *path(c), json_text(c.value[1])],
                )
            return f"({guard} AND {j} {_COMPARE[op]} %s::jsonb)", lambda c: [*path(c), *path(c), json_text(c.value)]
        if op == "range":
            return f"{col} BETWEEN %s AND %s", lambda c: [_scalar(c, c.value[0]), _scalar(c, c.value[1])]
        return f"{col} {_COMPARE[op]} %s", lambda c: [_scalar(c, c.value)]
    if op == "contains" and isinstance(value, (list, tuple, dict)):
        # jsonb @> would match a list or dict partially; Python's `in` wants an equal element.
        return (
            f"(jsonb_typeof({j}) = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements({j}) AS e "
            "WHERE e.value = %s::jsonb))",
            lambda c: [*path(c), *path(c), json_text(c.value)],
        )
    if op == "contains" and (cond.kind == "list" or (is_json and not isinstance(value, str))):
        return (
            f"(jsonb_typeof({j}) = 'array' AND {j} @> %s::jsonb)",
            lambda c: [*path(c), *path(c), json_text([c.value])],
        )
    if op in ("contains", "icontains", "startswith", "endswith"):
        arg: Callable[[Any], Any]
        if op == "contains":
            sql, arg = f"strpos({t}, %s) > 0", _no_nul
        elif op == "icontains":
            sql, arg = f"strpos(lower({t}), lower(%s)) > 0", _no_nul
        elif op == "startswith":
            sql, arg = f"{t} LIKE %s", lambda v: _escape_like(_no_nul(v)) + "%"
        else:
            sql, arg = f"{t} LIKE %s", lambda v: "%" + _escape_like(_no_nul(v))
        if is_json:
            return f"(jsonb_typeof({j}) = 'string' AND {sql})", lambda c: [*path(c), *path(c), arg(c.value)]
        return sql, lambda c: [arg(c.value)]
    raise InvalidLookup(f"{table.spec.name}: operator {op!r} is not supported on PostgreSQL")  # pragma: no cover


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise InvalidLookup(f"lookup value {value!r} contains a NUL byte, which PostgreSQL text cannot hold")
    return value


def _node_shape(node: Node) -> tuple[Any, ...]:
    if isinstance(node, Condition):
        return _shape(node)
    if isinstance(node, Not):
        return ("not", _node_shape(node.term))
    return ("and" if isinstance(node, And) else "or", *(_node_shape(t) for t in node.terms))


#: An expression's SQL text, and the function that collects its parameters (in placeholder order).
CompiledNode = tuple[str, Callable[[Any], list[Any]]]


def _compile_node(table: Table, node: Node) -> CompiledNode:
    """SQL for a ``Q`` expression: TRUE exactly when Python's :func:`~persist_mixins.lookups.evaluate_node` is.

    A condition's SQL may be NULL where Python says False; AND and OR keep "TRUE iff
    true", and NOT is written ``IS NOT TRUE`` so it is the exact complement (a NULL
    column matches ``exclude(x=1)``, as in Django).
    """
    if isinstance(node, Condition):
        return _compile_one(table, node)
    if isinstance(node, Not):
        inner, collect = _compile_node(table, node.term)
        return f"(({inner}) IS NOT TRUE)", lambda n: collect(n.term)
    parts = [_compile_node(table, t) for t in node.terms]
    joiner = " AND " if isinstance(node, And) else " OR "
    collectors = tuple(p[1] for p in parts)

    def collect_all(n: Any) -> list[Any]:
        params: list[Any] = []
        for collect, term in zip(collectors, n.terms, strict=True):
            params.extend(collect(term))
        return params

    return "(" + joiner.join(f"({p[0]})" for p in parts) + ")", collect_all


def compile_where(
    table: Table, conditions: tuple[Condition, ...], tree: tuple[Node, ...] = ()
) -> tuple[str, list[Any]]:
    """``WHERE`` text (rows alive, every condition and every ``Q`` expression) and its parameters.

    The text and parameter collectors are built once per query shape and cached on the table.
    """
    if not conditions and not tree:
        return ALIVE, []
    key = ("where", *(_shape(c) for c in conditions), *(("tree", _node_shape(n)) for n in tree))
    compiled = table.sql.get(key)
    terms: tuple[Node, ...] = conditions + tree if tree else conditions
    if compiled is None:
        parts = [_compile_one(table, c) for c in conditions] + [_compile_node(table, n) for n in tree]
        compiled = table.sql[key] = (" AND ".join([ALIVE, *(p[0] for p in parts)]), tuple(p[1] for p in parts))
    text, collectors = compiled
    params: list[Any] = []
    for collect, cond in zip(collectors, terms, strict=True):
        params.extend(collect(cond))
    return text, params


def compile_order(table: Table, state: QueryState) -> tuple[str, list[Any]]:
    """``ORDER BY`` text (empty without ordering) and its parameters (nested paths).

    A query with a window but no ordering is ordered by pk, so pages neither overlap nor skip.
    """
    terms, params = [], []
    for term in state.ordering:
        col = table.qpk if term.path == ("pk",) and table.hidden_pk else quote(term.path[0])
        if len(term.path) > 1:
            params.append(list(term.path[1:]))
            col = f"({col} #> %s::text[])"
        terms.append(f"{col} DESC" if term.descending else col)
    if not terms and (state.offset or state.limit is not None):
        terms.append(table.qpk)
    return (f" ORDER BY {', '.join(terms)}" if terms else ""), params


def select_sql(
    table: Table, state: QueryState, columns: str | None = None, cap: int | None = None
) -> tuple[str, list[Any]]:
    """``SELECT`` of a query's rows, honouring ordering and window.

    Args:
        table: the model's table.
        state: the query.
        columns: the select list (default: every field's column).
        cap: read at most this many rows, whatever the query's own limit.
    """
    where, params = compile_where(table, state.conditions, state.tree)
    limit = state.limit if cap is None else (cap if state.limit is None else min(cap, state.limit))
    # The user's own window decides the default pk ordering; the cap only adds a LIMIT.
    key = ("select", where, state.ordering, columns, limit is not None, bool(state.offset), state.limit is not None)
    text = table.sql.get(key)
    order, order_params = compile_order(table, state)
    if text is None:
        window = (" LIMIT %s" if limit is not None else "") + (" OFFSET %s" if state.offset else "")
        text = table.sql[key] = f"SELECT {columns or table.select_list} FROM {table.name} WHERE {where}{order}{window}"
    params.extend(order_params)
    if limit is not None:
        params.append(limit)
    if state.offset:
        params.append(state.offset)
    return text, params


def count_sql(table: Table, state: QueryState, exists: bool = False) -> tuple[str, list[Any]]:
    """``SELECT count(*)`` of a query (``SELECT EXISTS (...)`` with ``exists``), honouring its window."""
    if exists:
        inner, params = select_sql(table, state, "1", cap=1)
        return f"SELECT EXISTS ({inner})", params
    if state.offset or state.limit is not None:
        inner, params = select_sql(table, state, "1")
        return f"SELECT count(*) FROM ({inner}) AS w", params
    where, params = compile_where(table, state.conditions, state.tree)
    return f"SELECT count(*) FROM {table.name} WHERE {where}", params
