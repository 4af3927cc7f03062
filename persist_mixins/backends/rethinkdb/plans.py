"""RethinkDB plans: every RethinkMixin operation as a generator of ReQL queries.

Pure logic, no I/O: a plan yields :class:`~.commands.Run` (and ``Next``,
``Database``) values and receives replies from whichever driver runs it (the
official driver, sync or asyncio), so one plan serves both flavours and is tested
with scripted replies.  This module must not import ``rethinkdb`` (a ruff rule
enforces it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from ... import pk_plans
from ...adapters import build_adapter
from ...creating import hold
from ...errors import (
    ConfigurationError,
    ConflictError,
    InvalidLookup,
    MultipleFound,
    NotFound,
    PersistError,
    ValidationError,
)
from ...lookups import _check_value, matches
from ...query import QueryState, describe, sort_objects
from ...run import Emit, EmitMany, Plan, collect
from ...spec import ModelSpec, expire_ms
from . import reql, unique
from .commands import Cursor, Database, Next, Run
from .compile import Compiled, alive, compile_query, node_term, residual_node, window_pks
from .reql import Term
from .schema import EXPIRES, HIDDEN_PK, Collection, collection_of, decode_time

__all__ = [
    "FEED_OPEN", "changes", "count", "create_table", "delete", "delete_where", "drop_table", "exists", "expire",
    "guarded", "match",
    "match_for_pk", "match_for_values", "persist", "purge_expired", "refresh", "save", "save_many", "save_only",
    "select_pairs", "ttl", "update_where",
]  # fmt: skip

#: Documents per insert when set_many() writes, and pks per get_all when a query deletes by pk.
WRITE_BATCH = 1000
#: A query with a limit up to this many is read in one reply instead of through a cursor.
SMALL_READ = 1000
#: RethinkDB's limit on a primary key, in bytes of UTF-8.
MAX_PK_BYTES = 127
T = TypeVar("T")

#: What :func:`changes` emits once its feed is open, before any change.
FEED_OPEN = "feed open"


# -- tables -------------------------------------------------------------------------------
def create_table(spec: ModelSpec[Any]) -> Plan[list[str]]:
    """``create_table()``: what is missing of the database, the table, its bookkeeping table and its indexes.

    Waits until the indexes are ready.  Returns what it made, one sentence each
    (``'create index "amount_kg"'``), empty when nothing was missing.
    """
    coll = collection_of(spec)
    made: list[str] = []
    db = yield Database()
    if (yield Run(reql.branch([reql.CONTAINS, [[reql.DB_LIST, []], db]], None, [reql.DB_CREATE, [db]]))) is not None:
        made.append(f'create database "{db}"')
    for name, create in (
        (coll.name, reql.t(reql.TABLE_CREATE, coll.name, primary_key=coll.pk)),
        (coll.book_name, [reql.TABLE_CREATE, [coll.book_name]]),
    ):
        if (yield Run(reql.branch([reql.CONTAINS, [[reql.TABLE_LIST, []], name]], None, create))) is not None:
            made.append(f'create table "{name}"')
    present = set((yield Run([reql.INDEX_LIST, [coll.table]])) or ())
    for index in (*coll.indexes, EXPIRES):
        if index not in present:
            yield Run([reql.INDEX_CREATE, [coll.table, index]])
            made.append(f'create index "{index}"')
    yield Run([reql.INDEX_WAIT, [coll.table]])
    return made


def drop_table(spec: ModelSpec[Any]) -> Plan[bool]:
    """``drop_table()``: drop the table (and its indexes, and its bookkeeping table) if it exists; idempotent."""
    coll = collection_of(spec)
    for name in (coll.name, coll.book_name):
        yield Run(reql.branch([reql.CONTAINS, [[reql.TABLE_LIST, []], name]], [reql.TABLE_DROP, [name]], None))
    return True


# -- the lock of get_or_create -------------------------------------------------------------
#: How long a lock document lives when its holder never removes it (it died mid-call), in seconds.
LOCK_S = 10


def guarded(spec: ModelSpec[Any], name: str, body: Plan[T]) -> Plan[T]:
    """Run ``body`` holding the lock ``name``: a document in the model's bookkeeping table.

    Taken by inserting ``lock:<name>`` (an insert fails on an existing primary key, atomically);
    a lock whose ``until`` passed (its holder died) is deleted and taken again; released by
    deleting it only while it holds this holder's token.

    Raises:
        RetryableError: the lock stayed taken for :data:`~persist_mixins.creating.LOCK_WAIT_S` seconds.
    """
    coll = collection_of(spec)
    book, key, token = coll.book, f"lock:{name}", uuid.uuid4().hex
    lock = {"id": key, "token": token, "until": [reql.ADD, [reql.now(), LOCK_S]]}
    stale = reql.func(lambda d: [reql.LT, [reql.field(d, ("until",)), reql.now()]])

    def take() -> Plan[bool]:
        if (yield Run([reql.INSERT, [book, lock]])).get("inserted"):
            return True
        yield Run([reql.DELETE, [[reql.FILTER, [[reql.GET_ALL, [book, key]], stale]]]])
        return False

    def release() -> Plan[Any]:
        return (yield Run([reql.DELETE, [[reql.FILTER, [[reql.GET_ALL, [book, key]], {"token": token}]]]]))

    return (yield from hold(f"{spec.name} lock {key!r}", take, release, body))


# -- writes --------------------------------------------------------------------------------
def _generates(spec: ModelSpec[Any], coll: Collection, obj: Any) -> bool:
    """True when the server makes this object's pk (an empty str or UUID pk field: ``generated_keys``)."""
    if coll.hidden_pk or spec.options.unique_together:
        return False
    return getattr(obj, coll.pk, None) in (None, "") and coll.kinds[coll.pk] in ("str", "uuid", "any")


