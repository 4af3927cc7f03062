"""Redis plans: every SimpleRedisMixin operation as a generator of commands.

Pure logic, no I/O: a plan yields :class:`Command` / :class:`Pipeline` values and
receives their replies from whichever runner drives it (sync or asyncio), so
the same code serves ``redis.Redis`` and ``redis.asyncio.Redis`` and is tested
with scripted replies.  This module must not import ``redis`` (a ruff rule
enforces it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import InvalidLookup, MultipleFound, NotFound, ValidationError
from ...lookups import Condition, matches, pk_from_conditions
from ...query import QueryState, sort_objects
from ...run import Emit, Plan, collect
from ...spec import ModelSpec, to_millis
from .layout import decode, encode, key_for, scan_pattern

__all__ = [
    "Command", "Pipeline", "count", "delete", "delete_where", "exists", "expire", "fetch", "match",
    "match_for_pk", "match_for_values", "persist", "purge_expired", "refresh", "save", "save_many",
    "select_pairs", "ttl", "update_where",
]  # fmt: skip

#: Keys per SCAN step and per MGET; writes per pipeline round trip.
SCAN_COUNT = 1000
BATCH = 1000


@dataclass(frozen=True, slots=True)
class Command:
    """One Redis command; the reply is what redis-py's ``execute_command`` returns."""

    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Pipeline:
    """Several commands in one round trip (MULTI/EXEC when ``transaction``); the reply is a list."""

    commands: tuple[Command, ...]
    transaction: bool = False


def _expire_ms(spec: ModelSpec, expire: Any) -> int | None:
    if expire is None:
        return spec.options.expire_ms
    try:
        return to_millis(expire, f"{spec.name}: expire")
    except (TypeError, ValueError) as exc:
        raise ValidationError(str(exc)) from None


def _set_command(spec: ModelSpec, obj: Any, expire_ms: int | None) -> Command:
    data = spec.adapter.dump(obj)  # validates; raises before anything is written
    pk = spec.ensure_pk(obj)
    field = spec.pk_field
    if field is not None and data.get(field) in (None, ""):
        value = getattr(obj, field)
        data[field] = value if isinstance(value, int) else str(value)
    payload = encode(spec, data)
    if expire_ms is None:
        return Command(("SET", key_for(spec, pk), payload))
    return Command(("SET", key_for(spec, pk), payload, "PX", expire_ms))


def _require_pk(spec: ModelSpec, obj: Any) -> str:
    pk = spec.pk_of(obj)
    if pk is None:
        raise NotFound(f"{spec.name} object has no pk: it was never saved")
    return pk


def save(spec: ModelSpec, obj: Any, expire: Any = None) -> Plan[Any]:
    """``obj.set()``: validate, fill the pk, write value and TTL in one ``SET``; return ``obj``."""
    yield _set_command(spec, obj, _expire_ms(spec, expire))
    return obj


def save_many(spec: ModelSpec, objs: Iterable[Any], expire: Any = None) -> Plan[list[Any]]:
    """``set_many()``: validate every object first, then pipeline the writes in batches."""
    expire_ms = _expire_ms(spec, expire)
    items = list(objs)
    for obj in items:
        if not isinstance(obj, spec.cls):
            raise ValidationError(f"{spec.name}.set_many() takes {spec.name} objects, got {type(obj).__name__}")
    commands = [_set_command(spec, obj, expire_ms) for obj in items]
    for start in range(0, len(commands), BATCH):
        yield Pipeline(tuple(commands[start : start + BATCH]))
    return items


def _load(spec: ModelSpec, key: Any, raw: Any) -> Any:
    return spec.adapter.load(decode(spec, key, raw))


def fetch(spec: ModelSpec, pk: Any) -> Plan[Any]:
    """Read one object by pk; return it, or None when absent or expired."""
    key = key_for(spec, str(pk))
    raw = yield Command(("GET", key))
    return None if raw is None else _load(spec, key, raw)


def match_for_pk(spec: ModelSpec, pk: Any) -> Plan[Any]:
    """``match_for_pk(pk)``: the object, or :class:`NotFound`."""
    obj = yield from fetch(spec, pk)
    if obj is None:
        raise NotFound(f"{spec.name} with pk {str(pk)!r} not found (never saved, deleted or expired)")
    return obj


