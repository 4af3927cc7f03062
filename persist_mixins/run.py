"""Plans and the only loops that run them.

A *plan* is a generator that yields backend commands, receives each reply, and
finally returns a result; it imports no driver and never awaits (the psycopg 3
``generators.py`` / ``waiting.py`` split).  A streaming plan also yields
:class:`Emit` markers, one per result item, so results reach the caller while
the plan is still reading.

The four runners here are the only code that touches both a plan and a driver:
``run_sync`` / ``run_async`` for plans that return a value, ``iter_sync`` /
``iter_async`` for plans that stream.  A driver error is thrown into the plan, so
a plan may handle it; if it does not, it propagates unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Emit", "EmitMany", "Plan", "collect", "iter_async", "iter_sync", "run_async", "run_sync"]

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


def _step(plan: Plan[Any], reply: Any, error: BaseException | None) -> Any:
    if error is not None:
        return plan.throw(error)
    return plan.send(reply)


def run_sync(execute: Callable[[Any], Any], plan: Plan[T]) -> T:
    """Run a plan to completion with a blocking ``execute(command) -> reply``.

    Returns:
        The plan's return value.
    """
    try:
        command = next(plan)
        while True:
            if isinstance(command, (Emit, EmitMany)):
                raise TypeError("streaming plan given to run_sync; use iter_sync")
            try:
                reply, error = execute(command), None
            except Exception as exc:  # noqa: BLE001 - handed to the plan, which may handle or re-raise it
                reply, error = None, exc
            command = _step(plan, reply, error)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        plan.close()


async def run_async(execute: Callable[[Any], Awaitable[Any]], plan: Plan[T]) -> T:
    """Run a plan to completion with an awaitable ``execute(command) -> reply``.

    Returns:
        The plan's return value.
    """
    try:
        command = next(plan)
        while True:
            if isinstance(command, (Emit, EmitMany)):
                raise TypeError("streaming plan given to run_async; use iter_async")
            try:
                reply, error = await execute(command), None
            except Exception as exc:  # noqa: BLE001 - handed to the plan
                reply, error = None, exc
            command = _step(plan, reply, error)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        plan.close()


def iter_sync(execute: Callable[[Any], Any], plan: Plan[Any]) -> Iterator[Any]:
    """Run a streaming plan, yielding each item it emits as soon as it is emitted."""
    try:
        command = next(plan)
        while True:
            if isinstance(command, Emit):
                yield command.value
                command = next(plan)
                continue
            if isinstance(command, EmitMany):
                yield from command.values
                command = next(plan)
                continue
            try:
                reply, error = execute(command), None
            except Exception as exc:  # noqa: BLE001 - handed to the plan
                reply, error = None, exc
            command = _step(plan, reply, error)
    except StopIteration:
        return
    finally:
        plan.close()


async def iter_async(execute: Callable[[Any], Awaitable[Any]], plan: Plan[Any]) -> AsyncIterator[Any]:
    """Run a streaming plan with an async driver, yielding each emitted item."""
    try:
        command = next(plan)
        while True:
            if isinstance(command, Emit):
                yield command.value
                command = next(plan)
                continue
            if isinstance(command, EmitMany):
                for value in command.values:
                    yield value
                command = next(plan)
                continue
            try:
                reply, error = await execute(command), None
            except Exception as exc:  # noqa: BLE001 - handed to the plan
                reply, error = None, exc
            command = _step(plan, reply, error)
    except StopIteration:
        return
    finally:
        plan.close()


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
