"""The official ``rethinkdb`` driver (2.4), sync and asyncio: send plan queries, read cursors, pool connections.

A driver runs one command on a connection and normalizes the reply; nothing else.
Queries are the plans' wire JSON, sent as they are; replies keep times as ``TIME``
objects (``time_format="raw"``), which the plans decode.  Each flavour has its own
``RethinkDB()`` instance (``set_loop_type`` changes the instance it is called on).
Failures are translated: a server that cannot be reached or a lost connection is
:class:`~persist_mixins.errors.BackendConnectionError` naming host and port; a
missing table or database is :class:`~persist_mixins.errors.ConfigurationError`
saying to call ``create_table()``; an operation the server refused without doing it (a
table or replica not available yet) is :class:`~persist_mixins.errors.RetryableError`;
other server errors surface as the driver's.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from rethinkdb import RethinkDB
from rethinkdb.ast import RqlQuery
from rethinkdb.errors import (
    ReqlAuthError,
    ReqlCursorEmpty,
    ReqlDriverError,
    ReqlOpFailedError,
    ReqlRuntimeError,
    ReqlTimeoutError,
)
from rethinkdb.net import Query

from ...backend import Flavour
from ...connections import safe_url
from ...errors import BackendConnectionError, ConfigurationError, RetryableError
from .commands import Cursor, Database, Next, Run
from .pool import AsyncPool, SyncPool
from .session import RETHINK_SESSION

__all__ = ["FACTORY", "AsyncRethinkDriver", "RethinkDriver", "RethinkFactory", "parse_url"]

_SYNC = RethinkDB()
_ASYNC = RethinkDB()
_ASYNC.set_loop_type("asyncio")
#: Replies are read as plain JSON: TIME and BINARY values stay pseudo-type objects (the plans decode them).
_DECODER = json.JSONDecoder()
#: Queries are written as plain JSON; NaN and infinities are refused, never sent as tokens the server rejects.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False, separators=(",", ":"))
_START = 1  # ql2 Query.QueryType.START
_DB = 14  # ql2 Term.TermType.DB
#: Pool defaults (URL parameters override them): connections, seconds to wait for one, seconds to connect.
DEFAULTS = {"max_connections": 10, "pool_timeout": 10.0, "connect_timeout": 5.0}


class _Wire(RqlQuery):  # type: ignore[misc]
    """A query already built as wire JSON (by the plans), as the driver's error messages print it."""

    def __init__(self, term: Any) -> None:
        self._term = term
        self._args: list[Any] = []
        self.optargs: dict[str, Any] = {}

    def build(self) -> Any:
        return self._term

    def compose(self, args: Any, optargs: Any) -> str:
        return json.dumps(self._term, default=str)  # how the driver prints the query in its errors


class _Query(Query):  # type: ignore[misc]
    """A START query the driver sends as it is: the plan's JSON and the connection's database, encoded once.

    The driver's own path turns every query's options into term objects first (``expr()``)
    and reads replies through a decoder that inspects every object; this one does neither.
    """

    def __init__(self, token: int, term: Any, db: str | None) -> None:
        self.type = _START
        self.token = token
        self.term = _Wire(term)
        self.global_optargs: dict[str, Any] = {}
        self._json_encoder = None
        self._json_decoder = _plain
        self._db = db

    def serialize(self, reql_encoder: Any = None) -> bytes:
        optargs = {"db": [_DB, [self._db]]} if self._db else {}
        body = _ENCODER.encode([_START, self.term._term, optargs]).encode()
        return struct.pack("<QL", self.token, len(body)) + body


def _plain(_options: Any) -> json.JSONDecoder:
    return _DECODER


def _start(conn: Any, term: Any) -> Any:
    """Send one query on a driver connection (sync: its reply; asyncio: an awaitable of it)."""
    conn.check_open()
    return conn._instance.run_query(_Query(conn._new_token(), term, conn.db), False)


def parse_url(url: str) -> dict[str, Any]:
    """``rethinkdb://[user:password@]host[:port]/db?max_connections=&pool_timeout=&connect_timeout=``.

    Raises:
        ConfigurationError: not a rethinkdb:// URL, or a parameter that is not a number.
    """
    parts = urlsplit(url)
    if parts.scheme != "rethinkdb":
        raise ConfigurationError(
            f"{safe_url(url)!r} is not a RethinkDB URL: rethinkdb://[user:password@]host[:port]/db"
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - set(DEFAULTS)
    if unknown:
        raise ConfigurationError(
            f"{safe_url(url)!r}: unknown parameter {', '.join(sorted(unknown))} (known: {', '.join(DEFAULTS)})"
        )
    settings: dict[str, Any] = {}
    for name, default in DEFAULTS.items():
        try:
            settings[name] = type(default)(query.get(name, default))
        except ValueError:
            raise ConfigurationError(f"{safe_url(url)!r}: {name} must be a number") from None
    if settings["max_connections"] < 1 or settings["pool_timeout"] <= 0 or settings["connect_timeout"] <= 0:
        raise ConfigurationError(f"{safe_url(url)!r}: pool sizes and timeouts must be positive")
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or 28015,
        "db": unquote(parts.path.lstrip("/")) or "test",
        "user": unquote(parts.username) if parts.username else "admin",
        "password": unquote(parts.password) if parts.password else "",
        **settings,
    }


