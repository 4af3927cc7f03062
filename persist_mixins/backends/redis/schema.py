"""Where and how objects live in Redis: key names, SCAN patterns, the JSON codec.

One STRING per object at ``{prefix}:{pk}`` holding the model's primitives as
JSON, exactly what redis-schematics wrote, so its data reads back unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import orjson

from ...adapters.values import beyond_orjson
from ...errors import ValidationError
from ...spec import ModelSpec

__all__ = [
    "claims_key", "decode", "encode", "entries_key", "entries_prefix", "escape_glob", "index_key", "key_for",
    "null_key", "object_prefix", "owned_key", "pk_of_key", "same_slot", "scan_pattern", "schedule_key",
    "sequence_key", "tagged", "unique_text",
]  # fmt: skip

_GLOB = re.compile(r"([*?\[\]\\])")


def escape_glob(text: str) -> str:
    """Escape Redis glob metacharacters so ``text`` matches only itself in MATCH patterns."""
    return _GLOB.sub(r"\\\1", text)


def object_prefix(spec: ModelSpec[Any]) -> str:
    """What every object key of a model starts with (before the pk).

    Models without ``__indexes__`` or ``__unique__`` use ``{prefix}:`` exactly as redis-schematics
    did.  Indexed and unique models wrap the prefix in a hash tag, ``{{prefix}}:``, so an object,
    its index entries and its unique claims live in one Redis Cluster slot and one script can
    update them all.
    """
    prefix = spec.options.key_prefix
    return f"{{{prefix}}}:" if tagged(spec) else f"{prefix}:"


def tagged(spec: ModelSpec[Any]) -> bool:
    """True when a string-layout model keeps bookkeeping keys beside its objects (``__indexes__``, ``__unique__``).

    Such a model's keys carry the ``{prefix}`` hash tag, and its writes, deletes and TTL
    changes go through the Lua scripts that keep the bookkeeping in step.  The hash layout
    (``HashRedisMixin``) keeps its claims beside its hash and its field names untagged.
    """
    if spec.options.indexes:
        return True
    if not spec.options.unique:
        return False
    backend = getattr(spec.cls, "__persist_backend__", None)
    return getattr(backend, "name", None) != "redis_hash"  # the hash layout keeps its fields as they were


def key_for(spec: ModelSpec[Any], pk: str) -> str:
    """The key of the object with this pk."""
    return object_prefix(spec) + pk


def scan_pattern(spec: ModelSpec[Any], *, legacy: bool = False) -> str:
    """The SCAN MATCH pattern for every object of a model; the prefix is escaped."""
    start = f"{spec.options.key_prefix}:" if legacy else object_prefix(spec)
    return escape_glob(start) + "*"


def pk_of_key(spec: ModelSpec[Any], key: bytes | str, *, legacy: bool = False) -> str:
    """Recover the pk from a key listed by SCAN."""
    text = key.decode() if isinstance(key, bytes) else key
    start = f"{spec.options.key_prefix}:" if legacy else object_prefix(spec)
    return text[len(start) :]


# Index bookkeeping of an indexed model.  "#" after the hash tag keeps these out of
# the objects' "{prefix}:*" SCAN pattern whatever the pks look like.


def _meta(spec: ModelSpec[Any], name: str) -> str:
    return f"{{{spec.options.key_prefix}}}#{name}"


def index_key(spec: ModelSpec[Any], field: str) -> str:
    """The sorted set indexing the non-None values of ``field``."""
    return _meta(spec, f"i:{field}")


def null_key(spec: ModelSpec[Any], field: str) -> str:
    """The sorted set of pks whose ``field`` is None."""
    return _meta(spec, f"n:{field}")


def entries_key(spec: ModelSpec[Any], pk: str) -> str:
    """The hash recording, per index key, the entry one object has in it (to remove it later)."""
    return _meta(spec, f"e:{pk}")


def entries_prefix(spec: ModelSpec[Any]) -> str:
    """What every entries hash key starts with (before the pk)."""
    return _meta(spec, "e:")


def schedule_key(spec: ModelSpec[Any]) -> str:
    """The sorted set of pk by expire-at (Redis server time, ms) of expiring indexed objects."""
    return _meta(spec, "exp")


def claims_key(spec: ModelSpec[Any], field: str, container: str | None = None) -> str:
    """The hash of a ``__unique__`` field's claims: the value's canonical JSON text -> the pk holding it.

    ``container``: the hash of the hash layout the claims sit beside (same Cluster slot);
    None for the string layout (beside the ``{prefix}`` objects).
    """
    return _meta(spec, f"u:{field}") if container is None else same_slot(container, f"#u:{field}")


def owned_key(spec: ModelSpec[Any], field: str, container: str | None = None) -> str:
    """The hash of what each object claims for a ``__unique__`` field: pk -> the value's canonical JSON text."""
    return _meta(spec, f"o:{field}") if container is None else same_slot(container, f"#o:{field}")


def sequence_key(spec: ModelSpec[Any], field: str) -> str:
    """The counter (INCR) of an int ``__db_defaults__`` field: one per model and field, ``{prefix}#seq:field``.

    Both layouts use it; it never expires.  It shares the Redis Cluster slot of a tagged model's
    objects and of the hash layout's default hash (``prefix``).
    """
    return _meta(spec, f"seq:{field}")


def _has_tag(key: str) -> bool:
    start = key.find("{")
    return start >= 0 and key.find("}", start + 1) > start + 1  # "{}" is no tag: Redis hashes the whole key


