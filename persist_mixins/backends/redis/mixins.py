"""The Redis mixins, sync and asyncio: ``SimpleRedisMixin`` (+ ``reindex()``) and ``HashRedisMixin``."""

from __future__ import annotations

from ...binding import spec_of
from ...connections import async_route, sync_route
from ...mixins import PersistMixin
from ...mixins_async import AsyncPersistMixin
from ...run import run_async, run_sync
from . import REDIS, REDIS_HASH
from .hash_plans import DEFAULT_SET_KEY

__all__ = ["AsyncHashRedisMixin", "AsyncSimpleRedisMixin", "HashRedisMixin", "SimpleRedisMixin"]


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
        """Rebuild the indexes and unique claims, moving objects stored before ``__indexes__`` / ``__unique__``.

        Objects written by redis-schematics, or before the model declared ``__indexes__`` or
        ``__unique__``, move to the hash-tagged layout with their remaining TTL; progress is
        logged to the ``persist_mixins`` logger.

        Returns:
            How many objects were indexed.

        Raises:
            ConfigurationError: the model declares neither ``__indexes__`` nor ``__unique__``.
            ConflictError: old objects share a ``__unique__`` value (the later ones are left where they were).
        """
        return run_sync(sync_route(cls), REDIS.plans.reindex(spec_of(cls)))


class AsyncSimpleRedisMixin(AsyncPersistMixin):
    """Store each object as one JSON string at ``{prefix}:{pk}`` in Redis, with ``redis.asyncio``."""

    __slots__ = ()
    __persist_backend__ = REDIS

    @classmethod
    async def reindex(cls) -> int:
        """Rebuild the indexes and claims, moving objects stored before ``__indexes__`` / ``__unique__``; how many."""
        return await run_async(async_route(cls), REDIS.plans.reindex(spec_of(cls)))


class HashRedisMixin(PersistMixin):
    """Store every object of a model as one field of one Redis HASH (redis-schematics' ``HashRedisMixin`` layout).

    The hash is ``{prefix}`` (override the ``__set_key__`` property to spread objects over
    several hashes, e.g. one per tenant); the field is ``{prefix}:{pk}``, the value the JSON
    document. ``__expire__`` is the TTL of the whole hash, renewed by every ``set()``; per-object
    expiry is refused. No ``__indexes__``: every read walks the hash.

    Example:
        >>> from dataclasses import dataclass
        >>> from persist_mixins import HashRedisMixin
        >>> @dataclass
        ... class Sprinkle(HashRedisMixin):
        ...     id: str
        ...     colour: str = ""
        >>> Sprinkle.set_many([Sprinkle("a", "red"), Sprinkle("b", "blue")]) and None
        >>> Sprinkle.match(colour="blue").id
        'b'
        >>> Sprinkle.delete_all()
        1
    """

    __slots__ = ()
    __persist_backend__ = REDIS_HASH
    __set_key__ = DEFAULT_SET_KEY

    @classmethod
    def delete_all(cls) -> int:
        """Delete the model's hash: 1 when it existed, else 0 (what redis-schematics returned)."""
        return run_sync(sync_route(cls), REDIS_HASH.plans.delete_all(spec_of(cls)))


class AsyncHashRedisMixin(AsyncPersistMixin):
    """:class:`HashRedisMixin` with ``redis.asyncio``: every method awaited."""

    __slots__ = ()
    __persist_backend__ = REDIS_HASH
    __set_key__ = DEFAULT_SET_KEY

    @classmethod
    async def delete_all(cls) -> int:
        """Delete the model's hash: 1 when it existed, else 0 (what redis-schematics returned)."""
        return await run_async(async_route(cls), REDIS_HASH.plans.delete_all(spec_of(cls)))
