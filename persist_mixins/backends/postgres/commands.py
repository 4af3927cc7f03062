"""What PostgreSQL plans ask drivers to do: plain values, no client library.

A plan yields these and receives the reply described on each class.  The same
SQL text serves psycopg 3 and aiopg (psycopg 2): placeholders are ``%s``, values
always travel as parameters, and the text never holds a literal ``%``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Begin", "Commit", "Copy", "Fetch", "Sql"]

#: What a :class:`Sql` reply is: the row count, the first row (or None), every row, or the status text.
Fetch = Literal["count", "one", "all", "status"]


@dataclass(frozen=True, slots=True)
class Sql:
    """One statement.

    Reply, by ``fetch``: the affected row count, one row tuple or None, a list of
    row tuples, or the server's status text (``"COMMIT"``, ``"ROLLBACK"``).
    """

    text: str
    params: Sequence[Any] = ()
    fetch: Fetch = "count"


@dataclass(frozen=True, slots=True)
class Copy:
    """``COPY table (columns) FROM STDIN`` of ``rows``.  Reply: the number of rows copied.

    ``table`` and ``columns`` are quoted identifiers, so a driver without COPY
    (aiopg) can send the rows as multi-row INSERTs instead.
    """

    table: str
    columns: tuple[str, ...]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Begin:
    """Start a transaction, or a savepoint when one is already open.  Reply: a token for :class:`Commit`.

    Ended by :class:`Commit`; if the plan fails or stops first, the driver rolls back.
    With ``read_only`` (a cursor that only reads), a transaction already open is simply
    used: no savepoint, so stopping early never undoes the caller's own writes.
    """

    read_only: bool = False


@dataclass(frozen=True, slots=True)
class Commit:
    """End what the matching :class:`Begin` opened.  Reply: None.

    ``token`` is the reply the plan got for its ``Begin``: with it, what an inner plan
    opened and never ended (a stream closed early by ``collect(limit=...)``) is undone
    first, so this Commit always ends its own Begin.
    """

    token: int | None = None
