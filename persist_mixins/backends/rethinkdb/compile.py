"""Lookups to ReQL: pick a secondary index, filter the rest on the server, leave to Python what it cannot.

A query compiles to a selection: ``get_all`` on an index for equality and ``in``
lookups on an indexed field (or the pk), ``between`` for ranges, the whole table
otherwise; then one ``filter`` with every server-side condition (the one the
index served included: it costs little and keeps None out, which an index range
would not) and the live-object test.  Conditions the server cannot evaluate as the
library does (text matching, Decimals, ordering untyped values) are *residual*: the
plan checks them on the decoded objects, and then also sorts and windows there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...lookups import And, Condition, Node, Not, resolve_path
from ...query import Ordering, QueryState
from . import reql
from .reql import Term
from .schema import EXPIRES, HIDDEN_PK, Collection

__all__ = [
    "Compiled", "alive", "compile_query", "condition", "node_term", "predicate", "residual_condition", "residual_node",
    "window_pks",
]  # fmt: skip

_TEXT_OPS = frozenset({"icontains", "startswith", "endswith"})
_ORDERED_OPS = frozenset({"lt", "lte", "gt", "gte", "range"})
_COMPARE = {"lt": reql.LT, "lte": reql.LE, "gt": reql.GT, "gte": reql.GE}
#: The earliest time a RethinkDB TIME can hold (the year 1400).
_EARLIEST = reql.time(dt.datetime(1400, 1, 1, tzinfo=dt.timezone.utc))
#: Kinds the server orders as Python does (dates as ISO text, UUIDs as canonical text).
_ORDERABLE = frozenset({"str", "int", "float", "bool", "datetime", "date", "uuid"})


@dataclass(frozen=True)
class Compiled:
    """A query as ReQL: the selection to read, and what is left for Python."""

    #: Every live document the server-side conditions select (ordered and windowed when ``complete``).
    term: Term
    #: Conditions (and ``Q`` expressions) to check on decoded objects.
    residual: tuple[Node, ...]
    #: True when ``term`` already applies the ordering, offset and limit.
    complete: bool


def alive(row: Term) -> Term:
    """True for a document that has not expired (``_expires_at`` null or missing, or still ahead)."""
    expires = reql.field(row, (EXPIRES,))
    return reql.or_([reql.EQ, [expires, None]], [reql.GT, [expires, reql.now()]])


def _stored_path(coll: Collection, path: tuple[str, ...]) -> tuple[str, ...]:
    if path == ("pk",) and "pk" not in coll.kinds:
        return (HIDDEN_PK,) if coll.hidden_pk else (coll.pk,)
    return path


def residual_condition(cond: Condition) -> bool:
    """True when the server cannot evaluate ``cond`` as the library does (Python checks it on decoded objects)."""
    if cond.op in _TEXT_OPS:
        return True
    if cond.op == "isnull":
        return False
    if cond.kind == "decimal" or (cond.kind == "model" and cond.value is not None):
        return True
    if cond.op == "contains":
        return cond.kind != "list"
    return cond.kind == "any" and cond.op in _ORDERED_OPS


def condition(coll: Collection, cond: Condition, row: Term) -> Term:
    """One server-side condition on ``row``, with the library's semantics (None never compares)."""
    value = reql.field(row, _stored_path(coll, cond.path))
    op = cond.op
    if op == "isnull":
        return [reql.EQ if cond.value else reql.NE, [value, None]]
    wanted = coll.lookup_value(cond.kind, cond.value)
    if op == "eq":
        return [reql.EQ, [value, wanted]]
    if op == "ne":
        return [reql.NE, [value, wanted]]
    if op in _COMPARE:
        return reql.and_([reql.NE, [value, None]], [_COMPARE[op], [value, wanted]])
    if op == "range":
        low, high = wanted[1]
        return reql.and_([reql.NE, [value, None]], [reql.GE, [value, low]], [reql.LE, [value, high]])
    if op in ("in", "not_in"):
        test = [reql.CONTAINS, [wanted, value]]
        return test if op == "in" else [reql.NOT, [test]]
    if op == "contains":  # a list field
        is_list = [reql.EQ, [[reql.TYPE_OF, [value]], "ARRAY"]]
        return reql.branch(is_list, [reql.CONTAINS, [value, wanted]], False)
    raise AssertionError(f"no ReQL for {op}")  # pragma: no cover - residual_condition() keeps the others


