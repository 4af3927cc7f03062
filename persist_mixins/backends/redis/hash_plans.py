"""Plans of ``HashRedisMixin``: every object of a model one field of one Redis HASH (redis-schematics' layout).

The hash is ``{prefix}`` (or what the model's ``__set_key__`` property says, e.g. one hash
per tenant); the field is ``{prefix}:{pk}`` and its value the object's JSON document,
byte for byte what redis-schematics' ``HashRedisMixin`` wrote, so data moves both ways.

Redis expires keys, not hash fields (before Redis 7.4, and this library does not
depend on 7.4): ``__expire__`` is the TTL of the whole hash, renewed by every set(),
and a per-object expiry (``set(expire=)``, ``expire()``, ``persist()``) is refused
with :class:`~persist_mixins.errors.ConfigurationError` before anything is written.
Reads walk the hash with ``HSCAN`` (memory bounded by a batch), checking every
condition on the decoded objects; there are no secondary indexes.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any, cast

from ... import pk_plans
from ...binding import spec_of
from ...errors import ConfigurationError, InvalidLookup, NotFound, ValidationError
from ...lookups import Condition, Node, matches
from ...query import QueryState, sort_objects
from ...run import Emit, Plan, collect, window
from ...spec import ModelSpec
from .commands import Command, Pipeline
from .locks import guarded
from .queries import Fetch, by_pk, check_update, exactly_one, load, match_using, require_pk
from .schema import claims_key, key_for, object_prefix, owned_key
from .scripts import HASH_DELETE, HASH_PATCH, HASH_PRUNE, HASH_UPDATE
from .writes import (
    CheckedCommand,
    Prepared,
    checked_write,
    claim_argv,
    default_argv,
    finish,
    prepare,
    send,
    send_batch,
    unique_keys,
    update_versioned,
    version_key,
    write_unique,
)

__all__ = [
    "guarded", "DEFAULT_SET_KEY", "check", "count", "delete", "delete_all", "delete_where", "exists", "expire", "fetch",
    "match", "match_for_pk", "match_for_values", "persist", "purge_expired", "refresh", "save", "save_many",
    "save_only", "select_pairs", "ttl", "update_where",
]  # fmt: skip

#: Fields per HSCAN step, and field/value pairs per HSET.
SCAN_COUNT = 1000
BATCH = 1000


def _prefix_of(obj: Any) -> str:
    return spec_of(type(obj)).options.key_prefix


#: The hash of every object of a model, unless the model overrides ``__set_key__`` (redis-schematics'
#: hook: a property, e.g. one hash per tenant, ``return self.__key_pattern__(self.tenant)``).
DEFAULT_SET_KEY = property(_prefix_of, doc="The Redis hash this object is stored in (default: the key prefix).")


def _refuse_expiry(spec: ModelSpec[Any], what: str) -> ConfigurationError:
    return ConfigurationError(
        f"{spec.name}.{what}: a HashRedisMixin object shares the expiry of its hash (Redis expires keys, not hash "
        f"fields); set {spec.name}.__expire__ for the whole hash, or use SimpleRedisMixin for per-object TTLs"
    )


def hash_key(spec: ModelSpec[Any], obj: Any) -> str:
    """The hash an object lives in: its ``__set_key__`` (the key prefix unless the model says otherwise)."""
    key = getattr(obj, "__set_key__", None)
    if not isinstance(key, str) or not key:
        raise ConfigurationError(f"{spec.name}.__set_key__ must give a non-empty string, not {key!r}")
    return key


def _query_key(spec: ModelSpec[Any], values: Mapping[str, Any]) -> str:
    """The hash a query reads: the prefix, or a dynamic ``__set_key__`` computed on an object of these values.

    The object is built from the lookups' values (the model's defaults filling the rest);
    a model whose constructor needs more gets a bare instance with just those attributes.
    """
    if inspect.getattr_static(spec.cls, "__set_key__", DEFAULT_SET_KEY) is DEFAULT_SET_KEY:
        return spec.options.key_prefix
    try:
        probe = spec.adapter.load(dict(values))
    except Exception:  # noqa: BLE001 - a constructor that needs more fields: try a bare instance
        probe = object.__new__(spec.cls)
        for name, value in values.items():
            object.__setattr__(probe, name, value)
    try:
        return hash_key(spec, probe)
    except (AttributeError, KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"{spec.name}: its __set_key__ depends on field values, and {dict(values)!r} does not give them "
            f"({exc}); name the fields the key is built from in the lookups (e.g. filter(tenant=...))"
        ) from exc


def _equalities(conditions: tuple[Condition, ...]) -> dict[str, Any]:
    return {c.path[0]: c.value for c in conditions if c.op == "eq" and len(c.path) == 1 and c.value is not None}


def _state_key(spec: ModelSpec[Any], conditions: tuple[Condition, ...]) -> str:
    return _query_key(spec, _equalities(conditions))


def _pk_key(spec: ModelSpec[Any], pk: Any, values: Mapping[str, Any]) -> str:
    return _query_key(spec, {**values, **({spec.pk_field: pk} if spec.pk_field else {})})


def _fetch_for(state: QueryState) -> Fetch:
    """``fetch`` in the hash the query's lookups name (a dynamic ``__set_key__`` may depend on them)."""
    values = _equalities(state.conditions)
    return lambda spec, pk: _fetch_in(spec, pk, values)