def refresh(spec: ModelSpec, obj: Any) -> Plan[Any]:
    """``obj.refresh()``: reload every field in place; :class:`NotFound` when gone."""
    fresh = yield from match_for_pk(spec, _require_pk(spec, obj))
    spec.adapter.assign(obj, fresh)
    return obj


def delete(spec: ModelSpec, obj: Any) -> Plan[bool]:
    """``obj.delete()``: True when a stored object was removed."""
    pk = spec.pk_of(obj)
    if pk is None:
        return False
    return bool((yield Command(("DEL", key_for(spec, pk)))))


def expire(spec: ModelSpec, obj: Any, seconds: Any) -> Plan[bool]:
    """``obj.expire(seconds)``: set a TTL; False when the object is not stored."""
    ms = _expire_ms(spec, seconds) if seconds is not None else None
    if ms is None:
        raise ValidationError(f"{spec.name}.expire() needs a number of seconds or a timedelta")
    return bool((yield Command(("PEXPIRE", key_for(spec, _require_pk(spec, obj)), ms))))


def persist(spec: ModelSpec, obj: Any) -> Plan[bool]:
    """``obj.persist()``: drop the TTL; True when there was one to drop."""
    return bool((yield Command(("PERSIST", key_for(spec, _require_pk(spec, obj))))))


def ttl(spec: ModelSpec, obj: Any) -> Plan[float | None]:
    """``obj.ttl()``: seconds left (float), None when it never expires, NotFound when gone."""
    pk = _require_pk(spec, obj)
    ms = yield Command(("PTTL", key_for(spec, pk)))
    if ms == -2:
        raise NotFound(f"{spec.name} with pk {pk!r} not found (deleted or expired)")
    return None if ms == -1 else ms / 1000


def purge_expired(spec: ModelSpec) -> Plan[int]:
    """``purge_expired()``: Redis drops expired strings itself, and without indexes nothing is left behind."""
    yield from ()  # a plan with nothing to send
    return 0


