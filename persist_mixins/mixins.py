"""The sync facades: :class:`PersistMixin` and its lazy :class:`Query`.

Each public method builds a plan with its backend's typed plans
(``__persist_backend__.plans``) and runs it with :func:`~persist_mixins.run.run_sync`
on the class's driver; there is no database logic here.  The asyncio facades
(:mod:`persist_mixins.asyncio`) mirror these name for name; what both share is in
:mod:`persist_mixins.facade`.  Each backend's mixin (``SimpleRedisMixin`` ...) is
declared in its own package.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .binding import spec_of
from .connections import sync_route as route
from .facade import ModelBase, QueryBase, only_fields
from .lookups import Q
from .run import Plan, collect, iter_sync, run_sync
from .spec import Expiry

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["PersistMixin", "Query"]

M = TypeVar("M", bound="PersistMixin")
T = TypeVar("T")


class Query(QueryBase[M]):
    """A lazy query over one model: nothing is read until it is iterated or asked a question.

    Chain ``filter()``, ``order_by()`` and ``limit()``; iterate it, call ``len()``,
    index (``q[0]``) or slice (``q[:10]`` returns a list), or ask ``first()``,
    ``count()``, ``exists()``.  ``delete()`` and ``update()`` act on every match.
    A query caches its results once it has been read in full (``len()``, ``list()``),
    and compares equal to a list of the same objects (``Model.filter(x=1) == []``).
    """

    __slots__ = ("_cache",)

    def __init__(self, model: type[M], state: Any = None) -> None:
        """Make a query over ``model``; use ``Model.filter()`` / ``Model.all()`` instead."""
        super().__init__(model, state)
        self._cache: list[M] | None = None

    def _run(self, plan: Plan[T]) -> T:
        return run_sync(route(self._model), plan)

    def __iter__(self) -> Iterator[M]:
        """Stream the matching objects (from the cache when the query was read in full)."""
        # The cache is checked at the first next(), not here: list(q) asks iter(q) before
        # len(q), and len() may have read (and cached) everything in between.
        if self._cache is not None:
            yield from self._cache
            return
        for _, obj in iter_sync(route(self._model), self._select()):
            yield obj

    def _fetch_all(self) -> list[M]:
        if self._cache is None:
            # Collected inside the plan: no generator hop per object on the way out.
            self._cache = [obj for _, obj in self._run(collect(self._select()))]
        return self._cache

    def __len__(self) -> int:
        """Read the query in full and return how many objects it holds."""
        return len(self._fetch_all())

    def __bool__(self) -> bool:
        """True when the query has at least one object."""
        return bool(self._fetch_all()) if self._cache is not None else self.exists()

    def __eq__(self, other: object) -> bool:
        """A query equals a list (or query) of the same objects in the same order, as redis-schematics' lists did."""
        if isinstance(other, Query):
            return self._fetch_all() == other._fetch_all()
        if isinstance(other, list):
            return self._fetch_all() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list, so unhashable like one

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
        if self._cache is not None:
            return len(self._cache)
        return self._run(self._plans.count(self._spec, self._state))

    def exists(self) -> bool:
        """True when at least one object matches; stops at the first."""
        return self._run(self._plans.exists(self._spec, self._state))

    def delete(self) -> int:
        """Delete every matching object; return how many were deleted."""
        self._cache = None
        return self._run(self._plans.delete_where(self._spec, self._state))

    def update(self, **values: Any) -> int:
        """Set fields on every matching object, keeping each TTL; return how many were written."""
        self._cache = None
        return self._run(self._plans.update_where(self._spec, self._state, values))

    def __json__(self) -> list[M]:
        """The objects, for ``json.dumps`` once :func:`persist_mixins.patches.patch_json` is applied."""
        return self._fetch_all()


def _is_window(item: int | slice) -> bool:
    """True when ``q[item]`` can be answered by reading only a window (no negatives, no step)."""
    if isinstance(item, int):
        return item >= 0
    return item.step in (None, 1) and (item.start or 0) >= 0 and (item.stop is None or item.stop >= 0)


