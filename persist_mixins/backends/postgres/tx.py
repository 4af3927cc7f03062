"""Transactions bound to one task or thread, shared by every PostgreSQL driver.

``Model.transaction()`` checks a connection out of the pool and binds it, in a
context variable, to the task (or thread) that opened the block: every
operation of that task on the same pool runs on that connection.  Child tasks
inherit context variables, so a child that reaches for the transaction is
*detected* (its task is not the owner) and refused with
:class:`~persist_mixins.errors.TransactionError`, instead of interleaving
statements on the parent's connection (the peewee-async bug that lost writes).

This module holds no I/O: drivers ask it which SQL to send.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import TransactionError

__all__ = ["Bound", "Steps", "bind", "bound", "held", "owner", "unbind"]

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
        """The SQL for ``Begin``: a transaction, or a savepoint inside one (None: nothing to send)."""
        if read_only and (in_transaction or self.opened):
            self.opened.append(None)  # reads inside the caller's transaction need no savepoint
            return None
        if in_transaction or self.opened:
            name = f"_pm_sp_{len(self.opened)}"
            self.opened.append(name)
            return f"SAVEPOINT {name}"
        self.opened.append("")
        return "BEGIN"

    def commit(self) -> str | None:
        """The SQL for ``Commit`` (None: nothing to send)."""
        name = self.opened.pop()
        if name is None:
            return None
        return f"RELEASE SAVEPOINT {name}" if name else "COMMIT"

    def rollback(self) -> list[str]:
        """The SQL that undoes whatever is still open (the plan failed or stopped early)."""
        out = []
        while self.opened:
            name = self.opened.pop()
            if name is None:
                continue
            out.extend([f"ROLLBACK TO SAVEPOINT {name}", f"RELEASE SAVEPOINT {name}"] if name else ["ROLLBACK"])
        return out


def savepoint(depth: int) -> str:
    """The name of the savepoint a nested ``transaction()`` block at ``depth`` uses."""
    return f"_pm_tx_{depth}"


def rolled_back_error(model: str) -> TransactionError:
    """The error for a COMMIT that PostgreSQL answered with ROLLBACK."""
    return TransactionError(
        f"{model}.transaction(): PostgreSQL rolled the transaction back at COMMIT, because a statement "
        "inside it failed (an error was caught and the block went on): nothing in it was written"
    )
