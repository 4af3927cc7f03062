"""Transactions on PostgreSQL: one rule per test, sync, psycopg async and aiopg.

Each test checks what a user relies on: rows written in a block that fails are
absent, nothing is lost silently when child tasks are involved, and the pool is
usable afterwards.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

import persist_mixins
import persist_mixins.asyncio
from persist_mixins import BackendConnectionError, ConflictError, TransactionError

from .conftest import PG_URL

FLAVOURS = ("sync", "async", "aiopg")


class Tx:
    """Two models sharing one connection pool, in test-private tables, for one flavour."""

    def __init__(self, flavour: str, conn: Any, pool: Any) -> None:
        self.flavour, self.conn = flavour, conn
        mixin = persist_mixins.PgRowMixin if flavour == "sync" else persist_mixins.asyncio.PgRowMixin
        suffix = uuid.uuid4().hex[:8]
        extra = {"__postgres__": pool} if pool is not None else {}

        def model(name: str, **options: Any) -> Any:
            namespace = {"__table__": f"pmtest_tx_{name}_{suffix}", **extra, **options}
            namespace["__annotations__"] = {"id": str, "n": int}
            return dataclasses.dataclass(type(name, (mixin,), {**namespace, "n": 0}))

        self.Row = model("Row")
        self.Other = model("Other")
        self.tables = [self.Row.__table__, self.Other.__table__]

    async def run(self, result: Any) -> Any:
        """Await the result on async flavours."""
        return result if self.flavour == "sync" else await result

    def rows(self, model: Any) -> list[str]:
        """The ids stored in a model's table, read behind the library's back."""
        return sorted(r[0] for r in self.conn.execute(f'SELECT id FROM "{model.__table__}"').fetchall())


@pytest.fixture(params=FLAVOURS)
async def t(request: pytest.FixtureRequest, pg_conn: Any) -> AsyncIterator[Tx]:
    """Two models of one flavour, their tables created, dropped afterwards."""
    pool = None
    if request.param == "aiopg":
        import aiopg

        pool = await aiopg.create_pool(PG_URL.replace("postgresql://", "postgres://"), minsize=1, maxsize=4)
    tx = Tx(request.param, pg_conn, pool)
    for model in (tx.Row, tx.Other):
        await tx.run(model.create_table())
    yield tx
    for table in tx.tables:
        pg_conn.execute(f'DROP TABLE IF EXISTS "{table}"')
    if request.param != "sync":
        await persist_mixins.asyncio.close()
    if pool is not None:
        pool.close()
        await pool.wait_closed()


class Boom(Exception):
    """Raised by tests to fail a block."""


async def _block(t: Tx, body: Any) -> None:
    """Run ``body()`` (sync function or coroutine function) inside Row.transaction()."""
    if t.flavour == "sync":
        with t.Row.transaction():
            body()
    else:
        async with t.Row.transaction():
            await body()


async def test_commit_on_success_covers_every_model_on_the_pool(t: Tx) -> None:
    """A block commits every write of the task, whatever model made it, at once."""

    def sync_body() -> None:
        t.Row("a", 1).set()
        t.Other("b", 2).set()
        assert t.rows(t.Row) == []  # not visible outside before COMMIT

    async def async_body() -> None:
        await t.Row("a", 1).set()
        await t.Other("b", 2).set()
        assert t.rows(t.Row) == []

    await _block(t, sync_body if t.flavour == "sync" else async_body)
    assert t.rows(t.Row) == ["a"] and t.rows(t.Other) == ["b"]


async def test_exception_rolls_back_everything(t: Tx) -> None:
    """An exception in the block leaves no row behind, set_many included, and propagates."""

    def sync_body() -> None:
        t.Row("a", 1).set()
        t.Row.set_many([t.Row(f"m{i}", i) for i in range(50)])
        raise Boom

    async def async_body() -> None:
        await t.Row("a", 1).set()
        await t.Row.set_many([t.Row(f"m{i}", i) for i in range(50)])
        raise Boom

    with pytest.raises(Boom):
        await _block(t, sync_body if t.flavour == "sync" else async_body)
    assert t.rows(t.Row) == []
    assert await t.run(t.Row.count()) == 0


async def test_nested_block_failure_rolls_back_only_the_savepoint(t: Tx) -> None:
    """A failing nested block undoes its own writes; the outer block goes on and commits."""
    if t.flavour == "sync":
        with t.Row.transaction():
            t.Row("outer", 1).set()
            with pytest.raises(Boom), t.Row.transaction():
                t.Row("inner", 2).set()
                raise Boom
            with t.Row.transaction():
                t.Row("kept", 3).set()
    else:
        async with t.Row.transaction():
            await t.Row("outer", 1).set()
            with pytest.raises(Boom):
                async with t.Row.transaction():
                    await t.Row("inner", 2).set()
                    raise Boom
            async with t.Row.transaction():
                await t.Row("kept", 3).set()
    assert t.rows(t.Row) == ["kept", "outer"]


async def test_commit_turned_into_rollback_raises(t: Tx) -> None:
    """A statement error caught inside the block makes COMMIT a ROLLBACK: that raises TransactionError."""
    await t.run(t.Row("x", 1).set())
    # A unique index made behind the library's back, before the block: the second row below clashes.
    t.conn.execute(f'CREATE UNIQUE INDEX "{t.Other.__table__}_n" ON "{t.Other.__table__}" (n)')

    def sync_body() -> None:
        t.Row("a", 1).set()
        t.Other("u", 1).set()
        with pytest.raises(ConflictError):
            t.Other("v", 1).set()

    async def async_body() -> None:
        await t.Row("a", 1).set()
        await t.Other("u", 1).set()
        with pytest.raises(ConflictError):
            await t.Other("v", 1).set()

    with pytest.raises(TransactionError, match="rolled the transaction back at COMMIT"):
        await _block(t, sync_body if t.flavour == "sync" else async_body)
    assert t.rows(t.Row) == ["x"] and t.rows(t.Other) == []


async def test_child_tasks_cannot_join_and_nothing_is_lost(t: Tx) -> None:
    """gather()ed children that write inside the block get TransactionError; the parent's writes commit."""
    if t.flavour == "sync":
        with t.Row.transaction():
            t.Row("parent", 0).set()
            context = contextvars.copy_context()  # what asyncio.to_thread hands a worker thread
            errors: list[BaseException] = []

            def worker() -> None:
                try:
                    context.run(t.Row("thread", 1).set)
                except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
                    errors.append(exc)

            thread = threading.Thread(target=worker)
            thread.start()
            thread.join()
            assert len(errors) == 1 and isinstance(errors[0], TransactionError)
        assert t.rows(t.Row) == ["parent"]
        return

    async def child(i: int) -> None:
        await t.Row(f"child{i}", i).set()

    async def own(i: int) -> None:
        async with t.Row.transaction():  # a child may open its own transaction, on its own connection
            await t.Row(f"own{i}", i).set()

    async with t.Row.transaction():
        await t.Row("parent", 0).set()
        results = await asyncio.gather(*(child(i) for i in range(5)), return_exceptions=True)
        await asyncio.gather(own(1), own(2))
    assert all(isinstance(r, TransactionError) for r in results), results
    assert "another task" in str(results[0])
    assert t.rows(t.Row) == ["own1", "own2", "parent"]


