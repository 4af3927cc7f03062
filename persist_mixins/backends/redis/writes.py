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

from ...errors import ValidationError
from ...run import Plan
from ...spec import ModelSpec, to_millis
from . import scripts
from .commands import Command, Pipeline, ScriptMissing
from .index import entries, index_keys
from .layout import encode, entries_key, key_for, schedule_key

__all__ = ["KEEP", "delete_command", "expire_ms", "save_command", "send", "send_batch"]

#: ``px`` value meaning "keep the object's current TTL".
KEEP = "KEEP"
_BY_SHA = {s.sha: s for s in (scripts.SAVE, scripts.DELETE, scripts.EXPIRE, scripts.PURGE)}


def expire_ms(spec: ModelSpec, expire: Any) -> int | None:
    """The TTL of a write in ms: the given one, else the class's ``__expire__``.

    Raises:
        ValidationError: the value is not a positive number of seconds or a timedelta.
    """
    if expire is None:
        return spec.options.expire_ms
    try:
        return to_millis(expire, f"{spec.name}: expire")
    except (TypeError, ValueError) as exc:
        raise ValidationError(str(exc)) from None


def _payload(spec: ModelSpec, obj: Any) -> tuple[str, bytes]:
    data = spec.adapter.dump(obj)  # validates; raises before anything is written
    pk = spec.ensure_pk(obj)
    field = spec.pk_field
    if field is not None and data.get(field) in (None, ""):
        value = getattr(obj, field)
        data[field] = value if isinstance(value, int) else str(value)
    return pk, encode(spec, data)


def save_command(spec: ModelSpec, obj: Any, px: int | str | None, *, only_existing: bool = False) -> Command:
    """The command that stores ``obj`` (validating it and filling its pk first).

    Args:
        spec: the model spec.
        obj: the object.
        px: TTL in ms, None for no expiry, or :data:`KEEP` to keep the current TTL.
        only_existing: write only if the object is still stored (never recreate it).
    """
    pk, payload = _payload(spec, obj)
    key = key_for(spec, pk)
    if not spec.options.indexes:
        args: tuple[Any, ...] = ("SET", key, payload)
        if only_existing:
            args += ("XX",)
        if px == KEEP:
            args += ("KEEPTTL",)
        elif px is not None:
            args += ("PX", px)
        return Command(args)
    keys = [key, entries_key(spec, pk), schedule_key(spec), *index_keys(spec)]
    argv: list[Any] = [payload, "XX" if only_existing else "SET", "" if px is None else px, pk]
    for position, score, member in entries(spec, obj, pk):
        argv += [position + 1, score, member]
    return scripts.SAVE.evalsha(keys, argv)


def delete_command(spec: ModelSpec, pk: str) -> Command:
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
    script = _BY_SHA[command.args[1]]
    return (yield Command(("EVAL", script.source, *command.args[2:])))


def send_batch(commands: Sequence[Command], transaction: bool = False) -> Plan[list[Any]]:
    """Send commands in one pipeline; on NOSCRIPT, load the scripts and send it again.

    Retrying is safe: when the server lacks a script, none of its EVALSHA calls ran.
    """
    pipeline = Pipeline(tuple(commands), transaction)
    try:
        return (yield pipeline)  # type: ignore[no-any-return]
    except ScriptMissing:
        pass
    for sha in {c.args[1] for c in commands if c.args[0] == "EVALSHA"}:
        yield _BY_SHA[sha].load()
    return (yield pipeline)  # type: ignore[no-any-return]