def _document(spec: ModelSpec[Any], coll: Collection, obj: Any, data: dict[str, Any], px: int | None) -> Any:
    """The wire document of a validated object; fills a client-made pk first."""
    generated = _generates(spec, coll, obj)
    if generated:
        data = {k: v for k, v in data.items() if k != coll.pk}
    else:
        pk = spec.fill_pk(obj)
        if len(pk.encode()) > MAX_PK_BYTES:
            raise ValidationError(
                f"{spec.name}: the pk is {len(pk.encode())} bytes long; RethinkDB keys hold at most {MAX_PK_BYTES} "
                "bytes (nothing was written)"
            )
        if coll.hidden_pk:
            data = {**data, HIDDEN_PK: pk}
        elif data.get(coll.pk) in (None, ""):
            data = {**data, coll.pk: getattr(obj, coll.pk)}
    doc = coll.encode(data)
    # Always present (null: never expires), so an index read never meets a document without it.
    doc[EXPIRES] = None if px is None else [reql.ADD, [reql.now(), px / 1000]]
    if spec.options.db_defaults:
        _server_defaults(spec, coll, doc)
    return doc


def _server_defaults(
    spec: ModelSpec[Any], coll: Collection, doc: dict[str, Any], only: tuple[str, ...] | None = None
) -> None:
    """Put the server's time (``r.now()``) in each ``__db_defaults__`` field the object left None.

    Raises:
        ConfigurationError: a ``__db_defaults__`` field is not a datetime (RethinkDB has no sequences).
    """
    for name in spec.options.db_defaults:
        if coll.kinds.get(name) != "datetime":
            raise ConfigurationError(
                f"{spec.name}.__db_defaults__ names {name!r}, a {coll.kinds.get(name)} field: on RethinkDB "
                "only datetime fields are filled by the database (with its time)"
            )
        if doc.get(name) is None and (only is None or name in only):
            doc[name] = reql.now()


def _insert(spec: ModelSpec[Any], coll: Collection, docs: Any, objs: list[Any]) -> Plan[dict[str, Any]]:
    """``insert(docs, conflict="replace")``; with ``__db_defaults__``, the values the server filled go back to ``objs``.

    ``objs`` are the objects of ``docs``, in order (those whose pk the server makes are
    matched to its ``generated_keys`` by the caller, before this fills them).
    """
    if not spec.options.db_defaults:
        return dict((yield Run(reql.t(reql.INSERT, coll.table, docs, conflict="replace"))))
    reply = yield Run(reql.t(reql.INSERT, coll.table, docs, conflict="replace", return_changes=True))
    _written(spec, reply)
    stored = {}
    for change in reply.get("changes") or ():
        new = change.get("new_val")
        if new is not None:
            stored[str(new.get(coll.pk))] = new
    generated = iter(reply.get("generated_keys") or ())
    for obj in objs:
        key = spec.pk_of(obj) if coll.hidden_pk else getattr(obj, coll.pk, None)
        if key in (None, ""):
            key = next(generated, None)
        new = stored.get(str(key))
        if new is not None:
            loaded = coll.decoder(new)
            for name in spec.options.db_defaults:
                if getattr(obj, name, None) is None:
                    spec.adapter.set_field(obj, name, getattr(loaded, name))
    return dict(reply)


def _dump(spec: ModelSpec[Any], obj: Any, what: str) -> dict[str, Any]:
    if not isinstance(obj, spec.cls):
        raise ValidationError(f"{spec.name}.{what} takes {spec.name} objects, got {type(obj).__name__}")
    data = spec.dump(obj, native=True)  # validates: ValidationError before any write
    spec.check_pk(obj)
    return data


def _written(spec: ModelSpec[Any], reply: Mapping[str, Any]) -> None:
    """Raise the server's refusal of a write (``errors`` in an insert's summary)."""
    if reply.get("errors"):
        raise PersistError(f"{spec.name}: RethinkDB refused the write: {reply.get('first_error')}")


