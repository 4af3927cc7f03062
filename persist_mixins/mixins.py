"""The sync facades: :class:`PersistMixin`, its lazy :class:`Query`, and :class:`SimpleRedisMixin`.

Each public method builds a plan from the backend's plans module and hands it
to :func:`~persist_mixins.run.run_sync`; there is no database logic here.  The
asyncio facades (:mod:`persist_mixins.asyncio`) mirror these name for name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from .binding import POSTGRES, REDIS, Backend, check_class, spec_of
from .query import QueryState
from .run import collect

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["PersistMixin", "PgRowMixin", "Query", "SimpleRedisMixin"]

M = TypeVar("M", bound="PersistMixin")


class Query(Generic[M]):
    """A lazy query over one model: nothing is read until it is iterated or asked a question.

    Chain ``filter()``, ``order_by()`` and ``limit()``; iterate it, call ``len()``,
    index (``q[0]``) or slice (``q[:10]`` returns a list), or ask ``first()``,
    ``count()``, ``exists()``.  ``delete()`` and ``update()`` act on every match.
    A query caches its results once it has been read in full (``len()``, ``list()``).
    """

    __slots__ = ("_cache", "_model", "_state")

    def __init__(self, model: type[M], state: QueryState | None = None) -> None:
        """Make a query over ``model``; use ``Model.filter()`` / ``Model.all()`` instead."""
        self._model = model
        self._state = state or QueryState()
        self._cache: list[M] | None = None

    def _run(self, name: str, *args: Any) -> Any:
        model = self._model
        plan = getattr(model.__persist_backend__.plans, name)(spec_of(model), self._state, *args)
        return model._persist_driver().run(plan)

    def _select(self) -> Any:
        """The plan streaming ``(pk, obj)`` pairs of this query."""
        model = self._model
        return model.__persist_backend__.plans.select_pairs(spec_of(model), self._state)

    def _derive(self, state: QueryState) -> Query[M]:
        return Query(self._model, state)

    def filter(self, **lookups: Any) -> Query[M]:
        """Narrow the query with more lookups (AND); raises InvalidLookup on a bad one."""
        return self._derive(self._state.where(spec_of(self._model), lookups))

    def order_by(self, *fields: str) -> Query[M]:
        """Order by fields, ``'-field'`` for descending; None sorts last (first when descending)."""
        return self._derive(self._state.ordered(spec_of(self._model), fields))

    def limit(self, n: int) -> Query[M]:
        """Return at most ``n`` objects."""
        return self._derive(self._state.limited(n))

    def __iter__(self) -> Iterator[M]:
        """Stream the matching objects (from the cache when the query was read in full)."""
        # The cache is checked at the first next(), not here: list(q) asks iter(q) before
        # len(q), and len() may have read (and cached) everything in between.
        if self._cache is not None:
            yield from self._cache
            return
        for _, obj in self._model._persist_driver().iter(self._select()):
            yield obj

    def _fetch_all(self) -> list[M]:
        if self._cache is None:
            # Collected inside the plan runner: no generator hop per object on the way out.
            self._cache = [obj for _, obj in self._model._persist_driver().run(collect(self._select()))]
        return self._cache

    def __len__(self) -> int:
        """Read the query in full and return how many objects it holds."""
        return len(self._fetch_all())

    def __bool__(self) -> bool:
        """True when the query has at least one object."""
        return bool(self._fetch_all()) if self._cache is not None else self.exists()

    @overload
    def __getitem__(self, item: int) -> M: ...
    @overload
    def __getitem__(self, item: slice) -> list[M]: ...
    def __getitem__(self, item: int | slice) -> M | list[M]:
        """``q[i]`` -> one object (IndexError past the end); ``q[a:b]`` -> a list, as for a list.

        Non-negative indexes and slices read only the window they return.
        """
        if self._cache is not None or not _is_window(item):
            return self._fetch_all()[item]  # negative indexes and steps need the whole list
        if isinstance(item, slice):
            return list(self._derive(self._state.sliced(item)))
        found = list(self._derive(self._state.sliced(slice(item, item + 1))))
        if not found:
            raise IndexError(f"{self._model.__name__} query index {item} out of range")
        return found[0]

    def first(self) -> M | None:
        """The first object, or None when the query is empty."""
        found = self[:1]
        return found[0] if found else None

    def count(self) -> int:
        """How many objects match, without decoding more than needed."""
        return len(self._cache) if self._cache is not None else int(self._run("count"))

    def exists(self) -> bool:
        """True when at least one object matches; stops at the first."""
        return bool(self._run("exists"))

    def delete(self) -> int:
        """Delete every matching object; return how many were deleted."""
        self._cache = None
        return int(self._run("delete_where"))

    def update(self, **values: Any) -> int:
        """Set fields on every matching object, keeping each TTL; return how many were written."""
        self._cache = None
        return int(self._run("update_where", values))

    def __repr__(self) -> str:
        return f"<Query {self._model.__name__} {self._state}>"


def _is_window(item: int | slice) -> bool:
    """True when ``q[item]`` can be answered by reading only a window (no negatives, no step)."""
    if isinstance(item, int):
        return item >= 0
    return item.step in (None, 1) and (item.start or 0) >= 0 and (item.stop is None or item.stop >= 0)


class PersistMixin:
    """Active-record methods for any model class, over one backend (sync).

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
        return cls.__persist_backend__.drivers.sync_driver(cls)

    @classmethod
    def _persist_run(cls, name: str, *args: Any) -> Any:
        plan = getattr(cls.__persist_backend__.plans, name)(spec_of(cls), *args)
        return cls._persist_driver().run(plan)

    # -- instance methods -------------------------------------------------
    def set(self, *, expire: float | Any | None = None) -> Self:
        """Validate and store the object in one round trip; fill a missing pk first.

        Args:
            expire: seconds (int/float) or a timedelta; default the class's ``__expire__``.

        Returns:
            The object itself.

        Raises:
            ValidationError: the data is invalid; nothing was written.
        """
        return self._persist_run("save", self, expire)  # type: ignore[no-any-return]

    save = set

    def refresh(self) -> Self:
        """Reload every field from storage in place.

        Raises:
            NotFound: the object was deleted or expired.
        """
        return self._persist_run("refresh", self)  # type: ignore[no-any-return]

    def delete(self) -> bool:
        """Delete the stored object; True when something was deleted."""
        return bool(self._persist_run("delete", self))

    def expire(self, seconds: float | Any) -> bool:
        """Make the stored object expire in ``seconds`` (or a timedelta); False when it is not stored."""
        return bool(self._persist_run("expire", self, seconds))

    def persist(self) -> bool:
        """Remove the stored object's expiry; True when it had one."""
        return bool(self._persist_run("persist", self))

    def ttl(self) -> float | None:
        """Seconds until the stored object expires, or None when it never does.

        Raises:
            NotFound: the object is not stored.
        """
        return self._persist_run("ttl", self)  # type: ignore[no-any-return]

    # -- class methods ----------------------------------------------------
    @classmethod
    def match(cls, **lookups: Any) -> Self:
        """Return the one stored object matching every lookup.

        Lookups that pin the pk are read by key; every other lookup is still checked.

        Raises:
            NotFound: nothing matches.
            MultipleFound: more than one object matches.
            InvalidLookup: a lookup names an unknown field or operator.
        """
        return cls._persist_run("match", cls._where(lookups))  # type: ignore[no-any-return]

    @classmethod
    def match_for_pk(cls, pk: Any) -> Self:
        """Return the stored object with this pk; :class:`~persist_mixins.errors.NotFound` when absent or expired."""
        return cls._persist_run("match_for_pk", pk)  # type: ignore[no-any-return]

    @classmethod
    def match_for_values(cls, **lookups: Any) -> Self:
        """Return the one stored object matching the lookups, searching by values."""
        return cls._persist_run("match_for_values", cls._where(lookups))  # type: ignore[no-any-return]

    @classmethod
    def filter(cls, **lookups: Any) -> Query[Self]:
        """A lazy query of the objects matching every lookup."""
        return Query(cls, cls._where(lookups))

    @classmethod
    def all(cls) -> Query[Self]:
        """A lazy query of every stored object."""
        return Query(cls)

    @classmethod
    def count(cls, **lookups: Any) -> int:
        """How many stored objects match the lookups (all of them without lookups)."""
        return int(cls._persist_run("count", cls._where(lookups)))

    @classmethod
    def set_many(cls, objs: Iterable[Self], *, expire: float | Any | None = None) -> list[Self]:
        """Validate every object, then store them all in pipelined batches.

        Returns:
            The objects, with their pks filled.

        Raises:
            ValidationError: one object is invalid; nothing was written.
        """
        return cls._persist_run("save_many", objs, expire)  # type: ignore[no-any-return]

    @classmethod
    def purge_expired(cls) -> int:
        """Remove what expired objects left behind; return how many objects that concerned."""
        return int(cls._persist_run("purge_expired"))

    @classmethod
    def _where(cls, lookups: dict[str, Any]) -> QueryState:
        return QueryState().where(spec_of(cls), lookups)


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
        return int(cls._persist_run("reindex"))


