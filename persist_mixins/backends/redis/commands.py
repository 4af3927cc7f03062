"""The two values Redis plans yield: one command, or several in one round trip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Command", "Pipeline", "ScriptMissing"]


@dataclass(frozen=True, slots=True)
class Command:
    """One Redis command; the reply is what redis-py's ``execute_command`` returns."""

    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Several commands in one round trip (MULTI/EXEC when ``transaction``); the reply is a list."""

    commands: tuple[Command, ...]
    transaction: bool = False


class ScriptMissing(Exception):
    """Raised by drivers when the server does not know a script sent by EVALSHA (NOSCRIPT).

    Plans catch it to send the script's source, without importing the driver's exceptions.
    """
