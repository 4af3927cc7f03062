"""persist_mixins: active-record persistence for the model classes you already have.

Mix one class into a Schematics model, a dataclass, a pydantic v2 model, an attrs
class or a plain annotated class and get ``set()``, ``match()``, ``refresh()``,
``delete()``, expiry and lazy Django-style queries.  This module holds the sync
API; :mod:`persist_mixins.asyncio` has the same names as coroutines.
"""

from __future__ import annotations

from .config import configure
from .errors import (
    BackendConnectionError,
    ConfigurationError,
    ConflictError,
    InvalidLookup,
    MultipleFound,
    NotFound,
    PersistError,
    TransactionError,
    ValidationError,
)
from .mixins import PgRowMixin, Query, SimpleRedisMixin

__version__ = "0.1.0"

__all__ = [
    "BackendConnectionError", "ConfigurationError", "ConflictError", "InvalidLookup", "MultipleFound",
    "NotFound", "PersistError", "PgRowMixin", "Query", "SimpleRedisMixin", "TransactionError", "ValidationError",
    "__version__", "close", "configure",
]  # fmt: skip


def close() -> None:
    """Close every sync client and pool persist_mixins opened from a URL (ones you passed in stay open)."""
    import sys

    for name in ("redis", "postgres"):
        module = sys.modules.get(f"{__name__}.backends.{name}.driver")
        if module is not None:  # a backend never used has nothing open
            module.close()
