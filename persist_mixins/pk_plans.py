"""The plans by pk that every backend builds the same way on top of its own ``fetch``.

``match_for_pk`` turns "nothing under this pk" into the one NotFound message every
backend gives; ``refresh`` reloads an object in place through it.  A backend passes
its ``fetch(spec, pk) -> Plan[obj | None]``; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .errors import NotFound
from .run import Plan
from .spec import ModelSpec

__all__ = ["match_for_pk", "refresh"]

M = TypeVar("M")
Fetch = Callable[[ModelSpec[Any], Any], Plan[Any]]


def match_for_pk(fetch: Fetch, spec: ModelSpec[M], pk: Any) -> Plan[M]:
    """The object under ``pk``, or :class:`~persist_mixins.errors.NotFound`."""
    obj = yield from fetch(spec, pk)
    if obj is None:
        raise NotFound(f"{spec.name} with pk {str(pk)!r} not found (never saved, deleted or expired)")
    return obj  # type: ignore[no-any-return]


def refresh(fetch: Fetch, spec: ModelSpec[M], obj: M, pk: Any) -> Plan[M]:
    """Reload every field of ``obj`` (stored under ``pk``) in place; NotFound when it is gone."""
    fresh = yield from match_for_pk(fetch, spec, pk)
    spec.adapter.assign(obj, fresh)
    return obj
