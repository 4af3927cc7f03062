"""PostgreSQL under faults: a server that times a statement out, cannot be reached, or ends every session.

Each test runs on psycopg sync, psycopg async and aiopg against the real server.  Sessions
are told apart by an ``application_name`` of their own, so a test only ever cancels or
terminates the connections it opened itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import psycopg2
import psycopg_pool
import pytest

import persist_mixins
import persist_mixins.asyncio
from persist_mixins import BackendConnectionError, PoolTimeoutError
from persist_mixins.backends.postgres.driver_psycopg import closed_by_server

from .conftest import PG_URL

FLAVOURS = ("sync", "async", "aiopg")
#: Nothing listens there (a privileged port).
CLOSED = "postgresql://postgres@127.0.0.1:1/test"


def with_params(url: str, **params: str) -> str:
    """``url`` with query parameters added."""
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return url + ("&" if "?" in url else "?") + query


def aiopg_dsn(url: str) -> str:
    """A URL aiopg (psycopg 2) accepts."""
    return url.replace("postgresql://", "postgres://", 1)


class Faults:
    """Models of one flavour over a connection source of this test's own, and their tables."""

    def __init__(self, flavour: str, pg_conn: Any) -> None:
        self.flavour, self.conn = flavour, pg_conn
        self.app = f"pmtest_faults_{uuid.uuid4().hex[:8]}"
        self.tables: list[str] = []
        self.aiopg_pools: list[Any] = []

    async def source(self, url: str | None = None, **params: str) -> Any:
        """The ``__postgres__`` of a model: a URL (psycopg) or an aiopg pool, named by this test's app name."""
        url = with_params(url or PG_URL, application_name=self.app, **params)
        if self.flavour != "aiopg":
            return url
        import aiopg

        pool = await aiopg.create_pool(aiopg_dsn(url), minsize=0, maxsize=10)
        self.aiopg_pools.append(pool)
        return pool

    def model(self, source: Any) -> Any:
        """A dataclass ``Row(id, n)`` in a table of its own, over ``source``."""
        mixin = persist_mixins.PgRowMixin if self.flavour == "sync" else persist_mixins.asyncio.PgRowMixin
        table = f"pmtest_faults_{uuid.uuid4().hex[:8]}"
        self.tables.append(table)
        return dataclasses.make_dataclass(
            "Row", [("id", str), ("n", int, 0)], bases=(mixin,), namespace={"__table__": table, "__postgres__": source}
        )

    async def run(self, result: Any) -> Any:
        """Await the result on the asyncio flavours."""
        return result if self.flavour == "sync" else await result

    def sessions(self) -> list[int]:
        """The backend pids of this test's sessions."""
        rows = self.conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (self.app,))
        return [pid for (pid,) in rows.fetchall()]

    def terminate_all(self) -> int:
        """End every session of this test from the server's side; how many there were."""
        pids = self.sessions()
        for pid in pids:
            self.conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 5
        while self.sessions() and time.monotonic() < deadline:
            time.sleep(0.02)
        # A session leaves pg_stat_activity as its backend exits; the close reaching the client's
        # socket can lag behind that on a loaded machine (a CI run failed 1 of 20 on aiopg so).
        time.sleep(0.1)
        return len(pids)

    async def close(self) -> None:
        """Close the pools and drop the tables."""
        if self.flavour != "sync":
            await persist_mixins.asyncio.close()
        for pool in self.aiopg_pools:
            pool.close()
            await pool.wait_closed()
        for table in self.tables:
            self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')


@pytest.fixture(params=FLAVOURS)
async def faults(request: pytest.FixtureRequest, pg_conn: Any) -> AsyncIterator[Faults]:
    """The test's flavour, models and sessions, cleaned up afterwards."""
    f = Faults(request.param, pg_conn)
    yield f
    await f.close()


def query_canceled(flavour: str) -> type[Exception]:
    """The driver's own error for a statement the server cancelled."""
    return psycopg2.errors.QueryCanceled if flavour == "aiopg" else psycopg.errors.QueryCanceled


# -- statement_timeout -------------------------------------------------------------------------------