def _fill_generated(spec: ModelSpec[Any], coll: Collection, obj: Any, key: Any) -> None:
    spec.adapter.set_field(obj, coll.pk, _typed_pk(coll, key))


def _typed_pk(coll: Collection, key: Any) -> Any:
    return uuid.UUID(str(key)) if coll.kinds.get(coll.pk) == "uuid" else key


def _claimed(
    spec: ModelSpec[Any], coll: Collection, obj: Any, write: Plan[Any], fields: tuple[str, ...] | None = None
) -> Plan[Any]:
    """Run ``write`` of a ``__unique__`` model: claim its unique values first, release the ones it dropped after.

    A pk the server would make is made here instead (a uuid4), since the claims name it.
    """
    if fields is not None and not any(name in spec.options.unique for name in fields):
        return (yield from write)
    if _generates(spec, coll, obj):
        fresh = uuid.uuid4()
        spec.adapter.set_field(obj, coll.pk, fresh if coll.kinds.get(coll.pk) == "uuid" else fresh.hex)
    pk = spec.fill_pk(obj)
    key = _key(spec, coll, pk if coll.hidden_pk else spec.pk_value(obj))
    names = None if fields is None else tuple(name for name in fields if name in spec.options.unique)
    old = yield Run([reql.GET, [coll.table, key]])
    made = yield from unique.claim(spec, coll, key, obj, names)
    try:
        result = yield from write
    except Exception:  # not on GeneratorExit: a closing generator must not yield
        try:  # noqa: SIM105 - contextlib.suppress cannot wrap a yield
            yield from unique.drop(coll, key, made)
        except Exception:  # noqa: BLE001 - the write's error is the one to see; a stale claim is taken over later
            pass
        raise
    yield from unique.release(spec, coll, key, old, unique.claim_ids(spec, obj, names).values(), names)
    return result


def save(spec: ModelSpec[Any], obj: Any, expire: Any = None) -> Plan[Any]:
    """``obj.set()``: validate, then one ``insert(..., conflict="replace")``; a server-made pk is filled back.

    A versioned model (``__version_field__``) is written by a conditional replace instead
    (:func:`_save_versioned`); ConflictError when the stored document's version is not the object's.
    """
    coll = collection_of(spec)
    px = expire_ms(spec, expire)
    data = _dump(spec, obj, "set()")
    if spec.options.unique:
        return (yield from _claimed(spec, coll, obj, _save(spec, coll, obj, data, px)))
    return (yield from _save(spec, coll, obj, data, px))


def _keep_stored(spec: ModelSpec[Any], coll: Collection, pairs: list[tuple[Any, dict[str, Any]]]) -> Plan[None]:
    """Give each ``__db_defaults__`` field an object leaves None the value its live stored document holds.

    As on the other backends, a full write keeps what the database filled before (a
    creation time); only a new, expired or empty one gets the server's time.  One read
    for all the objects given.
    """
    names = spec.options.db_defaults
    wanted = {}
    for obj, data in pairs:
        if any(data.get(name) is None for name in names) and not _generates(spec, coll, obj):
            pk = spec.fill_pk(obj)
            wanted[_key(spec, coll, pk if coll.hidden_pk else spec.pk_value(obj))] = data
    if not wanted:
        return
    for doc in (yield Run(_live_by_pk_many(coll, list(wanted)), "all")):
        target = wanted.get(doc.get(coll.pk))
        if target is not None:
            stored = coll.decoder(doc)
            for name in names:
                if target.get(name) is None:
                    target[name] = getattr(stored, name, None)


def _save(spec: ModelSpec[Any], coll: Collection, obj: Any, data: dict[str, Any], px: int | None) -> Plan[Any]:
    if spec.options.db_defaults:
        yield from _keep_stored(spec, coll, [(obj, data)])
    vfield = spec.options.version_field
    if vfield is not None:
        if not _generates(spec, coll, obj):
            return (yield from _save_versioned(spec, coll, obj, data, px, vfield))
        data = {**data, vfield: 1}  # a new document the server names: nothing to compare with
    doc = _document(spec, coll, obj, data, px)
    reply = yield from _insert(spec, coll, doc, [obj])
    _written(spec, reply)
    keys = reply.get("generated_keys")
    if keys:
        _fill_generated(spec, coll, obj, keys[0])
    if vfield is not None:
        spec.adapter.set_field(obj, vfield, 1)
    return obj


#: ReQL's ``r.error(message)`` term, and the message a versioned write fails with on the server.
_ERROR = 12
#: ReQL's ``r.literal(value)``: a value ``update()`` writes as it is, rather than merging it.
_LITERAL = 137
_STALE = "persist_mixins: the stored version is not the object's"


def _expected(obj: Any, vfield: str) -> int:
    """The version an object was read at (None counts as 0: never stored)."""
    version = getattr(obj, vfield, None)
    return int(version) if version is not None else 0


