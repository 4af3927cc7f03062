"""Lookups compiled to Redis reads: which index answers a lookup, what an entry is, which key a lookup pins.

Every field in ``__indexes__`` gets one sorted set.  Numbers, dates, datetimes
and bools are *scored* (score = the value as a float, member = pk); strings and
UUIDs are *lexical* (score 0, member = ``value NUL pk``, read with
ZRANGEBYLEX).  ``None`` values go to a second sorted set per field, so
``isnull`` is answered by the index too.  Pure code: no driver, no I/O.

Also here: :func:`pk_from_conditions` (the key a lookup pins, as it appears in a
Redis key) and :func:`prefilter` (the conditions a decoded JSON document can be
checked against); they read lookups the Redis way, so they are not in the core.

Index hits are candidates, never answers: the plans always re-check every
condition on the decoded objects, so float rounding of Decimals or datetimes can
only widen a range, never drop a match.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigurationError, ValidationError
from ...lookups import Condition, Node
from ...spec import ModelSpec
from .commands import Command
from .schema import index_key, null_key

__all__ = [
    "IndexField", "candidate_commands", "entries", "fetch_groups", "index_fields", "is_exact", "pks_from_reply",
    "pk_from_conditions", "prefilter", "score_bounds", "served",
]  # fmt: skip

SCORED_KINDS = {"int", "float", "decimal", "bool", "datetime", "date"}
LEX_KINDS = {"str", "uuid"}
#: Kinds whose score or lexical key orders and compares exactly like the Python values.
EXACT_KINDS = {"int", "bool", "date", "str", "uuid"}
SEP = "\x00"


@dataclass(frozen=True)
class IndexField:
    """One indexed field: its name, kind, whether it is lexical, and its two keys."""

    name: str
    kind: str
    lexical: bool
    key: str
    nulls: str


def index_fields(spec: ModelSpec[Any]) -> tuple[IndexField, ...]:
    """The indexed fields of a model, checked once per class.

    Raises:
        ConfigurationError: an indexed field holds lists, dicts, nested models or untyped values.
    """
    cached = _CACHE.get(spec)
    if cached is not None:
        return cached
    out = []
    for name in spec.options.indexes:
        kind = spec.fields[name].kind
        if kind not in SCORED_KINDS and kind not in LEX_KINDS:
            raise ConfigurationError(
                f"{spec.name}.__indexes__: {name!r} holds {kind} values, which cannot be indexed "
                "(index numbers, dates, datetimes, bools, strings or UUIDs)"
            )
        out.append(IndexField(name, kind, kind in LEX_KINDS, index_key(spec, name), null_key(spec, name)))
    fields = tuple(out)
    _CACHE[spec] = fields
    return fields


_CACHE: dict[ModelSpec[Any], tuple[IndexField, ...]] = {}


def score(field: IndexField, value: Any) -> float:
    """The sorted-set score of a value of a scored field (monotonic in the value)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # naive values are ordered among themselves as if UTC
            value = value.replace(tzinfo=dt.timezone.utc)
        return float(value.timestamp())
    if isinstance(value, dt.date):
        return float(value.toordinal())
    if isinstance(value, (bool, int, float, decimal.Decimal)):
        out = float(value)
        if out != out or out in (float("inf"), float("-inf")):
            raise ValidationError(f"{field.name}: cannot index the non-finite number {value!r}")
        return out
    raise ValidationError(f"{field.name}: cannot index {type(value).__name__} {value!r} as a number")


def text(field: IndexField, value: Any) -> str:
    """The lexical form of a value of a lexical field."""
    out = str(value) if isinstance(value, uuid.UUID) else value
    if not isinstance(out, str):
        raise ValidationError(f"{field.name}: cannot index {type(value).__name__} {value!r} as text")
    if SEP in out:
        raise ValidationError(f"{field.name}: indexed text cannot contain NUL characters: {value!r}")
    return out


def entries(spec: ModelSpec[Any], obj: Any, pk: str) -> list[tuple[int, Any, str]]:
    """The index entries of one object as ``(field position, score, member)``.

    The position is the field's place in :func:`index_fields`; the save script
    turns it into the key (value set when ``2 * i``, null set when ``2 * i + 1``).
    """
    if SEP in pk:
        raise ValidationError(f"{spec.name}: the pk of an indexed model cannot contain NUL characters: {pk!r}")
    out: list[tuple[int, Any, str]] = []
    for i, field in enumerate(index_fields(spec)):
        value = getattr(obj, field.name, None)
        if value is None:
            out.append((2 * i + 1, 0, pk))
        elif field.lexical:
            out.append((2 * i, 0, f"{text(field, value)}{SEP}{pk}"))
        else:
            out.append((2 * i, repr(score(field, value)), pk))
    return out


