"""How a run uses a RethinkDB connection: checked out of the pool (or the caller's own), cursors closed at the end.

Pure generators of :class:`~persist_mixins.run.Io`, like every backend's session rules:
a run takes one connection for all its queries, and every cursor it opened is
closed (a STOP to the server) when the run ends, whether the plan read it to its
end, failed, or was abandoned by a loop that broke early.
"""

from __future__ import annotations

from typing import Any

from ...run import Io, Link, Ops
from .commands import Cursor

__all__ = ["RETHINK_SESSION", "RethinkRules"]


class _State:
    """What a link remembers: whether it checked its connection out, and the cursors it opened."""

    __slots__ = ("cursors", "owned")

    def __init__(self, owned: bool) -> None:
        self.owned = owned
        self.cursors: list[Any] = []


def _open_cursor(link: Link, command: Cursor) -> Ops[Any]:
    handle = yield Io(link.driver.execute, (link.conn, command))
    link.state.cursors.append(handle)
    return handle


_SPECIAL: dict[type, Any] = {Cursor: _open_cursor}


class RethinkRules:
    """Session rules: a pooled connection per run (or the shared one), every cursor closed at the end."""

    def open(self, driver: Any) -> Ops[Link]:
        """Use the driver's shared connection, or check one out of its pool."""
        if driver.shared is not None:
            return Link(driver, driver.shared, _State(False), _SPECIAL)
        conn = yield Io(driver.acquire)
        return Link(driver, conn, _State(True), _SPECIAL)

    def close(self, link: Link, ok: bool) -> Ops[None]:
        """Stop the cursors still open, then give the connection back."""
        state: _State = link.state
        try:
            while state.cursors:
                yield Io(link.driver.stop, (state.cursors.pop(),))
        finally:
            if state.owned:
                yield Io(link.driver.release, (link.conn,))


#: The rules of the RethinkDB backend.
RETHINK_SESSION = RethinkRules()