def _version_is(d: Term, vfield: str, expected: int) -> Term:
    """True when the stored document ``d`` is at version ``expected`` (a null or missing version is 0)."""
    stored = reql.field(d, (vfield,))
    if expected == 0:
        return reql.or_([reql.EQ, [stored, None]], [reql.EQ, [stored, 0]])
    return [reql.EQ, [stored, expected]]


def _conflict(spec: ModelSpec[Any], obj: Any, vfield: str, reply: Mapping[str, Any]) -> None:
    """Raise ConflictError when the server refused a versioned write as stale."""
    if reply.get("errors") and _STALE in str(reply.get("first_error")):
        raise ConflictError(
            f"{spec.name} {spec.pk_of(obj)!r}: the stored document changed since this object was read "
            f"(its {vfield} is no longer {getattr(obj, vfield, None)!r}); refresh() and retry"
        )


def _save_versioned(
    spec: ModelSpec[Any], coll: Collection, obj: Any, data: dict[str, Any], px: int | None, vfield: str
) -> Plan[Any]:
    """A versioned ``set()``: ``get(pk).replace(d => d is null, expired or at the object's version ? new : error)``.

    The new document carries the next version.  One document's replace is atomic on the
    server, so of two writers holding one version only the first succeeds.  A server that
    skips a replace of a missing document (reqlite) gets an ``insert`` instead, which
    refuses a pk created meanwhile (a ConflictError as well).
    """
    expected = _expected(obj, vfield)
    doc = _document(spec, coll, obj, {**data, vfield: expected + 1}, px)
    key = coll.pk_datum(spec.pk_of(obj) if coll.hidden_pk else spec.pk_value(obj))

    def replace(d: Term) -> Term:
        writable = reql.or_([reql.NOT, [alive(d)]], _version_is(d, vfield, expected))
        return reql.branch([reql.EQ, [d, None]], doc, reql.branch(writable, doc, [_ERROR, [_STALE]]))

    reply = yield Run([reql.REPLACE, [[reql.GET, [coll.table, key]], reql.func(replace)]])
    _conflict(spec, obj, vfield, reply)
    _written(spec, reply)
    if reply.get("skipped"):
        reply = yield Run(reql.t(reql.INSERT, coll.table, doc))
        if reply.get("errors") and "Duplicate primary key" in str(reply.get("first_error")):
            raise ConflictError(
                f"{spec.name} {spec.pk_of(obj)!r}: another writer stored this pk since this object was read; "
                "refresh() and retry"
            )
        _written(spec, reply)
    spec.adapter.set_field(obj, vfield, expected + 1)
    return obj


def save_only(spec: ModelSpec[Any], obj: Any, fields: tuple[str, ...]) -> Plan[Any]:
    """``obj.set(only=fields)``: ``get_all(pk).filter(alive).update({fields})``, validated whole first.

    The document's expiry and other fields stay as stored; nothing matched (deleted or
    expired) is NotFound.  A versioned model updates by a function that refuses a stale
    version (ConflictError) and counts the new one.
    """
    coll = collection_of(spec)
    key = _require_key(spec, coll, obj)
    data = _dump(spec, obj, "set(only=...)")  # validates the whole object, as set() does
    if spec.options.unique:
        return (yield from _claimed(spec, coll, obj, _save_only(spec, coll, obj, key, data, fields), fields))
    return (yield from _save_only(spec, coll, obj, key, data, fields))


def _save_only(
    spec: ModelSpec[Any], coll: Collection, obj: Any, key: Any, data: dict[str, Any], fields: tuple[str, ...]
) -> Plan[Any]:
    changes: Any = coll.encode({name: data.get(name) for name in fields})
    if spec.options.db_defaults:
        _server_defaults(spec, coll, changes, fields)
    for name, value in changes.items():
        if type(value) is dict:  # replaced whole: update() would merge it into the stored object
            changes[name] = [_LITERAL, [value]]
    vfield = spec.options.version_field
    expected = _expected(obj, vfield) if vfield is not None else 0
    if vfield is not None:
        written = {**changes, vfield: expected + 1}
        changes = reql.func(lambda d: reql.branch(_version_is(d, vfield, expected), written, [_ERROR, [_STALE]]))
    reply = yield Run([reql.UPDATE, [_live_by_pk(coll, key), changes]])
    if vfield is not None:
        _conflict(spec, obj, vfield, reply)
    _written(spec, reply)
    if not (reply.get("replaced") or reply.get("unchanged")):
        raise NotFound(f"{spec.name} with pk {str(key)!r} not found (deleted or expired): set(only=...) writes nothing")
    if vfield is not None:
        spec.adapter.set_field(obj, vfield, expected + 1)
    return obj