def index_keys(spec: ModelSpec[Any]) -> list[str]:
    """Every index key of a model, in the order :func:`entries` positions refer to."""
    keys: list[str] = []
    for field in index_fields(spec):
        keys += [field.key, field.nulls]
    return keys


# -- reading -----------------------------------------------------------------------------

_SERVED_OPS = {"eq", "in", "gt", "gte", "lt", "lte", "range", "isnull"}


def served(spec: ModelSpec[Any], conditions: Iterable[Condition]) -> list[tuple[Condition, IndexField]]:
    """The conditions an index can answer, each with its index."""
    by_name = {f.name: f for f in index_fields(spec)} if spec.options.indexes else {}
    out = []
    for cond in conditions:
        field = by_name.get(cond.path[0]) if len(cond.path) == 1 else None
        if field is None:
            continue
        if cond.op in _SERVED_OPS or (cond.op == "startswith" and field.lexical):
            out.append((cond, field))
    return out


#: Floats hold every int up to 2**53 exactly; past that, distinct ints may share a score.
_EXACT_INT = 2**53


def is_exact(cond: Condition, field: IndexField) -> bool:
    """True when the index alone decides the condition (no need to decode objects to check it).

    Scores are floats, which are monotonic in the value: comparing against a bound
    below 2**53 in magnitude gives the same answer for every stored int.
    """
    if cond.op == "isnull":
        return True
    if field.kind not in EXACT_KINDS:
        return False
    if field.kind == "int":
        values = cond.value if cond.op in ("in", "range") else (cond.value,)
        return all(v is None or (v == int(v) and abs(v) < _EXACT_INT) for v in values)
    return True


_RANGE_OPS = {"gt", "gte", "lt", "lte", "range"}


def score_bounds(field: IndexField, conds: Iterable[Condition]) -> tuple[str, str]:
    """The tightest ``ZRANGEBYSCORE`` bounds satisfying every range condition on one scored field.

    ``amount_kg__gte=10, amount_kg__lt=20`` becomes one range ``10.0 (20.0``, so a
    query reads the index entries it returns, not two half-open ranges to intersect.
    A strict bound is used only when scores order exactly like the values;
    otherwise a value that rounds to the bound's score would be lost before the
    re-check on the decoded object could keep it.
    """
    lo: tuple[float, bool] = (float("-inf"), False)  # (score, exclusive)
    hi: tuple[float, bool] = (float("inf"), False)
    for cond in conds:
        strict = is_exact(cond, field)
        if cond.op in ("gt", "gte"):
            lo = max(lo, (score(field, cond.value), cond.op == "gt" and strict))
        elif cond.op in ("lt", "lte"):
            hi = min(hi, (score(field, cond.value), cond.op == "lt" and strict), key=_upper_key)
        elif cond.op == "range":
            lo = max(lo, (score(field, cond.value[0]), False))
            hi = min(hi, (score(field, cond.value[1]), False), key=_upper_key)
    return _fmt(lo, "-inf"), _fmt(hi, "+inf")


def _upper_key(bound: tuple[float, bool]) -> tuple[float, bool]:
    # For upper bounds the smaller value is tighter, and at equal values the exclusive one.
    return (bound[0], not bound[1])


def _fmt(bound: tuple[float, bool], infinite: str) -> str:
    value, exclusive = bound
    if value in (float("inf"), float("-inf")):
        return infinite
    return ("(" if exclusive else "") + repr(value)


def fetch_groups(usable: list[tuple[Condition, IndexField]]) -> list[tuple[IndexField, list[Command]]]:
    """The index reads for a query: one group of commands per set of candidates to intersect.

    Range conditions on the same scored field share one merged range; every other
    condition gets its own group (an ``in`` is the union of its commands' replies).
    """
    groups: list[tuple[IndexField, list[Command]]] = []
    ranges: dict[str, tuple[IndexField, list[Condition]]] = {}
    for cond, field in usable:
        if not field.lexical and cond.op in _RANGE_OPS:
            ranges.setdefault(field.name, (field, []))[1].append(cond)
        else:
            groups.append((field, candidate_commands(cond, field)))
    for field, conds in ranges.values():
        lo, hi = score_bounds(field, conds)
        groups.append((field, [Command(("ZRANGEBYSCORE", field.key, lo, hi))]))
    return groups


