"""RethinkMixin against a RethinkDB-protocol server (reqlite, or the server of PERSIST_TEST_RETHINKDB_URL).

What the behaviour suite does not cover: the pool, cursors closed early, changefeeds,
connection faults and server restarts, the messages of a missing table or server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import persist_mixins
import persist_mixins.asyncio
from persist_mixins import (
    BackendConnectionError,
    ConfigurationError,
    InvalidLookup,
    PoolTimeoutError,
    RethinkMixin,
    ValidationError,
)
from persist_mixins.backends.rethinkdb.driver_rethinkdb import parse_url
from persist_mixins.binding import spec_of
from persist_mixins.connections import async_driver, sync_driver

from . import reqlite
from .conftest import pg_table_name


def flavour_base(flavour: str) -> type:
    return persist_mixins.RethinkMixin if flavour == "sync" else persist_mixins.asyncio.RethinkMixin


def make(flavour: str, table: str, **options: Any) -> type:
    """A dataclass model on RethinkDB with an indexed int."""

    @dataclasses.dataclass
    class Scoop(flavour_base(flavour)):  # type: ignore[misc]
        __table__ = table
        __indexes__ = ("n",)
        id: str | None = None
        n: int = 0
        flavour: str | None = None

    for name, value in options.items():
        setattr(Scoop, name, value)
    return Scoop


@pytest.fixture
def table(rethink_conn: Any) -> Iterator[str]:
    """A table name for this test, dropped afterwards."""
    name = pg_table_name(f"pmtest_{uuid.uuid4().hex[:8]}")
    yield name
    r = rethink_conn.r
    present = r.table_list().run(rethink_conn)
    for made in (name, name + "__persist"):  # the table and its bookkeeping table
        if made in present:
            r.table_drop(made).run(rethink_conn)


@pytest.fixture
def scoop(table: str) -> Iterator[type]:
    model = make("sync", table)
    model.create_table()
    yield model
    persist_mixins.close()


@pytest.fixture
async def ascoop(table: str) -> AsyncIterator[type]:
    model = make("async", table)
    await model.create_table()
    yield model
    await persist_mixins.asyncio.close()


# -- tables and messages ---------------------------------------------------------------------
def test_create_table_is_idempotent_and_builds_the_indexes(scoop: type, rethink_conn: Any, table: str) -> None:
    """create_table() twice changes nothing; the table has the model's index and the expiry index."""
    assert scoop.create_table() == []
    indexes = rethink_conn.r.table(table).index_list().run(rethink_conn)
    assert sorted(indexes) == ["_expires_at", "n"]
    scoop.drop_table()
    scoop.drop_table()
    tables = rethink_conn.r.table_list().run(rethink_conn)
    assert table not in tables and table + "__persist" not in tables


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_create_table_adds_what_the_model_gained_and_says_so(flavour: str, table: str) -> None:
    """A new table is reported with its indexes; a model that gained an index gets just that index, reported."""
    first = make(flavour, table)
    made = first.create_table() if flavour == "sync" else await first.create_table()
    assert made == [f'create table "{table}"', f'create table "{table}__persist"', 'create index "n"',
                    'create index "_expires_at"']  # fmt: skip
    grown = make(flavour, table, __indexes__=("n", "flavour"))
    made = grown.create_table() if flavour == "sync" else await grown.create_table()
    assert made == ['create index "flavour"']
    if flavour == "sync":
        persist_mixins.close()
    else:
        await persist_mixins.asyncio.close()


def test_a_missing_table_says_to_create_it(table: str) -> None:
    """Writing to a table that does not exist names the fix, and keeps the server's words."""
    model = make("sync", table)
    with pytest.raises(ConfigurationError, match=r"create_table\(\)") as caught:
        model(id="a").set()
    assert table in str(caught.value)
    persist_mixins.close()


def test_an_unreachable_server_is_named_within_a_second(table: str) -> None:
    """A closed port gives BackendConnectionError naming host and port, fast, not the driver's AttributeError."""
    model = make("sync", table, __rethinkdb__="rethinkdb://127.0.0.1:1/test")
    started = time.monotonic()
    with pytest.raises(BackendConnectionError, match=r"127\.0\.0\.1:1\b"):
        model.match_for_pk("a")
    assert time.monotonic() - started < 2
    persist_mixins.close()


