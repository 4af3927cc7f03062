"""``__unique__`` on RethinkDB, which has no unique secondary index: one claim document per value.

A value ``v`` of a unique field ``f`` is held by the claim ``u:<f>:<digest of v>`` in the
model's bookkeeping table (``<table>__persist``), whose ``pk`` names the owner.  A write
first claims each of its values by *inserting* the claim: an insert of an existing primary
key fails, atomically, so of two writers claiming one value exactly one succeeds (the
technique is atomic per value).  Then the document is written, then the claims of the
values it no longer holds are deleted.  A delete (and ``purge_expired()``) deletes the
claims of what it deleted.

A claim found held by another pk blocks the write (ConflictError) while its owner is
alive and holds the value.  A claim is taken over (by a conditional replace) when its
owner expired, or, once :data:`GRACE_S` seconds old, when its owner is gone or no longer
holds the value (a writer that died between claiming and writing): a younger claim may
belong to a write still in progress, so it blocks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ...errors import ConflictError
from ...run import Plan
from ...spec import ModelSpec
from . import reql
from .commands import Run
from .compile import alive
from .schema import Collection, decode_time

__all__ = ["GRACE_S", "claim", "claim_ids", "drop", "release", "release_docs"]

#: How old a claim must be before a writer may take it over from an owner that does not hold the value.
GRACE_S = 10.0
#: Attempts at claiming one value before giving up (each lost race re-reads the claim).
_ATTEMPTS = 5


def _canonical(value: Any) -> str:
    """The text a value is claimed by: equal for values RethinkDB stores equal (times to the millisecond)."""
    if isinstance(value, dt.datetime):
        value = ["t", round(value.timestamp() * 1000)]
    elif not isinstance(value, (str, int, float, bool, list, dict)):
        value = str(value)  # date, UUID, Decimal: stored as text
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def claim_ids(spec: ModelSpec[Any], obj: Any, fields: Iterable[str] | None = None) -> dict[str, str]:
    """Field -> claim id of each non-None unique value of ``obj`` (of ``fields`` only, when given)."""
    out = {}
    for name in spec.options.unique if fields is None else fields:
        value = getattr(obj, name, None)
        if value is not None:
            digest = hashlib.blake2b(_canonical(value).encode(), digest_size=16).hexdigest()
            out[name] = f"u:{name}:{digest}"
    return out


def claim(
    spec: ModelSpec[Any], coll: Collection, key: Any, obj: Any, fields: Iterable[str] | None = None
) -> Plan[list[str]]:
    """Claim every non-None unique value of ``obj`` for the pk ``key``; return the claims inserted now.

    Raises:
        ConflictError: another live object holds one of the values; the claims made by this
            call are deleted again, so nothing of it stays.
    """
    made: list[str] = []
    try:
        for name, cid in claim_ids(spec, obj, fields).items():
            if (yield from _claim_one(spec, coll, key, obj, name, cid)):
                made.append(cid)
    except Exception:  # not on GeneratorExit: a closing generator must not yield (unclaimed values are taken over)
        if made:
            yield from drop(coll, key, made)
        raise
    return made


def _claim_one(spec: ModelSpec[Any], coll: Collection, key: Any, obj: Any, name: str, cid: str) -> Plan[bool]:
    """Claim one value; True when the claim was made (or taken over) now, False when ``key`` held it already."""
    book = coll.book
    doc = {"id": cid, "pk": key, "at": reql.now()}
    value = coll.encode({name: getattr(obj, name)})[name]
    for _ in range(_ATTEMPTS):
        reply = yield Run([reql.INSERT, [book, doc]])
        if reply.get("inserted"):
            return True

        def holds(owner: Any) -> Any:
            return reql.branch(
                [reql.EQ, [owner, None]],
                False,
                reql.and_(alive(owner), [reql.EQ, [[reql.DEFAULT, [reql.field(owner, (name,)), None]], value]]),
            )

        def state(c: Any) -> Any:
            owner = [reql.GET, [coll.table, [reql.GET_FIELD, [c, "pk"]]]]
            expired = reql.func(lambda d: reql.and_([reql.NE, [d, None]], [reql.NOT, [alive(d)]]), var=3)
            return reql.branch(
                [reql.EQ, [c, None]],
                None,
                [
                    reql.MAKE_ARRAY,
                    [c, [reql.FUNCALL, [reql.func(holds, var=2), owner]], [reql.FUNCALL, [expired, owner]]],
                ],
            )

        read = [reql.FUNCALL, [reql.func(state), [reql.GET, [book, cid]]]]
        found, now = yield Run([reql.MAKE_ARRAY, [read, reql.now()]])
        if found is None:
            continue  # released meanwhile: insert again
        current, held, expired = found
        if current.get("pk") == key:
            return False
        if held:
            raise ConflictError(
                f"{spec.name}.{name} = {getattr(obj, name)!r} is already stored on another {spec.name} (__unique__)"
            )
        age = (decode_time(now) - decode_time(current["at"])).total_seconds()
        if not expired and age < GRACE_S:
            raise ConflictError(
                f"{spec.name}.{name} = {getattr(obj, name)!r} is being written to another {spec.name} (__unique__)"
            )
        stale = [reql.FILTER, [[reql.GET_ALL, [book, cid]], {"pk": current["pk"]}]]
        reply = yield Run([reql.REPLACE, [stale, doc]])
        if reply.get("replaced"):
            return True
    raise ConflictError(f"{spec.name}.{name}: too many concurrent writers of {getattr(obj, name)!r} (__unique__)")


def drop(coll: Collection, key: Any, ids: list[str]) -> Plan[None]:
    """Delete the claims ``ids`` that ``key`` still holds."""
    if ids:
        yield Run([reql.DELETE, [[reql.FILTER, [[reql.GET_ALL, [coll.book, *ids]], {"pk": key}]]]])


def release(
    spec: ModelSpec[Any],
    coll: Collection,
    key: Any,
    old: Mapping[str, Any] | None,
    kept: Iterable[str],
    fields: Iterable[str] | None = None,
) -> Plan[None]:
    """Delete the claims of the stored document ``old`` (as read before a write) that the write did not keep."""
    if old is None:
        return
    keep = set(kept)
    stale = [cid for cid in claim_ids(spec, coll.decoder(dict(old)), fields).values() if cid not in keep]
    yield from drop(coll, key, stale)


def release_docs(spec: ModelSpec[Any], coll: Collection, docs: Iterable[Mapping[str, Any] | None]) -> Plan[None]:
    """Delete the claims of deleted documents (``old_val`` of a delete's changes)."""
    for old in docs:
        if old is not None:
            key = old.get(coll.pk)
            yield from drop(coll, key, list(claim_ids(spec, coll.decoder(dict(old))).values()))