def save_many(spec: ModelSpec[Any], objs: Iterable[Any], expire: Any = None) -> Plan[list[Any]]:
    """``set_many()``: validate every object first, then insert in batches of :data:`WRITE_BATCH`.

    Two objects with one pk store the last one, as successive ``set()`` calls would.
    Server-made pks are filled back in order (``generated_keys``).
    """
    coll = collection_of(spec)
    px = expire_ms(spec, expire)
    items = list(objs)
    if spec.options.version_field and items:
        raise ValidationError(f"{spec.name}.set_many(): models with __version_field__ are saved one by one with set()")
    dumps = [_dump(spec, obj, "set_many()") for obj in items]
    if spec.options.unique:  # each object claims its values, then is written: one by one
        _no_duplicates(spec, items)
        for obj, data in zip(items, dumps, strict=True):
            yield from _claimed(spec, coll, obj, _save(spec, coll, obj, data, px))
        return items
    keyed: dict[Any, tuple[Any, dict[str, Any]]] = {}
    fresh: list[tuple[Any, dict[str, Any]]] = []
    for obj, data in zip(items, dumps, strict=True):
        if _generates(spec, coll, obj):
            fresh.append((obj, data))
        else:
            keyed[spec.fill_pk(obj)] = (obj, data)
    del dumps
    for batch in _batches(list(keyed.values())):
        if spec.options.db_defaults:
            yield from _keep_stored(spec, coll, batch)
        docs = [_document(spec, coll, obj, data, px) for obj, data in batch]
        _written(spec, (yield from _insert(spec, coll, [reql.MAKE_ARRAY, docs], [obj for obj, _ in batch])))
    for batch in _batches(fresh):
        docs = [_document(spec, coll, obj, data, px) for obj, data in batch]
        reply = yield from _insert(spec, coll, [reql.MAKE_ARRAY, docs], [obj for obj, _ in batch])
        _written(spec, reply)
        for (obj, _), key in zip(batch, reply.get("generated_keys") or (), strict=True):
            _fill_generated(spec, coll, obj, key)
    return items


def _no_duplicates(spec: ModelSpec[Any], items: list[Any]) -> None:
    """Refuse, before any write, two objects of one set_many() call holding one unique value under two pks."""
    holders: dict[str, Any] = {}
    for obj in items:
        pk = spec.pk_of(obj)
        who = pk if pk not in (None, "") else id(obj)  # objects without a pk yet are each their own
        for name, cid in unique.claim_ids(spec, obj).items():
            if holders.setdefault(cid, who) != who:
                raise ConflictError(
                    f"{spec.name}.{name} = {getattr(obj, name)!r} is given to two objects of one set_many() "
                    "(__unique__); nothing was written"
                )


def _batches(items: list[Any], size: int = WRITE_BATCH) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- single objects ------------------------------------------------------------------------
def _live_get(coll: Collection, key: Any) -> Term:
    """``table.get(key)``, null when absent or expired."""
    fn = reql.func(lambda d: reql.branch([reql.EQ, [d, None]], None, reql.branch(alive(d), d, None)))
    return [reql.FUNCALL, [fn, [reql.GET, [coll.table, key]]]]


def _live_by_pk(coll: Collection, key: Any, test: Term | None = None) -> Term:
    """The live document with this pk, as a selection (to update or delete it)."""
    fn = test if test is not None else reql.func(alive)
    return [reql.FILTER, [[reql.GET_ALL, [coll.table, key]], fn]]


def _key(spec: ModelSpec[Any], coll: Collection, pk: Any) -> Any:
    if isinstance(pk, str) and len(pk.encode()) > MAX_PK_BYTES:
        raise NotFound(f"{spec.name} with pk {pk[:40]!r}... not found (RethinkDB keys hold at most 127 bytes)")
    return coll.pk_datum(pk)


def _require_key(spec: ModelSpec[Any], coll: Collection, obj: Any) -> Any:
    pk = spec.pk_of(obj) if coll.hidden_pk else spec.pk_value(obj)
    if pk in (None, ""):
        raise NotFound(f"{spec.name} object has no pk: it was never saved")
    return _key(spec, coll, pk)


def fetch(spec: ModelSpec[Any], pk: Any) -> Plan[Any]:
    """Read one object by pk (``get``, with the server's time); return it, or None when absent or expired.

    The expiry is compared here with the time the server sent along: a plain ``get`` costs
    the server less than a function that tests it there.
    """
    coll = collection_of(spec)
    doc, now = yield Run([reql.MAKE_ARRAY, [[reql.GET, [coll.table, _key(spec, coll, pk)]], reql.now()]])
    if doc is None or _expired(doc, now):
        return None
    return coll.decoder(doc)


def _expired(doc: dict[str, Any], now: Any) -> bool:
    expires = doc.get(EXPIRES)
    return expires is not None and decode_time(expires) <= decode_time(now)