def residual_node(node: Node) -> bool:
    """True when a ``Q`` expression holds a residual condition (Python then checks the whole expression)."""
    if isinstance(node, Condition):
        return residual_condition(node)
    if isinstance(node, Not):
        return residual_node(node.term)
    return any(residual_node(t) for t in node.terms)


def node_term(coll: Collection, node: Node, row: Term) -> Term:
    """A condition or ``And`` / ``Or`` / ``Not`` expression on ``row``, with the library's semantics.

    Every condition's term is a plain boolean (a missing field reads as null), so
    ``not`` is the exact complement, as :func:`~persist_mixins.lookups.evaluate_node` wants.
    """
    if isinstance(node, Condition):
        return condition(coll, node, row)
    if isinstance(node, Not):
        return [reql.NOT, [node_term(coll, node.term, row)]]
    terms = [node_term(coll, t, row) for t in node.terms]
    return reql.and_(*terms) if isinstance(node, And) else reql.or_(*terms)


def predicate(coll: Collection, conditions: Sequence[Node], live: bool = True) -> Term | None:
    """The filter function of ``conditions`` (and of being alive, with ``live``), or None when nothing to test."""
    if not conditions and not live:
        return None

    def body(row: Term) -> Term:
        terms = [alive(row)] if live else []
        terms.extend(node_term(coll, c, row) for c in conditions)
        return reql.and_(*terms)

    return reql.func(body)


def _index_of(coll: Collection, cond: Condition) -> str | None:
    """The index that serves ``cond`` (the pk's or a secondary one), or None."""
    if len(cond.path) != 1 or residual_condition(cond):
        return None
    (name,) = _stored_path(coll, cond.path)
    if name == coll.pk or name in coll.indexes:
        return name
    return None


def _select(coll: Collection, conds: Sequence[Condition]) -> tuple[Term, str | None, tuple[int, ...]]:
    """The narrowest index read for ``conds``: (selection, the index a ``between`` used, the conditions it answers).

    The answered conditions (their places in ``conds``) hold for every document the read
    returns, so the filter need not test them again.
    """
    table = coll.table
    for at, cond in enumerate(conds):  # equality first: the most selective
        index = _index_of(coll, cond)
        if index is None:
            continue
        if cond.op == "eq" and cond.value is not None:
            keys = [coll.lookup_value(cond.kind, cond.value)]
        elif cond.op == "in" and cond.value and None not in cond.value:
            keys = list(dict.fromkeys(coll.lookup_value(cond.kind, v) for v in cond.value))
        else:
            continue
        opts: dict[str, Any] = {} if index == coll.pk else {"index": index}
        return reql.t(reql.GET_ALL, table, *keys, **opts), None, (at,)
    for cond in conds:
        index = _index_of(coll, cond)
        if index is None or cond.op not in _ORDERED_OPS:
            continue
        same = [c for c in conds if c.op in _ORDERED_OPS and _index_of(coll, c) == index]
        try:
            (low, open_low), (high, closed_high) = _bounds(same)
        except TypeError:  # bounds that do not compare: the first condition alone narrows the read
            same = [cond]
            (low, open_low), (high, closed_high) = _bounds(same)
        opts = {}
        if open_low:
            opts["left_bound"] = "open"
        if closed_high:
            opts["right_bound"] = "closed"
        if index != coll.pk:
            opts["index"] = index
        if low is not None:
            start = coll.lookup_value(cond.kind, low)
        else:  # the earliest time RethinkDB holds: reqlite mis-orders minval and times
            start = _EARLIEST if cond.kind == "datetime" else reql.minval()
        end = reql.maxval() if high is None else coll.lookup_value(cond.kind, high)
        # With a real lower bound the range holds no None (it sorts below every number, text
        # and time), so the conditions it merged need no second test; from minval it might.
        served = tuple(i for i, c in enumerate(conds) if c in same) if low is not None else ()
        return reql.t(reql.BETWEEN, table, start, end, **opts), index, served
    return table, None, ()