async def test_task_outliving_its_block_is_refused(t: Tx) -> None:
    """A task started inside a block and writing after it ended gets TransactionError, not a silent write."""
    if t.flavour == "sync":
        pytest.skip("threads do not inherit the context")
    go = asyncio.Event()

    async def late() -> None:
        await go.wait()
        await t.Row("late", 1).set()

    async with t.Row.transaction():
        task = asyncio.create_task(late())
    go.set()
    with pytest.raises(TransactionError, match="ended"):
        await task
    assert t.rows(t.Row) == []


async def test_cancellation_rolls_back_and_returns_the_connection(t: Tx) -> None:
    """A block cancelled mid-statement writes nothing, and the pool serves the next operations."""
    if t.flavour == "sync":
        pytest.skip("cancellation is an asyncio rule")
    started = asyncio.Event()

    async def work() -> None:
        async with t.Row.transaction():
            await t.Row("before", 1).set()
            started.set()
            await t.Row("blocked", 2).set()  # waits for the uncommitted row of the same pk below

    locker = await asyncio.to_thread(_hold_row, t.Row.__table__, "blocked")
    try:
        task = asyncio.create_task(work())
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        locker.rollback()
        locker.close()
    assert t.rows(t.Row) == []
    for i in range(6):  # more operations than the pool has connections
        await t.Row(f"after{i}", i).set()
    assert await t.Row.count() == 6


