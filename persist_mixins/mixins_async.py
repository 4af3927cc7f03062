"""The asyncio facades: :class:`AsyncPersistMixin` and its lazy :class:`AsyncQuery`.

The awaitable twins of :mod:`persist_mixins.mixins`, name for name (the full
docstrings are there): each method runs the same plan through
:func:`~persist_mixins.run.run_async` on the class's asyncio driver.  Public
names are re-exported by :mod:`persist_mixins.asyncio`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .binding import spec_of
from .connections import async_route as route
from .facade import ModelBase, QueryBase, only_fields
from .lookups import Q
from .run import Plan, collect, iter_async, run_async
from .spec import Expiry

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AsyncPersistMixin", "AsyncQuery"]

M = TypeVar("M", bound="AsyncPersistMixin")
T = TypeVar("T")


class AsyncQuery(QueryBase[M]):
    """A lazy asyncio query: ``async for obj in q``, ``await q`` (a list), ``await q.count()``.

    Chain ``filter()``, ``order_by()``, ``limit()`` and slices (``q[:10]``, still lazy)
    without awaiting; await ``first()``, ``count()``, ``exists()``, ``delete()``, ``update()``.
    """

    __slots__ = ()

    def __getitem__(self, item: slice) -> Self:
        """``q[a:b]``: a narrower lazy query (await it for the list)."""
        if not isinstance(item, slice):
            raise TypeError("async queries take slices (q[:1]); use await q.first() for one object")
        return self._derive(self._state.sliced(item))

    def __bool__(self) -> bool:
        """Refuse ``if q:``, which cannot await; use ``await q.exists()``."""
        raise TypeError("an async query has no truth value without I/O: use `await q.exists()`")

    def _run(self, plan: Plan[T]) -> Awaitable[T]:
        return run_async(route(self._model), plan)

    async def __aiter__(self) -> AsyncIterator[M]:
        """Stream the matching objects; closing the iterator early (``aclose()``) gives its connection back at once."""
        stream = iter_async(route(self._model), self._select())
        try:
            async for _, obj in stream:
                yield obj
        finally:
            await stream.aclose()  # type: ignore[attr-defined]  # not left to the garbage collector

    async def _list(self) -> list[M]:
        # Collected inside the plan: no async generator hop per object on the way out.
        return [obj for _, obj in await self._run(collect(self._select()))]

    def __await__(self) -> Generator[Any, None, list[M]]:
        """``await q`` -> the list of matching objects."""
        return self._list().__await__()

    async def first(self) -> M | None:
        """The first object, or None when the query is empty."""
        found = await self[:1]
        return found[0] if found else None

    async def count(self) -> int:
        """How many objects match."""
        return await self._run(self._plans.count(self._spec, self._state))

    async def exists(self) -> bool:
        """True when at least one object matches; stops at the first."""
        return await self._run(self._plans.exists(self._spec, self._state))

    async def delete(self) -> int:
        """Delete every matching object; return how many were deleted."""
        return await self._run(self._plans.delete_where(self._spec, self._state))

    async def update(self, **values: Any) -> int:
        """Set fields on every matching object, keeping each TTL; return how many were written."""
        return await self._run(self._plans.update_where(self._spec, self._state, values))


class AsyncPersistMixin(ModelBase):
    """Active-record coroutines for any model class, over one backend (asyncio).

    Not used directly: mix in a backend's mixin (:class:`SimpleRedisMixin` ...).
    Each method is the awaitable twin of :class:`persist_mixins.PersistMixin`'s.
    """

    __slots__ = ()

    async def set(self, *, expire: Expiry = None, only: Iterable[str] | None = None) -> Self:
        """Validate and store the object in one round trip; ValidationError (nothing written) on bad data.

        ``only``: write just these fields of the stored object (NotFound when it is gone), as
        :meth:`persist_mixins.PersistMixin.set` does.
        """
        cls = type(self)
        plans = cls.__persist_backend__.plans
        if only is None:
            return await run_async(route(cls), plans.save(spec_of(cls), self, expire))
        fields = only_fields(spec_of(cls), only, expire)  # InvalidLookup before a driver is even built
        return await run_async(route(cls), plans.save_only(spec_of(cls), self, fields))

    save = set

    async def refresh(self) -> Self:
        """Reload every field from storage in place; NotFound when deleted or expired."""
        cls = type(self)
        return await run_async(route(cls), cls.__persist_backend__.plans.refresh(spec_of(cls), self))

    async def delete(self) -> bool:
        """Delete the stored object; True when something was deleted."""
        cls = type(self)
        return await run_async(route(cls), cls.__persist_backend__.plans.delete(spec_of(cls), self))

    async def expire(self, seconds: Expiry) -> bool:
        """Make the stored object expire in ``seconds`` (or a timedelta); False when it is not stored."""
        cls = type(self)
        return await run_async(route(cls), cls.__persist_backend__.plans.expire(spec_of(cls), self, seconds))

    async def persist(self) -> bool:
        """Remove the stored object's expiry; True when it had one."""
        cls = type(self)
        return await run_async(route(cls), cls.__persist_backend__.plans.persist(spec_of(cls), self))

    async def ttl(self) -> float | None:
        """Seconds until the stored object expires, None when it never does; NotFound when not stored."""
        cls = type(self)
        return await run_async(route(cls), cls.__persist_backend__.plans.ttl(spec_of(cls), self))

    @classmethod
    async def match(cls, *qs: Q, **lookups: Any) -> Self:
        """Return the one stored object matching every lookup (NotFound / MultipleFound otherwise)."""
        state = cls._where(lookups, qs)  # InvalidLookup before a driver (a pool) is even built
        return await run_async(route(cls), cls.__persist_backend__.plans.match(spec_of(cls), state))

    @classmethod
    async def match_for_pk(cls, pk: Any) -> Self:
        """Return the stored object with this pk; NotFound when absent or expired."""
        return await run_async(route(cls), cls.__persist_backend__.plans.match_for_pk(spec_of(cls), pk))

    @classmethod
    async def match_for_values(cls, **lookups: Any) -> Self:
        """Return the one stored object matching the lookups, searching by values."""
        plans = cls.__persist_backend__.plans
        state = cls._where(lookups)  # InvalidLookup before a driver (a pool) is even built
        return await run_async(route(cls), plans.match_for_values(spec_of(cls), state))

    @classmethod
    def filter(cls, *qs: Q, **lookups: Any) -> AsyncQuery[Self]:
        """A lazy query of the objects matching every lookup (not a coroutine)."""
        return AsyncQuery(cls, cls._where(lookups, qs))

    @classmethod
    def exclude(cls, *qs: Q, **lookups: Any) -> AsyncQuery[Self]:
        """A lazy query of the objects not matching the lookups and ``Q`` objects (all of them together).

        The complement, as in Django: ``exclude(flavour="mint")`` keeps objects whose flavour is None.
        """
        return AsyncQuery(cls, cls._without(lookups, qs))

    @classmethod
    def all(cls) -> AsyncQuery[Self]:
        """A lazy query of every stored object (not a coroutine)."""
        return AsyncQuery(cls)

    @classmethod
    async def count(cls, *qs: Q, **lookups: Any) -> int:
        """How many stored objects match the lookups (all of them without lookups)."""
        state = cls._where(lookups, qs)  # InvalidLookup before a driver (a pool) is even built
        return await run_async(route(cls), cls.__persist_backend__.plans.count(spec_of(cls), state))

    @classmethod
    async def set_many(cls, objs: Iterable[Self], *, expire: Expiry = None) -> list[Self]:
        """Validate every object, then store them all in pipelined batches; nothing is written if one is invalid."""
        plans = cls.__persist_backend__.plans
        return await run_async(route(cls), plans.save_many(spec_of(cls), objs, expire))

    @classmethod
    async def get_or_create(cls, defaults: Mapping[str, Any] | None = None, **lookups: Any) -> tuple[Self, bool]:
        """``(obj, created)``: the matching object or a new one, atomically (see the sync ``get_or_create``)."""
        return await run_async(route(cls), cls._get_or_create(defaults, lookups, update=False))

    @classmethod
    async def update_or_create(cls, defaults: Mapping[str, Any] | None = None, **lookups: Any) -> tuple[Self, bool]:
        """``(obj, created)``: the matching object updated with ``defaults``, or a new one (see the sync method)."""
        return await run_async(route(cls), cls._get_or_create(defaults, lookups, update=True))

    @classmethod
    async def purge_expired(cls) -> int:
        """Remove what expired objects left behind; return how many objects that concerned."""
        return await run_async(route(cls), cls.__persist_backend__.plans.purge_expired(spec_of(cls)))

    @classmethod
    async def delete_all(cls) -> int:
        """Delete every stored object of the model; return how many (redis-schematics' name)."""
        return await cls.all().delete()

    @classmethod
    async def delete_filter(cls, *qs: Q, **lookups: Any) -> int:
        """Delete the stored objects matching the lookups; return how many (redis-schematics' name)."""
        return await cls.filter(*qs, **lookups).delete()
