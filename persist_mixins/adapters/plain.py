"""Adapter for plain annotated classes: ``class IceCream(SimpleRedisMixin): id: str``.

There is no constructor contract, so instances are loaded the way pickle does:
``cls.__new__(cls)`` and one attribute per field.  Fields are the public,
non-ClassVar annotations of the class and its bases.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..spec import ModelAdapter, declared_field_names
from .annotated import codecs_for, make_adapter, set_field


def adapter(cls: type) -> ModelAdapter:
    """Build the adapter of a plain annotated class."""
    names = [n for n in _ordered_annotations(cls) if n in declared_field_names(cls)]
    codecs = codecs_for(cls, names)

    def build(values: dict[str, Any]) -> Any:
        obj: Any = object.__new__(cls)
        for name in names:
            set_field(obj, name, values.get(name, getattr(cls, name, None)))
        return obj

    return make_adapter(cls, "plain", codecs, build)


def _ordered_annotations(cls: type) -> list[str]:
    seen: dict[str, None] = {}
    for klass in reversed(cls.__mro__):
        for name in inspect.get_annotations(klass):
            seen[name] = None
    return list(seen)