async def test_an_unreachable_server_is_named_asyncio(table: str) -> None:
    """The same for the asyncio flavour."""
    model = make("async", table, __rethinkdb__="rethinkdb://127.0.0.1:1/test")
    with pytest.raises(BackendConnectionError, match=r"127\.0\.0\.1:1\b"):
        await model.count()
    await persist_mixins.asyncio.close()


def test_bad_urls_and_options_are_refused() -> None:
    """An unknown URL parameter or a non-number is an error; __version_field__ is an option RethinkMixin reads."""
    with pytest.raises(ConfigurationError, match="max_conections"):
        parse_url("rethinkdb://localhost/db?max_conections=3")
    with pytest.raises(ConfigurationError, match="pool_timeout"):
        parse_url("rethinkdb://localhost/db?pool_timeout=soon")
    assert parse_url("rethinkdb://u:p%40ss@h:1234/shop")["password"] == "p@ss"

    @dataclasses.dataclass
    class Versioned(RethinkMixin):
        __version_field__ = "v"
        id: str = ""
        v: int = 0

    assert spec_of(Versioned).options.version_field == "v"


def test_bad_lookups_raise_before_any_connection(table: str) -> None:
    """An unknown field raises InvalidLookup even when no server is reachable."""
    model = make("sync", table, __rethinkdb__="rethinkdb://127.0.0.1:1/test")
    with pytest.raises(InvalidLookup):
        model.filter(nope=1)
    with pytest.raises(InvalidLookup):
        model.changes(n__near=3)


# -- values ----------------------------------------------------------------------------------
def test_times_keep_milliseconds_and_their_offset(table: str) -> None:
    """RethinkDB keeps times to the millisecond (rounded as its server does) and in their own offset."""

    @dataclasses.dataclass
    class Event(RethinkMixin):
        __table__ = table
        id: str = ""
        at: dt.datetime | None = None

    Event.create_table()
    zone = dt.timezone(dt.timedelta(hours=-5))
    Event("e", dt.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=zone)).set()
    Event("naive", dt.datetime(2030, 1, 2, 3, 4, 5)).set()
    loaded = Event.match_for_pk("e").at
    assert loaded == dt.datetime(2030, 1, 2, 3, 4, 5, 679000, tzinfo=zone) and loaded.utcoffset() == zone.utcoffset(
        None
    )
    assert Event.match_for_pk("naive").at == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    persist_mixins.close()


def test_refused_values_write_nothing(scoop: type) -> None:
    """An int beyond 2**53 is refused with ValidationError; nothing is stored."""
    with pytest.raises(ValidationError, match="2\\*\\*53"):
        scoop(id="big", n=2**60).set()
    assert scoop.count() == 0


# -- the pool --------------------------------------------------------------------------------
async def test_a_burst_waits_for_the_bounded_pool(table: str, rethink_url: str) -> None:
    """200 concurrent operations on a pool of 3 connections all succeed; no more than 3 are opened."""
    model = make("async", table, __rethinkdb__=rethink_url + "?max_connections=3")
    await model.create_table()
    await asyncio.gather(*(model(id=str(i), n=i).set() for i in range(200)))
    assert await model.count() == 200
    pool = async_driver(model).pool  # type: ignore[attr-defined]
    assert pool.slots.count <= 3
    await persist_mixins.asyncio.close()


def test_threads_share_the_bounded_pool(table: str, rethink_url: str) -> None:
    """Eight threads writing at once through a pool of 2 all succeed."""
    model = make("sync", table, __rethinkdb__=rethink_url + "?max_connections=2")
    model.create_table()
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(20):
                model(id=f"{k}-{i}", n=i).set()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert model.count() == 160
    assert sync_driver(model).pool.slots.count <= 2  # type: ignore[attr-defined]
    persist_mixins.close()


async def test_an_exhausted_pool_says_so_after_its_timeout(table: str, rethink_url: str) -> None:
    """When every connection stays busy, a caller waits pool_timeout and gets PoolTimeoutError, not a server error."""
    model = make("async", table, __rethinkdb__=rethink_url + "?max_connections=1&pool_timeout=0.3")
    await model.create_table()
    async with model.changes() as feed:  # a changefeed holds the only connection
        task = asyncio.ensure_future(feed.__anext__())
        await asyncio.sleep(0.2)
        with pytest.raises(PoolTimeoutError, match="1 connections"):
            await model.count()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await persist_mixins.asyncio.close()