def _scan(spec: ModelSpec, conditions: tuple[Condition, ...]) -> Plan[None]:
    """Stream ``(key, obj)`` for every stored object that meets the conditions.

    SCAN with an escaped pattern and ``TYPE string``, then MGET per batch; a key
    that expires or is deleted between the two is skipped, never a crash.
    """
    seen: set[Any] = set()
    cursor: Any = 0
    pattern = scan_pattern(spec)
    while True:
        cursor, keys = yield Command(("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT, "TYPE", "string"))
        fresh = [k for k in keys if k not in seen]
        seen.update(fresh)
        if fresh:
            raws = yield Command(("MGET", *fresh))
            for key, raw in zip(fresh, raws, strict=True):
                if raw is None:
                    continue
                obj = _load(spec, key, raw)
                if matches(spec, conditions, obj):
                    yield Emit((key, obj))
        if int(cursor) == 0:
            return


def _pinned(spec: ModelSpec, state: QueryState) -> Plan[list[tuple[Any, Any]] | None]:
    """Answer by a single GET when the conditions pin the pk for certain; else None."""
    pk, certain = pk_from_conditions(spec, state.conditions)
    if pk is None or not certain:
        return None
    obj = yield from fetch(spec, pk)
    if obj is None or not matches(spec, state.conditions, obj):
        return []
    return [(key_for(spec, pk), obj)]


def select_pairs(spec: ModelSpec, state: QueryState) -> Plan[None]:
    """Stream ``(key, obj)`` pairs for a query, honouring ordering, offset and limit."""
    pinned = yield from _pinned(spec, state)
    if pinned is not None:
        for pair in state.window(pinned):
            yield Emit(pair)
        return
    if state.ordering:
        pairs = yield from collect(_scan(spec, state.conditions))
        sort_objects(spec, pairs, state.ordering, key=lambda pair: pair[1])
        for pair in state.window(pairs):
            yield Emit(pair)
        return
    if state.limit == 0:
        return
    skipped = sent = 0
    scan = _scan(spec, state.conditions)
    try:
        command = next(scan)
        while True:
            if isinstance(command, Emit):
                if skipped < state.offset:
                    skipped += 1
                else:
                    yield command
                    sent += 1
                    if state.limit is not None and sent >= state.limit:
                        return
                command = next(scan)
            else:
                command = scan.send((yield command))
    except StopIteration:
        return
    finally:
        scan.close()


def match(spec: ModelSpec, state: QueryState) -> Plan[Any]:
    """``match(**lookups)``: exactly one object, checked against every condition.

    A pk pinned by the lookups is read with one GET; an ``id`` or
    ``__unique_together__`` hint is tried first, then the values are searched.
    """
    pk, certain = pk_from_conditions(spec, state.conditions)
    if pk is not None:
        obj = yield from fetch(spec, pk)
        if obj is not None and matches(spec, state.conditions, obj):
            return obj
        if certain:
            raise NotFound(f"{spec.name} matching {_describe(state)} not found")
    return (yield from match_for_values(spec, state))


def match_for_values(spec: ModelSpec, state: QueryState) -> Plan[Any]:
    """``match_for_values(**lookups)``: search by values; exactly one object or an error."""
    found = yield from collect(_scan(spec, state.conditions), limit=2)
    if not found:
        raise NotFound(f"{spec.name} matching {_describe(state)} not found")
    if len(found) > 1:
        raise MultipleFound(f"{spec.name}: more than one object matches {_describe(state)}")
    return found[0][1]


def count(spec: ModelSpec, state: QueryState) -> Plan[int]:
    """``count()``: how many stored objects meet the conditions (within offset/limit)."""
    if not state.conditions and not state.offset and state.limit is None:
        return (yield from _count_keys(spec))
    pairs = yield from collect(select_pairs(spec, state))
    return len(pairs)


def _count_keys(spec: ModelSpec) -> Plan[int]:
    seen: set[Any] = set()
    cursor: Any = 0
    pattern = scan_pattern(spec)
    while True:
        cursor, keys = yield Command(("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT, "TYPE", "string"))
        seen.update(keys)
        if int(cursor) == 0:
            return len(seen)


def exists(spec: ModelSpec, state: QueryState) -> Plan[bool]:
    """``exists()``: True when at least one stored object meets the conditions."""
    found = yield from collect(select_pairs(spec, state), limit=1)
    return bool(found)


def delete_where(spec: ModelSpec, state: QueryState) -> Plan[int]:
    """Query ``delete()``: remove every match, pipelined; return how many were removed."""
    pairs = yield from collect(select_pairs(spec, state))
    keys = [key for key, _ in pairs]
    removed = 0
    for start in range(0, len(keys), BATCH):
        removed += yield Command(("DEL", *keys[start : start + BATCH]))
    return removed


def update_where(spec: ModelSpec, state: QueryState, values: Mapping[str, Any]) -> Plan[int]:
    """Query ``update(**values)``: set fields on every match, keeping each TTL.

    Every updated object is validated before the first write; objects deleted or
    expired meanwhile are not recreated (``SET ... XX KEEPTTL``).  Returns how
    many objects were written.
    """
    for name in values:
        if name not in spec.fields:
            raise InvalidLookup(f"{spec.name}.update({name}=...): {spec.name} has no field {name!r}")
        if name == spec.pk_field or name in spec.options.unique_together:
            raise InvalidLookup(f"{spec.name}.update({name}=...): the pk cannot be changed by update()")
    pairs = yield from collect(select_pairs(spec, state))
    commands = []
    for key, obj in pairs:
        for name, value in values.items():
            spec.adapter.set_field(obj, name, value)
        commands.append(Command(("SET", key, encode(spec, spec.adapter.dump(obj)), "XX", "KEEPTTL")))
    written = 0
    for start in range(0, len(commands), BATCH):
        replies = yield Pipeline(tuple(commands[start : start + BATCH]))
        written += sum(1 for reply in replies if reply)
    return written


def _describe(state: QueryState) -> str:
    parts = [f"{'__'.join(c.path)}{'' if c.op == 'eq' else '__' + c.op}={c.value!r}" for c in state.conditions]
    return "(" + ", ".join(parts) + ")"
