"""A bounded connection pool for RethinkDB (the official driver has none), sync and asyncio.

:class:`Slots` is the bookkeeping both flavours share, with no I/O and no locking of
its own: which connections are idle, how many exist, whether a new one may be
opened.  :class:`SyncPool` (threads) and :class:`AsyncPool` (one event loop) add only
the waiting and the connecting.  A caller waits for a free connection up to the
pool's timeout, then gets :class:`~persist_mixins.errors.PoolTimeoutError` (the server is
fine: the pool is busy).  A connection that
broke is discarded when it comes back, and with it every idle connection (a server
restart breaks them all at once; they would each fail one operation otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ...errors import BackendConnectionError, PoolTimeoutError

__all__ = ["AsyncPool", "Slots", "SyncPool"]


class Slots:
    """The state of a pool: idle connections, how many exist, the bound."""

    def __init__(self, size: int, timeout: float, where: str, alive: Callable[[Any], bool]) -> None:
        """A pool of at most ``size`` connections; waits ``timeout`` seconds; ``alive`` tells a usable connection."""
        if size < 1:
            raise ValueError("a pool needs room for one connection at least")
        self.size, self.timeout, self.where = size, timeout, where
        self.idle: deque[Any] = deque()
        self.count = 0
        self.closed = False
        self.alive = alive
        self._dead: list[Any] = []

    def take(self) -> tuple[Any, bool]:
        """``(conn, False)`` for an idle live connection, ``(None, True)`` if one may be opened, else ``(None, False)``.

        Dead idle connections met on the way are forgotten (returned for closing by :meth:`dead`).
        """
        if self.closed:
            raise BackendConnectionError(f"the RethinkDB pool for {self.where} is closed")
        while self.idle:
            conn = self.idle.pop()
            if self.alive(conn):
                return conn, False
            self.count -= 1
            self._dead.append(conn)
        if self.count < self.size:
            self.count += 1
            return None, True
        return None, False

    def dead(self) -> list[Any]:
        """The connections found dead since the last call (to close quietly)."""
        found, self._dead = self._dead, []
        return found

    def failed(self) -> None:
        """An opening that :meth:`take` allowed failed: its room is free again."""
        self.count -= 1

    def give(self, conn: Any) -> list[Any]:
        """Take a connection back; return the connections to close (it, when broken, and then every idle one).

        Only the driver's own open flag is checked here, cheaply: a dead socket is found by
        :meth:`take`, when the connection is about to be used again.
        """
        if not self.closed and conn.is_open():
            self.idle.append(conn)
            return []
        self.count -= 1
        if self.closed:
            return [conn]
        stale = [conn, *self.idle]
        self.count -= len(self.idle)
        self.idle.clear()
        return stale

    def close(self) -> list[Any]:
        """Close the pool; return the idle connections to close (connections in use close when given back)."""
        self.closed = True
        stale = list(self.idle)
        self.count -= len(stale)
        self.idle.clear()
        return stale

    def exhausted(self) -> PoolTimeoutError:
        """The error for a caller that waited the whole timeout."""
        return PoolTimeoutError(
            f"all {self.size} connections to RethinkDB at {self.where} stayed in use for {self.timeout:g} s; "
            "raise max_connections (a URL parameter) or pool_timeout, or hold connections for less time"
        )


class SyncPool:
    """A thread-safe pool of blocking connections (one per process: a forked child builds its own)."""

    def __init__(
        self, connect: Callable[[], Any], close: Callable[[Any], None], alive: Callable[[Any], bool], *,
        size: int, timeout: float, where: str,
    ) -> None:  # fmt: skip
        """Open connections with ``connect()``, close them with ``close(conn)``."""
        self.slots = Slots(size, timeout, where, alive)
        self._connect, self._close = connect, close
        self._cond = threading.Condition()

    def acquire(self) -> Any:
        """A connection: an idle one, a new one, or the first given back within the timeout.

        Raises:
            PoolTimeoutError: none came free in time.
            BackendConnectionError: the server cannot be reached (from ``connect``).
        """
        deadline = time.monotonic() + self.slots.timeout
        with self._cond:
            while True:
                conn, may_open = self.slots.take()
                self._discard(self.slots.dead())
                if conn is not None:
                    return conn
                if may_open:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self.slots.exhausted()
                self._cond.wait(left)
        try:
            return self._connect()
        except BaseException:
            with self._cond:
                self.slots.failed()
                self._cond.notify()
            raise

    def release(self, conn: Any) -> None:
        """Give a connection back (a broken one is closed, and the idle ones with it)."""
        with self._cond:
            stale = self.slots.give(conn)
            self._cond.notify()
        self._discard(stale)

    def close(self) -> None:
        """Close the idle connections now, the others as they come back."""
        with self._cond:
            stale = self.slots.close()
            self._cond.notify_all()
        self._discard(stale)

    def _discard(self, conns: list[Any]) -> None:
        for conn in conns:
            with contextlib.suppress(Exception):  # already broken: nothing to tell
                self._close(conn)


class AsyncPool:
    """A pool of asyncio connections, for one event loop."""

    def __init__(
        self, connect: Callable[[], Awaitable[Any]], close: Callable[[Any], Awaitable[None]],
        alive: Callable[[Any], bool], *, size: int, timeout: float, where: str,
    ) -> None:  # fmt: skip
        """Open connections with ``await connect()``, close them with ``await close(conn)``."""
        self.slots = Slots(size, timeout, where, alive)
        self._connect, self._close = connect, close
        self._cond = asyncio.Condition()

    async def acquire(self) -> Any:
        """:meth:`SyncPool.acquire`, awaited."""
        conn, may_open = self.slots.take()  # the common case, with no task to wait in (one loop: no race)
        await self._discard(self.slots.dead())
        if conn is not None:
            return conn
        if not may_open:
            try:
                conn = await asyncio.wait_for(self._wait(), self.slots.timeout)
            except asyncio.TimeoutError:
                raise self.slots.exhausted() from None
            if conn is not _OPEN:
                return conn
        try:
            return await self._connect()
        except BaseException:
            self.slots.failed()
            async with self._cond:
                self._cond.notify()
            raise

    async def _wait(self) -> Any:
        """An idle connection, or :data:`_OPEN` when the caller may open one; waits for room."""
        async with self._cond:
            while True:
                conn, may_open = self.slots.take()
                await self._discard(self.slots.dead())
                if conn is not None:
                    return conn
                if may_open:
                    return _OPEN
                await self._cond.wait()

    async def release(self, conn: Any) -> None:
        """:meth:`SyncPool.release`, awaited."""
        stale = self.slots.give(conn)
        async with self._cond:
            self._cond.notify()
        await self._discard(stale)

    async def close(self) -> None:
        """:meth:`SyncPool.close`, awaited."""
        stale = self.slots.close()
        async with self._cond:
            self._cond.notify_all()
        await self._discard(stale)

    async def _discard(self, conns: list[Any]) -> None:
        for conn in conns:  # usually none
            with contextlib.suppress(Exception):
                await self._close(conn)


#: What AsyncPool._wait returns when the caller may open a new connection.
_OPEN = object()
