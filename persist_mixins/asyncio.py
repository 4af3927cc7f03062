"""The asyncio API: the same names as :mod:`persist_mixins`, as coroutines.

``from persist_mixins.asyncio import SimpleRedisMixin`` gives a mixin whose
methods are awaited (``await obj.set()``) and whose queries are consumed with
``async for`` or ``await query``.  This module exports the same names as
:mod:`persist_mixins` (``PersistMixin`` and ``Query`` are the asyncio classes
here), so switching flavour is switching one import.
"""

from __future__ import annotations

from . import __version__
from .backends.async_mixins import *  # noqa: F403 - every backend's asyncio mixins
from .backends.async_mixins import __all__ as _mixins
from .config import configure
from .connections import aclose
from .errors import *  # noqa: F403 - every error class
from .errors import __all__ as _errors
from .lookups import Q
from .mixins_async import AsyncPersistMixin, AsyncQuery

__all__ = [
    "AsyncPersistMixin", "AsyncQuery", "PersistMixin", "Q", "Query", "__version__", "close", "configure",
    *_errors, *_mixins,
]  # fmt: skip

#: The names the sync module uses, so that switching flavour is switching one import.
PersistMixin = AsyncPersistMixin
Query = AsyncQuery


async def close() -> None:
    """Close the asyncio clients and pools persist_mixins opened from URLs on the running event loop."""
    await aclose()