def match_for_pk(spec: ModelSpec[Any], pk: Any) -> Plan[Any]:
    """``match_for_pk(pk)``: the object, or :class:`~persist_mixins.errors.NotFound`."""
    return (yield from pk_plans.match_for_pk(fetch, spec, pk))


def refresh(spec: ModelSpec[Any], obj: Any) -> Plan[Any]:
    """``obj.refresh()``: reload every field in place; NotFound when gone."""
    coll = collection_of(spec)
    return (yield from pk_plans.refresh(fetch, spec, obj, _require_key(spec, coll, obj)))


def delete(spec: ModelSpec[Any], obj: Any) -> Plan[bool]:
    """``obj.delete()``: True when a live document was deleted."""
    coll = collection_of(spec)
    try:
        key = _require_key(spec, coll, obj)
    except NotFound:
        return False
    return bool((yield from _delete(spec, coll, _live_by_pk(coll, key))))


def _delete(spec: ModelSpec[Any], coll: Collection, selection: Term) -> Plan[int]:
    """Delete a selection; a ``__unique__`` model's deleted documents release their claims.  How many."""
    if not spec.options.unique:
        return int((yield Run([reql.DELETE, [selection]])).get("deleted", 0))
    reply = yield Run(reql.t(reql.DELETE, selection, return_changes=True))
    yield from unique.release_docs(spec, coll, (change.get("old_val") for change in reply.get("changes") or ()))
    return int(reply.get("deleted", 0))


def expire(spec: ModelSpec[Any], obj: Any, seconds: Any) -> Plan[bool]:
    """``obj.expire(seconds)``: set the document's ``_expires_at``; False when it is not stored."""
    px = expire_ms(spec, seconds) if seconds is not None else None
    if px is None:
        raise ValidationError(f"{spec.name}.expire() needs a number of seconds or a timedelta")
    coll = collection_of(spec)
    key = _require_key(spec, coll, obj)
    reply = yield Run([reql.UPDATE, [_live_by_pk(coll, key), {EXPIRES: [reql.ADD, [reql.now(), px / 1000]]}]])
    return bool(reply.get("replaced") or reply.get("unchanged"))


def persist(spec: ModelSpec[Any], obj: Any) -> Plan[bool]:
    """``obj.persist()``: drop the document's expiry; True when it had one (and was live)."""
    coll = collection_of(spec)
    key = _require_key(spec, coll, obj)
    expiring = reql.func(lambda d: [reql.GT, [reql.field(d, (EXPIRES,)), reql.now()]])
    reply = yield Run([reql.UPDATE, [_live_by_pk(coll, key, expiring), {EXPIRES: None}]])
    return bool(reply.get("replaced"))


def ttl(spec: ModelSpec[Any], obj: Any) -> Plan[float | None]:
    """``obj.ttl()``: seconds left by the server's clock, None when it never expires; NotFound when not stored."""
    coll = collection_of(spec)
    key = _require_key(spec, coll, obj)
    doc, now = yield Run([reql.MAKE_ARRAY, [_live_get(coll, key), reql.now()]])
    if doc is None:
        raise NotFound(f"{spec.name} with pk {str(key)!r} not found (deleted or expired)")
    if doc.get(EXPIRES) is None:
        return None
    left: dt.timedelta = decode_time(doc[EXPIRES]) - decode_time(now)
    return max(0.0, left.total_seconds())


def purge_expired(spec: ModelSpec[Any]) -> Plan[int]:
    """``purge_expired()``: delete expired documents (a ``between`` on the ``_expires_at`` index); how many.

    The range starts at the epoch, not at ``minval``: documents that never expire hold null there.
    """
    coll = collection_of(spec)
    start = [reql.EPOCH_TIME, [0]]
    expired = reql.t(reql.BETWEEN, coll.table, start, reql.now(), index=EXPIRES, right_bound="closed")
    return (yield from _delete(spec, coll, expired))


# -- queries -------------------------------------------------------------------------------
def _objects(spec: ModelSpec[Any], coll: Collection, compiled: Compiled, state: QueryState) -> Plan[list[Any]]:
    """Every match of a query the server could not finish: residual conditions, ordering, window in Python."""
    decode = coll.decoder
    docs = yield Run(compiled.term, "all")
    found = [obj for obj in map(decode, docs) if matches(spec, compiled.residual, obj)]
    if state.ordering:
        sort_objects(spec, found, state.ordering)
    return state.window(found)


def select_pairs(spec: ModelSpec[Any], state: QueryState) -> Plan[None]:
    """Stream ``(None, obj)`` for every match: one reply for small limits, else a cursor read batch by batch."""
    coll = collection_of(spec)
    compiled = compile_query(coll, state)
    if not compiled.complete:
        yield EmitMany([(None, obj) for obj in (yield from _objects(spec, coll, compiled, state))])
        return
    decode = coll.decoder
    if state.limit is not None and state.limit <= SMALL_READ:
        docs = yield Run(compiled.term, "all")
        yield EmitMany([(None, decode(doc)) for doc in docs])
        return
    cursor = yield Cursor(compiled.term)
    while docs := (yield Next(cursor)):
        yield EmitMany([(None, decode(doc)) for doc in docs])