async def test_a_statement_timeout_is_the_drivers_error_not_a_cancellation(faults: Faults) -> None:
    """A write that runs past statement_timeout raises the driver's QueryCanceled on every flavour.

    aiopg turned it into asyncio.CancelledError in a task nobody cancelled: ``except Exception``
    missed it and gather() took it for a cancellation.  The sibling task and the pool are unharmed.
    """
    Row = faults.model(await faults.source(options="-c%20statement_timeout%3D200"))
    await faults.run(Row.create_table())
    await faults.run(Row("a", 1).set())
    holder = psycopg.connect(PG_URL)
    try:
        holder.execute(f"SELECT * FROM \"{Row.__table__}\" WHERE id = 'a' FOR UPDATE")  # the write will wait
        if faults.flavour == "sync":
            with pytest.raises(query_canceled("sync")):
                Row("a", 2).set()
        else:

            async def sibling() -> str:
                await asyncio.sleep(0.4)
                return "done"

            outcome = await asyncio.gather(Row("a", 2).set(), sibling(), return_exceptions=True)
            assert isinstance(outcome[0], query_canceled(faults.flavour)), repr(outcome[0])
            assert outcome[1] == "done"
            with pytest.raises(Exception) as caught:  # what matters: `except Exception` catches it
                await Row("a", 3).set()
            assert type(caught.value) is query_canceled(faults.flavour)
    finally:
        holder.rollback()
        holder.close()
    assert (await faults.run(Row.match_for_pk("a"))).n == 1
    assert (await faults.run(Row("b", 2).set())).n == 2  # the pool still works


@pytest.mark.parametrize("flavour", ["async", "aiopg"])
async def test_a_cancelled_task_is_still_cancelled(flavour: str, pg_conn: Any) -> None:
    """A task cancelled while its statement waits ends cancelled (not turned into a server error),
    and the pool is usable afterwards.

    psycopg 3 also cancels the statement on the server; aiopg only closes the connection, and
    the server finishes the statement (docs/postgres.md, "aiopg").
    """
    faults = Faults(flavour, pg_conn)
    try:
        Row = faults.model(await faults.source())
        await Row.create_table()
        await Row("a", 1).set()
        holder = psycopg.connect(PG_URL)
        try:
            holder.execute(f"SELECT * FROM \"{Row.__table__}\" WHERE id = 'a' FOR UPDATE")
            task = asyncio.ensure_future(Row("a", 2).set())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert task.cancelled()
        finally:
            holder.rollback()
            holder.close()
        if flavour == "async":
            assert (await Row.match_for_pk("a")).n == 1
        assert (await Row("b", 3).set()).n == 3
    finally:
        await faults.close()


# -- an unreachable server ---------------------------------------------------------------------------


async def test_an_unreachable_server_fails_at_once_with_its_answer(faults: Faults) -> None:
    """Nothing listens: the first operation fails within about a second (not the pool's 10 s wait),
    with the refusal in the message and the driver's connection error as the cause."""
    Row = faults.model(CLOSED if faults.flavour != "aiopg" else await faults.source(CLOSED))
    for _ in range(2):  # the second attempt too, while the pool keeps retrying in the background
        started = time.monotonic()
        with pytest.raises(BackendConnectionError, match=r"(?i)refused") as caught:
            await faults.run(Row.create_table())
        assert time.monotonic() - started < 3.0
        assert "127.0.0.1:1" in str(caught.value)
        assert isinstance(caught.value.__cause__, (psycopg.OperationalError, psycopg2.OperationalError))