def _bounds(conds: Sequence[Condition]) -> tuple[tuple[Any, bool], tuple[Any, bool]]:
    """The tightest ``((low, open), (high, closed))`` of range conditions on one field (None: unbounded).

    Raises:
        TypeError: two bounds do not compare.
    """
    low: Any = None
    open_low = False
    high: Any = None
    closed_high = False
    for cond in conds:
        lows: list[tuple[Any, bool]] = []
        highs: list[tuple[Any, bool]] = []
        if cond.op == "range":
            lows.append((cond.value[0], False))
            highs.append((cond.value[1], True))
        elif cond.op in ("gt", "gte"):
            lows.append((cond.value, cond.op == "gt"))
        else:
            highs.append((cond.value, cond.op == "lte"))
        for value, is_open in lows:
            if low is None or value > low or (value == low and is_open):
                low, open_low = value, is_open
        for value, closed in highs:
            if high is None or value < high or (value == high and not closed):
                high, closed_high = value, closed
    return (low, open_low), (high, closed_high)


def _orderable(coll: Collection, term: Ordering) -> bool:
    if term.path == ("pk",) and "pk" not in coll.kinds:
        return True
    _, found = resolve_path(coll.spec, list(term.path), "__".join(term.path))
    return found is not None and found.kind in _ORDERABLE


def _order_key(coll: Collection, term: Ordering) -> Term:
    """None last ascending, first descending (as PostgreSQL and the other backends): sort on (is null, value)."""

    def key(row: Term) -> Term:
        value = reql.field(row, _stored_path(coll, term.path))
        return [reql.MAKE_ARRAY, [[reql.EQ, [value, None]], value]]

    fn = reql.func(key)
    return reql.desc(fn) if term.descending else reql.asc(fn)


def compile_query(coll: Collection, state: QueryState, *, ordered: bool = True, live: bool = True) -> Compiled:
    """Compile a query's conditions (and, with ``ordered``, its ordering and window).

    Args:
        coll: the model's collection.
        state: the query.
        ordered: apply ordering, offset and limit (False for counting or deleting all matches).
        live: keep only live documents (False for a changefeed, which checks expiry as changes come).
    """
    conds = state.conditions
    residual: tuple[Node, ...] = tuple(c for c in conds if residual_condition(c))
    residual += tuple(n for n in state.tree if residual_node(n))
    server = [c for c in conds if not residual_condition(c)]
    selection, between, served = _select(coll, server)
    tree = [n for n in state.tree if not residual_node(n)]
    client = bool(residual) or (ordered and not all(_orderable(coll, o) for o in state.ordering))
    term = selection
    indexed_order = False
    if ordered and not client and len(state.ordering) == 1:
        (only,) = state.ordering
        name = _stored_path(coll, only.path)
        # Index order is only right when the index holds every match: a range on that index
        # (which excludes None), or a field that never holds None.
        if between is not None and name == (between,):
            indexed_order = True
        elif selection is coll.table and len(name) == 1 and name[0] in coll.indexes:
            indexed_order = not coll.spec.fields[name[0]].nullable
        if indexed_order:
            key = reql.desc(name[0]) if only.descending else reql.asc(name[0])
            term = reql.t(reql.ORDER_BY, term, index=key)
    unserved: list[Node] = [c for i, c in enumerate(server) if i not in served]
    test = predicate(coll, unserved + tree, live)
    if test is not None:
        term = [reql.FILTER, [term, test]]
    if not ordered or client:
        return Compiled(term, residual, complete=not client)
    if state.ordering and not indexed_order:
        term = [reql.ORDER_BY, [term, *(_order_key(coll, o) for o in state.ordering)]]
    if state.offset:
        term = [reql.SKIP, [term, state.offset]]
    if state.limit is not None:
        term = [reql.LIMIT, [term, state.limit]]
    return Compiled(term, residual, complete=True)


def window_pks(coll: Collection, compiled: Compiled) -> Term:
    """The pks of a compiled, ordered and windowed query (to update or delete exactly those)."""
    return [reql.MAP, [compiled.term, reql.func(lambda row: [reql.GET_FIELD, [row, coll.pk]])]]