def _fetch_in(spec: ModelSpec[Any], pk: Any, values: Mapping[str, Any]) -> Plan[Any]:
    """Read one object by pk (HGET) from the hash ``values`` (and the pk) name; None when absent."""
    field = key_for(spec, str(pk))
    raw = yield Command(("HGET", _pk_key(spec, pk, values), field))
    return None if raw is None else load(spec, field, raw)


def _write(spec: ModelSpec[Any], objs: list[Any]) -> Plan[None]:
    """HSET every object into its hash (all validated first), renewing each hash's TTL, atomically per batch.

    A batch is :data:`BATCH` objects: one ``HSET`` per hash they go to (and its ``PEXPIRE``),
    in one ``MULTI`` / ``EXEC`` when there are several commands.  Its commands are built
    just before it is sent.
    """

    def check(obj: Any) -> None:
        if spec.pk_of(obj) is not None:  # a __set_key__ may use the pk: checked once it is filled
            hash_key(spec, obj)

    prepared: list[Prepared | None] = list(prepare(spec, objs, check))  # ValidationError before any write
    px = spec.options.expire_ms
    for start in range(0, len(objs), BATCH):
        stop = start + BATCH
        by_hash: dict[str, list[Any]] = {}
        for obj, kept in zip(objs[start:stop], prepared[start:stop], strict=True):
            pk, value = finish(spec, obj, cast("Prepared", kept))
            by_hash.setdefault(hash_key(spec, obj), []).extend((key_for(spec, pk), value))
        commands = [Command(("HSET", key, *pairs)) for key, pairs in by_hash.items()]
        if px is not None:
            commands += [Command(("PEXPIRE", key, px)) for key in by_hash]
        if len(commands) == 1:
            yield commands[0]
        elif commands:
            yield Pipeline(tuple(commands), transaction=True)
        prepared[start:stop] = [None] * (stop - start)


def save(spec: ModelSpec[Any], obj: Any, expire: Any = None) -> Plan[Any]:
    """``obj.set()``: one HSET (and the hash's PEXPIRE, in one MULTI) of the validated object.

    A versioned model is written by the ``HASH_PATCH`` script, which compares the stored
    version with the object's first (ConflictError when it moved on).
    """
    if expire is not None:
        raise _refuse_expiry(spec, "set(expire=...)")
    if spec.options.version_field is not None or spec.options.unique or spec.options.db_defaults:  # on the server
        return (yield from checked_write(spec, obj, None, spec.options.expire_ms, _patch(spec, obj, "FULL")))
    yield from _write(spec, [obj])
    return obj


def save_only(spec: ModelSpec[Any], obj: Any, fields: tuple[str, ...]) -> Plan[Any]:
    """``obj.set(only=fields)``: the ``HASH_PATCH`` script merges those fields into the stored document.

    Atomic on the server; the hash's TTL is left as it is (as query ``update()`` does), and
    an object no longer in its hash is NotFound (nothing written).
    """
    return (yield from checked_write(spec, obj, fields, None, _patch(spec, obj, "ONLY")))


