"""The two values Redis plans yield, and the reply each command's plan receives.

Plans see replies in one documented shape (:data:`REPLIES`), not in the shape a
client library's reply callbacks happen to give: a driver normalizes them
(:func:`normalize`), so another executor (a Redis Cluster one grouping keys by
slot) is an addition, not a rewrite of the plans.

Multi-key commands (``MGET``, ``DEL``, ``EXISTS``) may name keys of several
Cluster slots when the model has no ``__indexes__`` (its keys carry no hash tag);
a Cluster driver splits such a command by slot and reassembles the reply in key
order (the shapes below).  Commands of an indexed model, and its scripts, touch
one slot only: ``{prefix}`` is a hash tag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["REPLIES", "Command", "Pipeline", "ScriptMissing", "normalize"]


@dataclass(frozen=True, slots=True)
class Command:
    """One Redis command; the reply is described in :data:`REPLIES` by the command's name."""

    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Several commands in one round trip (MULTI/EXEC when ``transaction``); the reply is a list of their replies."""

    commands: tuple[Command, ...]
    transaction: bool = False


class ScriptMissing(Exception):
    """Raised by drivers when the server does not know a script sent by EVALSHA (NOSCRIPT).

    Plans catch it to send the script's source, without importing the driver's exceptions.
    """


#: The reply a plan receives, by command name.  Values are bytes (never decoded), integers int.
REPLIES: dict[str, str] = {
    "GET": "bytes, or None when the key is absent",
    "MGET": "list of bytes-or-None, one per key",
    "SET": "True when written, None when a condition (NX/XX) stopped it",
    "DEL": "int: keys removed",
    "EXISTS": "int: keys that exist",
    "PTTL": "int: ms left; -1 no expiry; -2 absent",
    "PEXPIRE": "int: 1 when set, 0 when the key is absent",
    "PERSIST": "int: 1 when an expiry was removed, else 0",
    "SCAN": "[cursor: int, keys: list of bytes]",
    "ZRANGE": "list of bytes (members)",
    "ZRANGEBYSCORE": "list of bytes (members)",
    "ZREVRANGEBYSCORE": "list of bytes (members)",
    "ZRANGEBYLEX": "list of bytes (members)",
    "EVAL": "the script's reply as Redis returns it (int, bytes, list)",
    "EVALSHA": "as EVAL; ScriptMissing is raised when the server lacks the script",
    "SCRIPT": "SCRIPT LOAD: the sha1 as str or bytes",
    "HGET": "bytes, or None when the field (or the hash) is absent",
    "HSET": "int: fields added (not updated)",
    "HDEL": "int: fields removed",
    "HLEN": "int: fields in the hash",
    "HEXISTS": "int: 1 when the field exists, else 0",
    "HSCAN": "[cursor: int, [field, value, field, value, ...] as bytes]",
}


def _scan(reply: Any) -> list[Any]:
    cursor, keys = reply
    return [int(cursor), list(keys)]


def _hscan(reply: Any) -> list[Any]:
    cursor, pairs = reply
    if isinstance(pairs, dict):  # redis-py's callback turns the pairs into a dict
        pairs = [item for pair in pairs.items() for item in pair]
    return [int(cursor), list(pairs)]


def _flag(reply: Any) -> Any:
    return int(reply) if isinstance(reply, bool) else reply


def _written(reply: Any) -> Any:
    return True if reply in (True, b"OK", "OK") else None


_NORMALIZERS: dict[str, Callable[[Any], Any]] = {
    "SCAN": _scan,
    "HSCAN": _hscan,
    "HEXISTS": _flag,
    "SET": _written,
    "PEXPIRE": _flag,
    "PERSIST": _flag,
}


def normalize(command: Command, reply: Any) -> Any:
    """The reply in the shape :data:`REPLIES` documents (a driver calls this on every reply)."""
    fix = _NORMALIZERS.get(command.args[0])
    return reply if fix is None else fix(reply)