def candidate_commands(cond: Condition, field: IndexField) -> list[Command]:
    """The commands whose replies, together, list the pks that may satisfy ``cond``."""
    op, value = cond.op, cond.value
    if op == "isnull":
        return [Command(("ZRANGE", field.nulls if value else field.key, 0, -1))]
    if op == "eq" and value is None:
        return [Command(("ZRANGE", field.nulls, 0, -1))]
    if field.lexical:
        return [Command(("ZRANGEBYLEX", field.key, lo, hi)) for lo, hi in _lex_ranges(field, op, value)]
    if op in ("eq", "in"):
        values = [value] if op == "eq" else [v for v in value if v is not None]
        return [Command(("ZRANGEBYSCORE", field.key, repr(score(field, v)), repr(score(field, v)))) for v in values]
    return [Command(("ZRANGEBYSCORE", field.key, *score_bounds(field, [cond])))]


def _lex_ranges(field: IndexField, op: str, value: Any) -> list[tuple[bytes, bytes]]:
    # Members are "value NUL pk" in UTF-8; the byte 0xFF never occurs in UTF-8, so
    # "v NUL 0xFF" sorts after every member of value v and before every longer value
    # starting with v.  Bounds are bytes so that 0xFF is sent as one raw byte.
    def enc(v: Any) -> bytes:
        return text(field, v).encode()

    nul, top = SEP.encode(), b"\xff"
    if op in ("eq", "in"):
        values = [value] if op == "eq" else [v for v in value if v is not None]
        return [(b"[" + enc(v) + nul, b"(" + enc(v) + nul + top) for v in values]
    if op == "startswith":
        return [(b"[" + enc(value), b"(" + enc(value) + top)]
    if op == "gt":
        return [(b"(" + enc(value) + nul + top, b"+")]
    if op == "gte":
        return [(b"[" + enc(value) + nul, b"+")]
    if op == "lt":
        return [(b"-", b"(" + enc(value) + nul)]
    if op == "lte":
        return [(b"-", b"(" + enc(value) + nul + top)]
    lo, hi = value
    return [(b"[" + enc(lo) + nul, b"(" + enc(hi) + nul + top)]


def pks_from_reply(field: IndexField, members: Iterable[Any]) -> list[str]:
    """Turn index members from a reply into pks."""
    out = []
    for member in members:
        item = member.decode() if isinstance(member, bytes) else member
        out.append(item.rsplit(SEP, 1)[1] if field.lexical and SEP in item else item)
    return out


# -- lookups as Redis reads them (keys and JSON documents) --------------------------------
def pk_from_conditions(spec: ModelSpec[Any], conditions: tuple[Condition, ...]) -> tuple[str | None, bool]:
    """Return the pk the conditions pin down by equality, and whether it is certain.

    The pk field itself (or ``pk=`` for a ``__unique_together__`` model without a pk
    field) pins it for certain.  ``id=`` on a model whose pk field is ``pk``, and
    equality on every ``__unique_together__`` field, only *suggest* it: that is how
    a missing pk is filled, but a pk set explicitly wins, so a miss must fall back
    to a search by values.

    Returns:
        ``(pk, certain)``; ``(None, False)`` when the conditions do not pin a pk.
    """
    eq = {c.path[0]: _pk_text(c.value) for c in conditions if c.op == "eq" and len(c.path) == 1 and c.value is not None}
    pk_field = spec.pk_field
    if pk_field is not None and pk_field in eq:
        return eq[pk_field], True
    if "pk" in eq and "pk" not in spec.fields:
        return eq["pk"], True
    if pk_field != "id" and "id" in spec.fields and "id" in eq:
        return eq["id"], False
    unique = spec.options.unique_together
    if unique and all(name in eq for name in unique):
        return ".".join(eq[name] for name in unique), pk_field is None
    return None, False


def _pk_text(value: Any) -> str:
    """A lookup value as it appears in a key: 5.0 and Decimal("5") name the object stored as 5."""
    if isinstance(value, (float, decimal.Decimal)) and not isinstance(value, bool) and value == int(value):
        return str(int(value))
    return str(value)


#: Kinds whose JSON form compares exactly like the Python value.
_JSON_NATIVE = {"str", "int", "float", "bool"}


def prefilter(spec: ModelSpec[Any], conditions: tuple[Node, ...]) -> tuple[Condition, ...]:
    """The conditions that can be checked on a decoded JSON document before building a model.

    Only plain conditions on top-level fields whose JSON value equals the Python value
    qualify (``Q`` expressions are checked on the model); a document without the field
    (a renamed or aliased key) is never rejected by them.
    """
    return tuple(
        c
        for c in conditions
        if isinstance(c, Condition) and len(c.path) == 1 and c.path[0] in spec.fields and c.kind in _JSON_NATIVE
    )