def _where(conn: Any) -> str:
    return f"rethinkdb://{conn.host}:{conn.port}/{conn.db or 'test'}"


def _sync_alive(conn: Any) -> bool:
    """Open, and no EOF waiting on its socket (a server restart closes idle connections under the driver).

    An idle connection may have bytes to read that are not an EOF: the server's answers to
    a cursor stopped early, which the driver reads with the next query.
    """
    if not conn.is_open():
        return False
    try:
        sock = conn._instance._socket._socket
        readable, _, _ = select.select([sock], [], [], 0)
        return not readable or sock.recv(1, socket.MSG_PEEK) != b""
    except Exception:  # noqa: BLE001 - the driver's internals moved, or TLS (no peeking): trust is_open()
        return True


def _async_alive(conn: Any) -> bool:
    return bool(conn.is_open())


class _Stream:
    """A sequence reply read batch by batch: a driver cursor, or the plain list some servers send."""

    __slots__ = ("cursor", "done", "items")

    def __init__(self, reply: Any) -> None:
        plain = isinstance(reply, list)
        self.cursor: Any = None if plain else reply
        self.items: list[Any] = reply if plain else []
        self.done = False

    def listed(self) -> list[Any]:
        """The batch of a plain-list reply (once), then []."""
        items, self.items, self.done = self.items, [], True
        return items


def _keep_asking(cursor: Any) -> None:
    """Make the driver ask for the next batch when none is buffered, even after an empty partial reply.

    The driver asks again only while it holds fewer items than the last batch had: after
    an empty partial batch (reqlite's first reply to a changefeed) it would wait forever.
    """
    if getattr(cursor, "threshold", 1) < 1:
        cursor.threshold = 1


class _Base:
    """What both flavours share: the pool or shared connection, routing, messages, error translation."""

    __slots__ = ("model", "pool", "route", "shared", "url")
    rules = RETHINK_SESSION

    def __init__(self, source: Any, model: type, url: str, shared: bool) -> None:
        self.pool = None if shared else source
        self.shared = source if shared else None
        self.model = model.__name__
        self.url = url
        self.route = dict.fromkeys((Run, Cursor, Next, Database), self)

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except ReqlAuthError as exc:
            raise ConfigurationError(f"RethinkDB at {self.url} refused the user or password: {exc.message}") from exc
        except (ReqlTimeoutError, ReqlDriverError) as exc:
            raise BackendConnectionError(
                f"cannot reach RethinkDB at {self.url} (or the connection was lost): {exc.message}"
            ) from exc
        except ReqlRuntimeError as exc:  # ReqlOpFailedError from RethinkDB, the base class from reqlite
            message = str(exc.message)
            if message.startswith("Connection is closed"):  # how a cursor reports its lost connection
                raise BackendConnectionError(f"lost the connection to RethinkDB at {self.url}: {message}") from exc
            if "does not exist" in message and message.startswith(("Table ", "Database ")):
                raise ConfigurationError(
                    f"{self.model}: its table does not exist; create it first with {self.model}.create_table()\n"
                    f"{message}"
                ) from exc
            if isinstance(exc, ReqlOpFailedError):  # the server says it did not happen: a table or replica unavailable
                raise RetryableError(
                    f"{self.model}: RethinkDB at {self.url} could not run the query, and did nothing: {message}"
                ) from exc
            raise
        except OSError as exc:
            raise BackendConnectionError(f"cannot reach RethinkDB at {self.url}: {exc}") from exc


class RethinkDriver(_Base):
    """Runs plan commands with the blocking driver."""

    __slots__ = ()

    def acquire(self) -> Any:
        """A connection from the pool."""
        return self.pool.acquire()  # type: ignore[union-attr]

    def release(self, conn: Any) -> None:
        """Give a connection back to the pool."""
        self.pool.release(conn)  # type: ignore[union-attr]

    def execute(self, conn: Any, command: Any) -> Any:
        """Run one command and return its normalized reply."""
        kind = type(command)
        with self._translated():
            if kind is Run:
                reply = _start(conn, command.term)
                if command.read == "all" and not isinstance(reply, list):
                    return list(reply)
                return reply
            if kind is Next:
                return self._next(command.cursor)
            if kind is Cursor:
                return _Stream(_start(conn, command.term))
            if kind is Database:
                return conn.db or "test"
        raise TypeError(f"the RethinkDB driver does not execute {kind.__name__}")

    def _next(self, stream: _Stream) -> list[Any]:
        if stream.cursor is None:
            return stream.listed()
        if stream.done:
            return []
        cursor = stream.cursor
        _keep_asking(cursor)
        try:
            batch = [cursor.next(wait=True)]
        except ReqlCursorEmpty:
            stream.done = True
            return []
        while cursor.items:
            batch.append(cursor.items.popleft())
        return batch

    def stop(self, stream: _Stream) -> None:
        """Close a cursor the plan did not read to its end."""
        if stream.cursor is not None and not stream.done:
            stream.done = True
            with contextlib.suppress(Exception):  # a broken connection has no cursor left to stop
                stream.cursor.close()


