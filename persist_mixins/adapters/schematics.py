"""Adapter for Schematics 2 models.

The stored document is exactly ``to_primitive()``, the format redis-schematics
wrote, so data written by either library reads back in the other.

Validation, dump and load first try the class's compiled plan
(:mod:`.schematics_compiled`): the same result as Schematics for the common field
types, without its generic loops.  Whenever the plan cannot vouch for an object
(an invalid value, a type or option it does not reproduce), Schematics itself runs,
so errors are always Schematics' own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schematics import types as st
from schematics.exceptions import BaseError
from schematics.types import compound

from ..errors import ValidationError
from ..spec import FieldSpec, ModelAdapter
from .schematics_compiled import compiled
from .values import Kind

# Most specific first: isinstance checks walk this list in order.
_KINDS: tuple[tuple[type, Kind], ...] = (
    (st.BooleanType, "bool"),
    (st.DecimalType, "decimal"),
    (st.IntType, "int"),
    (st.FloatType, "float"),
    (st.NumberType, "float"),
    (st.DateTimeType, "datetime"),
    (st.DateType, "date"),
    (st.UUIDType, "uuid"),
    (st.StringType, "str"),
    (compound.ListType, "list"),
    (compound.DictType, "dict"),
    (compound.ModelType, "model"),
)


def _field(name: str, type_: Any) -> FieldSpec:
    nullable = not getattr(type_, "required", False)
    for klass, kind in _KINDS:
        if isinstance(type_, klass):
            model = getattr(type_, "model_class", None) if kind == "model" else None
            return FieldSpec(name, kind, nullable, model)
    return FieldSpec(name, "any", nullable)


def adapter(cls: type) -> ModelAdapter:
    """Build the adapter of a Schematics ``Model`` subclass."""
    model: Any = cls
    fields = {name: _field(name, type_) for name, type_ in model._schema.fields.items()}

    def slow_dump(obj: Any) -> dict[str, Any]:
        try:
            obj.validate()
            data: dict[str, Any] = obj.to_primitive()
        except BaseError as exc:
            raise ValidationError(f"{cls.__name__}: {exc}") from exc
        return data

    def slow_load(data: Mapping[str, Any]) -> Any:
        try:
            return model(dict(data), strict=False)
        except BaseError as exc:
            raise ValidationError(f"{cls.__name__}: stored data does not load: {exc}") from exc

    plan = compiled(cls)
    # The compiled path first, Schematics for whatever it gives up on; Schematics alone without a plan.
    load, dump = (slow_load, slow_dump) if plan is None else plan.guarded(slow_load, slow_dump)

    def set_field(obj: Any, name: str, value: Any) -> None:
        setattr(obj, name, value)

    def assign(target: Any, source: Any) -> None:
        for name in fields:
            setattr(target, name, getattr(source, name))

    renamed = {
        name: type_.serialized_name
        for name, type_ in model._schema.fields.items()
        if getattr(type_, "serialized_name", None) and type_.serialized_name != name
    }
    return ModelAdapter("schematics", fields, dump, load, assign, set_field, document_keys=renamed)
