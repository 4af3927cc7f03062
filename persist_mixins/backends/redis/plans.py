"""Redis plans: every SimpleRedisMixin operation as a generator of commands.

Single-object operations live here; queries over many objects are in
:mod:`.queries` (which imports nothing from here) and re-exported, so every plan
the backend declares is found in this module.

Pure logic, no I/O: a plan yields :class:`Command` / :class:`Pipeline` values and
receives their replies from whichever runner drives it (sync or asyncio), so
the same code serves ``redis.Redis`` and ``redis.asyncio.Redis`` and is tested
with scripted replies.  This module must not import ``redis`` (a ruff rule
enforces it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ... import pk_plans
from ...errors import ConfigurationError, NotFound, ValidationError
from ...run import Plan
from ...spec import ModelSpec
from . import scripts
from .commands import Command, Pipeline
from .locks import guarded
from .queries import (
    count,
    delete_where,
    exists,
    fetch,
    match,
    match_for_values,
    reindex,
    require_pk,
    select_pairs,
    update_where,
)
from .schema import entries_prefix, key_for, object_prefix, schedule_key, tagged
from .writes import (
    KEEP,
    checked_write,
    delete_command,
    expire_ms,
    patch_command,
    save_command,
    send,
    unique_keys,
    write_all,
)

__all__ = [
    "guarded", "Command", "Pipeline", "check", "count", "delete", "delete_where", "exists", "expire", "fetch", "match",
    "match_for_pk", "match_for_values", "persist", "purge_expired", "refresh", "reindex", "save",
    "save_many", "save_only", "select_pairs", "ttl", "update_where",
]  # fmt: skip

#: Expired objects examined per PURGE script call (bounds how long the server is busy).
PURGE_BATCH = 500


def save(spec: ModelSpec[Any], obj: Any, expire: Any = None) -> Plan[Any]:
    """``obj.set()``: validate, fill the pk, write value, TTL and index entries in one round trip.

    A versioned model (``__version_field__``) is written by the ``PATCH`` script, which
    compares the stored version with the object's first (ConflictError when it moved on);
    so are ``__unique__`` models (claims checked) and ``__db_defaults__`` models (the script
    fills the None fields, and the values it chose are filled back).
    """
    if spec.options.version_field is not None or spec.options.unique or spec.options.db_defaults:  # on the server
        return (yield from checked_write(spec, obj, None, expire_ms(spec, expire), patch_command(spec, "FULL")))
    yield from send(save_command(spec, obj, expire_ms(spec, expire)))
    return obj


def save_only(spec: ModelSpec[Any], obj: Any, fields: tuple[str, ...]) -> Plan[Any]:
    """``obj.set(only=fields)``: the ``PATCH`` script merges just those fields into the stored document.

    Atomic on the server: the other fields, the TTL and the other index entries stay as
    stored; NotFound (nothing written) when the object is gone or expired.
    """
    return (yield from checked_write(spec, obj, fields, KEEP, patch_command(spec, "ONLY")))


def save_many(spec: ModelSpec[Any], objs: Iterable[Any], expire: Any = None) -> Plan[list[Any]]:
    """``set_many()``: validate every object first, then build and pipeline the writes batch by batch."""
    px = expire_ms(spec, expire)
    items = list(objs)
    if spec.options.version_field and items:
        raise ValidationError(f"{spec.name}.set_many(): models with __version_field__ are saved one by one with set()")
    for obj in items:
        if not isinstance(obj, spec.cls):
            raise ValidationError(f"{spec.name}.set_many() takes {spec.name} objects, got {type(obj).__name__}")
    yield from write_all(spec, items, px)  # validates every object before the first write
    return items


def match_for_pk(spec: ModelSpec[Any], pk: Any) -> Plan[Any]:
    """``match_for_pk(pk)``: the object, or :class:`~persist_mixins.errors.NotFound`."""
    return (yield from pk_plans.match_for_pk(fetch, spec, pk))


def refresh(spec: ModelSpec[Any], obj: Any) -> Plan[Any]:
    """``obj.refresh()``: reload every field in place; :class:`~persist_mixins.errors.NotFound` when gone."""
    return (yield from pk_plans.refresh(fetch, spec, obj, require_pk(spec, obj)))


def delete(spec: ModelSpec[Any], obj: Any) -> Plan[bool]:
    """``obj.delete()``: True when a stored object was removed (its index entries go with it)."""
    pk = spec.pk_of(obj)
    if pk is None:
        return False
    return bool((yield from send(delete_command(spec, pk))))


def _ttl_command(spec: ModelSpec[Any], pk: str, px: int | None) -> Command:
    key = key_for(spec, pk)
    if tagged(spec):  # keep the expiry schedule in step
        return scripts.EXPIRE.evalsha([key, schedule_key(spec)], [pk, "" if px is None else px])
    return Command(("PERSIST", key) if px is None else ("PEXPIRE", key, px))


def expire(spec: ModelSpec[Any], obj: Any, seconds: Any) -> Plan[bool]:
    """``obj.expire(seconds)``: set a TTL; False when the object is not stored."""
    px = expire_ms(spec, seconds) if seconds is not None else None
    if px is None:
        raise ValidationError(f"{spec.name}.expire() needs a number of seconds or a timedelta")
    return bool((yield from send(_ttl_command(spec, require_pk(spec, obj), px))))


def persist(spec: ModelSpec[Any], obj: Any) -> Plan[bool]:
    """``obj.persist()``: drop the TTL; True when there was one to drop."""
    return bool((yield from send(_ttl_command(spec, require_pk(spec, obj), None))))


def ttl(spec: ModelSpec[Any], obj: Any) -> Plan[float | None]:
    """``obj.ttl()``: seconds left (float), None when it never expires, NotFound when gone."""
    pk = require_pk(spec, obj)
    ms = yield Command(("PTTL", key_for(spec, pk)))
    if ms == -2:
        raise NotFound(f"{spec.name} with pk {pk!r} not found (deleted or expired)")
    return None if ms == -1 else ms / 1000


def purge_expired(spec: ModelSpec[Any]) -> Plan[int]:
    """``purge_expired()``: remove the index entries of expired objects; return how many objects.

    Redis drops expired values itself; only indexed models leave entries behind
    (never visible to reads, which skip hits whose value is gone).
    """
    if not tagged(spec):
        return 0
    purged = 0
    args = [object_prefix(spec), entries_prefix(spec), PURGE_BATCH]
    while True:
        done, examined = yield from send(scripts.PURGE.evalsha([schedule_key(spec), *unique_keys(spec)], args))
        purged += int(done)
        if int(examined) < PURGE_BATCH:
            return purged


def check(cls: type) -> None:
    """Class-creation check: a ``__db_defaults__`` field cannot be in ``__indexes__``.

    Its index entry would have to be made inside the write script from a value the server
    chose (and, for a kept stored value, read back from the stored text); refused instead.
    """
    indexed = set(getattr(cls, "__indexes__", None) or ())
    both = [name for name in getattr(cls, "__db_defaults__", None) or () if name in indexed]
    if both:
        raise ConfigurationError(
            f"{cls.__name__}.__db_defaults__ names {both[0]!r}, which is in __indexes__: on Redis a field the server "
            "fills cannot be indexed; drop it from one of the two"
        )
