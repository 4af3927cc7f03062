"""Shared machinery for classes described by annotations: dataclasses, attrs, plain classes.

They have no serializer of their own, so each field gets a :class:`Codec` from
its annotation; dumping checks types (the validation these libraries lack) and
loading rebuilds datetimes, Decimals, UUIDs and nested models.
"""

from __future__ import annotations

import datetime as dt
import decimal
import inspect
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ValidationError
from ..spec import ModelAdapter, resolve_hints
from . import field_spec, nested_codec
from .values import Codec, codec_for, is_identity

#: Field kinds whose values of exactly this type are their own JSON value.
_PLAIN: dict[str, type] = {"str": str, "int": int, "bool": bool, "float": float}
#: Field kinds whose values of exactly this type a typed database takes as they are (``ModelSpec.dump(native=True)``).
_NATIVE: dict[str, type] = {"datetime": dt.datetime, "date": dt.date, "decimal": decimal.Decimal, "uuid": uuid.UUID}


def codecs_for(cls: type, names: list[str]) -> dict[str, Codec]:
    """Build a codec for each named field from the class's annotations."""
    hints = resolve_hints(cls)
    return {name: codec_for(hints.get(name, Any), nested_codec) for name in names}


def positional_init(cls: type, names: list[str]) -> Callable[..., Any] | None:
    """``cls`` when ``cls(*values)`` takes exactly these fields, in order (no kw-only, no InitVar)."""
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # type: ignore[misc]
    except (TypeError, ValueError):
        return None
    if [p.name for p in params] != names or any(p.kind is not p.POSITIONAL_OR_KEYWORD for p in params):
        return None
    return cls


def set_field(obj: Any, name: str, value: Any) -> None:
    """Set an attribute, going around frozen dataclasses and attrs classes."""
    object.__setattr__(obj, name, value)


def _pk_name(cls: type, fields: Mapping[str, Any]) -> str | None:
    """The field that would hold the model's pk, by the rule of ``spec.read_options`` (None: no such field)."""
    named = getattr(cls, "__pk_field__", None)
    if isinstance(named, str):
        return named
    return next((name for name in ("pk", "id") if name in fields), None)


def make_adapter(
    cls: type,
    library: str,
    codecs: dict[str, Codec],
    build: Callable[[dict[str, Any]], Any],
    check: Callable[[Any], None] | None = None,
    positional: Callable[..., Any] | None = None,
) -> ModelAdapter:
    """Assemble an adapter from per-field codecs.

    Args:
        cls: the model class.
        library: its library name, for messages.
        codecs: one codec per persisted field, in declaration order.
        build: makes an instance from a dict of loaded Python values.
        check: the library's own validators, run before dumping (attrs).
        positional: makes an instance from values in field order (``cls`` itself when its
            ``__init__`` takes exactly the persisted fields, in order).
    """
    items = tuple(codecs.items())
    # Only ``X | None`` (and untyped) fields hold None; the pk field may be empty until the
    # write fills it (a generated key), which the pk rules (ModelSpec.check_pk) decide.
    required = frozenset(
        name for name, codec in items if not codec.nullable and codec.kind != "any" and name != _pk_name(cls, codecs)
    )

    # The hot path of every write: a value of exactly its field's plain type (str, int, bool,
    # float) is its own JSON value, and one of exactly its native type (datetime, date,
    # Decimal, UUID) is what a typed database takes (``native``): no call for either.  Any
    # other value goes through its codec, which checks and converts it.
    plan = tuple((name, codec, _PLAIN.get(codec.kind), _NATIVE.get(codec.kind)) for name, codec in items)

    def dumper(native: bool) -> Callable[[Any], dict[str, Any]]:
        def dump(obj: Any) -> dict[str, Any]:
            if check is not None:
                try:
                    check(obj)
                except Exception as exc:
                    raise ValidationError(f"{cls.__name__}: {exc}") from exc
            out: dict[str, Any] = {}
            for name, codec, plain, kept in plan:
                value = getattr(obj, name, None)
                kind = type(value)
                if kind is plain or (native and kind is kept):
                    out[name] = value
                    continue
                if value is None:
                    if name in required:
                        raise ValidationError(
                            f"{cls.__name__}.{name}: None is not a {codec.kind} (only a field annotated "
                            f"'X | None' or 'Optional[X]' may be None)"
                        )
                    out[name] = None
                    continue
                try:
                    dumped = codec.dump(value)
                except (TypeError, ValueError, ValidationError) as exc:
                    raise ValidationError(f"{cls.__name__}.{name}: {exc}") from exc
                # A native value of a subclass (a pendulum datetime ...) is kept too, as ModelSpec.dump keeps it.
                out[name] = value if native and kept is not None and isinstance(value, kept) else dumped
            return out

        return dump

    dump, dump_native = dumper(False), dumper(True)

    # Loading is the hot path of every read: fields whose JSON value is already the
    # Python value (str, int, bool, untyped) are copied without a call.
    loaders = tuple((name, None if is_identity(codec.load) else codec.load) for name, codec in items)

    def load(data: Mapping[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for name, loader in loaders:
            if name in data:
                raw = data[name]
                if loader is None or raw is None:
                    values[name] = raw
                    continue
                try:
                    values[name] = loader(raw)
                except (TypeError, ValueError, KeyError) as exc:
                    raise ValidationError(f"{cls.__name__}.{name}: stored value {raw!r} does not load: {exc}") from exc
        return build(values)

    def assign(target: Any, source: Any) -> None:
        for name, _ in items:
            set_field(target, name, getattr(source, name, None))

    fields = {name: field_spec(name, codec) for name, codec in items}
    return ModelAdapter(library, fields, dump, load, assign, set_field, positional, dump_native=dump_native)