async def test_a_wrong_database_fails_at_once_with_the_servers_answer(faults: Faults) -> None:
    """The server answers but will never give a connection (no such database): its answer, at once."""
    missing = PG_URL.rsplit("/", 1)[0] + "/pmtest_no_such_database"
    Row = faults.model(await faults.source(missing))
    started = time.monotonic()
    with pytest.raises(BackendConnectionError, match="pmtest_no_such_database"):
        await faults.run(Row.count())
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_busy_pool_waits_for_a_connection(flavour: str, pg_conn: Any) -> None:
    """A pool whose connections are all in use makes the next operation wait (past the first
    half second) until one comes free, whether the library or the application holds it."""
    held = 1.2
    if flavour == "sync":
        pool: Any = psycopg_pool.ConnectionPool(PG_URL, min_size=1, max_size=1, timeout=5, open=True)
    else:
        pool = psycopg_pool.AsyncConnectionPool(PG_URL, min_size=1, max_size=1, timeout=5, open=False)
        await pool.open()
    faults = Faults(flavour, pg_conn)
    Row = faults.model(pool)
    try:
        await faults.run(Row.create_table())
        if flavour == "sync":
            # The library holds the only connection (a transaction in another thread).
            entered = threading.Event()

            def hold() -> None:
                with Row.transaction():
                    Row("held", 1).set()
                    entered.set()
                    time.sleep(held)

            thread = threading.Thread(target=hold)
            thread.start()
            entered.wait()
            started = time.monotonic()
            assert Row("waited", 2).set().n == 2
            waited = time.monotonic() - started
            thread.join()
            # The application holds it, behind the library's back.
            conn = pool.getconn()
            timer = threading.Timer(held, pool.putconn, (conn,))
            timer.start()
            started = time.monotonic()
            assert Row.count() == 2
            waited_outside = time.monotonic() - started
            timer.join()
        else:
            entered_async = asyncio.Event()

            async def ahold() -> None:
                async with Row.transaction():
                    await Row("held", 1).set()
                    entered_async.set()
                    await asyncio.sleep(held)

            task = asyncio.ensure_future(ahold())
            await entered_async.wait()
            started = time.monotonic()
            assert (await Row("waited", 2).set()).n == 2
            waited = time.monotonic() - started
            await task
            conn = await pool.getconn()
            asyncio.get_running_loop().call_later(held, lambda: asyncio.ensure_future(pool.putconn(conn)))
            started = time.monotonic()
            assert await Row.count() == 2
            waited_outside = time.monotonic() - started
        assert waited > 0.8 and waited_outside > 0.8  # it waited past the first wait, and then got one
    finally:
        await faults.close()
        await faults.run(pool.close())


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_pool_busy_past_its_wait_says_so(flavour: str, pg_conn: Any) -> None:
    """No connection comes free within the pool's wait: PoolTimeoutError saying the pool was busy, not
    BackendConnectionError (the server is up)."""
    if flavour == "sync":
        pool: Any = psycopg_pool.ConnectionPool(PG_URL, min_size=1, max_size=1, timeout=1, open=True)
        conn = pool.getconn()
    elif flavour == "aiopg":
        import aiopg

        pool = await aiopg.create_pool(aiopg_dsn(PG_URL), minsize=1, maxsize=1, timeout=1)
        conn = await pool.acquire()
    else:
        pool = psycopg_pool.AsyncConnectionPool(PG_URL, min_size=1, max_size=1, timeout=1, open=False)
        await pool.open()
        conn = await pool.getconn()
    faults = Faults(flavour, pg_conn)
    Row = faults.model(pool)
    try:
        with pytest.raises(PoolTimeoutError, match="came free within the pool's wait") as caught:
            await faults.run(Row.count())
        assert not isinstance(caught.value, BackendConnectionError)
    finally:
        await faults.close()
        if flavour == "aiopg":
            await pool.release(conn)
            pool.close()
            await pool.wait_closed()
        else:
            await faults.run(pool.putconn(conn))
            await faults.run(pool.close())


# -- sessions the server ended ----------------------------------------------------------------------


