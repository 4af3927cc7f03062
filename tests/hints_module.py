"""Model classes whose annotations are strings (``from __future__ import annotations``), for the hint tests."""

from __future__ import annotations

import dataclasses

import persist_mixins


@dataclasses.dataclass
class Scaled(persist_mixins.SimpleRedisMixin):
    """A dataclass with an InitVar: Python 3.10's get_type_hints refuses it as a string annotation."""

    id: str
    litres: int = 0
    scale: dataclasses.InitVar[int] = 1

    def __post_init__(self, scale: int) -> None:
        self.litres *= scale


@dataclasses.dataclass
class Broken(persist_mixins.SimpleRedisMixin):
    """A dataclass whose annotation names a type its module cannot see."""

    id: str
    amount: Missing = 0  # type: ignore[name-defined]  # noqa: F821
