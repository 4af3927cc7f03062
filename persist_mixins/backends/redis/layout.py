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

__all__ = ["decode", "encode", "escape_glob", "key_for", "pk_of_key", "scan_pattern"]

_GLOB = re.compile(r"([*?\[\]\\])")


def escape_glob(text: str) -> str:
    """Escape Redis glob metacharacters so ``text`` matches only itself in MATCH patterns."""
    return _GLOB.sub(r"\\\1", text)


def key_for(spec: ModelSpec, pk: str) -> str:
    """The key of the object with this pk."""
    return f"{spec.options.key_prefix}:{pk}"


def scan_pattern(spec: ModelSpec) -> str:
    """The SCAN MATCH pattern for every object of a model; the prefix is escaped."""
    return escape_glob(spec.options.key_prefix) + ":*"


def pk_of_key(spec: ModelSpec, key: bytes | str) -> str:
    """Recover the pk from a key listed by SCAN."""
    text = key.decode() if isinstance(key, bytes) else key
    return text[len(spec.options.key_prefix) + 1 :]


def encode(spec: ModelSpec, data: Mapping[str, Any]) -> bytes:
    """Serialize dumped primitives to JSON bytes.

    Raises:
        ValidationError: a value is not JSON-serializable (an int beyond 64 bits, say).
    """
    try:
        return orjson.dumps(data)
    except TypeError as exc:
        raise ValidationError(f"{spec.name}: cannot store {dict(data)!r} as JSON: {exc}") from exc


def decode(spec: ModelSpec, key: bytes | str, raw: bytes | str) -> dict[str, Any]:
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
