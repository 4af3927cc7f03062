"""The RethinkDB mixins, sync and asyncio: the common facade plus tables and changefeeds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ...binding import spec_of
from ...connections import async_route, sync_route
from ...errors import BackendConnectionError, RetryableError
from ...mixins import PersistMixin
from ...mixins_async import AsyncPersistMixin
from ...query import QueryState
from ...run import iter_async, iter_sync, run_async, run_sync
from . import RETHINKDB
from .plans import FEED_OPEN

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AsyncFeed", "AsyncRethinkMixin", "Feed", "RethinkMixin"]

logger = logging.getLogger("persist_mixins")
M = TypeVar("M")
#: A change: ``(old, new)``, None for a side that does not exist (or does not match, or expired).
Change = tuple[Any, Any]

#: Seconds between reconnection attempts of a changefeed: doubling from the first, up to the last.
BACKOFF = (0.1, 5.0)


def _delays() -> Iterator[float]:
    delay = BACKOFF[0]
    while True:
        yield delay
        delay = min(delay * 2, BACKOFF[1])


def _lost(cls: type, exc: Exception, delay: float) -> None:
    logger.warning("%s.changes(): the changefeed was lost (%s); reconnecting in %.1f s", cls.__name__, exc, delay)


class Feed(Generic[M]):
    """A changefeed: iterate it for ``(old, new)`` pairs; ``close()`` it (or use ``with``) to stop it.

    The feed opens on ``with`` (or at the first ``next()``): writes made after that are seen.
    A lost connection is retried with backoff (0.1 s doubling to 5 s, each attempt logged
    on the ``persist_mixins`` logger); changes made while it was lost are not replayed
    (with ``include_initial``, the current objects are sent again instead).
    """

    def __init__(self, model: type[M], state: QueryState, include_initial: bool) -> None:
        """Follow the changes of ``model``'s objects matching ``state``; use ``Model.changes()`` instead."""
        self._items = self._follow(model, state, include_initial)
        self._open = False

    @staticmethod
    def _follow(model: type[M], state: QueryState, include_initial: bool) -> Iterator[Any]:
        delays = _delays()
        while True:
            stream = iter_sync(sync_route(model), RETHINKDB.plans.changes(spec_of(model), state, include_initial))
            try:
                for item in stream:
                    delays = _delays()
                    yield item
                return
            except (BackendConnectionError, RetryableError) as exc:
                delay = next(delays)
                _lost(model, exc, delay)
                time.sleep(delay)
            finally:
                stream.close()  # type: ignore[attr-defined]

    def open(self) -> Feed[M]:
        """Open the feed now (``with`` does): changes from here on are reported."""
        if not self._open:
            self._open = next(self._items) == FEED_OPEN
        return self

    def __iter__(self) -> Iterator[Change]:
        """The changes, as they come (blocks between them)."""
        return self

    def __next__(self) -> Change:
        """The next change (blocks until one comes)."""
        self.open()
        while True:
            item = next(self._items)
            if item != FEED_OPEN:  # sent again after a reconnection
                return item  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the changefeed (the server stops sending) and give its connection back."""
        self._items.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Feed[M]:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncFeed(Generic[M]):
    """:class:`Feed` for asyncio: ``async with Model.changes() as feed: async for old, new in feed``."""

    def __init__(self, model: type[M], state: QueryState, include_initial: bool) -> None:
        """Follow the changes of ``model``'s objects matching ``state``; use ``Model.changes()`` instead."""
        self._items = self._follow(model, state, include_initial)
        self._open = False

    @staticmethod
    async def _follow(model: type[M], state: QueryState, include_initial: bool) -> AsyncIterator[Any]:
        delays = _delays()
        while True:
            stream = iter_async(async_route(model), RETHINKDB.plans.changes(spec_of(model), state, include_initial))
            try:
                async for item in stream:
                    delays = _delays()
                    yield item
                return
            except (BackendConnectionError, RetryableError) as exc:
                delay = next(delays)
                _lost(model, exc, delay)
                await asyncio.sleep(delay)
            finally:
                await stream.aclose()  # type: ignore[attr-defined]

    async def open(self) -> AsyncFeed[M]:
        """Open the feed now (``async with`` does): changes from here on are reported."""
        if not self._open:
            self._open = await self._items.__anext__() == FEED_OPEN
        return self

    def __aiter__(self) -> AsyncIterator[Change]:
        """The changes, as they come."""
        return self

    async def __anext__(self) -> Change:
        """The next change."""
        await self.open()
        while True:
            item = await self._items.__anext__()
            if item != FEED_OPEN:
                return item  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Stop the changefeed (the server stops sending) and give its connection back."""
        await self._items.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> AsyncFeed[M]:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class RethinkMixin(PersistMixin):
    """Store each object as one document of a RethinkDB table (the official driver, pooled).

    Create the table once with :meth:`create_table`; then every method of
    :class:`~persist_mixins.PersistMixin` works, plus :meth:`changes`.

    Example:
        >>> from dataclasses import dataclass
        >>> from persist_mixins import RethinkMixin
        >>> @dataclass
        ... class Flavour(RethinkMixin):
        ...     __table__ = "doc_flavour"
        ...     __indexes__ = ("amount_kg",)
        ...     id: str
        ...     amount_kg: int = 0
        >>> made = Flavour.create_table()
        >>> Flavour("vanilla", 42).set().amount_kg
        42
        >>> Flavour.filter(amount_kg__gte=30).count()
        1
        >>> Flavour.drop_table()
    """

    __slots__ = ()
    __persist_backend__ = RETHINKDB

    @classmethod
    def create_table(cls) -> list[str]:
        """Create what is missing of the database, the table and its indexes, and wait until they are ready.

        Idempotent: on an existing table it adds the indexes the model gained (never drops one).
        Returns what it made, one sentence each (``'create index "amount_kg"'``), empty when nothing was missing.
        """
        return run_sync(sync_route(cls), RETHINKDB.plans.create_table(spec_of(cls)))

    @classmethod
    def drop_table(cls) -> None:
        """Drop the model's table and its indexes; does nothing if it does not exist."""
        run_sync(sync_route(cls), RETHINKDB.plans.drop_table(spec_of(cls)))

    @classmethod
    def changes(cls, *, include_initial: bool = False, **lookups: Any) -> Feed[Self]:
        """A changefeed of the objects matching ``lookups``: ``(old, new)`` pairs, None for a missing side.

        Args:
            include_initial: first send ``(None, obj)`` for every object matching now.
            lookups: as for :meth:`filter` (checked before anything is read).

        Raises:
            InvalidLookup: a lookup names an unknown field or operator.
        """
        return Feed(cls, cls._where(lookups), include_initial)


class AsyncRethinkMixin(AsyncPersistMixin):
    """Store each object as one document of a RethinkDB table (the official driver's asyncio connections, pooled).

    ``await Model.create_table()`` once; then every method, awaited, plus :meth:`changes`.
    """

    __slots__ = ()
    __persist_backend__ = RETHINKDB

    @classmethod
    async def create_table(cls) -> list[str]:
        """Create what is missing of the database, the table and its indexes (see :meth:`RethinkMixin.create_table`)."""
        return await run_async(async_route(cls), RETHINKDB.plans.create_table(spec_of(cls)))

    @classmethod
    async def drop_table(cls) -> None:
        """Drop the model's table and its indexes; does nothing if it does not exist."""
        await run_async(async_route(cls), RETHINKDB.plans.drop_table(spec_of(cls)))

    @classmethod
    def changes(cls, *, include_initial: bool = False, **lookups: Any) -> AsyncFeed[Self]:
        """A changefeed: ``async for old, new in Model.changes(**lookups)`` (see :meth:`RethinkMixin.changes`)."""
        return AsyncFeed(cls, cls._where(lookups), include_initial)
