"""What RethinkDB plans ask drivers to do: ReQL as wire JSON, and cursor steps.

A plan yields these and receives the reply described on each class.  Terms are
built by :mod:`.reql`; a driver sends them as they are (the official ``rethinkdb``
driver, sync or asyncio), with times left as ``TIME`` objects in replies (plans
decode them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Cursor", "Database", "Next", "Read", "Run"]

#: How a :class:`Run` reply comes back: the value as is, or every item of a sequence.
Read = Literal["value", "all"]


@dataclass(frozen=True, slots=True)
class Run:
    """Run one query.

    Reply, by ``read``: ``"value"``, the result (an object, number, list ...);
    ``"all"``, a list of every item of a sequence (read from a cursor or, as some
    servers answer, a plain list).
    """

    term: Any
    read: Read = "value"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Run one query that returns a sequence, to read it batch by batch with :class:`Next`.

    Reply: an opaque handle.  The cursor is closed (STOP) when the plan's run ends,
    whether the plan read it to the end or not (a loop that breaks early, a closed
    changefeed iterator); a sequence some servers answer as a plain list reads the same.
    """

    term: Any


@dataclass(frozen=True, slots=True)
class Next:
    """The next batch of a cursor opened by :class:`Cursor`.

    Reply: a non-empty list of items, waiting for the server when none is buffered,
    or an empty list once the sequence ended.  A changefeed never ends: each reply
    holds the changes that arrived.
    """

    cursor: Any


@dataclass(frozen=True, slots=True)
class Database:
    """The name of the database the connection uses (from the URL).  Reply: a str."""