def _patch(spec: ModelSpec[Any], obj: Any, mode: str) -> CheckedCommand:
    """The hash layout's ``HASH_PATCH`` call for :func:`~.writes.checked_write`."""
    vkey = version_key(spec)

    def build(
        pk: str,
        document: bytes,
        px: str,
        expected: int,
        argv: list[Any],
        claims: list[tuple[str, str]],
        fill: list[tuple[str, str]],
    ) -> Command:
        key = hash_key(spec, obj)  # the pk is filled by now: a __set_key__ may use it
        start = object_prefix(spec)
        unique = claim_argv(spec, claims, 2)
        keys = [key, *unique_keys(spec, key)]
        defaults, counters = default_argv(spec, fill, len(keys) + 1)
        return HASH_PATCH.evalsha(
            [*keys, *counters],
            [mode, key_for(spec, pk), document, px, vkey, expected, pk, start, *unique, *defaults],
        )

    return build


def save_many(spec: ModelSpec[Any], objs: Iterable[Any], expire: Any = None) -> Plan[list[Any]]:
    """``set_many()``: every object validated first, then one HSET per hash (per 1,000 objects)."""
    if expire is not None:
        raise _refuse_expiry(spec, "set_many(expire=...)")
    items = list(objs)
    if spec.options.version_field and items:
        raise ValidationError(f"{spec.name}.set_many(): models with __version_field__ are saved one by one with set()")
    for obj in items:
        if not isinstance(obj, spec.cls):
            raise ValidationError(f"{spec.name}.set_many() takes {spec.name} objects, got {type(obj).__name__}")
    if spec.options.unique or spec.options.db_defaults:
        yield from _write_unique(spec, items)
    else:
        yield from _write(spec, items)
    return items


def _write_unique(spec: ModelSpec[Any], objs: list[Any]) -> Plan[None]:
    """``set_many()`` of a ``__unique__`` or ``__db_defaults__`` model: one ``HASH_PATCH`` per object.

    See :func:`~.writes.write_unique`; the values the server filled go back to the objects.
    """
    px = "" if spec.options.expire_ms is None else str(spec.options.expire_ms)
    yield from write_unique(spec, objs, lambda obj: _patch(spec, obj, "FULL"), px)


def fetch(spec: ModelSpec[Any], pk: Any) -> Plan[Any]:
    """Read one object by pk (HGET); None when absent."""
    return (yield from _fetch_in(spec, pk, {}))


def match_for_pk(spec: ModelSpec[Any], pk: Any) -> Plan[Any]:
    """``match_for_pk(pk)``: the object, or NotFound."""
    return (yield from pk_plans.match_for_pk(fetch, spec, pk))


def refresh(spec: ModelSpec[Any], obj: Any) -> Plan[Any]:
    """``obj.refresh()``: reload in place from the object's own hash; NotFound when gone."""
    pk = require_pk(spec, obj)
    field = key_for(spec, pk)
    raw = yield Command(("HGET", hash_key(spec, obj), field))
    if raw is None:
        raise NotFound(f"{spec.name} with pk {pk!r} not found (deleted, or its hash expired)")
    spec.adapter.assign(obj, load(spec, field, raw))
    return obj


def _delete_command(spec: ModelSpec[Any], key: str, pks: list[str]) -> Command:
    """Delete objects of one hash: ``HDEL``, or the ``HASH_DELETE`` script releasing their unique claims."""
    if spec.options.unique:
        return HASH_DELETE.evalsha([key, *unique_keys(spec, key)], [object_prefix(spec), *pks])
    return Command(("HDEL", key, *(key_for(spec, pk) for pk in pks)))


def delete(spec: ModelSpec[Any], obj: Any) -> Plan[bool]:
    """``obj.delete()``: HDEL (its unique claims released); True when the object was stored."""
    pk = spec.pk_of(obj)
    if pk is None:
        return False
    return bool((yield from send(_delete_command(spec, hash_key(spec, obj), [pk]))))


