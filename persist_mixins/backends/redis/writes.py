"""Building Redis writes: one command per object save or delete, indexed or not.

A model without ``__indexes__`` is written with a plain ``SET key json [PX ms]``,
byte for byte what redis-schematics wrote.  An indexed model is written by the
``SAVE`` Lua script, which replaces the object's index entries and value in one
atomic step.  :func:`send` and :func:`send_batch` run such commands from a plan,
loading the scripts into a server that does not know them yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...run import Plan
from ...spec import ModelSpec, expire_ms
from . import scripts
from .commands import Command, Pipeline, ScriptMissing
from .compile import entries, index_keys
from .schema import encode, entries_key, key_for, schedule_key

__all__ = [
    "BATCH", "KEEP", "count_written", "delete_command", "expire_ms", "payload", "save_command", "send", "send_batch",
    "write_commands",
]  # fmt: skip

#: Writes per pipeline round trip.
BATCH = 1000
#: ``px`` value meaning "keep the object's current TTL".
KEEP = "KEEP"


def payload(spec: ModelSpec[Any], obj: Any, data: dict[str, Any]) -> tuple[str, bytes]:
    """An object's pk (filled now) and its JSON document, the pk field written into it as redis-schematics did."""
    pk = spec.fill_pk(obj)  # write_commands ran check_pk on every object first
    field = spec.pk_field
    if field is not None and data.get(field) in (None, ""):
        value = getattr(obj, field)
        data[field] = value if isinstance(value, int) else str(value)
    return pk, encode(spec, data)


#: Objects per save-script call when writing many (the script runs atomically per call).
SCRIPT_BATCH = 100


def write_commands(
    spec: ModelSpec[Any], objs: Sequence[Any], px: int | str | None, *, only_existing: bool = False
) -> list[Command]:
    """The commands that store ``objs``, every object validated (and its pk filled) first.

    Unindexed models get one ``SET`` per object; indexed models one save-script call
    per :data:`SCRIPT_BATCH` objects.  :func:`count_written` reads the replies.

    Args:
        spec: the model spec.
        objs: the objects.
        px: TTL in ms, None for no expiry, or :data:`KEEP` to keep the current TTL.
        only_existing: write only objects still stored (never recreate a deleted one).
    """
    # Validate every object (data and pk rules) before filling the pk of any: a batch
    # with one bad object raises with nothing written and no object changed.
    dumped = [spec.adapter.dump(obj) for obj in objs]
    for obj in objs:
        spec.check_pk(obj)
    payloads = [(obj, *payload(spec, obj, data)) for obj, data in zip(objs, dumped, strict=True)]
    if not spec.options.indexes:
        tail: tuple[Any, ...] = ("XX",) if only_existing else ()
        if px == KEEP:
            tail += ("KEEPTTL",)
        elif px is not None:
            tail += ("PX", px)
        return [Command(("SET", key_for(spec, pk), document, *tail)) for _, pk, document in payloads]
    shared = [schedule_key(spec), *index_keys(spec)]
    commands = []
    for start in range(0, len(payloads), SCRIPT_BATCH):
        keys = list(shared)
        argv: list[Any] = [len(shared) - 1, "XX" if only_existing else "SET"]
        for obj, pk, document in payloads[start : start + SCRIPT_BATCH]:
            found = entries(spec, obj, pk)
            keys += [key_for(spec, pk), entries_key(spec, pk)]
            argv += [document, "" if px is None else px, pk, len(found)]
            for position, score, member in found:
                argv += [position + 1, score, member]
        commands.append(scripts.SAVE.evalsha(keys, argv))
    return commands


def save_command(spec: ModelSpec[Any], obj: Any, px: int | str | None, *, only_existing: bool = False) -> Command:
    """The one command that stores ``obj`` (see :func:`write_commands`)."""
    return write_commands(spec, [obj], px, only_existing=only_existing)[0]


def count_written(replies: Sequence[Any]) -> int:
    """How many objects the replies to :func:`write_commands` say were written."""
    # SET answers True (None when XX found nothing); the save script answers a count.
    return sum(r if type(r) is int else int(bool(r)) for r in replies)


def delete_command(spec: ModelSpec[Any], pk: str) -> Command:
    """The command that deletes one object (and its index entries); its reply is 0 or 1."""
    key = key_for(spec, pk)
    if not spec.options.indexes:
        return Command(("DEL", key))
    return scripts.DELETE.evalsha([key, entries_key(spec, pk), schedule_key(spec)], [pk])


def send(command: Command) -> Plan[Any]:
    """Send one command; an EVALSHA the server does not know is resent as EVAL (which caches it)."""
    try:
        return (yield command)
    except ScriptMissing:
        if command.args[0] != "EVALSHA":
            raise
    script = scripts.BY_SHA[command.args[1]]
    return (yield Command(("EVAL", script.source, *command.args[2:])))


#: How often a pipeline is resent after loading its scripts, when the server keeps losing them.
_SCRIPT_RELOADS = 3


def send_batch(commands: Sequence[Command], transaction: bool = False) -> Plan[list[Any]]:
    """Send commands in one pipeline; on NOSCRIPT, load the scripts and send it again.

    Retrying is safe: when the server lacks a script, none of its EVALSHA calls ran.
    """
    pipeline = Pipeline(tuple(commands), transaction)
    for _ in range(_SCRIPT_RELOADS):
        try:
            return (yield pipeline)  # type: ignore[no-any-return]
        except ScriptMissing:  # flushed (a restart, SCRIPT FLUSH), maybe again between our load and resend
            for sha in {c.args[1] for c in commands if c.args[0] == "EVALSHA"}:
                yield scripts.BY_SHA[sha].load()
    return (yield pipeline)  # type: ignore[no-any-return]
