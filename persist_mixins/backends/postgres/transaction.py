"""PostgreSQL sessions and transactions as pure generators of driver calls (no I/O here).

:class:`PgSession` is the backend's session rules: a run checks a connection out
of the pool (or joins the transaction its task holds), turns ``Begin`` / ``Commit``
into BEGIN / SAVEPOINT / COMMIT, and on failure rolls back what it opened before
giving the connection back.  :class:`TransactionBlock` is ``Model.transaction()``:
entry and exit as generators, run by :class:`~persist_mixins.run.SyncBlock` or
:class:`~persist_mixins.run.AsyncBlock` (psycopg's ``BaseTransaction._enter_gen`` /
``_exit_gen``), so the logic exists once for psycopg sync, psycopg async and aiopg.

``Model.transaction()`` binds the connection, in a context variable, to the task
(or thread) that opened the block: every operation of that task on the same pool
runs on that connection.  Child tasks inherit context variables, so a child that
reaches for the transaction is *detected* (its task is not the owner) and refused
with :class:`~persist_mixins.errors.TransactionError`, instead of interleaving
statements on the parent's connection (the peewee-async bug that lost writes).
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import TransactionError
from ...run import Io, Link, Ops
from .commands import Begin, Commit, Sql

__all__ = ["PG_SESSION", "Bound", "PgSession", "Steps", "TransactionBlock", "bind", "bound", "held", "owner", "unbind"]

_bound: contextvars.ContextVar[Mapping[Any, Bound]] = contextvars.ContextVar("persist_mixins_pg_transaction")


def owner() -> Any:
    """The running asyncio task, or the current thread's id outside a task."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return task if task is not None else threading.get_ident()


@dataclass(eq=False)
class Bound:
    """A connection bound to a task by ``transaction()``, and how deep the blocks nest."""

    conn: Any
    owner: Any
    model: str
    depth: int = 1
    closed: bool = False


def bound(key: Any, model: str) -> Bound | None:
    """The transaction the current task holds on ``key`` (a pool or connection), if any.

    Raises:
        TransactionError: the transaction belongs to another task (a child task
            inherited it) or has already ended.
    """
    held = _bound.get(None)
    if not held:
        return None
    found = held.get(key)
    if found is None:
        return None
    if found.closed:
        raise TransactionError(
            f"{model}: this task was started inside {found.model}.transaction(), which has ended; "
            "its connection is gone. Start the task outside the block, or open its own transaction()"
        )
    if found.owner != owner():
        raise TransactionError(
            f"{model}: the transaction opened by {found.model}.transaction() belongs to another task; "
            "a child task cannot join it (its statements would interleave with the parent's). "
            "Await the work in the task that opened the block, or give the child its own transaction()"
        )
    return found


def held(key: Any) -> Bound | None:
    """The live transaction the current task itself opened on ``key``, if any (for nesting)."""
    found = (_bound.get(None) or {}).get(key)
    if found is None or found.closed or found.owner != owner():
        return None
    return found


def bind(key: Any, conn: Any, model: str) -> tuple[Bound, contextvars.Token[Mapping[Any, Bound]]]:
    """Bind ``conn`` to the current task for ``key``; returns the binding and the token to undo it."""
    state = Bound(conn, owner(), model)
    token = _bound.set({**_bound.get({}), key: state})
    return state, token


def unbind(state: Bound, token: contextvars.Token[Mapping[Any, Bound]]) -> None:
    """End a binding: tasks that inherited it now get TransactionError."""
    state.closed = True
    _bound.reset(token)


@dataclass
class Steps:
    """What ``Begin`` / ``Commit`` commands opened within one plan run, innermost last."""

    opened: list[str | None] = field(default_factory=list)

    def begin(self, in_transaction: bool, read_only: bool = False) -> str | None:
        """The SQL for ``Begin``: a transaction, or a savepoint inside one (None: nothing to send).

        The Begin's token (its reply) is ``len(opened) - 1`` afterwards.
        """
        if read_only and (in_transaction or self.opened):
            self.opened.append(None)  # reads inside the caller's transaction need no savepoint
            return None
        if in_transaction or self.opened:
            name = f"_pm_sp_{len(self.opened)}"
            self.opened.append(name)
            return f"SAVEPOINT {name}"
        self.opened.append("")
        return "BEGIN"

    def commit(self, token: int | None = None) -> list[str]:
        """The SQL for ``Commit``: undo what was opened after ``token`` and left open, then end ``token``'s own."""
        out = []
        if token is not None:
            while len(self.opened) > token + 1:  # an inner plan stopped before its Commit
                out.extend(_undo(self.opened.pop()))
        name = self.opened.pop()
        if name is not None:
            out.append(f"RELEASE SAVEPOINT {name}" if name else "COMMIT")
        return out

    def rollback(self) -> list[str]:
        """The SQL that undoes whatever is still open (the plan failed or stopped early)."""
        out = []
        while self.opened:
            out.extend(_undo(self.opened.pop()))
        return out


def _undo(name: str | None) -> list[str]:
    """The SQL undoing one opened step (None: a read that joined the caller's transaction, nothing)."""
    if name is None:
        return []
    return [f"ROLLBACK TO SAVEPOINT {name}", f"RELEASE SAVEPOINT {name}"] if name else ["ROLLBACK"]


def savepoint(depth: int) -> str:
    """The name of the savepoint a nested ``transaction()`` block at ``depth`` uses."""
    return f"_pm_tx_{depth}"


