"""The PostgreSQL mixins, sync and asyncio: the common facade plus tables and transactions."""

from __future__ import annotations

from ...binding import spec_of
from ...connections import async_driver, async_route, sync_driver, sync_route
from ...mixins import PersistMixin
from ...mixins_async import AsyncPersistMixin
from ...run import AsyncBlock, SyncBlock, run_async, run_sync
from . import POSTGRES
from .transaction import TransactionBlock

__all__ = ["AsyncPgRowMixin", "PgRowMixin"]


class PgRowMixin(PersistMixin):
    """Store each object as one row of a PostgreSQL table, one column per field (psycopg 3).

    Create the table once with :meth:`create_table`; then every method of
    :class:`~persist_mixins.PersistMixin` works, plus :meth:`transaction` and optimistic
    locking (``__version_field__``).

    Example:
        >>> from dataclasses import dataclass
        >>> from persist_mixins import PgRowMixin
        >>> @dataclass
        ... class Flavour(PgRowMixin):
        ...     __table__ = "doc_flavour"
        ...     id: str
        ...     amount_kg: int = 0
        >>> Flavour.create_table()[0]  # what it changed
        'create table "doc_flavour"'
        >>> Flavour("vanilla", 42).set().amount_kg
        42
        >>> Flavour.filter(amount_kg__gte=30).count()
        1
        >>> Flavour.drop_table()
    """

    __slots__ = ()
    __persist_backend__ = POSTGRES

    @classmethod
    def create_table(cls) -> list[str]:
        """Create the model's table and indexes, or add the columns and indexes the model gained.

        Also creates the ``__schema__`` when it is missing.  Never drops or retypes anything;
        runs in one transaction.  Returns what it changed, one sentence per statement
        (``'add column "flavour" text'``), empty when nothing was missing.
        """
        return run_sync(sync_route(cls), POSTGRES.plans.create_table(spec_of(cls)))

    @classmethod
    def drop_table(cls) -> None:
        """Drop the model's table and its indexes (never its ``__schema__``); does nothing if it does not exist."""
        run_sync(sync_route(cls), POSTGRES.plans.drop_table(spec_of(cls)))

    @classmethod
    def transaction(cls) -> SyncBlock:
        """A transaction block: ``with Model.transaction(): ...``.

        Every operation of this thread on the model's connection pool, whatever the
        model, runs in the transaction.  Nested blocks are savepoints; an exception
        rolls the block back; a COMMIT that PostgreSQL turned into a ROLLBACK raises
        :class:`~persist_mixins.errors.TransactionError`, as does use from another
        thread that inherited the context.
        """
        block = TransactionBlock(sync_driver(cls))
        return SyncBlock(block.enter, block.exit)


class AsyncPgRowMixin(AsyncPersistMixin):
    """Store each object as one row of a PostgreSQL table (psycopg 3 async, or an aiopg pool).

    ``await Model.create_table()`` once; then every method, awaited, plus
    ``async with Model.transaction():`` and optimistic locking (``__version_field__``).
    """

    __slots__ = ()
    __persist_backend__ = POSTGRES

    @classmethod
    async def create_table(cls) -> list[str]:
        """Create the model's table and indexes, or add the columns and indexes the model gained.

        As :meth:`PgRowMixin.create_table`: returns what it changed (empty when nothing was missing).
        """
        return await run_async(async_route(cls), POSTGRES.plans.create_table(spec_of(cls)))

    @classmethod
    async def drop_table(cls) -> None:
        """Drop the model's table and its indexes (never its ``__schema__``); does nothing if it does not exist."""
        await run_async(async_route(cls), POSTGRES.plans.drop_table(spec_of(cls)))

    @classmethod
    def transaction(cls) -> AsyncBlock:
        """A transaction block bound to the current task: ``async with Model.transaction(): ...``.

        Every operation of this task on the model's pool, whatever the model, runs in
        it; nested blocks are savepoints; an exception or a cancellation rolls back and
        returns the connection to the pool.  A child task that tries to use it gets
        :class:`~persist_mixins.errors.TransactionError` instead of corrupting it.
        """
        block = TransactionBlock(async_driver(cls))
        return AsyncBlock(block.enter, block.exit)
