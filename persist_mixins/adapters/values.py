"""Type-driven conversion between Python values and JSON primitives.

Dataclasses, attrs and plain annotated classes carry no serializer of their own,
so their fields are converted here, one :class:`Codec` per annotation, built once
per class.  The same module names the *kind* of every field (``"int"``,
``"datetime"``, ...), which lookups use to reject values of the wrong type before
any I/O and which later backends use to choose column types and indexes.
"""

from __future__ import annotations

import datetime as dt
import decimal
import types
import typing
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Codec", "Kind", "beyond_orjson", "codec_for", "is_identity"]

Kind = Literal[
    "str", "int", "float", "bool", "datetime", "date", "decimal", "uuid",
    "list", "dict", "model", "any",
]  # fmt: skip

#: Finds the adapter-backed codec of a nested model class, or None (set by adapters).
NestedResolver = Callable[[type], "Codec | None"]


@dataclass(frozen=True)
class Codec:
    """How one declared type is dumped to JSON primitives and loaded back.

    ``dump`` raises ``TypeError`` or ``ValueError`` for a value of the wrong type;
    the adapter turns that into :class:`~persist_mixins.ValidationError` naming the field.
    """

    kind: Kind
    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]
    nullable: bool = False
    #: The nested model class, for ``kind == "model"`` (lookups follow paths into it).
    model: type | None = None


def _identity(value: Any) -> Any:
    return value


def _expect(value: Any, types_: type | tuple[type, ...], name: str) -> None:
    if not isinstance(value, types_) or (isinstance(value, bool) and bool not in _as_tuple(types_)):
        raise TypeError(f"expected {name}, got {type(value).__name__} {value!r}")


def _as_tuple(types_: type | tuple[type, ...]) -> tuple[type, ...]:
    return types_ if isinstance(types_, tuple) else (types_,)


def _dump_str(v: Any) -> Any:
    _expect(v, str, "str")
    return v


def _dump_int(v: Any) -> Any:
    _expect(v, int, "int")
    return v


def _dump_float(v: Any) -> Any:
    _expect(v, (int, float), "float")
    return float(v)


def _dump_bool(v: Any) -> Any:
    _expect(v, bool, "bool")
    return v


def _dump_datetime(v: Any) -> Any:
    _expect(v, dt.datetime, "datetime")
    return v.isoformat()


def _load_datetime(v: Any) -> Any:
    return v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(v)


def _dump_date(v: Any) -> Any:
    if isinstance(v, dt.datetime) or not isinstance(v, dt.date):
        raise TypeError(f"expected date, got {type(v).__name__} {v!r}")
    return v.isoformat()


def _load_date(v: Any) -> Any:
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(v)


def _dump_decimal(v: Any) -> Any:
    _expect(v, (decimal.Decimal, int), "Decimal")
    return str(v)


def _load_decimal(v: Any) -> Any:
    return decimal.Decimal(str(v)) if not isinstance(v, decimal.Decimal) else v


def _dump_uuid(v: Any) -> Any:
    _expect(v, uuid.UUID, "UUID")
    return str(v)


def _load_uuid(v: Any) -> Any:
    return v if isinstance(v, uuid.UUID) else uuid.UUID(str(v))


_SCALARS: dict[Any, Codec] = {
    str: Codec("str", _dump_str, _identity),
    int: Codec("int", _dump_int, _identity),
    float: Codec("float", _dump_float, float),
    bool: Codec("bool", _dump_bool, _identity),
    dt.datetime: Codec("datetime", _dump_datetime, _load_datetime),
    dt.date: Codec("date", _dump_date, _load_date),
    decimal.Decimal: Codec("decimal", _dump_decimal, _load_decimal),
    uuid.UUID: Codec("uuid", _dump_uuid, _load_uuid),
}
_ANY = Codec("any", _identity, _identity)


def _nullable(codec: Codec) -> Codec:
    def dump(v: Any) -> Any:
        return None if v is None else codec.dump(v)

    def load(v: Any) -> Any:
        return None if v is None else codec.load(v)

    # None loads as itself through an identity codec: keep it, it is skipped on the hot path.
    return Codec(codec.kind, dump, _identity if codec.load is _identity else load, nullable=True, model=codec.model)


def is_identity(load: Callable[[Any], Any]) -> bool:
    """True when a codec's ``load`` returns JSON values unchanged (str, int, bool, untyped)."""
    return load is _identity


def _list_of(item: Codec) -> Codec:
    def dump(v: Any) -> Any:
        if isinstance(v, (str, bytes, Mapping)) or not isinstance(v, Sequence | set | frozenset):
            raise TypeError(f"expected a list, got {type(v).__name__} {v!r}")
        return [item.dump(x) for x in v]

    def load(v: Any) -> Any:
        return [item.load(x) for x in v]

    return Codec("list", dump, load)


def _dict_of(value: Codec) -> Codec:
    def dump(v: Any) -> Any:
        if not isinstance(v, Mapping):
            raise TypeError(f"expected a dict, got {type(v).__name__} {v!r}")
        return {str(k): value.dump(x) for k, x in v.items()}

    def load(v: Any) -> Any:
        return {k: value.load(x) for k, x in v.items()}

    return Codec("dict", dump, load)


def codec_for(annotation: Any, nested: NestedResolver) -> Codec:
    """Return the codec for a type annotation.

    Args:
        annotation: a resolved annotation (``int``, ``list[Flavour]``, ``datetime | None``...).
        nested: finds the codec of a class that is itself a model (dataclass, attrs,
            pydantic, Schematics), so models nest in each other.

    Returns:
        The codec; unknown or unannotated types pass through unchanged (kind ``"any"``).
    """
    origin = typing.get_origin(annotation)
    if annotation is typing.Any or annotation is None:
        return _ANY
    if origin is typing.Annotated:
        return codec_for(typing.get_args(annotation)[0], nested)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = codec_for(args[0], nested) if len(args) == 1 else _ANY
        return _nullable(inner)
    if origin in (list, set, frozenset, tuple, Sequence) or annotation in (list, set, tuple):
        items = typing.get_args(annotation)
        return _list_of(codec_for(items[0], nested) if items else _ANY)
    if origin in (dict, Mapping) or annotation is dict:
        pair = typing.get_args(annotation)
        return _dict_of(codec_for(pair[1], nested) if len(pair) == 2 else _ANY)
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if isinstance(annotation, type):
        found = nested(annotation)
        if found is not None:
            return found
    return _ANY


#: The integers orjson writes (and reads back) exactly: beyond them it refuses to write, and reads a float.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
_INFINITIES = (float("inf"), float("-inf"))


def beyond_orjson(value: Any) -> bool:
    """True when a JSON value holds what orjson cannot write faithfully: ints beyond 64 bits, NaN, infinities.

    orjson refuses such ints and writes NaN and infinities as ``null``; backends storing
    JSON check with this, and write such a value another way or refuse it.

    Raises:
        TypeError: a dict key is not a string (JSON has none; Python's ``json`` would change it silently).
    """
    kind = type(value)
    if kind is int:
        return not _INT_MIN <= value <= _INT_MAX
    if kind is float:
        return value != value or value in _INFINITIES
    if kind is dict:
        if not all(isinstance(k, str) for k in value):
            raise TypeError("dict keys must be strings")
        return any([beyond_orjson(v) for v in value.values()])
    if kind is list or kind is tuple:
        return any([beyond_orjson(v) for v in value])
    return False