def match_for_values(spec: ModelSpec[Any], state: QueryState) -> Plan[Any]:
    """``match_for_values(**lookups)``: exactly one object, else NotFound / MultipleFound."""
    coll = collection_of(spec)
    found = yield from _objects(spec, coll, compile_query(coll, dataclasses.replace(state, limit=2)), state)
    if not found:
        raise NotFound(f"{spec.name} matching {describe(state)} not found")
    if len(found) > 1:
        raise MultipleFound(f"{spec.name}: more than one object matches {describe(state)}")
    return found[0]


def match(spec: ModelSpec[Any], state: QueryState) -> Plan[Any]:
    """``match(**lookups)``: a pk lookup is a ``get_all`` on the primary index; every lookup is checked."""
    return (yield from match_for_values(spec, state))


def _counted(state: QueryState) -> QueryState:
    return dataclasses.replace(state, ordering=())


def count(spec: ModelSpec[Any], state: QueryState) -> Plan[int]:
    """How many live documents match (within offset/limit): one ``count`` on the server where it can."""
    coll = collection_of(spec)
    compiled = compile_query(coll, _counted(state))
    if not compiled.complete:
        return len((yield from _objects(spec, coll, compiled, state)))
    return int((yield Run([reql.COUNT, [compiled.term]])))


def exists(spec: ModelSpec[Any], state: QueryState) -> Plan[bool]:
    """``exists()``: ``is_empty`` on the server, which stops at the first match."""
    coll = collection_of(spec)
    compiled = compile_query(coll, _counted(state))
    if not compiled.complete:
        return bool((yield from _objects(spec, coll, compiled, state)))
    return not (yield Run([reql.IS_EMPTY, [compiled.term]]))


def _targets(spec: ModelSpec[Any], coll: Collection, state: QueryState) -> Plan[list[Term]]:
    """The selections a query's update or delete acts on: the query itself, or its matches by pk."""
    if not state.offset and state.limit is None:
        compiled = compile_query(coll, state, ordered=False)
        if compiled.complete:
            return [compiled.term]
    compiled = compile_query(coll, state)
    if compiled.complete:
        keys = yield Run(window_pks(coll, compiled), "all")
    else:
        objs = yield from _objects(spec, coll, compiled, state)
        keys = [_require_key(spec, coll, obj) for obj in objs]
    return [_live_by_pk_many(coll, batch) for batch in _batches(list(keys))]


def _live_by_pk_many(coll: Collection, keys: list[Any]) -> Term:
    return [reql.FILTER, [[reql.GET_ALL, [coll.table, *keys]], reql.func(alive)]]


def delete_where(spec: ModelSpec[Any], state: QueryState) -> Plan[int]:
    """Query ``delete()``: deleted on the server; returns how many."""
    coll = collection_of(spec)
    deleted = 0
    for target in (yield from _targets(spec, coll, state)):
        deleted += yield from _delete(spec, coll, target)
    return deleted


def update_where(spec: ModelSpec[Any], state: QueryState, values: Mapping[str, Any]) -> Plan[int]:
    """Query ``update(**values)``: updated on the server, keeping each expiry; returns how many matched."""
    coll = collection_of(spec)
    changes: Any = _update_values(spec, coll, values)
    if not changes:
        return 0
    if any(name in spec.options.unique for name in values):
        return (yield from _update_unique(spec, state, values))
    for name, value in changes.items():
        if type(value) is dict:  # replaced whole, as on the other backends: update() would merge it
            changes[name] = [_LITERAL, [value]]
    vfield = spec.options.version_field
    if vfield is not None:  # counted as set() counts it, so a copy read before is stale
        if vfield in values:
            raise InvalidLookup(f"{spec.name}.update({vfield}=...): the version field is counted by the backend")
        fixed = changes

        def counted(d: Term) -> Term:
            stored = reql.field(d, (vfield,))
            return {**fixed, vfield: [reql.ADD, [reql.branch([reql.EQ, [stored, None]], 0, stored), 1]]}

        changes = reql.func(counted)
    written = 0
    for target in (yield from _targets(spec, coll, state)):
        reply = yield Run([reql.UPDATE, [target, changes]])
        written += int(reply.get("replaced", 0)) + int(reply.get("unchanged", 0))
    return written


