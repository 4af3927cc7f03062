"""Adapter for standard-library dataclasses (frozen and slotted ones included)."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..spec import ModelAdapter
from .annotated import codecs_for, make_adapter, positional_init, set_field


def adapter(cls: type) -> ModelAdapter:
    """Build the adapter of a dataclass."""
    fields = [f for f in dataclasses.fields(cls) if not f.name.startswith("_")]
    codecs = codecs_for(cls, [f.name for f in fields])
    init = {f.name for f in fields if f.init}

    every_field_is_init = len(init) == len(fields)

    def build(values: dict[str, Any]) -> Any:
        if every_field_is_init:
            return cls(**values)
        obj = cls(**{k: v for k, v in values.items() if k in init})
        for name, value in values.items():
            if name not in init:
                set_field(obj, name, value)
        return obj

    positional = positional_init(cls, [f.name for f in fields]) if every_field_is_init else None
    return make_adapter(cls, "dataclasses", codecs, build, positional=positional)