def same_slot(key: str, suffix: str) -> str:
    """A key name ending with ``suffix`` in the Redis Cluster slot of ``key``.

    A key that has a hash tag keeps it (the suffix goes after); any other key becomes the
    hash tag itself, ``{key}``: Redis hashes an untagged key whole, and ``{key}...`` by ``key``.
    """
    if _has_tag(key) or "}" in key:  # "}" alone: cannot be wrapped (the slot differs, outside Cluster no matter)
        return key + suffix
    return f"{{{key}}}{suffix}"


def _canonical(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        if value == value and value not in (float("inf"), float("-inf")) and value == int(value):
            return int(value)
        return value
    if kind is dict:
        return {k: _canonical(v) for k, v in value.items()}
    if kind is list:
        return [_canonical(v) for v in value]
    return value


def unique_text(value: Any) -> str:
    """The text a ``__unique__`` value is claimed under ('' for None, which never clashes).

    The value as stored (the dumped JSON primitive), written as compact JSON with dict keys
    sorted and integral floats as integers: ``1`` and ``1.0`` are one value, ``"Dune"`` and
    ``"dune"`` two, ``true`` and ``1`` two.
    """
    if value is None:
        return ""
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)


#: Floats this large may be integers beyond 64 bits that orjson read as floats (2**63 is about 9.22e18).
_HUGE = 9.2e18
#: Field kinds whose JSON values may be such integers: top-level, or anywhere inside.
_INT_KINDS = frozenset({"int", "any"})
_DEEP_KINDS = frozenset({"any", "list", "dict", "model"})


def _huge_float(value: Any) -> bool:
    """True when ``value`` is, or holds, a float of :data:`_HUGE` magnitude or more."""
    kind = type(value)
    if kind is float:
        return not -_HUGE < value < _HUGE
    if kind is dict:
        value = value.values()
    elif kind is not list:
        return False
    return any([_huge_float(v) for v in value])


def _suspects(spec: ModelSpec[Any]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """What may hold extreme numbers, per model.

    The document keys of the fields that may hold integers (top-level ones, and those with
    values inside), and whether any field may hold a float.
    """
    found = spec.cache.get(_suspects)
    if found is None:
        keys = spec.adapter.document_keys
        fields = spec.fields.values()
        found = spec.cache[_suspects] = (
            tuple(keys.get(f.name, f.name) for f in fields if f.kind in _INT_KINDS),
            tuple(keys.get(f.name, f.name) for f in fields if f.kind in _DEEP_KINDS),
            any(f.kind == "float" or f.kind in _DEEP_KINDS for f in fields),
        )
    return found


def _read_as_float(spec: ModelSpec[Any], data: dict[str, Any]) -> bool:
    """True when orjson may have read an integer beyond 64 bits as a float (which it does) in this document."""
    ints, deep, _ = _suspects(spec)
    for key in ints:
        value = data.get(key)
        if type(value) is float and not -_HUGE < value < _HUGE:
            return True
    return any(_huge_float(data.get(key)) for key in deep)


def _refuse(spec: ModelSpec[Any], data: Mapping[str, Any], exc: Exception) -> ValidationError:
    """A ValidationError naming the first field whose value cannot be written as JSON."""
    for name, value in data.items():
        try:
            json.dumps(value, allow_nan=True)
        except (TypeError, ValueError, RecursionError) as field_exc:
            return ValidationError(f"{spec.name}.{name}: cannot store {value!r} as JSON: {field_exc}")
    return ValidationError(f"{spec.name}: cannot store {dict(data)!r} as JSON: {exc}")


def encode(spec: ModelSpec[Any], data: Mapping[str, Any]) -> bytes:
    """Serialize dumped primitives to JSON bytes, every value kept as it is.

    orjson writes almost every document.  What it cannot write faithfully goes through
    Python's ``json``, as redis-schematics wrote it: integers beyond 64 bits (JSON numbers
    of any size), and NaN and infinities (the ``NaN`` / ``Infinity`` / ``-Infinity``
    tokens of Python's ``json``, which orjson would write as ``null``).  :func:`decode`
    reads both back.

    Raises:
        ValidationError: a value is not JSON-serializable, naming its field.
    """
    try:
        out = orjson.dumps(data)
    except TypeError as exc:  # orjson.JSONEncodeError
        return _python_json(spec, data, exc)
    if _suspects(spec)[2] and out.find(b"null") >= 0 and beyond_orjson(data):  # NaN and infinities became null
        return _python_json(spec, data, None)
    return out


def _python_json(spec: ModelSpec[Any], data: Mapping[str, Any], exc: Exception | None) -> bytes:
    """A document orjson could not write faithfully (``exc``: its error), written by Python's ``json`` if it can."""
    if exc is not None:
        try:
            beyond = beyond_orjson(data)
        except (TypeError, RecursionError) as keys:
            raise _refuse(spec, data, keys) from exc
        if not beyond:
            raise _refuse(spec, data, exc) from exc
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=True).encode()
    except (TypeError, ValueError, RecursionError) as error:
        raise _refuse(spec, data, error) from error


def decode(spec: ModelSpec[Any], key: bytes | str, raw: bytes | str) -> dict[str, Any]:
    """Parse a stored JSON document, every value as written.

    orjson parses almost every document.  Python's ``json`` parses the rest: documents
    holding ``NaN`` / ``Infinity`` / ``-Infinity`` (Python's ``json.dumps`` writes them, and so
    did redis-schematics), which orjson refuses, and documents in which orjson read an
    integer beyond 64 bits as a float (a float of 9.2e18 or more where the model has an int,
    list, dict, nested or untyped field), parsed again.

    Raises:
        ValidationError: the value is not a JSON object (a foreign key under the prefix).
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise ValidationError(f"{spec.name}: key {key!r} does not hold a JSON document: {exc}") from exc
    else:
        if type(data) is dict and _read_as_float(spec, data):
            data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValidationError(f"{spec.name}: key {key!r} holds {type(data).__name__}, not a JSON object")
    return data