class AsyncRethinkDriver(_Base):
    """Runs plan commands with the driver's asyncio connections."""

    __slots__ = ()

    async def acquire(self) -> Any:
        """A connection from the pool."""
        return await self.pool.acquire()  # type: ignore[union-attr]

    async def release(self, conn: Any) -> None:
        """Give a connection back to the pool."""
        await self.pool.release(conn)  # type: ignore[union-attr]

    async def execute(self, conn: Any, command: Any) -> Any:
        """Run one command and return its normalized reply."""
        kind = type(command)
        with self._translated():
            if kind is Run:
                reply = await _start(conn, command.term)
                if command.read == "all" and not isinstance(reply, list):
                    return [item async for item in reply]
                return reply
            if kind is Next:
                return await self._next(command.cursor)
            if kind is Cursor:
                return _Stream(await _start(conn, command.term))
            if kind is Database:
                return conn.db or "test"
        raise TypeError(f"the RethinkDB driver does not execute {kind.__name__}")

    async def _next(self, stream: _Stream) -> list[Any]:
        if stream.cursor is None:
            return stream.listed()
        if stream.done:
            return []
        cursor = stream.cursor
        _keep_asking(cursor)
        if not await cursor.fetch_next():
            stream.done = True
            return []
        if not cursor.items:  # fetch_next() says True to hand over an error
            await cursor.next()
        batch = list(cursor.items)
        cursor.items.clear()
        return batch

    async def stop(self, stream: _Stream) -> None:
        """Close a cursor the plan did not read to its end."""
        if stream.cursor is not None and not stream.done:
            stream.done = True
            with contextlib.suppress(Exception):
                await stream.cursor.close()


class RethinkFactory:
    """Builds, wraps and closes RethinkDB pools for :mod:`persist_mixins.connections`."""

    def open(self, url: str, flavour: Flavour) -> Any:
        """A pool from a URL (async: for the running loop); connections are opened on demand."""
        settings = parse_url(url)
        where = safe_url(url)
        connect_args = {k: settings[k] for k in ("host", "port", "db", "user", "password")}
        connect_args["timeout"] = settings["connect_timeout"]
        bounds = {"size": settings["max_connections"], "timeout": settings["pool_timeout"], "where": where}

        def fail(exc: Exception) -> BackendConnectionError:
            message = getattr(exc, "message", None) or str(exc)
            return BackendConnectionError(f"cannot reach RethinkDB at {where}: {message}")

        if flavour == "sync":

            def connect() -> Any:
                try:
                    return _SYNC.connect(**connect_args)
                except ReqlAuthError as exc:
                    raise ConfigurationError(f"RethinkDB at {where} refused the user or password: {exc}") from exc
                except (ReqlDriverError, OSError) as exc:
                    raise fail(exc) from exc

            return SyncPool(connect, _close_sync, _sync_alive, **bounds)

        async def aconnect() -> Any:
            try:
                return await _ASYNC.connect(**connect_args)
            except ReqlAuthError as exc:
                raise ConfigurationError(f"RethinkDB at {where} refused the user or password: {exc}") from exc
            except (ReqlDriverError, OSError) as exc:
                raise fail(exc) from exc

        return AsyncPool(aconnect, _close_async, _async_alive, **bounds)

    def wrap(self, source: Any, flavour: Flavour, model: type, url: str | None) -> Any:
        """The driver over a pool built by :meth:`open`, or over a connection the user made."""
        from rethinkdb.asyncio_net.net_asyncio import Connection as AsyncConnection
        from rethinkdb.net import DefaultConnection

        if flavour == "sync":
            if isinstance(source, SyncPool):
                return RethinkDriver(source, model, safe_url(url) if url else source.slots.where, False)
            if isinstance(source, DefaultConnection):
                return RethinkDriver(source, model, _where(source), True)
            hint = "a rethinkdb:// URL or a connection from RethinkDB().connect() (async models take an asyncio one)"
        else:
            if isinstance(source, AsyncPool):
                return AsyncRethinkDriver(source, model, safe_url(url) if url else source.slots.where, False)
            if isinstance(source, AsyncConnection):
                return AsyncRethinkDriver(source, model, _where(source), True)
            hint = "a rethinkdb:// URL or an asyncio connection (r.set_loop_type('asyncio'); await r.connect())"
        raise ConfigurationError(
            f"{model.__name__}: the RethinkDB connection must be {hint}, "
            f"not {type(source).__module__}.{type(source).__name__}"
        )

    def close(self, client: Any) -> None:
        """Close a sync pool."""
        client.close()

    async def aclose(self, client: Any) -> None:
        """Close an asyncio pool."""
        await client.close()


def _close_sync(conn: Any) -> None:
    conn.close(noreply_wait=False)


async def _close_async(conn: Any) -> None:
    await conn.close(noreply_wait=False)


FACTORY = RethinkFactory()