def _hold_row(table: str, pk: str) -> Any:
    import psycopg

    locker = psycopg.connect(PG_URL)  # not autocommit: the row stays uncommitted until rollback
    locker.execute(f'INSERT INTO "{table}" (id, n) VALUES (%s, 0)', (pk,))
    return locker


async def test_terminated_connection_mid_transaction(t: Tx) -> None:
    """pg_terminate_backend inside a block: the block fails, no partial rows, the pool recovers."""

    def kill() -> None:
        # Only this block's connection: its last statement wrote to this test's own table.
        pids = t.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle in transaction' AND pid <> pg_backend_pid() AND strpos(query, %s) > 0",
            (t.Row.__table__,),
        ).fetchall()
        assert pids, "the block's connection should be idle in transaction"
        for (pid,) in pids:
            t.conn.execute("SELECT pg_terminate_backend(%s)", (pid,))

    with pytest.raises(BackendConnectionError):
        if t.flavour == "sync":
            with t.Row.transaction():
                t.Row("a", 1).set()
                kill()
                t.Row("b", 2).set()
        else:
            async with t.Row.transaction():
                await t.Row("a", 1).set()
                kill()
                await t.Row("b", 2).set()
    assert t.rows(t.Row) == []
    await t.run(t.Row("c", 3).set())
    assert await t.run(t.Row.count()) == 1


async def test_transaction_needs_no_explicit_connection_and_nests_across_models(t: Tx) -> None:
    """A block on one model, nested on another model of the same pool, is one transaction."""
    if t.flavour == "sync":
        with pytest.raises(Boom), t.Row.transaction():
            t.Row("a", 1).set()
            with t.Other.transaction():
                t.Other("b", 1).set()
            raise Boom
    else:
        with pytest.raises(Boom):
            async with t.Row.transaction():
                await t.Row("a", 1).set()
                async with t.Other.transaction():
                    await t.Other("b", 1).set()
                raise Boom
    assert t.rows(t.Row) == [] and t.rows(t.Other) == []


def test_loop_writes_on_a_non_autocommit_connection_are_committed(pg_conn: Any) -> None:
    """On a user's non-autocommit connection, writes made while looping over a query are committed."""
    import psycopg

    conn = psycopg.connect(PG_URL)

    @dataclasses.dataclass
    class Manual(persist_mixins.PgRowMixin):
        __table__ = f"pmtest_loop_{uuid.uuid4().hex[:6]}"
        __postgres__ = conn
        id: str = ""
        n: int = 0

    try:
        Manual.create_table()
        Manual.set_many([Manual("a"), Manual("b")])
        for obj in Manual.all():
            obj.n = 7
            obj.set()
        assert pg_conn.execute(f'SELECT sum(n) FROM "{Manual.__table__}"').fetchone() == (14,)
    finally:
        pg_conn.execute(f'DROP TABLE IF EXISTS "{Manual.__table__}"')
        conn.close()


async def test_a_stream_stopped_early_inside_a_plans_begin_does_not_steal_its_commit(t: Tx) -> None:
    """A plan that reads the first row of a >1,000-row stream inside its Begin/Commit still commits its write."""
    from persist_mixins.backends.postgres import POSTGRES
    from persist_mixins.backends.postgres.commands import Begin, Commit
    from persist_mixins.binding import spec_of
    from persist_mixins.connections import async_route, sync_route
    from persist_mixins.query import QueryState
    from persist_mixins.run import collect, run_async, run_sync

    await t.run(t.Row.set_many([t.Row(id=f"r{i:04d}", n=i) for i in range(1200)]))
    spec = spec_of(t.Row)

    def plan() -> Any:
        token = yield Begin()
        first = yield from collect(POSTGRES.plans.select_pairs(spec, QueryState()), limit=1)  # a cursor, closed early
        yield from POSTGRES.plans.save(spec, t.Row(id="written", n=first[0][1].n), None)
        yield Commit(token)
        return "ok"

    if t.flavour == "sync":
        assert run_sync(sync_route(t.Row), plan()) == "ok"
    else:
        assert await run_async(async_route(t.Row), plan()) == "ok"
    assert "written" in t.rows(t.Row)
