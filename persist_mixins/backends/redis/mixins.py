"""The Redis mixins, sync and asyncio: the common facade plus ``reindex()``."""

from __future__ import annotations

from ...binding import spec_of
from ...connections import async_route, sync_route
from ...mixins import PersistMixin
from ...mixins_async import AsyncPersistMixin
from ...run import run_async, run_sync
from . import REDIS

__all__ = ["AsyncSimpleRedisMixin", "SimpleRedisMixin"]


class SimpleRedisMixin(PersistMixin):
    """Store each object as one JSON string at ``{prefix}:{pk}`` in Redis (redis-schematics compatible).

    Example:
        >>> from dataclasses import dataclass
        >>> from persist_mixins import SimpleRedisMixin
        >>> @dataclass
        ... class IceCream(SimpleRedisMixin):
        ...     id: str
        ...     amount_kg: int = 0
        >>> IceCream("vanilla", 42).set().amount_kg
        42
        >>> IceCream.match(pk="vanilla").amount_kg
        42
        >>> IceCream.filter(amount_kg__gte=30).count()
        1
        >>> IceCream.match(pk="vanilla").delete()
        True
    """

    __slots__ = ()
    __persist_backend__ = REDIS

    @classmethod
    def reindex(cls) -> int:
        """Rebuild the indexes, moving objects stored before ``__indexes__`` was declared.

        Objects written by redis-schematics, or before the model declared ``__indexes__``,
        move to the indexed layout with their remaining TTL; progress is logged to the
        ``persist_mixins`` logger.

        Returns:
            How many objects were indexed.

        Raises:
            ConfigurationError: the model declares no ``__indexes__``.
        """
        return run_sync(sync_route(cls), REDIS.plans.reindex(spec_of(cls)))


class AsyncSimpleRedisMixin(AsyncPersistMixin):
    """Store each object as one JSON string at ``{prefix}:{pk}`` in Redis, with ``redis.asyncio``."""

    __slots__ = ()
    __persist_backend__ = REDIS

    @classmethod
    async def reindex(cls) -> int:
        """Rebuild the indexes, moving objects stored before ``__indexes__`` was declared; return how many."""
        return await run_async(async_route(cls), REDIS.plans.reindex(spec_of(cls)))
