"""Redis query plans: choose an index or a SCAN, read in batches, re-check, never show a ghost.

Planning, in order: a pk pinned by the lookups is one GET; conditions an index
answers give candidate pks (one pipelined round trip, intersected); an
``order_by`` on one scored index with a limit pages through that index and reads
only what it returns; anything else SCANs.  Candidates are read with MGET, hits
whose value is gone (expired or deleted) are dropped, and every condition is
checked again on the decoded object, so the index can only narrow the work,
never change the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ...errors import ConfigurationError, InvalidLookup, MultipleFound, NotFound
from ...lookups import Condition, Node, evaluate, matches
from ...query import QueryState, describe, sort_objects
from ...run import Emit, Plan, collect, window
from ...spec import ModelSpec
from .commands import Command, Pipeline
from .compile import (
    IndexField,
    fetch_groups,
    index_fields,
    index_keys,
    is_exact,
    pk_from_conditions,
    pks_from_reply,
    prefilter,
    score_bounds,
    served,
)
from .schema import decode, key_for, pk_of_key, scan_pattern, tagged
from .writes import (
    BATCH,
    KEEP,
    UniqueClash,
    delete_command,
    patch_command,
    send_batch,
    unique_keys,
    update_versioned,
    write_all,
    write_commands,
    write_unique,
)

__all__ = [
    "by_pk", "check_update", "count", "delete_where", "exactly_one", "exists", "fetch", "load", "match",
    "match_for_values", "match_using", "reindex", "require_pk", "select_pairs", "update_where",
]  # fmt: skip

logger = logging.getLogger("persist_mixins")

#: A backend layout's read of one object by pk (None when absent), and its search by values.
Fetch = Callable[[ModelSpec[Any], Any], Plan[Any]]
Search = Callable[[ModelSpec[Any], QueryState], Plan[Any]]

#: Keys per SCAN step; keys per MGET / EXISTS.
SCAN_COUNT = 1000
READ_BATCH = 1000


def load(spec: ModelSpec[Any], key: Any, raw: Any) -> Any:
    """Decode a stored JSON document into a model instance."""
    return spec.adapter.load(decode(spec, key, raw))


def fetch(spec: ModelSpec[Any], pk: Any) -> Plan[Any]:
    """Read one object by pk; return it, or None when absent or expired."""
    key = key_for(spec, str(pk))
    raw = yield Command(("GET", key))
    return None if raw is None else load(spec, key, raw)


def _scan_keys(
    spec: ModelSpec[Any], *, legacy: bool = False, then: Callable[[list[Any]], Plan[None]] | None = None
) -> Plan[None]:
    """Walk the object keys by SCAN ... TYPE string, each key once.

    Each new batch of keys is emitted, or handed to ``then`` (a plan run before the
    next SCAN step, so reading interleaves with listing and memory stays bounded).
    """
    seen: set[Any] = set()
    cursor: Any = 0
    pattern = scan_pattern(spec, legacy=legacy)
    while True:
        cursor, keys = yield Command(("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT, "TYPE", "string"))
        fresh = [k for k in dict.fromkeys(keys) if k not in seen]  # SCAN may repeat keys
        seen.update(fresh)
        if fresh:
            if then is None:
                yield Emit(fresh)
            else:
                yield from then(fresh)
        if int(cursor) == 0:
            return


def _read(spec: ModelSpec[Any], keys: list[Any], conditions: tuple[Node, ...]) -> Plan[None]:
    """Stream ``(key, obj)`` for the keys whose object still exists and meets the conditions.

    Conditions on JSON-native fields (str, int, float, bool) are first checked on the
    decoded document, so most non-matches never pay for building a model instance;
    every condition is then checked on the instance itself.
    """
    early = prefilter(spec, conditions)
    for start in range(0, len(keys), READ_BATCH):
        batch = keys[start : start + READ_BATCH]
        raws = yield Command(("MGET", *batch))
        for key, raw in zip(batch, raws, strict=True):
            if raw is None:  # expired or deleted since it was listed: never a ghost, never a crash
                continue
            data = decode(spec, key, raw)
            if early and not all(cond.field not in data or evaluate(spec, cond, data) for cond in early):
                continue
            obj = spec.adapter.load(data)
            if matches(spec, conditions, obj):
                yield Emit((key, obj))


def _scan(spec: ModelSpec[Any], conditions: tuple[Node, ...]) -> Plan[None]:
    """Stream every stored object meeting the conditions, by SCAN then MGET."""
    yield from _scan_keys(spec, then=lambda keys: _read(spec, keys, conditions))


def _candidates(spec: ModelSpec[Any], usable: list[tuple[Condition, IndexField]]) -> Plan[list[str]]:
    """The pks every index-served condition admits, in one round trip."""
    commands: list[Command] = []
    spans: list[tuple[IndexField, int]] = []
    for field, part in fetch_groups(usable):
        spans.append((field, len(part)))
        commands += part
    replies = (yield Pipeline(tuple(commands))) if len(commands) > 1 else [(yield commands[0])]
    sets: list[set[str]] = []
    at = 0
    for field, n in spans:
        found: set[str] = set()
        for reply in replies[at : at + n]:
            found.update(pks_from_reply(field, reply))
        sets.append(found)
        at += n
    sets.sort(key=len)
    return sorted(sets[0].intersection(*sets[1:]))


def _source(spec: ModelSpec[Any], state: QueryState) -> Plan[None]:
    """Stream ``(key, obj)`` matches through the indexes when they serve, else by SCAN.

    The indexes serve plain conditions; ``Q`` / ``exclude()`` expressions are evaluated on the objects read.
    """
    conditions = state.conditions
    usable = served(spec, conditions)
    if not usable:
        yield from _scan(spec, state.terms)
        return
    pks = yield from _candidates(spec, usable)
    # When the indexes decide every condition, the objects need no second look.
    exact = not state.tree and len(usable) == len(conditions) and all(is_exact(c, f) for c, f in usable)
    yield from _read(spec, [key_for(spec, pk) for pk in pks], () if exact else state.terms)


def _ordered_index(spec: ModelSpec[Any], state: QueryState) -> IndexField | None:
    """The scored index that can return this query already in order, if any."""
    if len(state.ordering) != 1 or state.limit is None:
        return None
    term = state.ordering[0]
    if len(term.path) != 1:
        return None
    usable = served(spec, state.conditions)
    field = {f.name: f for f in index_fields(spec)}.get(term.path[0]) if spec.options.indexes else None
    if field is None or field.lexical:
        return None
    if any(cond.field != field.name or cond.op not in ("gt", "gte", "lt", "lte", "range") for cond, _ in usable):
        return None
    return field


def _in_index_order(spec: ModelSpec[Any], state: QueryState, field: IndexField) -> Plan[None]:
    """Page through one scored index in order, reading only the objects the window needs.

    None values come last ascending and first descending, as in the unindexed path.
    """
    desc = state.ordering[0].descending
    on_field = [cond for cond, _ in served(spec, state.conditions)]
    lo, hi = score_bounds(field, on_field)
    bounded = bool(on_field)
    limit = state.limit
    assert limit is not None  # _ordered_index only picks this path for limited queries
    page = min(max(state.offset + limit, 16), READ_BATCH)
    groups = ["values"] if bounded else (["nulls", "values"] if desc else ["values", "nulls"])
    skipped = sent = 0
    for group in groups:
        start = 0
        while True:
            if group == "nulls":
                command = Command(("ZRANGE", field.nulls, start, start + page - 1))
            elif desc:
                command = Command(("ZREVRANGEBYSCORE", field.key, hi, lo, "LIMIT", start, page))
            else:
                command = Command(("ZRANGEBYSCORE", field.key, lo, hi, "LIMIT", start, page))
            members = yield command
            keys = [key_for(spec, pk) for pk in pks_from_reply(field, members)]
            for pair in (yield from collect(_read(spec, keys, state.terms))):
                if skipped < state.offset:
                    skipped += 1
                    continue
                yield Emit(pair)
                sent += 1
                if sent >= limit:
                    return
            if len(members) < page:
                break
            start += page


def select_pairs(spec: ModelSpec[Any], state: QueryState) -> Plan[None]:
    """Stream ``(key, obj)`` pairs for a query, honouring ordering, offset and limit."""
    if (yield from by_pk(fetch, spec, state)) or state.limit == 0:
        return
    if state.ordering:
        field = _ordered_index(spec, state)
        if field is not None:
            yield from _in_index_order(spec, state, field)
            return
        pairs = yield from collect(_source(spec, state))
        sort_objects(spec, pairs, state.ordering, key=lambda pair: pair[1])
        for pair in state.window(pairs):
            yield Emit(pair)
        return
    yield from window(_source(spec, state), state.offset, state.limit)


def require_pk(spec: ModelSpec[Any], obj: Any) -> str:
    """The pk of an object that must have been stored; NotFound when it has none."""
    pk = spec.pk_of(obj)
    if pk is None:
        raise NotFound(f"{spec.name} object has no pk: it was never saved")
    return pk


def check_update(spec: ModelSpec[Any], values: Mapping[str, Any]) -> None:
    """Refuse a query ``update()`` of an unknown field, of the pk or of the version field, before any I/O."""
    for name in values:
        if name == spec.options.version_field:
            raise InvalidLookup(f"{spec.name}.update({name}=...): the version field is counted by the backend")
        if name not in spec.fields:
            raise InvalidLookup(f"{spec.name}.update({name}=...): {spec.name} has no field {name!r}")
        if name == spec.pk_field or name in spec.options.unique_together:
            raise InvalidLookup(f"{spec.name}.update({name}=...): the pk cannot be changed by update()")


def by_pk(fetch: Fetch, spec: ModelSpec[Any], state: QueryState) -> Plan[bool]:
    """Emit the window of a query whose lookups pin the pk (one read), and say so; False: the plan must search."""
    pk, certain = pk_from_conditions(spec, state.conditions)
    if pk is None or not certain:
        return False
    obj = yield from fetch(spec, pk)
    found = [] if obj is None or not matches(spec, state.terms, obj) else [(key_for(spec, pk), obj)]
    for pair in state.window(found):
        yield Emit(pair)
    return True


def match_using(fetch: Fetch, search: Search, spec: ModelSpec[Any], state: QueryState) -> Plan[Any]:
    """``match()``: a pk the lookups pin is read first (every condition still checked), else ``search`` the values."""
    pk, certain = pk_from_conditions(spec, state.conditions)
    if pk is not None:
        obj = yield from fetch(spec, pk)
        if obj is not None and matches(spec, state.terms, obj):
            return obj
        if certain:
            raise NotFound(f"{spec.name} matching {describe(state)} not found")
    return (yield from search(spec, state))


def exactly_one(spec: ModelSpec[Any], state: QueryState, source: Plan[None]) -> Plan[Any]:
    """The one object ``source`` streams as ``(key, obj)``; NotFound or MultipleFound otherwise (reads at most 2)."""
    found = yield from collect(source, limit=2)
    if not found:
        raise NotFound(f"{spec.name} matching {describe(state)} not found")
    if len(found) > 1:
        raise MultipleFound(f"{spec.name}: more than one object matches {describe(state)}")
    return found[0][1]


def match(spec: ModelSpec[Any], state: QueryState) -> Plan[Any]:
    """``match(**lookups)``: exactly one object, checked against every condition.

    A pk pinned by the lookups is read with one GET; an ``id`` or
    ``__unique_together__`` hint is tried first, then the values are searched.
    """
    return (yield from match_using(fetch, match_for_values, spec, state))


def match_for_values(spec: ModelSpec[Any], state: QueryState) -> Plan[Any]:
    """``match_for_values(**lookups)``: search by values; exactly one object or an error."""
    return (yield from exactly_one(spec, state, _source(spec, state)))


def count(spec: ModelSpec[Any], state: QueryState) -> Plan[int]:
    """``count()``: how many live objects meet the conditions (within offset/limit); always exact.

    Conditions the indexes decide alone are counted without decoding a single
    object: the candidates' keys are checked with ``EXISTS``, so expired objects
    are never counted.
    """
    plain = not state.offset and state.limit is None
    if plain and not state.terms:
        return sum(len(keys) for keys in (yield from collect(_scan_keys(spec))))
    usable = served(spec, state.conditions)
    exact = usable and len(usable) == len(state.conditions) and all(is_exact(c, f) for c, f in usable)
    if plain and not state.tree and exact:
        pks = yield from _candidates(spec, usable)
        alive = 0
        for start in range(0, len(pks), READ_BATCH):
            alive += yield Command(("EXISTS", *(key_for(spec, pk) for pk in pks[start : start + READ_BATCH])))
        return alive
    return len((yield from collect(select_pairs(spec, state))))


def exists(spec: ModelSpec[Any], state: QueryState) -> Plan[bool]:
    """``exists()``: True when at least one live object meets the conditions."""
    return bool((yield from collect(select_pairs(spec, state), limit=1)))


def delete_where(spec: ModelSpec[Any], state: QueryState) -> Plan[int]:
    """Query ``delete()``: remove every match with its index entries, pipelined; return how many."""
    keys = [key for key, _ in (yield from collect(select_pairs(spec, state)))]
    removed = 0
    if not tagged(spec):
        for start in range(0, len(keys), BATCH):
            removed += yield Command(("DEL", *keys[start : start + BATCH]))
        return removed
    pks = [pk_of_key(spec, key) for key in keys]
    for start in range(0, len(pks), BATCH):
        replies = yield from send_batch([delete_command(spec, pk) for pk in pks[start : start + BATCH]])
        removed += sum(int(r) for r in replies)
    return removed


def update_where(spec: ModelSpec[Any], state: QueryState, values: Mapping[str, Any]) -> Plan[int]:
    """Query ``update(**values)``: set fields on every match, keeping each TTL and index in step.

    Every updated object is validated before the first write; objects deleted or
    expired meanwhile are not recreated.  Returns how many objects were written.
    """
    check_update(spec, values)
    pairs = yield from collect(select_pairs(spec, state))
    objs = [obj for _, obj in pairs]
    if spec.options.version_field is not None:  # each object checked and counted by the PATCH script
        command = patch_command(spec, "ONLY")
        still = lambda obj: matches(spec, state.terms, obj)  # noqa: E731
        return (yield from update_versioned(spec, objs, values, KEEP, still, fetch, lambda _: command))
    for obj in objs:
        for name, value in values.items():
            spec.adapter.set_field(obj, name, value)
    if spec.options.unique:  # one checked PATCH of those fields per object (claims made or refused on the server)
        only = patch_command(spec, "ONLY", versioned=False)
        return (yield from write_unique(spec, objs, lambda _: only, KEEP, tuple(values)))
    return (yield from write_all(spec, objs, KEEP, only_existing=True))  # validates all first


def reindex(spec: ModelSpec[Any]) -> Plan[int]:
    """Rebuild every index entry and ``__unique__`` claim, and move objects stored before the model had them.

    Objects at the old ``{prefix}:{pk}`` keys (written by redis-schematics, or before
    the model had ``__indexes__`` or ``__unique__``) move to the tagged layout with their
    remaining TTL.  Progress is logged to the ``persist_mixins`` logger after each batch.

    Returns:
        How many objects were indexed.

    Raises:
        UniqueClash: objects hold a ``__unique__`` value an object written before them holds;
            raised once every other object is done.  Such an object already in the tagged layout
            stays stored without a claim; one at an old key is not moved (it stays where it was).
    """
    if not tagged(spec):
        raise ConfigurationError(f"{spec.name}.reindex(): the model declares no __indexes__ and no __unique__")
    yield Command(("DEL", *index_keys(spec), *unique_keys(spec)))
    done = 0
    clashes: list[str] = []
    for keys in (yield from collect(_scan_keys(spec))):
        objs = [obj for _, obj in (yield from collect(_read(spec, keys, ())))]
        if objs:
            replies = yield from send_batch(write_commands(spec, objs, KEEP, only_existing=True))
            if spec.options.unique:  # one PATCH reply per object
                clashes += [str(spec.pk_of(obj)) for obj, r in zip(objs, replies, strict=True) if type(r) is list]
        done += len(objs)
        logger.info("%s.reindex(): %d objects indexed", spec.name, done)
    for keys in (yield from collect(_scan_keys(spec, legacy=True))):
        replies = yield Pipeline((*(Command(("PTTL", k)) for k in keys), Command(("MGET", *keys))))
        ttls, raws = replies[:-1], replies[-1]
        moves: list[Command] = []
        old: list[Any] = []
        for key, ttl_ms, raw in zip(keys, ttls, raws, strict=True):
            if raw is None or ttl_ms == -2:
                continue
            # Each object keeps its own remaining TTL, so each is its own batch.
            moves += write_commands(spec, [load(spec, key, raw)], None if ttl_ms == -1 else ttl_ms)
            old.append(key)
        if moves:
            replies = yield from send_batch(moves)
            refused = [key for key, r in zip(old, replies, strict=True) if type(r) is list]
            clashes += [pk_of_key(spec, key, legacy=True) for key in refused]
            old = [key for key in old if key not in refused]
            if old:
                yield Command(("DEL", *old))
        done += len(old)
        logger.info("%s.reindex(): %d objects indexed (moved from the unindexed layout)", spec.name, done)
    if clashes:
        raise UniqueClash(
            f"{spec.name}.reindex(): {len(clashes)} object(s) hold a __unique__ value another {spec.name} holds "
            f"(pks {', '.join(map(repr, clashes[:10]))}{', ...' if len(clashes) > 10 else ''}); every other object "
            "was indexed"
        )
    return done
