"""Adapter for pydantic v2 models.

pydantic validates on construction but not on attribute assignment (by default),
so ``dump`` re-validates the JSON-mode dump: an object mutated into an invalid
state is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from ..errors import ValidationError
from ..spec import ModelAdapter
from . import field_spec, nested_codec
from .values import codec_for


def adapter(cls: type) -> ModelAdapter:
    """Build the adapter of a pydantic ``BaseModel`` subclass."""
    model: Any = cls
    fields = {
        name: field_spec(name, codec_for(info.annotation, nested_codec)) for name, info in model.model_fields.items()
    }
    validator = model.__pydantic_validator__

    def dump(obj: Any) -> dict[str, Any]:
        try:
            data: dict[str, Any] = obj.model_dump(mode="json", warnings=False)
            validator.validate_python(data)
        except pydantic.ValidationError as exc:
            raise ValidationError(f"{cls.__name__}: {exc}") from exc
        return data

    def load(data: Mapping[str, Any]) -> Any:
        try:
            return validator.validate_python(data)
        except pydantic.ValidationError as exc:
            raise ValidationError(f"{cls.__name__}: stored data does not validate: {exc}") from exc

    def set_field(obj: Any, name: str, value: Any) -> None:
        # Through __dict__ so frozen models can still receive a generated pk.
        obj.__dict__[name] = value
        obj.__pydantic_fields_set__.add(name)

    def assign(target: Any, source: Any) -> None:
        target.__dict__.update(source.__dict__)
        object.__setattr__(target, "__pydantic_fields_set__", set(source.__pydantic_fields_set__))

    return ModelAdapter("pydantic", fields, dump, load, assign, set_field)