class PgRowMixin(PersistMixin):
    """Store each object as one row of a PostgreSQL table, one column per field (psycopg 3).

    Create the table once with :meth:`create_table`; then every method of
    :class:`PersistMixin` works, plus :meth:`transaction` and optimistic locking
    (``__version_field__``).

    Example:
        >>> from dataclasses import dataclass
        >>> from persist_mixins import PgRowMixin
        >>> @dataclass
        ... class Flavour(PgRowMixin):
        ...     __table__ = "doc_flavour"
        ...     id: str
        ...     amount_kg: int = 0
        >>> Flavour.create_table()
        >>> Flavour("vanilla", 42).set().amount_kg
        42
        >>> Flavour.filter(amount_kg__gte=30).count()
        1
        >>> Flavour.drop_table()
    """

    __slots__ = ()
    __persist_backend__ = POSTGRES

    @classmethod
    def create_table(cls) -> None:
        """Create the model's table, its expiry index and its ``__indexes__``; does nothing if they exist."""
        cls._persist_run("create_table")

    @classmethod
    def drop_table(cls) -> None:
        """Drop the model's table and its indexes; does nothing if it does not exist."""
        cls._persist_run("drop_table")

    @classmethod
    def transaction(cls) -> AbstractContextManager[Any]:
        """A transaction block: ``with Model.transaction(): ...``.

        Every operation of this thread on the model's connection pool, whatever the
        model, runs in the transaction.  Nested blocks are savepoints; an exception
        rolls the block back; a COMMIT that PostgreSQL turned into a ROLLBACK raises
        :class:`~persist_mixins.errors.TransactionError`, as does use from another
        thread that inherited the context.
        """
        return cls._persist_driver().transaction()  # type: ignore[no-any-return]