async def test_connections_the_server_ended_are_replaced_not_failed(faults: Faults) -> None:
    """After the server terminated every pooled connection, the next operations all succeed:
    a connection the server closed is noticed when it is handed out, and replaced."""
    Row = faults.model(await faults.source())
    await faults.run(Row.create_table())
    await faults.run(Row("a", 1).set())
    if faults.flavour == "sync":
        barrier = threading.Barrier(10)

        def hold() -> None:
            with Row.transaction():  # ten connections checked out at once: the pool opens ten
                Row.count()
                barrier.wait()

        threads = [threading.Thread(target=hold) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:

        async def ahold() -> None:
            async with Row.transaction():
                await Row.count()
                await asyncio.sleep(0.2)

        await asyncio.gather(*(ahold() for _ in range(10)))
    time.sleep(0.2)  # every connection back in the pool
    assert faults.terminate_all() == 10
    failed = []
    for i in range(20):
        try:
            result = await faults.run(Row.match_for_pk("a") if i % 2 else Row(f"w{i}", i).set())
            assert result.n == (1 if i % 2 else i)
        except Exception as exc:  # noqa: BLE001 - counted
            failed.append(exc)
    assert failed == [], [repr(e) + " <- " + repr(e.__cause__) for e in failed]
    assert await faults.run(Row.count()) == 11


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_write_whose_connection_dies_is_not_retried(flavour: str, pg_conn: Any) -> None:
    """A connection that dies while a write runs fails that write (BackendConnectionError): never resent."""
    faults = Faults(flavour, pg_conn)
    try:
        Row = faults.model(await faults.source())
        await faults.run(Row.create_table())
        await faults.run(Row("a", 1).set())
        holder = psycopg.connect(PG_URL)
        holder.execute(f"SELECT * FROM \"{Row.__table__}\" WHERE id = 'a' FOR UPDATE")

        def kill_the_waiting_write() -> None:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                rows = pg_conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
                    (faults.app,),
                ).fetchall()
                if rows:
                    pg_conn.execute("SELECT pg_terminate_backend(%s)", (rows[0][0],))
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_the_waiting_write)
        killer.start()
        try:
            with pytest.raises(BackendConnectionError):
                await faults.run(Row("a", 2).set())
        finally:
            killer.join()
            holder.rollback()
            holder.close()
        assert (await faults.run(Row.match_for_pk("a"))).n == 1
        statements = pg_conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            (faults.app,),
        ).fetchone()
        assert statements == (0,)  # nothing was sent again
    finally:
        await faults.close()


def test_a_live_connection_with_pending_notifications_is_kept(pg_conn: Any) -> None:
    """The hand-out check reads what an idle connection received without losing it: a LISTENing
    connection with a notification waiting is alive, and the notification still reaches its handler."""
    channel = f"pmtest_{uuid.uuid4().hex[:8]}"
    conn = psycopg.connect(PG_URL, autocommit=True)
    try:
        got: list[str] = []
        conn.add_notify_handler(lambda n: got.append(n.payload))
        conn.execute(f"LISTEN {channel}")
        pg_conn.execute(f"NOTIFY {channel}, 'hello'")
        time.sleep(0.1)
        assert closed_by_server(conn) is False
        conn.execute("SELECT 1")
        assert got == ["hello"]
        pg_conn.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        time.sleep(0.1)
        assert closed_by_server(conn) is True
    finally:
        conn.close()


