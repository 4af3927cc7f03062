"""ReQL terms as their wire JSON, built without the driver.

A RethinkDB query travels as JSON: ``[term_type, [args...], {optargs}]``, arrays
as ``MAKE_ARRAY`` terms, objects as plain JSON objects, times as ``TIME`` pseudo-type
objects.  Plans build these lists with the helpers below (the protocol's term
numbers, from RethinkDB's ``ql2.proto``), so a plan is pure data, checked by tests
as the JSON it sends, and the driver only ships it.  Values are always data here,
never code: the only strings that name anything (tables, fields, indexes) come from
the model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "ROW", "Term", "and_", "asc", "branch", "datum", "desc", "eq", "field", "func", "minval", "maxval", "now",
    "or_", "t", "time",
]  # fmt: skip

#: A ReQL term as the JSON the server reads.
Term = Any

# Term types (RethinkDB ql2.proto, ``Term.TermType``).
MAKE_ARRAY = 2
VAR = 10
DB = 14
TABLE = 15
GET = 16
EQ = 17
NE = 18
LT = 19
LE = 20
GT = 21
GE = 22
NOT = 23
ADD = 24
SUB = 25
GET_FIELD = 31
HAS_FIELDS = 32
WITHOUT = 34
MAP = 38
FILTER = 39
ORDER_BY = 41
COUNT = 43
TYPE_OF = 52
UPDATE = 53
DELETE = 54
REPLACE = 55
INSERT = 56
DB_CREATE = 57
DB_LIST = 59
TABLE_CREATE = 60
TABLE_DROP = 61
TABLE_LIST = 62
FUNCALL = 64
BRANCH = 65
OR = 66
AND = 67
FUNC = 69
SKIP = 70
LIMIT = 71
ASC = 73
DESC = 74
INDEX_CREATE = 75
INDEX_LIST = 77
GET_ALL = 78
IS_EMPTY = 86
DEFAULT = 92
CONTAINS = 93
ISO8601 = 99
EPOCH_TIME = 101
NOW = 103
INDEX_WAIT = 140
CHANGES = 152
MINVAL = 180
MAXVAL = 181
BETWEEN = 182

#: The variable a row function binds (``func``); nested functions take other numbers.
ROW = 1


def t(kind: int, *args: Term, **optargs: Any) -> Term:
    """One term: ``[kind, [args...]]``, with its optargs when any."""
    return [kind, list(args), optargs] if optargs else [kind, list(args)]


def datum(value: Any) -> Term:
    """A Python value as wire data: lists become ``MAKE_ARRAY`` terms, datetimes ``TIME`` objects.

    Dicts are written as JSON objects (values converted in turn); str, int, float,
    bool and None are already JSON.  Callers convert other types first.
    """
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [MAKE_ARRAY, [datum(v) for v in value]]
    if isinstance(value, Mapping):
        return {str(k): datum(v) for k, v in value.items()}
    if isinstance(value, dt.datetime):
        return time(value)
    return value


def time(value: dt.datetime) -> Term:
    """A datetime as an ``ISO8601`` term, to the millisecond RethinkDB keeps (a naive one taken as UTC).

    The official driver sends times this way too; a ``TIME`` object in the data would
    do on RethinkDB, but reqlite stores it as a plain object that no longer compares as a time.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    delta = value - _EPOCH
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    rounded = _EPOCH + dt.timedelta(milliseconds=(micros + 500) // 1000)  # as the server rounds
    return [ISO8601, [rounded.astimezone(value.tzinfo).isoformat(timespec="milliseconds")]]


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def func(body: Callable[[Term], Term], var: int = ROW) -> Term:
    """A one-argument function: ``body`` receives the variable term and returns the body term."""
    return [FUNC, [[MAKE_ARRAY, [var]], body([VAR, [var]])]]


def field(row: Term, path: tuple[str, ...]) -> Term:
    """The value at ``path`` in a row, null when any step is missing (``row("a")("b").default(null)``)."""
    value = row
    for part in path[:-1]:  # a missing or null step reads as an empty object (reqlite does not default it)
        value = [DEFAULT, [[GET_FIELD, [value, part]], {}]]
    return [DEFAULT, [[GET_FIELD, [value, path[-1]]], None]]


def eq(a: Term, b: Term) -> Term:
    """``a == b``."""
    return [EQ, [a, b]]


def and_(*terms: Term) -> Term:
    """Every term true (a single term as itself)."""
    return terms[0] if len(terms) == 1 else [AND, list(terms)]


def or_(*terms: Term) -> Term:
    """Any term true (a single term as itself)."""
    return terms[0] if len(terms) == 1 else [OR, list(terms)]


def branch(test: Term, then: Term, otherwise: Term) -> Term:
    """``then`` when ``test`` holds, else ``otherwise``."""
    return [BRANCH, [test, then, otherwise]]


def asc(key: Term) -> Term:
    """An ascending ``order_by`` key."""
    return [ASC, [key]]


def desc(key: Term) -> Term:
    """A descending ``order_by`` key."""
    return [DESC, [key]]


def now() -> Term:
    """The server's time at the start of the query (the same value everywhere in one query)."""
    return [NOW, []]


def minval() -> Term:
    """The lowest value of any index (``r.minval``)."""
    return [MINVAL, []]


def maxval() -> Term:
    """The highest value of any index (``r.maxval``)."""
    return [MAXVAL, []]