def _update_unique(spec: ModelSpec[Any], state: QueryState, values: Mapping[str, Any]) -> Plan[int]:
    """Query ``update()`` of a ``__unique__`` field: object by object, each a ``set(only=...)`` that claims.

    Raises:
        ConflictError: the query matches several objects and the update gives them one unique value.
    """
    objs = [obj for _, obj in (yield from collect(select_pairs(spec, state)))]
    shared = [name for name in values if name in spec.options.unique and values[name] is not None]
    if len(objs) > 1 and shared:
        raise ConflictError(
            f"{spec.name}.update({shared[0]}=...): {len(objs)} objects would hold one __unique__ value; "
            "nothing was written"
        )
    fields, written = tuple(values), 0
    for obj in objs:
        for name, value in values.items():
            spec.adapter.set_field(obj, name, value)
        try:
            yield from save_only(spec, obj, fields)
        except NotFound:  # deleted or expired since the query read it: not recreated, not counted
            continue
        written += 1
    return written


#: What update() accepts per kind (stricter than lookups: an int field takes no 2.5).
_UPDATE_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "decimal": (int, decimal.Decimal), "list": (list, tuple),
    "dict": (Mapping,),
}  # fmt: skip


def _update_values(spec: ModelSpec[Any], coll: Collection, values: Mapping[str, Any]) -> dict[str, Any]:
    """Check update() values against their fields, as set() would, and encode them."""
    native: dict[str, Any] = {}
    for name, value in values.items():
        field = spec.fields.get(name)
        if field is None:
            raise InvalidLookup(f"{spec.name}.update({name}=...): {spec.name} has no field {name!r}")
        if name == spec.pk_field or name in spec.options.unique_together:
            raise InvalidLookup(f"{spec.name}.update({name}=...): the pk cannot be changed by update()")
        if value is None:
            if not field.nullable:
                raise ValidationError(f"{spec.name}.{name} is required: update() cannot set it to None")
        elif field.kind == "model":
            if field.model is not None and isinstance(value, field.model):
                value = build_adapter(field.model).dump(value)
            elif not isinstance(value, Mapping):
                raise ValidationError(f"{spec.name}.update({name}={value!r}): expected a {field.model!r}")
        else:
            wanted = _UPDATE_TYPES.get(field.kind)
            if wanted is not None and (not isinstance(value, wanted) or isinstance(value, bool)):
                raise ValidationError(f"{spec.name}.update({name}={value!r}): the field holds {field.kind} values")
            if field.kind not in ("list", "dict", "any"):
                try:
                    value = _check_value(name, spec, field.kind, value)
                except InvalidLookup as exc:
                    raise ValidationError(str(exc).replace(".filter(", ".update(")) from None
        native[name] = value
    return coll.encode(native)


# -- changefeeds ---------------------------------------------------------------------------
def changes(spec: ModelSpec[Any], state: QueryState, include_initial: bool = False) -> Plan[None]:
    """Stream ``(old, new)`` pairs of every change to matching documents (a changefeed; never ends by itself).

    With ``include_initial``, the objects matching when the feed opened come first, as
    ``(None, obj)`` (read by a query once the feed is open, rather than the server's own
    ``include_initial``, which reqlite lacks).  The feed follows the table; the server
    passes on only the changes where either side
    matches the lookups it can evaluate, and each side is then checked here against every
    lookup: a side is None when the document did not (or no longer does) exist, match, or
    live (expiry is checked by this machine's clock as each change arrives).  A change
    whose two sides are both None is not reported.
    """
    coll = collection_of(spec)
    conditions = state.terms
    server = [c for c in conditions if not residual_node(c)]
    feed = [reql.CHANGES, [coll.table]]
    if server:

        def either(change: Term) -> Term:
            def matching(side: str) -> Term:
                value = [reql.DEFAULT, [[reql.GET_FIELD, [change, side]], None]]
                test = reql.func(lambda row: reql.and_(*(node_term(coll, c, row) for c in server)), var=2)
                return reql.and_([reql.NE, [value, None]], [reql.FUNCALL, [test, value]])

            return reql.or_(matching("old_val"), matching("new_val"))

        feed = [reql.FILTER, [feed, reql.func(either)]]
    cursor = yield Cursor(feed)
    yield Emit(FEED_OPEN)  # the caller may now write and be sure the feed sees it
    if include_initial:  # read after the feed opened: a write in between is reported, perhaps twice, never lost
        current = yield from collect(select_pairs(spec, QueryState(state.conditions, tree=state.tree)))
        yield EmitMany([(None, obj) for _, obj in current])
    decode = coll.decoder

    def side(doc: Any) -> Any:
        if doc is None:
            return None
        expires = doc.get(EXPIRES)
        if expires is not None and decode_time(expires) <= dt.datetime.now(dt.timezone.utc):
            return None
        obj = decode(doc)
        return obj if matches(spec, conditions, obj) else None

    while batch := (yield Next(cursor)):
        pairs = []
        for change in batch:
            if "new_val" not in change and "old_val" not in change:
                continue  # a state message
            old, new = side(change.get("old_val")), side(change.get("new_val"))
            if old is not None or new is not None:
                pairs.append((old, new))
        if pairs:
            yield EmitMany(pairs)
