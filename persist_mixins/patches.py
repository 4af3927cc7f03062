"""Opt-in patches for code migrating from redis-schematics.

:func:`patch_json` makes the standard ``json`` module serialize any object whose class
has a ``__json__`` method (every persist_mixins model, and sync queries, which become
lists of documents), as ``redis_schematics.patches.patch_json()`` did.  It changes a
process-wide default, so it is a migration aid, not something new code should need:
``json.dumps([obj.__json__() for obj in query])`` says the same without patching.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["patch_json"]

_PATCHED = "__persist_mixins_patched__"


def patch_json() -> None:
    """Let ``json.dumps`` serialize objects that have a ``__json__`` method (idempotent).

    Example:
        >>> import json
        >>> from persist_mixins.patches import patch_json
        >>> class Point:
        ...     def __json__(self):
        ...         return {"x": 1}
        >>> patch_json()
        >>> json.dumps([Point()])
        '[{"x": 1}]'
    """
    encoder = json.JSONEncoder
    if getattr(encoder.default, _PATCHED, False):
        return
    fallback = encoder.default

    def default(self: json.JSONEncoder, obj: Any) -> Any:
        to_json = getattr(type(obj), "__json__", None)
        if to_json is None:
            return fallback(self, obj)
        return to_json(obj)

    setattr(default, _PATCHED, True)
    encoder.default = default  # type: ignore[method-assign, assignment]
