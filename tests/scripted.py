"""A fake driver for driving plans with scripted replies, with no server (shared by the plan tests)."""

from __future__ import annotations

from typing import Any


class Script:
    """A fake driver: answers each command with the next scripted reply and records every command.

    A scripted reply that is an exception instance is raised instead of returned.
    """

    def __init__(self, *replies: Any) -> None:
        self.replies = list(replies)
        self.sent: list[Any] = []

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