def rolled_back_error(model: str) -> TransactionError:
    """The error for a COMMIT that PostgreSQL answered with ROLLBACK."""
    return TransactionError(
        f"{model}.transaction(): PostgreSQL rolled the transaction back at COMMIT, because a statement "
        "inside it failed (an error was caught and the block went on): nothing in it was written"
    )


# -- the session rules of a run ---------------------------------------------------------------
class _RunState:
    """What one run did with its connection: whether it checked it out, and what it opened."""

    __slots__ = ("implicit", "owned", "steps")

    def __init__(self, owned: bool, implicit: bool) -> None:
        self.owned = owned
        self.implicit = implicit
        self.steps: Steps | None = None  # made by the first Begin: most runs send none


def _steps(link: Link) -> Steps:
    state = link.state
    if state.steps is None:
        state.steps = Steps()
    return state.steps  # type: ignore[no-any-return]


def _begin(link: Link, command: Begin) -> Ops[int]:
    driver, steps = link.driver, _steps(link)
    sql = steps.begin(driver.in_transaction(link.conn), command.read_only)
    if sql is not None:
        yield Io(driver.execute, (link.conn, Sql(sql)))
    return len(steps.opened) - 1  # the token the matching Commit names


def _commit(link: Link, command: Commit) -> Ops[None]:
    for sql in _steps(link).commit(command.token):
        status = yield Io(link.driver.execute, (link.conn, Sql(sql, (), "status")))
        if sql == "COMMIT" and status == "ROLLBACK":
            raise rolled_back_error(link.driver.model)


_SPECIAL: Mapping[type, Any] = {Begin: _begin, Commit: _commit}


class PgSession:
    """The PostgreSQL session rules (see :class:`~persist_mixins.run.SessionRules`)."""

    def open(self, driver: Any) -> Ops[Link]:
        """Join the task's transaction on this pool, or check a connection out."""
        held = bound(driver.key, driver.model)
        if held is not None:
            return Link(driver, held.conn, _RunState(False, False), _SPECIAL)
        conn = yield Io(driver.acquire)
        link = Link(driver, conn, _RunState(True, driver.implicit(conn)), _SPECIAL)
        # On a user's non-autocommit connection, a stream is read in full first: the
        # loop body may write on that same connection, and those writes must be committed.
        link.buffered = link.state.implicit
        return link

    def close(self, link: Link, ok: bool) -> Ops[None]:
        """Roll back what the run left open, end an implicit transaction, give the connection back."""
        state, driver, conn = link.state, link.driver, link.conn
        try:
            for sql in state.steps.rollback() if state.steps is not None else ():
                try:
                    yield Io(driver.execute, (conn, Sql(sql)))
                except Exception:  # noqa: BLE001 - the connection may be gone; the pool discards it
                    break
            if state.implicit:
                yield Io(driver.end, (conn, ok))
        finally:
            if state.owned:
                yield Io(driver.release, (conn,))


PG_SESSION = PgSession()


# -- Model.transaction() ---------------------------------------------------------------------
class TransactionBlock:
    """One ``transaction()`` block: BEGIN (or a savepoint when nested) and COMMIT / ROLLBACK."""

    __slots__ = ("_held", "_savepoint", "_token", "driver")

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self._held: Bound | None = None
        self._savepoint: str | None = None
        self._token: Any = None

    def enter(self) -> Ops[TransactionBlock]:
        """Begin (or open a savepoint inside the current task's transaction)."""
        d = self.driver
        held_ = held(d.key)  # a child task's own block starts a transaction of its own
        if held_ is not None:
            held_.depth += 1
            self._held, self._savepoint = held_, savepoint(held_.depth)
            try:
                yield Io(d.execute, (held_.conn, Sql(f"SAVEPOINT {self._savepoint}")))
            except BaseException:
                held_.depth -= 1
                raise
            return self
        conn = yield Io(d.acquire)
        try:
            yield Io(d.execute, (conn, Sql("BEGIN")))
        except BaseException:
            yield Io(d.release, (conn,))
            raise
        self._held, self._token = bind(d.key, conn, d.model)
        return self

    def exit(self, exc: BaseException | None) -> Ops[None]:
        """Commit (or release the savepoint) on success; roll back on any exception or cancellation."""
        d, held_ = self.driver, self._held
        assert held_ is not None
        if self._savepoint is not None:
            held_.depth -= 1
            if exc is None:
                yield Io(d.execute, (held_.conn, Sql(f"RELEASE SAVEPOINT {self._savepoint}")))
                return
            try:  # the original exception is what the caller must see
                yield Io(d.execute, (held_.conn, Sql(f"ROLLBACK TO SAVEPOINT {self._savepoint}")))
                yield Io(d.execute, (held_.conn, Sql(f"RELEASE SAVEPOINT {self._savepoint}")))
            except Exception:  # noqa: BLE001
                pass
            return
        try:
            if exc is None:
                status = yield Io(d.execute, (held_.conn, Sql("COMMIT", (), "status")))
                if status == "ROLLBACK":
                    raise rolled_back_error(d.model)
            else:
                try:  # noqa: SIM105 - contextlib.suppress cannot wrap a yield
                    yield Io(d.execute, (held_.conn, Sql("ROLLBACK")))
                except Exception:  # noqa: BLE001 - a dead connection rolled back by itself
                    pass
        finally:
            unbind(held_, self._token)
            yield Io(d.release, (held_.conn,))
