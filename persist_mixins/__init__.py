"""persist_mixins: active-record persistence for the model classes you already have.

Mix one class into a Schematics model, a dataclass, a pydantic v2 model, an attrs
class or a plain annotated class and get ``set()``, ``match()``, ``refresh()``,
``delete()``, expiry and lazy Django-style queries.  This module holds the sync
API; :mod:`persist_mixins.asyncio` has the same names as coroutines.
"""

from __future__ import annotations

from .backends.sync_mixins import *  # noqa: F403 - every backend's sync mixins
from .backends.sync_mixins import __all__ as _mixins
from .config import configure
from .connections import close
from .errors import *  # noqa: F403 - every error class
from .errors import __all__ as _errors
from .lookups import Q
from .mixins import PersistMixin, Query
from .mixins_async import AsyncPersistMixin, AsyncQuery

__version__ = "0.1.0"

__all__ = [
    "AsyncPersistMixin", "AsyncQuery", "PersistMixin", "Q", "Query", "__version__", "close", "configure",
    *_errors, *_mixins,
]  # fmt: skip