class PersistMixin(ModelBase):
    """Active-record methods for any model class, over one backend (sync).

    Not used directly: mix in a backend's mixin (:class:`~persist_mixins.SimpleRedisMixin` ...).
    """

    __slots__ = ()

    # -- instance methods -------------------------------------------------
    def set(self, *, expire: Expiry = None, only: Iterable[str] | None = None) -> Self:
        """Validate and store the object in one round trip; fill a missing pk first.

        Args:
            expire: seconds (int/float) or a timedelta; default the class's ``__expire__``.
            only: write just these fields of the stored object (atomically, keeping its TTL
                and the other fields as stored); the whole object is still validated first.

        Returns:
            The object itself.

        Raises:
            ValidationError: the data is invalid; nothing was written.
            InvalidLookup: ``only`` names an unknown field, the pk or the version field.
            NotFound: with ``only``, the object is not stored (deleted or expired); nothing was written.
            ConflictError: the model has ``__version_field__`` and the stored object changed since this one was read.
        """
        cls = type(self)
        plans = cls.__persist_backend__.plans
        if only is None:
            return run_sync(route(cls), plans.save(spec_of(cls), self, expire))
        fields = only_fields(spec_of(cls), only, expire)  # InvalidLookup before a driver is even built
        return run_sync(route(cls), plans.save_only(spec_of(cls), self, fields))

    save = set

    def refresh(self) -> Self:
        """Reload every field from storage in place.

        Raises:
            NotFound: the object was deleted or expired.
        """
        cls = type(self)
        return run_sync(route(cls), cls.__persist_backend__.plans.refresh(spec_of(cls), self))

    def delete(self) -> bool:
        """Delete the stored object; True when something was deleted."""
        cls = type(self)
        return run_sync(route(cls), cls.__persist_backend__.plans.delete(spec_of(cls), self))

    def expire(self, seconds: Expiry) -> bool:
        """Make the stored object expire in ``seconds`` (or a timedelta); False when it is not stored."""
        cls = type(self)
        return run_sync(route(cls), cls.__persist_backend__.plans.expire(spec_of(cls), self, seconds))

    def persist(self) -> bool:
        """Remove the stored object's expiry; True when it had one."""
        cls = type(self)
        return run_sync(route(cls), cls.__persist_backend__.plans.persist(spec_of(cls), self))

    def ttl(self) -> float | None:
        """Seconds until the stored object expires, or None when it never does.

        Raises:
            NotFound: the object is not stored.
        """
        cls = type(self)
        return run_sync(route(cls), cls.__persist_backend__.plans.ttl(spec_of(cls), self))

    # -- class methods ----------------------------------------------------
    @classmethod
    def match(cls, *qs: Q, **lookups: Any) -> Self:
        """Return the one stored object matching every lookup.

        Lookups that pin the pk are read by key; every other lookup is still checked.

        Raises:
            NotFound: nothing matches.
            MultipleFound: more than one object matches.
            InvalidLookup: a lookup names an unknown field or operator.
        """
        state = cls._where(lookups, qs)  # InvalidLookup before a driver (a pool) is even built
        return run_sync(route(cls), cls.__persist_backend__.plans.match(spec_of(cls), state))

    @classmethod
    def match_for_pk(cls, pk: Any) -> Self:
        """Return the stored object with this pk; :class:`~persist_mixins.errors.NotFound` when absent or expired."""
        return run_sync(route(cls), cls.__persist_backend__.plans.match_for_pk(spec_of(cls), pk))

    @classmethod
    def match_for_values(cls, **lookups: Any) -> Self:
        """Return the one stored object matching the lookups, searching by values."""
        state = cls._where(lookups)  # InvalidLookup before a driver (a pool) is even built
        return run_sync(route(cls), cls.__persist_backend__.plans.match_for_values(spec_of(cls), state))

    @classmethod
    def filter(cls, *qs: Q, **lookups: Any) -> Query[Self]:
        """A lazy query of the objects matching every lookup."""
        return Query(cls, cls._where(lookups, qs))

    @classmethod
    def exclude(cls, *qs: Q, **lookups: Any) -> Query[Self]:
        """A lazy query of the objects not matching the lookups and ``Q`` objects (all of them together).

        The complement, as in Django: ``exclude(flavour="mint")`` keeps objects whose flavour is None.
        """
        return Query(cls, cls._without(lookups, qs))

    @classmethod
    def all(cls) -> Query[Self]:
        """A lazy query of every stored object."""
        return Query(cls)

    @classmethod
    def count(cls, *qs: Q, **lookups: Any) -> int:
        """How many stored objects match the lookups (all of them without lookups)."""
        state = cls._where(lookups, qs)  # InvalidLookup before a driver (a pool) is even built
        return run_sync(route(cls), cls.__persist_backend__.plans.count(spec_of(cls), state))

    @classmethod
    def set_many(cls, objs: Iterable[Self], *, expire: Expiry = None) -> list[Self]:
        """Validate every object, then store them all in pipelined batches.

        Returns:
            The objects, with their pks filled.

        Raises:
            ValidationError: one object is invalid; nothing was written.
        """
        return run_sync(route(cls), cls.__persist_backend__.plans.save_many(spec_of(cls), objs, expire))

    @classmethod
    def get_or_create(cls, defaults: Mapping[str, Any] | None = None, **lookups: Any) -> tuple[Self, bool]:
        """Return ``(obj, created)``: the one object matching the lookups, or a new one stored now.

        Django's semantics: a new object gets the lookups' values (those without an operator:
        ``title="Dune"``, not ``year__gte=1965``) and ``defaults`` (callables are called).
        Atomic against concurrent callers passing the same lookups: exactly one of them creates.

        Raises:
            MultipleFound: more than one stored object matches.
            InvalidLookup: a bad lookup, no lookup, or ``defaults`` naming an unknown field; before any I/O.
            ValidationError: the new object is invalid; nothing was written.
        """
        return run_sync(route(cls), cls._get_or_create(defaults, lookups, update=False))

    @classmethod
    def update_or_create(cls, defaults: Mapping[str, Any] | None = None, **lookups: Any) -> tuple[Self, bool]:
        """Return ``(obj, created)``: the matching object with ``defaults`` written to it, or a new one.

        A found object gets the ``defaults`` values and just those fields are written
        (``set(only=...)``, keeping its TTL); a new one is built as by :meth:`get_or_create`.
        Atomic against concurrent callers passing the same lookups.

        Raises:
            MultipleFound: more than one stored object matches.
            InvalidLookup: as :meth:`get_or_create`; also ``defaults`` naming the pk or the version field.
            ValidationError: the new or updated object is invalid; nothing was written.
            ConflictError: a versioned object changed meanwhile, or a ``__unique__`` clash.
        """
        return run_sync(route(cls), cls._get_or_create(defaults, lookups, update=True))

    @classmethod
    def purge_expired(cls) -> int:
        """Remove what expired objects left behind; return how many objects that concerned."""
        return run_sync(route(cls), cls.__persist_backend__.plans.purge_expired(spec_of(cls)))

    @classmethod
    def delete_all(cls) -> int:
        """Delete every stored object of the model; return how many (redis-schematics' name)."""
        return cls.all().delete()

    @classmethod
    def delete_filter(cls, *qs: Q, **lookups: Any) -> int:
        """Delete the stored objects matching the lookups; return how many (redis-schematics' name)."""
        return cls.filter(*qs, **lookups).delete()