def expire(spec: ModelSpec[Any], obj: Any, seconds: Any) -> Plan[bool]:
    """``obj.expire()``: refused (the hash expires as a whole)."""
    yield from ()  # a plan (a generator) that refuses when run, as other plans raise their errors
    raise _refuse_expiry(spec, "expire()")


def persist(spec: ModelSpec[Any], obj: Any) -> Plan[bool]:
    """``obj.persist()``: refused (the hash expires as a whole)."""
    yield from ()
    raise _refuse_expiry(spec, "persist()")


def ttl(spec: ModelSpec[Any], obj: Any) -> Plan[float | None]:
    """``obj.ttl()``: the seconds left on the object's hash, None when it never expires; NotFound when absent."""
    pk = require_pk(spec, obj)
    key = hash_key(spec, obj)
    stored, ms = yield Pipeline((Command(("HEXISTS", key, key_for(spec, pk))), Command(("PTTL", key))))
    if not stored or ms == -2:
        raise NotFound(f"{spec.name} with pk {pk!r} not found (deleted, or its hash expired)")
    return None if ms == -1 else ms / 1000


def purge_expired(spec: ModelSpec[Any]) -> Plan[int]:
    """``purge_expired()``: Redis drops an expired hash whole; a ``__unique__`` model's stale claims go here.

    The claims hashes take the hash's TTL, so they expire with it; claims whose object is no
    longer in the hash (it expired before them, or was removed behind the library's back) are
    removed, walking each field's owned hash.  Returns how many objects had claims removed.
    """
    if not spec.options.unique:
        return 0
    key = _state_key(spec, ())
    start = object_prefix(spec)
    purged: set[Any] = set()
    for name in spec.options.unique:
        owned, cursor = owned_key(spec, name, key), 0
        while True:
            cursor, flat = yield Command(("HSCAN", owned, cursor, "COUNT", SCAN_COUNT))
            pks = list(dict.fromkeys(flat[0::2]))
            if pks:
                keys = [key, claims_key(spec, name, key), owned]
                purged.update((yield from send(HASH_PRUNE.evalsha(keys, [start, *pks]))))
            if int(cursor) == 0:
                break
    return len(purged)


def _scan(spec: ModelSpec[Any], key: str, conditions: tuple[Node, ...]) -> Plan[None]:
    """Stream ``(field, obj)`` for every object of one hash meeting the conditions, by HSCAN."""
    cursor: Any = 0
    seen: set[Any] = set()
    while True:
        cursor, flat = yield Command(("HSCAN", key, cursor, "COUNT", SCAN_COUNT))
        for at in range(0, len(flat), 2):
            field, raw = flat[at], flat[at + 1]
            if field in seen:  # HSCAN may return a field twice
                continue
            seen.add(field)
            obj = load(spec, field, raw)
            if matches(spec, conditions, obj):
                yield Emit((field, obj))
        if int(cursor) == 0:
            return


def select_pairs(spec: ModelSpec[Any], state: QueryState) -> Plan[None]:
    """Stream ``(field, obj)`` pairs of a query, honouring ordering, offset and limit."""
    if (yield from by_pk(_fetch_for(state), spec, state)) or state.limit == 0:
        return
    source = _scan(spec, _state_key(spec, state.conditions), state.terms)
    if not state.ordering:
        yield from window(source, state.offset, state.limit)
        return
    pairs = yield from collect(source)
    sort_objects(spec, pairs, state.ordering, key=lambda pair: pair[1])
    for pair in state.window(pairs):
        yield Emit(pair)


def match(spec: ModelSpec[Any], state: QueryState) -> Plan[Any]:
    """``match(**lookups)``: exactly one object; a pinned pk is one HGET, every other condition still checked."""
    return (yield from match_using(_fetch_for(state), match_for_values, spec, state))


def match_for_values(spec: ModelSpec[Any], state: QueryState) -> Plan[Any]:
    """``match_for_values(**lookups)``: search by values; exactly one object or an error."""
    return (yield from exactly_one(spec, state, _scan(spec, _state_key(spec, state.conditions), state.terms)))


def count(spec: ModelSpec[Any], state: QueryState) -> Plan[int]:
    """``count()``: HLEN without conditions, else the matches counted."""
    if not state.terms and not state.offset and state.limit is None:
        return int((yield Command(("HLEN", _state_key(spec, ())))))
    return len((yield from collect(select_pairs(spec, state))))