def test_a_loop_that_breaks_early_stops_its_cursor(scoop: type) -> None:
    """Breaking out of a large query closes its cursor on the server and returns the connection."""
    scoop.set_many([scoop(id=f"s{i:05d}", n=i) for i in range(2500)])
    for count, _ in enumerate(scoop.all()):
        if count == 10:
            break
    assert scoop.count() == 2500  # the same connection, which reads the server's answers to the STOP
    pool = sync_driver(scoop).pool  # type: ignore[attr-defined]
    (conn,) = pool.slots.idle
    assert conn._instance._cursor_cache == {}  # no cursor left open on the connection


async def test_async_for_streams_and_stops_early(ascoop: type) -> None:
    """async for streams a large query; leaving the loop early gives the connection back."""
    await ascoop.set_many([ascoop(id=f"s{i:05d}", n=i) for i in range(2500)])
    seen = 0
    stream = ascoop.filter(n__gte=0).__aiter__()
    async for _ in stream:
        seen += 1
        if seen == 5:
            break
    await stream.aclose()
    pool = async_driver(ascoop).pool  # type: ignore[attr-defined]
    assert len(pool.slots.idle) == pool.slots.count
    assert len(await ascoop.filter(n__gte=0)) == 2500


def test_a_user_connection_is_used_as_given(table: str, rethink_conn: Any) -> None:
    """__rethinkdb__ may be a connection the user opened; the library uses it and never closes it."""
    model = make("sync", table, __rethinkdb__=rethink_conn)
    model.create_table()
    model(id="a", n=1).set()
    assert model.match_for_pk("a").n == 1
    persist_mixins.close()
    assert rethink_conn.is_open()


# -- changefeeds -----------------------------------------------------------------------------
async def test_changes_report_writes_as_pairs(ascoop: type) -> None:
    """A changefeed yields (None, new), (old, new) and (old, None) for insert, update and delete, filtered."""
    await ascoop(id="old", n=1).set()
    async with ascoop.changes(n__gte=10, include_initial=True) as feed:
        await ascoop(id="big", n=12).set()
        await ascoop(id="small", n=1).set()  # does not match: not reported
        big = await ascoop.match_for_pk("big")
        big.n = 13
        await big.set()
        await big.delete()
        pairs = []
        async for old, new in feed:
            pairs.append((old and (old.id, old.n), new and (new.id, new.n)))
            if len(pairs) == 3:
                break
    assert pairs == [(None, ("big", 12)), (("big", 12), ("big", 13)), (("big", 13), None)]


def test_changes_sync_in_a_thread(scoop: type) -> None:
    """The sync feed blocks between changes; closing it stops the feed and frees its connection."""
    received: list[Any] = []
    feed = scoop.changes()
    ready = threading.Event()

    def follow() -> None:
        ready.set()
        for pair in feed:
            received.append(pair)
            if len(received) == 2:
                break

    reader = threading.Thread(target=follow)
    reader.start()
    ready.wait()
    deadline = time.monotonic() + 5
    while len(received) < 2 and time.monotonic() < deadline:
        scoop(id=uuid.uuid4().hex, n=1).set()
        time.sleep(0.1)
    reader.join(5)
    feed.close()
    assert len(received) == 2 and all(old is None and new.n == 1 for old, new in received)


async def test_expired_documents_are_not_reported_as_live(ascoop: type) -> None:
    """A changefeed's include_initial skips documents that have expired."""
    await ascoop(id="gone", n=1).set(expire=0.05)
    await ascoop(id="here", n=1).set()
    await asyncio.sleep(0.1)
    async with ascoop.changes(include_initial=True) as feed:
        old, new = await asyncio.wait_for(feed.__anext__(), 5)
    assert old is None and new.id == "here"


