"""The asyncio facades: the same names as :mod:`persist_mixins`, as coroutines.

``from persist_mixins.asyncio import SimpleRedisMixin`` gives a mixin whose
methods are awaited (``await obj.set()``) and whose queries are consumed with
``async for`` or ``await query``.  Each method runs the same plan as its sync
twin through :func:`~persist_mixins.run.run_async`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from .binding import POSTGRES, REDIS, Backend, check_class, spec_of
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
from .query import QueryState
from .run import collect

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "AsyncPersistMixin", "AsyncQuery", "BackendConnectionError", "ConfigurationError", "ConflictError",
    "InvalidLookup", "MultipleFound", "NotFound", "PersistError", "PgRowMixin", "SimpleRedisMixin", "TransactionError",
    "ValidationError", "close",
]  # fmt: skip

M = TypeVar("M", bound="AsyncPersistMixin")


class AsyncQuery(Generic[M]):
    """A lazy asyncio query: ``async for obj in q``, ``await q`` (a list), ``await q.count()``.

    Chain ``filter()``, ``order_by()``, ``limit()`` and slices (``q[:10]``, still lazy)
    without awaiting; await ``first()``, ``count()``, ``exists()``, ``delete()``, ``update()``.
    """

    __slots__ = ("_model", "_state")

    def __init__(self, model: type[M], state: QueryState | None = None) -> None:
        """Make a query over ``model``; use ``Model.filter()`` / ``Model.all()`` instead."""
        self._model = model
        self._state = state or QueryState()

    async def _run(self, name: str, *args: Any) -> Any:
        model = self._model
        plan = getattr(model.__persist_backend__.plans, name)(spec_of(model), self._state, *args)
        return await model._persist_driver().run(plan)

    def _select(self) -> Any:
        """The plan streaming ``(pk, obj)`` pairs of this query."""
        model = self._model
        return model.__persist_backend__.plans.select_pairs(spec_of(model), self._state)

    def _derive(self, state: QueryState) -> AsyncQuery[M]:
        return AsyncQuery(self._model, state)

    def filter(self, **lookups: Any) -> AsyncQuery[M]:
        """Narrow the query with more lookups (AND); raises InvalidLookup on a bad one."""
        return self._derive(self._state.where(spec_of(self._model), lookups))

    def order_by(self, *fields: str) -> AsyncQuery[M]:
        """Order by fields, ``'-field'`` for descending; None sorts last (first when descending)."""
        return self._derive(self._state.ordered(spec_of(self._model), fields))

    def limit(self, n: int) -> AsyncQuery[M]:
        """Return at most ``n`` objects."""
        return self._derive(self._state.limited(n))

    def __getitem__(self, item: slice) -> AsyncQuery[M]:
        """``q[a:b]``: a narrower lazy query (await it for the list)."""
        if not isinstance(item, slice):
            raise TypeError("async queries take slices (q[:1]); use await q.first() for one object")
        return self._derive(self._state.sliced(item))

    def __bool__(self) -> bool:
        """Refuse ``if q:``, which cannot await; use ``await q.exists()``."""
        raise TypeError("an async query has no truth value without I/O: use `await q.exists()`")

    async def __aiter__(self) -> AsyncIterator[M]:
        """Stream the matching objects."""
        async for _, obj in self._model._persist_driver().iter(self._select()):
            yield obj

    async def _list(self) -> list[M]:
        # Collected inside the plan runner: no async generator hop per object on the way out.
        return [obj for _, obj in await self._model._persist_driver().run(collect(self._select()))]

    def __await__(self) -> Generator[Any, None, list[M]]:
        """``await q`` -> the list of matching objects."""
        return self._list().__await__()

    async def first(self) -> M | None:
        """The first object, or None when the query is empty."""
        found = await self[:1]
        return found[0] if found else None

    async def count(self) -> int:
        """How many objects match."""
        return int(await self._run("count"))

    async def exists(self) -> bool:
        """True when at least one object matches; stops at the first."""
        return bool(await self._run("exists"))

    async def delete(self) -> int:
        """Delete every matching object; return how many were deleted."""
        return int(await self._run("delete_where"))

    async def update(self, **values: Any) -> int:
        """Set fields on every matching object, keeping each TTL; return how many were written."""
        return int(await self._run("update_where", values))

    def __repr__(self) -> str:
        return f"<AsyncQuery {self._model.__name__} {self._state}>"


class AsyncPersistMixin:
    """Active-record coroutines for any model class, over one backend (asyncio).

    Not used directly: mix in :class:`SimpleRedisMixin` (or another backend's mixin).
    """

    __slots__ = ()
    __persist_backend__: ClassVar[Backend]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Check the class options as soon as the class is created."""
        super().__init_subclass__(**kwargs)
        check_class(cls)

    @classmethod
    def _persist_driver(cls) -> Any:
        return cls.__persist_backend__.drivers.async_driver(cls)

    @classmethod
    async def _persist_run(cls, name: str, *args: Any) -> Any:
        plan = getattr(cls.__persist_backend__.plans, name)(spec_of(cls), *args)
        return await cls._persist_driver().run(plan)

    async def set(self, *, expire: float | Any | None = None) -> Self:
        """Validate and store the object in one round trip; fill a missing pk first.

        Args:
            expire: seconds (int/float) or a timedelta; default the class's ``__expire__``.

        Raises:
            ValidationError: the data is invalid; nothing was written.
        """
        return await self._persist_run("save", self, expire)  # type: ignore[no-any-return]

    save = set

    async def refresh(self) -> Self:
        """Reload every field from storage in place; NotFound when deleted or expired."""
        return await self._persist_run("refresh", self)  # type: ignore[no-any-return]

    async def delete(self) -> bool:
        """Delete the stored object; True when something was deleted."""
        return bool(await self._persist_run("delete", self))

    async def expire(self, seconds: float | Any) -> bool:
        """Make the stored object expire in ``seconds`` (or a timedelta); False when it is not stored."""
        return bool(await self._persist_run("expire", self, seconds))

    async def persist(self) -> bool:
        """Remove the stored object's expiry; True when it had one."""
        return bool(await self._persist_run("persist", self))

    async def ttl(self) -> float | None:
        """Seconds until the stored object expires, None when it never does; NotFound when not stored."""
        return await self._persist_run("ttl", self)  # type: ignore[no-any-return]

    @classmethod
    async def match(cls, **lookups: Any) -> Self:
        """Return the one stored object matching every lookup (NotFound / MultipleFound otherwise)."""
        return await cls._persist_run("match", cls._where(lookups))  # type: ignore[no-any-return]

    @classmethod
    async def match_for_pk(cls, pk: Any) -> Self:
        """Return the stored object with this pk; NotFound when absent or expired."""
        return await cls._persist_run("match_for_pk", pk)  # type: ignore[no-any-return]

    @classmethod
    async def match_for_values(cls, **lookups: Any) -> Self:
        """Return the one stored object matching the lookups, searching by values."""
        return await cls._persist_run("match_for_values", cls._where(lookups))  # type: ignore[no-any-return]

    @classmethod
    def filter(cls, **lookups: Any) -> AsyncQuery[Self]:
        """A lazy query of the objects matching every lookup (not a coroutine)."""
        return AsyncQuery(cls, cls._where(lookups))

    @classmethod
    def all(cls) -> AsyncQuery[Self]:
        """A lazy query of every stored object (not a coroutine)."""
        return AsyncQuery(cls)

    @classmethod
    async def count(cls, **lookups: Any) -> int:
        """How many stored objects match the lookups (all of them without lookups)."""
        return int(await cls._persist_run("count", cls._where(lookups)))

    @classmethod
    async def set_many(cls, objs: Iterable[Self], *, expire: float | Any | None = None) -> list[Self]:
        """Validate every object, then store them all in pipelined batches; nothing is written if one is invalid."""
        return await cls._persist_run("save_many", objs, expire)  # type: ignore[no-any-return]

    @classmethod
    async def purge_expired(cls) -> int:
        """Remove what expired objects left behind; return how many objects that concerned."""
        return int(await cls._persist_run("purge_expired"))

    @classmethod
    def _where(cls, lookups: dict[str, Any]) -> QueryState:
        return QueryState().where(spec_of(cls), lookups)


class SimpleRedisMixin(AsyncPersistMixin):
    """Store each object as one JSON string at ``{prefix}:{pk}`` in Redis, with ``redis.asyncio``."""

    __slots__ = ()
    __persist_backend__ = REDIS

    @classmethod
    async def reindex(cls) -> int:
        """Rebuild the indexes, moving objects stored before ``__indexes__`` was declared; return how many."""
        return int(await cls._persist_run("reindex"))


class PgRowMixin(AsyncPersistMixin):
    """Store each object as one row of a PostgreSQL table (psycopg 3 async, or an aiopg pool).

    ``await Model.create_table()`` once; then every method, awaited, plus
    ``async with Model.transaction():`` and optimistic locking (``__version_field__``).
    """

    __slots__ = ()
    __persist_backend__ = POSTGRES

    @classmethod
    async def create_table(cls) -> None:
        """Create the model's table, its expiry index and its ``__indexes__``; does nothing if they exist."""
        await cls._persist_run("create_table")

    @classmethod
    async def drop_table(cls) -> None:
        """Drop the model's table and its indexes; does nothing if it does not exist."""
        await cls._persist_run("drop_table")

    @classmethod
    def transaction(cls) -> AbstractAsyncContextManager[Any]:
        """A transaction block bound to the current task: ``async with Model.transaction(): ...``.

        Every operation of this task on the model's pool, whatever the model, runs in
        it; nested blocks are savepoints; an exception or a cancellation rolls back and
        returns the connection to the pool.  A child task that tries to use it gets
        :class:`~persist_mixins.errors.TransactionError` instead of corrupting it.
        """
        return cls._persist_driver().transaction()  # type: ignore[no-any-return]


async def close() -> None:
    """Close the asyncio clients and pools persist_mixins opened from URLs on the running event loop."""
    import sys

    for name in ("redis", "postgres"):
        module = sys.modules.get(f"{__package__}.backends.{name}.driver")
        if module is not None:  # a backend never used has nothing open
            await module.aclose()