# -- connections kept between operations (pools built from URLs) -----------------------------------


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_burst_beyond_the_pool_size_never_starves(
    flavour: str, pg_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many more concurrent operations than connections (a pool built from a URL keeps connections
    between operations): every operation gets one, none waits out the pool's wait."""
    from persist_mixins.backends.postgres import driver_psycopg

    monkeypatch.setattr(driver_psycopg, "POOL_TIMEOUT", 3.0)  # a starved operation fails fast
    faults = Faults(flavour, pg_conn)
    try:
        Row = faults.model(await faults.source())
        await faults.run(Row.create_table())
        workers, rounds = 30, 10
        if flavour == "sync":
            errors: list[BaseException] = []

            def work(w: int) -> None:
                try:
                    for r in range(rounds):
                        Row(f"{w}-{r}", r).set()
                        assert Row.match_for_pk(f"{w}-{r}").n == r
                except BaseException as exc:  # noqa: BLE001 - collected
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
        else:

            async def awork(w: int) -> None:
                for r in range(rounds):
                    await Row(f"{w}-{r}", r).set()
                    assert (await Row.match_for_pk(f"{w}-{r}")).n == r

            await asyncio.gather(*(awork(w) for w in range(workers)))
        assert await faults.run(Row.count()) == workers * rounds
        assert len(faults.sessions()) <= 10
    finally:
        await faults.close()


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_close_ends_the_connections_kept_between_operations(flavour: str, pg_conn: Any) -> None:
    """close() closes every connection of a pool built from a URL, those kept for the next operation too."""
    faults = Faults(flavour, pg_conn)
    try:
        Row = faults.model(await faults.source())
        await faults.run(Row.create_table())
        if flavour == "sync":
            barrier = threading.Barrier(5)

            def hold() -> None:
                with Row.transaction():
                    Row.count()
                    barrier.wait()

            threads = [threading.Thread(target=hold) for _ in range(5)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert len(faults.sessions()) == 5  # kept, idle
            persist_mixins.close()
        else:

            async def ahold() -> None:
                async with Row.transaction():
                    await Row.count()
                    await asyncio.sleep(0.1)

            await asyncio.gather(*(ahold() for _ in range(5)))
            assert len(faults.sessions()) == 5
            await persist_mixins.asyncio.close()
        deadline = time.monotonic() + 5
        while faults.sessions() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert faults.sessions() == []
        assert await faults.run(Row.count()) == 0  # a new pool, on the next operation
    finally:
        await faults.close()


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_connection_left_in_a_transaction_is_not_kept(flavour: str, pg_conn: Any) -> None:
    """A connection released while still inside a transaction goes back to the pool (which rolls it back),
    never to the next operation: no statement of the next operation runs in someone else's transaction."""
    from persist_mixins.backends.postgres.driver_psycopg import AsyncPgDriver, PgDriver
    from persist_mixins.connections import async_driver, sync_driver

    faults = Faults(flavour, pg_conn)
    try:
        Row = faults.model(await faults.source())
        await faults.run(Row.create_table())
        if flavour == "sync":
            driver: Any = sync_driver(Row)
            assert isinstance(driver, PgDriver)
            conn = driver.acquire()
            conn.execute(f"INSERT INTO \"{Row.__table__}\" (id, n) VALUES ('ghost', 1)")  # autocommit: written
            conn.execute("BEGIN")
            conn.execute(f"INSERT INTO \"{Row.__table__}\" (id, n) VALUES ('open', 1)")
            driver.release(conn)
        else:
            driver = async_driver(Row)
            assert isinstance(driver, AsyncPgDriver)
            conn = await driver.acquire()
            await conn.execute(f"INSERT INTO \"{Row.__table__}\" (id, n) VALUES ('ghost', 1)")
            await conn.execute("BEGIN")
            await conn.execute(f"INSERT INTO \"{Row.__table__}\" (id, n) VALUES ('open', 1)")
            await driver.release(conn)
        assert await faults.run(Row("next", 2).set()) is not None
        ids = sorted(r[0] for r in pg_conn.execute(f'SELECT id FROM "{Row.__table__}"').fetchall())
        assert ids == ["ghost", "next"]  # the open transaction was rolled back, "next" committed
    finally:
        faults.terminate_all()  # were a transaction left open, dropping the table would wait for it
        await faults.close()


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_long_stream_and_writes_interleave_on_one_connection(flavour: str, pg_conn: Any) -> None:
    """Inside a transaction block, a stream read in batches (a server-side cursor) and writes in the
    loop body share one connection (and the library's one cursor on it): every row arrives once, intact."""
    faults = Faults(flavour, pg_conn)
    try:
        Row = faults.model(await faults.source())
        await faults.run(Row.create_table())
        total = 2500  # more than one FETCH batch
        await faults.run(Row.set_many([Row(f"r{i:05d}", i) for i in range(total)]))
        seen: list[tuple[str, int]] = []
        if flavour == "sync":
            with Row.transaction():
                for obj in Row.filter(n__gte=0).order_by("id"):
                    seen.append((obj.id, obj.n))
                    if obj.n % 100 == 0:
                        Row(f"w{obj.n:05d}", -1).set()
        else:
            async with Row.transaction():
                async for obj in Row.filter(n__gte=0).order_by("id"):
                    seen.append((obj.id, obj.n))
                    if obj.n % 100 == 0:
                        await Row(f"w{obj.n:05d}", -1).set()
        assert seen == [(f"r{i:05d}", i) for i in range(total)]
        assert await faults.run(Row.count(n=-1)) == total // 100
    finally:
        await faults.close()
