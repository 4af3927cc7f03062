"""Fake drivers for driving plans with scripted replies, with no server (shared by the plan tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from persist_mixins.run import DIRECT, Route


class _FnDriver:
    """A driver whose ``execute`` is a plain function of the command."""

    rules = DIRECT
    shared = True  # no connection to check out

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def execute(self, conn: Any, command: Any) -> Any:
        return self.fn(command)


class _Everything(Mapping[type, Any]):
    """A route that sends every command type to one driver."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def __getitem__(self, kind: type) -> Any:
        return self.driver

    def __iter__(self) -> Iterator[type]:
        return iter(())

    def __len__(self) -> int:
        return 0


def through(execute: Callable[[Any], Any]) -> Route:
    """A route that hands every command a plan yields to ``execute(command)`` (sync or async)."""
    return _Everything(_FnDriver(execute))


class Script:
    """A fake driver: answers each command with the next scripted reply and records every command.

    A scripted reply that is an exception instance is raised instead of returned.
    """

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.sent: list[Any] = []

    @property
    def route(self) -> Route:
        """Run a plan against this script: ``run_sync(script.route, plan)``."""
        return through(self.execute)

    def execute(self, command: Any) -> Any:
        self.sent.append(command)
        if not self.replies:
            raise AssertionError(f"unexpected command {command!r}: no reply scripted")
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    async def aexecute(self, command: Any) -> Any:
        return self.execute(command)
