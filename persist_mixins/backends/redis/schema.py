"""Where and how objects live in Redis: key names, SCAN patterns, the JSON codec.

One STRING per object at ``{prefix}:{pk}`` holding the model's primitives as
JSON, exactly what redis-schematics wrote, so its data reads back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from ...errors import ValidationError
from ...spec import ModelSpec

__all__ = [
    "decode", "encode", "entries_key", "entries_prefix", "escape_glob", "index_key", "key_for",
    "null_key", "object_prefix", "pk_of_key", "scan_pattern", "schedule_key",
]  # fmt: skip

_GLOB = re.compile(r"([*?\[\]\\])")


def escape_glob(text: str) -> str:
    """Escape Redis glob metacharacters so ``text`` matches only itself in MATCH patterns."""
    return _GLOB.sub(r"\\\1", text)


def object_prefix(spec: ModelSpec[Any]) -> str:
    """What every object key of a model starts with (before the pk).

    Models without ``__indexes__`` use ``{prefix}:`` exactly as redis-schematics did.
    Indexed models wrap the prefix in a hash tag, ``{{prefix}}:``, so an object and
    its index entries live in one Redis Cluster slot and one script can update both.
    """
    prefix = spec.options.key_prefix
    return f"{{{prefix}}}:" if spec.options.indexes else f"{prefix}:"


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


def encode(spec: ModelSpec[Any], data: Mapping[str, Any]) -> bytes:
    """Serialize dumped primitives to JSON bytes.

    Raises:
        ValidationError: a value is not JSON-serializable (an int beyond 64 bits, say).
    """
    try:
        return orjson.dumps(data)
    except TypeError as exc:
        raise ValidationError(f"{spec.name}: cannot store {dict(data)!r} as JSON: {exc}") from exc


def decode(spec: ModelSpec[Any], key: bytes | str, raw: bytes | str) -> dict[str, Any]:
    """Parse a stored JSON document.

    Raises:
        ValidationError: the value is not a JSON object (a foreign key under the prefix).
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(f"{spec.name}: key {key!r} does not hold a JSON document: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{spec.name}: key {key!r} holds {type(data).__name__}, not a JSON object")
    return data