# -- restarts --------------------------------------------------------------------------------
@pytest.fixture
def own_reqlite() -> Iterator[Any]:
    """A reqlite of this test's own (it is stopped and started again), or a skip without reqlite."""
    if not reqlite.available():
        pytest.skip("needs reqlite, which this test restarts")
    port = reqlite.free_port()

    class Server:
        url = f"rethinkdb://127.0.0.1:{port}/restart"
        proc: subprocess.Popen[bytes] | None = None

        def start(self) -> None:
            self.proc = reqlite.start(port)

        def stop(self) -> None:
            if self.proc is not None:
                self.proc.kill()
                self.proc.wait()

    server = Server()
    server.start()
    yield server
    server.stop()


def test_operations_succeed_after_a_server_restart(own_reqlite: Any) -> None:
    """After the server restarts, a pool of dead connections recovers: at most one operation fails."""
    model = make("sync", "restarted", __rethinkdb__=own_reqlite.url + "?max_connections=4")
    model.create_table()
    threads = [threading.Thread(target=lambda: model.count()) for _ in range(4)]  # fill the pool
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    own_reqlite.stop()
    own_reqlite.start()  # reqlite keeps nothing: the table is gone with it
    failures = 0
    for _ in range(5):
        try:
            model.create_table()
        except BackendConnectionError:
            failures += 1
    assert failures <= 1
    model(id="a", n=1).set()
    assert model.count() == 1
    persist_mixins.close()


async def test_a_changefeed_resumes_after_a_restart(
    own_reqlite: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changefeed whose connection was lost reconnects with backoff, says so in the log, and resumes."""
    from persist_mixins.backends.rethinkdb import mixins

    monkeypatch.setattr(mixins, "BACKOFF", (1.0, 1.0))  # room to make the table again: reqlite forgets it
    model = make("async", "restarted", __rethinkdb__=own_reqlite.url)
    await model.create_table()
    caplog.set_level(logging.WARNING, logger="persist_mixins")
    async with model.changes() as feed:
        waiting = asyncio.ensure_future(feed.__anext__())
        await asyncio.sleep(0.2)
        own_reqlite.stop()
        await asyncio.sleep(0.2)
        own_reqlite.start()
        await model.create_table()
        deadline = time.monotonic() + 10
        while not waiting.done() and time.monotonic() < deadline:
            await model(id=uuid.uuid4().hex, n=1).set()
            await asyncio.sleep(0.2)
        old, new = await asyncio.wait_for(waiting, 1)
    assert old is None and new.n == 1
    assert "reconnecting" in caplog.text
    await persist_mixins.asyncio.close()


def test_errors_name_their_cause() -> None:
    """The driver's errors become ours: refused before running is retryable, a lost link is a connection error."""
    from rethinkdb.errors import ReqlDriverError, ReqlOpFailedError, ReqlQueryLogicError

    from persist_mixins import RetryableError
    from persist_mixins.backends.rethinkdb.driver_rethinkdb import RethinkDriver, _Wire

    driver = RethinkDriver(object(), make("sync", "t"), "rethinkdb://db:28015/shop", True)
    term = _Wire([15, ["t"]])  # the query the error names, as the driver prints it
    cases = [
        (ReqlOpFailedError("primary replica for shard not available", term, []), RetryableError, "did nothing"),
        (ReqlOpFailedError("Table `shop.t` does not exist.", term, []), ConfigurationError, r"create_table\(\)"),
        (ReqlDriverError("Connection is closed.", term, []), BackendConnectionError, "db:28015"),
        (ReqlQueryLogicError("Expected type NUMBER", term, []), ReqlQueryLogicError, "Expected type"),
    ]
    for raised, expected, message in cases:
        with pytest.raises(expected, match=message) as caught, driver._translated():
            raise raised
        assert caught.value is raised or caught.value.__cause__ is raised


def test_update_replaces_a_dict_field_whole(table: str) -> None:
    """Query update() of a dict or nested-model field replaces it, as on the other backends (ReQL would merge)."""

    @dataclasses.dataclass
    class Tagged(RethinkMixin):
        __table__ = table
        id: str = ""
        extra: dict[str, Any] | None = None

    Tagged.create_table()
    Tagged("t", {"a": 1, "b": 2}).set()
    assert Tagged.filter(id="t").update(extra={"c": 3}) == 1
    assert Tagged.match_for_pk("t").extra == {"c": 3}
    persist_mixins.close()
