"""Adapter for attrs classes (``@attrs.define``, ``@attr.s``; slotted and frozen ones included)."""

from __future__ import annotations

from typing import Any

import attrs

from ..spec import ModelAdapter
from .annotated import codecs_for, make_adapter, positional_init, set_field


def adapter(cls: type) -> ModelAdapter:
    """Build the adapter of an attrs class; attrs validators run before every write."""
    fields = [a for a in attrs.fields(cls) if not a.name.startswith("_")]
    codecs = codecs_for(cls, [a.name for a in fields])
    # attrs strips leading underscores for __init__ arguments; `alias` says how.
    init = {a.name: (a.alias or a.name) for a in fields if a.init}

    def build(values: dict[str, Any]) -> Any:
        obj = cls(**{init[k]: v for k, v in values.items() if k in init})
        for name, value in values.items():
            if name not in init:
                set_field(obj, name, value)
        return obj

    positional = positional_init(cls, [init.get(a.name, "") for a in fields])
    return make_adapter(cls, "attrs", codecs, build, check=attrs.validate, positional=positional)