def exists(spec: ModelSpec[Any], state: QueryState) -> Plan[bool]:
    """``exists()``: stops at the first match."""
    return bool((yield from collect(select_pairs(spec, state), limit=1)))


def delete_where(spec: ModelSpec[Any], state: QueryState) -> Plan[int]:
    """Query ``delete()``: HDEL every match; returns how many were removed."""
    key = _state_key(spec, state.conditions)
    pairs = yield from collect(select_pairs(spec, state))
    removed = 0
    if spec.options.unique:
        pks = [require_pk(spec, obj) for _, obj in pairs]
        for start in range(0, len(pks), BATCH):
            removed += yield from send(_delete_command(spec, key, pks[start : start + BATCH]))
        return removed
    fields = [field for field, _ in pairs]
    for start in range(0, len(fields), BATCH):
        removed += yield Command(("HDEL", key, *fields[start : start + BATCH]))
    return removed


def delete_all(spec: ModelSpec[Any]) -> Plan[int]:
    """``delete_all()``: drop the model's hash (and its unique claims); 1 when there was one, 0 otherwise."""
    key = _state_key(spec, ())
    if spec.options.unique:
        replies = yield from send_batch([Command(("DEL", key)), Command(("DEL", *unique_keys(spec, key)))], True)
        return int(replies[0])
    return int((yield Command(("DEL", key))))


def update_where(spec: ModelSpec[Any], state: QueryState, values: Mapping[str, Any]) -> Plan[int]:
    """Query ``update(**values)``: every match validated, then written only where it still exists."""
    check_update(spec, values)
    key = _state_key(spec, state.conditions)
    objs = [obj for _, obj in (yield from collect(select_pairs(spec, state)))]
    for obj in objs:
        for name, value in values.items():
            spec.adapter.set_field(obj, name, value)
    moved = [obj for obj in objs if hash_key(spec, obj) != key]
    if moved:
        raise InvalidLookup(
            f"{spec.name}.update({', '.join(values)}=...): the update would move {len(moved)} object(s) to another "
            f"hash (their __set_key__ depends on these fields); delete() them and set() them anew instead"
        )
    if spec.options.unique and spec.options.version_field is None:
        command = lambda obj: _patch(spec, obj, "ONLY")  # noqa: E731
        return (yield from write_unique(spec, objs, command, "", tuple(values)))
    if spec.options.version_field is not None:  # each object checked and counted by the HASH_PATCH script
        fetch_in = _fetch_for(state)
        still = lambda obj: matches(spec, state.terms, obj)  # noqa: E731
        command = lambda obj: _patch(spec, obj, "ONLY")  # noqa: E731
        return (yield from update_versioned(spec, objs, values, None, still, fetch_in, command))
    prepared: list[Prepared | None] = list(prepare(spec, objs))  # all validated first
    written = 0
    for start in range(0, len(objs), BATCH):
        stop = start + BATCH
        pairs: list[Any] = []
        for obj, kept in zip(objs[start:stop], prepared[start:stop], strict=True):
            pk, value = finish(spec, obj, cast("Prepared", kept))
            pairs.extend((key_for(spec, pk), value))
        written += int((yield from send(HASH_UPDATE.evalsha([key], pairs))))
        prepared[start:stop] = [None] * (stop - start)
    return written


def check(cls: type) -> None:
    """Class-creation check: no secondary indexes on the hash layout; ``__unique__`` only in one hash."""
    if getattr(cls, "__indexes__", None):
        raise ConfigurationError(
            f"{cls.__name__}.__indexes__: HashRedisMixin keeps no secondary indexes (every read walks the hash); "
            "use SimpleRedisMixin for indexed lookups"
        )
    if getattr(cls, "__unique__", None) and inspect.getattr_static(cls, "__set_key__", None) is not DEFAULT_SET_KEY:
        raise ConfigurationError(
            f"{cls.__name__}.__unique__: a model whose __set_key__ spreads its objects over several hashes cannot "
            "check unique values atomically across them; keep the default __set_key__, or use SimpleRedisMixin"
        )
