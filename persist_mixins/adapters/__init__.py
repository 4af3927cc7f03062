"""Model-library adapters: one module per library, chosen once per class.

``build_adapter(cls)`` looks at the class and returns a :class:`ModelAdapter`;
only the module of the library the class actually uses is imported, so a user
of dataclasses never imports pydantic or Schematics.
"""

from __future__ import annotations

import dataclasses as _dataclasses
import functools
import importlib
from typing import Any

from ..spec import FieldSpec, ModelAdapter
from .values import Codec

__all__ = ["build_adapter", "library_of", "nested_codec"]


def library_of(cls: type) -> str:
    """Name the model library ``cls`` is built with.

    Returns:
        One of ``"schematics"``, ``"pydantic"``, ``"attrs"``, ``"dataclasses"``, ``"plain"``.
    """
    modules = {klass.__module__.split(".")[0] for klass in cls.__mro__}
    if "schematics" in modules:
        return "schematics"
    if "pydantic" in modules and hasattr(cls, "model_fields"):
        return "pydantic"
    if "__attrs_attrs__" in cls.__dict__:
        return "attrs"
    if _dataclasses.is_dataclass(cls):
        return "dataclasses"
    return "plain"


@functools.cache
def build_adapter(cls: type) -> ModelAdapter:
    """Return the adapter for a model class (cached per class)."""
    module = importlib.import_module(f".{library_of(cls)}", __name__)
    adapter: ModelAdapter = module.adapter(cls)
    return adapter


def nested_codec(cls: type) -> Codec | None:
    """The codec of a nested model class, or None when ``cls`` is not a model."""
    if library_of(cls) == "plain":
        return None
    adapter = build_adapter(cls)

    def dump(value: Any) -> Any:
        if not isinstance(value, cls):
            if isinstance(value, dict):
                value = adapter.load(value)
            else:
                raise TypeError(f"expected {cls.__name__}, got {type(value).__name__} {value!r}")
        return adapter.dump(value)

    def load(value: Any) -> Any:
        return value if isinstance(value, cls) else adapter.load(value)

    return Codec("model", dump, load, model=cls)


def field_spec(name: str, codec: Codec) -> FieldSpec:
    """Turn a codec into the FieldSpec plans see."""
    return FieldSpec(name, codec.kind, codec.nullable, codec.model)
