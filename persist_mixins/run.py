"""Plans, the session that routes their commands, and the only loops that touch a driver.

A *plan* is a generator that yields backend commands, receives each reply, and
finally returns a result; it imports no driver and never awaits (the psycopg 3
``generators.py`` / ``waiting.py`` split).  A streaming plan also yields
:class:`Emit` / :class:`EmitMany` markers, so results reach the caller while the
plan is still reading.

:func:`session` wraps a plan in the runtime, itself a pure generator: it routes
each command by its type to the driver of that command's backend (so one plan may
read PostgreSQL and write Redis), lets that backend's :class:`SessionRules` open a
connection (or join a transaction), handle commands of its own (``Begin``), and
clean up, and turns everything into :class:`Io` requests: "call this driver
method with these arguments".  The executors below are the only loops: the sync
ones call each request, the async ones await it.  Nothing else in the library is
written twice for the two flavours.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from inspect import GEN_SUSPENDED, getgeneratorstate
from typing import Any, Generic, Protocol, TypeVar

__all__ = [
    "DIRECT", "Abandoned", "AsyncBlock", "DirectRoute", "DirectRules", "Driver", "Emit", "EmitMany", "Io", "Link",
    "Ops", "Pause", "Plan", "Route", "SessionRules", "SyncBlock", "collect", "combine", "drive_async", "drive_sync",
    "iter_async", "iter_sync", "run_async", "run_sync", "session", "stream_async", "stream_sync", "window",
]  # fmt: skip

T = TypeVar("T")

#: A plan: yields commands (and Emit markers), receives replies, returns T.
Plan = Generator[Any, Any, T]


@dataclass(frozen=True, slots=True)
class Emit(Generic[T]):
    """Yielded by a streaming plan to hand one result item to the caller."""

    value: T


@dataclass(frozen=True, slots=True)
class EmitMany(Generic[T]):
    """Yielded by a streaming plan to hand several result items to the caller at once."""

    values: Sequence[T]


@dataclass(frozen=True, slots=True)
class Pause:
    """Yielded by a plan to wait ``seconds`` before its next command (a lock held by another caller).

    Any backend's plan may yield it; the executors sleep (``time.sleep`` / ``asyncio.sleep``)
    holding whatever the run holds, and send None back.
    """

    seconds: float


class Io:
    """One driver call the runtime asks for: ``fn(*args)``, called (sync) or awaited (async).

    A plain slotted class, not a frozen dataclass: one is made per command, and a frozen
    dataclass's ``__init__`` costs several times more.
    """

    __slots__ = ("args", "fn")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...] = ()) -> None:
        self.fn = fn
        self.args = args

    def __repr__(self) -> str:
        return f"Io({getattr(self.fn, '__qualname__', self.fn)!r}, {self.args!r})"


#: The runtime's generators: yield Io requests (and Emit markers), receive each call's result, return T.
Ops = Generator[Any, Any, T]


#: Command type -> the driver that executes it, for one run (``driver.route`` for one backend).
Route = Mapping[type, Any]


class Abandoned(BaseException):
    """Thrown into a session whose caller stopped reading a stream, so it can clean up."""


class Link:
    """One backend connection inside one run (or one transaction block): pure state, no I/O.

    ``state`` belongs to the backend's :class:`SessionRules` (what it opened, whether
    the connection is the caller's own ...).
    """

    __slots__ = ("buffered", "conn", "driver", "special", "state")

    def __init__(self, driver: Any, conn: Any, state: Any = None, special: Mapping[type, Any] | None = None) -> None:
        self.driver = driver
        self.conn = conn
        self.state = state
        #: Command types the rules handle themselves: type -> ``handler(link, command) -> Ops[reply]``.
        self.special: Mapping[type, Any] = special or {}
        #: True when a stream must be read in full before its items reach the caller (the
        #: caller's loop body may write on this very connection, and those writes must commit).
        self.buffered = False


class SessionRules(Protocol):
    """How one backend opens, uses and closes connections, as pure generators of :class:`Io`.

    Each backend declares one (``backend.Backend.session``); drivers carry it as ``rules``.
    """

    def open(self, driver: Any) -> Ops[Link]:
        """Check a connection out (or join the caller's transaction); return the link."""
        ...

    def close(self, link: Link, ok: bool) -> Ops[None]:
        """Undo what is still open when ``ok`` is False; end and give the connection back."""
        ...


class DirectRules:
    """Session rules for a backend whose client pools connections itself (Redis, RethinkDB).

    A driver with a ``shared`` client uses it as is (no checkout, nothing to give
    back); otherwise a connection is acquired per run and released at its end.
    """

    def open(self, driver: Any) -> Ops[Link]:
        """Use the driver's shared client, or acquire a connection."""
        if driver.shared is not None:
            return Link(driver, driver.shared)
        return Link(driver, (yield Io(driver.acquire)), True)

    def close(self, link: Link, ok: bool) -> Ops[None]:
        """Release what :meth:`open` acquired."""
        if link.state:
            yield Io(link.driver.release, (link.conn,))


#: The rules of backends that need no session logic of their own.
DIRECT = DirectRules()


class DirectRoute(dict[type, Any]):
    """The route of one driver with :data:`DIRECT` rules and a shared client.

    A run over such a route needs no session at all (nothing to open or close, one
    backend), so the runners take a shorter loop: the cost of the runtime on the hot
    path of a cache (one GET) stays what it was before sessions existed.
    """

    __slots__ = ("direct",)

    def __init__(self, driver: Any, kinds: tuple[type, ...]) -> None:
        super().__init__(dict.fromkeys(kinds, driver))
        self.direct = driver


class Driver(Protocol):
    """What the runtime needs of a driver (a backend's, for one client library and one flavour).

    A driver executes one command on a connection (``execute``, a coroutine for asyncio
    drivers); its ``rules`` say how a run gets that connection.  ``route`` maps each
    command type of its backend to the driver itself; ``shared`` is a client usable
    without checkout (or None); ``acquire`` / ``release`` exist where checkout is needed.
    """

    rules: SessionRules
    route: Route
    shared: Any

    def execute(self, conn: Any, command: Any) -> Any:
        """Execute one command and return its normalized reply (awaitable, for asyncio drivers)."""
        ...


def combine(*drivers: Driver) -> Route:
    """One route over several backends' drivers, for a plan that yields commands of each.

    Example: ``run_sync(combine(sync_driver(Row), sync_driver(Cached)), plan)`` runs a plan
    that reads PostgreSQL rows and writes them to Redis.

    Raises:
        ValueError: two drivers execute the same command type.
    """
    route: dict[type, Any] = {}
    for driver in drivers:
        for kind, target in driver.route.items():
            if route.setdefault(kind, target) is not target:
                raise ValueError(f"two drivers execute {kind.__name__} commands: give one driver per backend")
    return route


def session(route: Route, plan: Plan[T], stream: bool = False) -> Ops[T]:
    """Run ``plan`` as :class:`Io` requests, routing each command to its backend's driver.

    Connections are opened on a backend's first command and closed when the plan
    ends, fails or is abandoned; a driver error is thrown into the plan, which may
    handle it.  With ``stream``, emitted items pass through (buffered until the end
    when a link asks for it).
    """
    links: dict[int, Link] = {}
    closing: list[Link] = []  # the links whose rules must close them, oldest first
    held: list[Any] | None = None
    try:
        command = next(plan)
        while True:
            kind = type(command)
            if kind is Emit or kind is EmitMany:
                if held is None:
                    yield command
                else:
                    held.append(command)
                command = next(plan)
                continue
            if kind is Pause:  # the executor sleeps
                yield command
                command = plan.send(None)
                continue
            try:
                driver = route[kind]
            except KeyError:
                raise _unroutable(command) from None
            link = links.get(id(driver))
            if link is None:
                if driver.rules is DIRECT and driver.shared is not None:
                    link = Link(driver, driver.shared)  # the hot path: nothing to open, nothing to close
                else:
                    link = yield from driver.rules.open(driver)
                    closing.append(link)
                    if stream and link.buffered and held is None:
                        held = []
                links[id(driver)] = link
            handler = link.special.get(kind) if link.special else None
            try:
                if handler is None:
                    reply = yield Io(driver.execute, (link.conn, command))
                else:
                    reply = yield from handler(link, command)
            except Exception as exc:  # noqa: BLE001 - handed to the plan, which may handle or re-raise it
                command = plan.throw(exc)
            else:
                command = plan.send(reply)
    except StopIteration as stop:
        result: T = stop.value
    except GeneratorExit:  # closed without being driven (no executor left to run a cleanup)
        plan.close()
        raise
    except BaseException:
        # The error that ended the run is what the caller sees: a plan that fails to close
        # (it yields in its finally) or a link that fails to close must not replace it, nor
        # keep the other links open.
        with contextlib.suppress(Exception):  # the plan is over either way
            plan.close()
        try:  # noqa: SIM105 - contextlib.suppress cannot wrap a yield
            yield from _close(closing, False)
        except BaseException:  # noqa: BLE001 - every link was still closed; the first error stands
            pass
        raise
    if closing:
        yield from _close(closing, True)
    if held:
        yield from held
    return result


def _close(links: list[Link], ok: bool) -> Ops[None]:
    """Close links, newest first; every link is closed even when one fails (the rest then as failed).

    Raises:
        BaseException: the first error a link's rules raised while closing.
    """
    first: BaseException | None = None
    while links:
        link = links.pop()
        try:
            yield from link.driver.rules.close(link, ok and first is None)
        except BaseException as exc:  # noqa: BLE001 - raised once every link is closed
            if first is None:
                first = exc
    if first is not None:
        raise first


# -- the executors: the only code that calls (or awaits) a driver --------------------------------
def drive_sync(ops: Ops[T], *, abandon: bool = False) -> T:
    """Execute a generator of :class:`Io` requests with blocking calls; return its result.

    With ``abandon``, :class:`Abandoned` is thrown in first and swallowed at the end
    (the cleanup of a stream whose reader went away).
    """
    try:
        op = ops.throw(Abandoned()) if abandon else next(ops)
        while True:
            if type(op) is not Io:
                if type(op) is Pause:
                    time.sleep(op.seconds)
                    op = ops.send(None)
                else:  # thrown in, so the session still closes what it opened
                    op = ops.throw(TypeError("a streaming plan was run for its result; use iter_sync"))
                continue
            try:
                reply = op.fn(*op.args)
            except BaseException as exc:  # noqa: BLE001 - thrown into the session, which cleans up
                op = ops.throw(exc)
            else:
                op = ops.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    except Abandoned:
        if not abandon:
            raise
        return None  # type: ignore[return-value]


async def drive_async(ops: Ops[T], *, abandon: bool = False) -> T:
    """:func:`drive_sync` for asyncio drivers: each :class:`Io` call is awaited."""
    try:
        op = ops.throw(Abandoned()) if abandon else next(ops)
        while True:
            if type(op) is not Io:
                if type(op) is Pause:
                    await asyncio.sleep(op.seconds)
                    op = ops.send(None)
                else:  # thrown in, so the session still closes what it opened
                    op = ops.throw(TypeError("a streaming plan was run for its result; use iter_async"))
                continue
            try:
                reply = await op.fn(*op.args)
            except BaseException as exc:  # noqa: BLE001 - thrown into the session, which cleans up
                op = ops.throw(exc)
            else:
                op = ops.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    except Abandoned:
        if not abandon:
            raise
        return None  # type: ignore[return-value]


def stream_sync(ops: Ops[Any]) -> Iterator[Any]:
    """Execute a streaming session, yielding each emitted item as soon as it is emitted."""
    try:
        op = next(ops)
        while True:
            kind = type(op)
            if kind is Io:
                try:
                    reply = op.fn(*op.args)
                except BaseException as exc:  # noqa: BLE001 - thrown into the session
                    op = ops.throw(exc)
                else:
                    op = ops.send(reply)
                continue
            if kind is Pause:
                time.sleep(op.seconds)
                op = ops.send(None)
                continue
            if kind is Emit:
                yield op.value
            else:
                yield from op.values
            op = next(ops)
    except StopIteration:
        return
    finally:
        if getgeneratorstate(ops) == GEN_SUSPENDED:  # the reader stopped early: let the session clean up
            drive_sync(ops, abandon=True)


async def stream_async(ops: Ops[Any]) -> AsyncIterator[Any]:
    """:func:`stream_sync` for asyncio drivers."""
    try:
        op = next(ops)
        while True:
            kind = type(op)
            if kind is Io:
                try:
                    reply = await op.fn(*op.args)
                except BaseException as exc:  # noqa: BLE001 - thrown into the session
                    op = ops.throw(exc)
                else:
                    op = ops.send(reply)
                continue
            if kind is Pause:
                await asyncio.sleep(op.seconds)
                op = ops.send(None)
                continue
            if kind is Emit:
                yield op.value
            else:
                for value in op.values:
                    yield value
            op = next(ops)
    except StopIteration:
        return
    finally:
        if getgeneratorstate(ops) == GEN_SUSPENDED:
            await drive_async(ops, abandon=True)


def run_sync(route: Route, plan: Plan[T]) -> T:
    """Run a plan to completion with blocking drivers; return its result."""
    direct = getattr(route, "direct", None)
    if direct is not None:
        return _direct_sync(direct, route, plan)
    return drive_sync(session(route, plan))


def run_async(route: Route, plan: Plan[T]) -> Awaitable[T]:
    """Run a plan to completion with asyncio drivers (await the result)."""
    direct = getattr(route, "direct", None)
    if direct is not None:
        return _direct_async(direct, route, plan)
    return drive_async(session(route, plan))


def _direct_sync(driver: Any, route: Route, plan: Plan[T]) -> T:
    """:func:`run_sync` over a :class:`DirectRoute`: the session's work without a session (it would do none)."""
    execute, conn = driver.execute, driver.shared
    try:
        command = next(plan)
        while True:
            if route.get(type(command)) is not driver:
                if type(command) is not Pause:
                    raise _unroutable(command)
                time.sleep(command.seconds)
                command = plan.send(None)
                continue
            try:
                reply = execute(conn, command)
            except Exception as exc:  # noqa: BLE001 - handed to the plan, which may handle or re-raise it
                command = plan.throw(exc)
            else:
                command = plan.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        plan.close()


async def _direct_async(driver: Any, route: Route, plan: Plan[T]) -> T:
    """:func:`run_async` over a :class:`DirectRoute`."""
    execute, conn = driver.execute, driver.shared
    try:
        command = next(plan)
        while True:
            if route.get(type(command)) is not driver:
                if type(command) is not Pause:
                    raise _unroutable(command)
                await asyncio.sleep(command.seconds)
                command = plan.send(None)
                continue
            try:
                reply = await execute(conn, command)
            except Exception as exc:  # noqa: BLE001 - handed to the plan
                command = plan.throw(exc)
            else:
                command = plan.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        plan.close()


def _unroutable(command: Any) -> TypeError:
    if type(command) in (Emit, EmitMany):
        return TypeError("a streaming plan was run for its result; use iter_sync / iter_async")
    return TypeError(f"no driver in this run executes {type(command).__name__} commands")


def iter_sync(route: Route, plan: Plan[Any]) -> Iterator[Any]:
    """Stream the items a plan emits, with blocking drivers."""
    return stream_sync(session(route, plan, stream=True))


def iter_async(route: Route, plan: Plan[Any]) -> AsyncIterator[Any]:
    """Stream the items a plan emits, with asyncio drivers."""
    return stream_async(session(route, plan, stream=True))


class SyncBlock:
    """A ``with`` block whose entry and exit are pure generators (a transaction, a lock)."""

    __slots__ = ("_enter", "_exit")

    def __init__(self, enter: Callable[[], Ops[Any]], exit: Callable[[BaseException | None], Ops[None]]) -> None:
        self._enter, self._exit = enter, exit

    def __enter__(self) -> Any:
        return drive_sync(self._enter())

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        drive_sync(self._exit(exc))


class AsyncBlock:
    """:class:`SyncBlock` for ``async with``."""

    __slots__ = ("_enter", "_exit")

    def __init__(self, enter: Callable[[], Ops[Any]], exit: Callable[[BaseException | None], Ops[None]]) -> None:
        self._enter, self._exit = enter, exit

    async def __aenter__(self) -> Any:
        return await drive_async(self._enter())

    async def __aexit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        await drive_async(self._exit(exc))


# -- plan combinators (pure) ---------------------------------------------------------------------
def collect(plan: Plan[Any], limit: int | None = None) -> Plan[list[Any]]:
    """Turn a streaming plan into a plan that returns its items as a list.

    Used inside other plans (``yield from collect(...)``); with ``limit`` it stops
    reading as soon as it has that many items.
    """
    out: list[Any] = []
    try:
        command = next(plan)
        while True:
            if isinstance(command, (Emit, EmitMany)):
                out.extend(command.values if isinstance(command, EmitMany) else (command.value,))
                if limit is not None and len(out) >= limit:
                    return out[:limit]
                command = next(plan)
            else:
                try:
                    reply = yield command
                except Exception as exc:  # noqa: BLE001 - the inner plan decides, as under a runner
                    command = plan.throw(exc)
                else:
                    command = plan.send(reply)
    except StopIteration:
        return out
    finally:
        plan.close()


def window(plan: Plan[Any], offset: int = 0, limit: int | None = None) -> Plan[None]:
    """Re-emit the items of a streaming plan from ``offset``, at most ``limit`` of them.

    Stops the inner plan (no more reads) as soon as the window is full.
    """
    skipped = sent = 0
    if limit == 0:
        plan.close()
        return
    try:
        command = next(plan)
        while True:
            if isinstance(command, (Emit, EmitMany)):
                for value in command.values if isinstance(command, EmitMany) else (command.value,):
                    if skipped < offset:
                        skipped += 1
                        continue
                    yield Emit(value)
                    sent += 1
                    if limit is not None and sent >= limit:
                        return
                command = next(plan)
            else:
                try:
                    reply = yield command
                except Exception as exc:  # noqa: BLE001 - handed to the inner plan
                    command = plan.throw(exc)
                else:
                    command = plan.send(reply)
    except StopIteration:
        return
    finally:
        plan.close()
