"""What is particular to PgRowMixin: typed columns, NUL bytes, purging, versions, unique indexes, connections.

The behaviour every backend shares is in ``tests/behaviour/``; these tests run on
PostgreSQL alone (``pg_api``: every model library on psycopg sync and async, and aiopg).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest

import persist_mixins
from persist_mixins import ConfigurationError, ConflictError, InvalidLookup, ValidationError

from .conftest import PG_URL, Api
from .models import COUNTER, new, sample


async def test_naive_datetimes_are_taken_as_utc(pg_api: Api) -> None:
    """Datetimes come back aware; a naive one is taken as UTC, on writes and in lookups alike."""
    api = pg_api
    obj = await api.run(sample(api).set())
    loaded = await api.run(api.Model.match_for_pk("vanilla"))
    assert loaded.best_before == obj.best_before
    naive = await api.run(sample(api, id="naive", best_before=dt.datetime(2030, 1, 2, 3, 4, 5)).set())
    again = await api.run(api.Model.match_for_pk(naive.id))
    assert again.best_before == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert await api.ids(api.Model.filter(best_before=dt.datetime(2030, 1, 2, 3, 4, 5))) == ["naive"]


async def test_one_column_per_field_with_mapped_types(pg_api: Api) -> None:
    """create_table() makes one typed column per field plus the expiry column, and is idempotent."""
    api = pg_api
    await api.run(api.Model.create_table())  # already created by the fixture: a no-op
    rows = api.conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s", (api.Model.__table__,)
    ).fetchall()
    types = dict(rows)
    assert types["amount_kg"] == "bigint"
    assert types["best_before"] == "timestamp with time zone"
    assert types["price"] == "numeric"
    assert types["ref"] == "uuid"
    assert types["tags"] == types["grommet"] == types["extra"] == "jsonb"
    assert types["_expires_at"] == "timestamp with time zone"
    await api.run(sample(api).set())
    stored = api.conn.execute(f'SELECT amount_kg, tags, grommet FROM "{api.Model.__table__}"').fetchone()
    assert stored == (42, ["sweet", "white"], {"weight": 7})


async def test_nul_byte_is_refused_naming_the_field(pg_api: Api) -> None:
    """A NUL byte in text raises ValidationError naming the field, and writes nothing."""
    api = pg_api
    with pytest.raises(ValidationError, match="flavour"):
        await api.run(sample(api, id="nul", flavour="a\x00b").set())
    with pytest.raises(ValidationError, match="tags"):
        await api.run(sample(api, id="nul", tags=["a\x00b"]).set())
    assert await api.run(api.Model.count()) == 0
    with pytest.raises(InvalidLookup, match="NUL"):
        await api.run(api.Model.count(flavour="a\x00b"))


async def test_expired_rows_are_purged_and_counted(pg_api: Api) -> None:
    """Expired rows stay in the table, never read, until purge_expired() deletes and counts them."""
    api = pg_api
    await api.run(sample(api, id="keep").set())
    gone = await api.run(sample(api, id="gone").set(expire=0.2))
    await asyncio.sleep(0.35)
    assert await api.run(gone.delete()) is False
    assert api.raw_count(api.Model) == 2
    assert await api.run(api.Model.purge_expired()) == 1
    assert await api.run(api.Model.purge_expired()) == 0
    assert api.conn.execute(f'SELECT count(*) FROM "{api.Model.__table__}"').fetchone() == (1,)
    assert await api.run(gone.set()) is gone  # a purged pk can be written again
    assert await api.run(gone.ttl()) is None


async def test_optimistic_locking_refuses_stale_writes(pg_api: Api) -> None:
    """With __version_field__, set() counts versions and a stale copy gets ConflictError, writing nothing."""
    api = pg_api
    Seq = api.define(api.kind, COUNTER, "_seq", name="Seq", defaults={"name": ""}, __version_field__="version")

    def seq(**kw: Any) -> Any:
        return new(Seq, **kw)

    first = await api.run(seq(name="a").set())
    assert first.version == 1
    stale = await api.run(Seq.match_for_pk(first.id))
    first.name = "b"
    await api.run(first.set())
    assert first.version == 2
    stale.name = "c"
    with pytest.raises(ConflictError, match="refresh"):
        await api.run(stale.set())
    assert (await api.run(Seq.match_for_pk(first.id))).name == "b"
    await api.run(stale.refresh())
    stale.name = "c"
    assert (await api.run(stale.set())).version == 3
    clash = seq(id=first.id, name="new object, same pk")
    with pytest.raises(ConflictError):
        await api.run(clash.set())
    assert await api.run(Seq.all().update(name="all")) == 1
    assert (await api.run(Seq.match_for_pk(first.id))).version == 4


async def test_unique_together_clash_is_a_conflict(pg_api: Api) -> None:
    """A unique index other than the pk (__unique_together__ with an id field) raises ConflictError."""
    api = pg_api
    other = api.variant(":ut", __unique_together__=("flavour", "amount_kg"))
    await api.run(other.new(id="a", flavour="mint", amount_kg=1).set())
    with pytest.raises(ConflictError, match="unique"):
        await api.run(other.new(id="b", flavour="mint", amount_kg=1).set())
    filled = await api.run(other.new(flavour="choc", amount_kg=2).set())
    assert filled.id == "choc.2"
    assert await api.run(other.Model.count()) == 2


async def test_set_many_upserts_and_is_atomic(pg_api: Api) -> None:
    """set_many() inserts and updates in one go (COPY + upsert); a clash in the batch writes none of it."""
    api = pg_api
    await api.run(api.Model.set_many([sample(api, id=f"o{i}", amount_kg=i) for i in range(300)]))
    await api.run(api.Model.set_many([sample(api, id=f"o{i}", amount_kg=-i) for i in range(0, 300, 2)]))
    assert await api.run(api.Model.count(amount_kg__lt=0)) == 149  # o0 is 0 either way
    assert (await api.run(api.Model.match_for_pk("o4"))).amount_kg == -4
    other = api.variant(":ut", __unique_together__=("flavour", "amount_kg"))
    await api.run(other.new(id="x", flavour="mint", amount_kg=1).set())
    with pytest.raises(ConflictError):
        await api.run(
            other.Model.set_many(
                [other.new(id="y", flavour="a", amount_kg=1), other.new(id="z", flavour="mint", amount_kg=1)]
            )
        )
    assert await api.ids(other.Model.all()) == ["x"]


def test_wrong_connection_flavour_is_a_configuration_error(pg_conn: Any) -> None:
    """A sync model given an async pool (or anything else) fails with a ConfigurationError naming the class."""

    @dataclasses.dataclass
    class Wrong(persist_mixins.PgRowMixin):
        __table__ = "pmtest_wrong"
        __postgres__ = object()
        id: str = ""

    with pytest.raises(ConfigurationError, match="Wrong"):
        Wrong.count()


def test_bad_version_field_fails_at_class_creation() -> None:
    """__version_field__ must name a field of the model."""
    with pytest.raises(ConfigurationError, match="__version_field__"):

        @dataclasses.dataclass
        class Bad(persist_mixins.PgRowMixin):
            __version_field__ = "nope"
            id: str = ""


def test_connection_given_as_class_option_is_used(pg_conn: Any) -> None:
    """A ready psycopg connection or pool given as __postgres__ is used as is, and left open."""
    import psycopg
    import psycopg_pool

    conn = psycopg.connect(PG_URL, autocommit=True)
    pool = psycopg_pool.ConnectionPool(PG_URL, min_size=1, max_size=2, open=True, kwargs={"autocommit": True})
    try:
        for source in (conn, pool):

            @dataclasses.dataclass
            class Given(persist_mixins.PgRowMixin):
                __table__ = f"pmtest_given_{uuid.uuid4().hex[:6]}"
                __postgres__ = source
                id: str = ""

            Given.create_table()
            try:
                Given("a").set()
                assert Given.match(pk="a").id == "a"
            finally:
                Given.drop_table()
        persist_mixins.close()
        assert not conn.closed and not pool.closed
    finally:
        conn.close()
        pool.close()


def test_non_autocommit_connection_commits_each_operation(pg_conn: Any) -> None:
    """On a user's non-autocommit connection, each operation is committed (visible to others)."""
    import psycopg

    conn = psycopg.connect(PG_URL)

    @dataclasses.dataclass
    class Manual(persist_mixins.PgRowMixin):
        __table__ = f"pmtest_manual_{uuid.uuid4().hex[:6]}"
        __postgres__ = conn
        id: str = ""

    try:
        Manual.create_table()
        Manual("a").set()
        assert pg_conn.execute(f'SELECT count(*) FROM "{Manual.__table__}"').fetchone() == (1,)
    finally:
        pg_conn.execute(f'DROP TABLE IF EXISTS "{Manual.__table__}"')
        conn.close()


def test_index_names_never_collide(pg_conn: Any) -> None:
    """Fields sharing a long prefix each get their index; a table made without _expires_at gains it."""

    @dataclasses.dataclass
    class Long(persist_mixins.PgRowMixin):
        __table__ = f"pmtest_long_{uuid.uuid4().hex[:6]}_" + "x" * 30
        __indexes__ = ("temperature_celsius_minimum", "temperature_celsius_maximum")
        id: str = ""
        temperature_celsius_minimum: int = 0
        temperature_celsius_maximum: int = 0

    pg_conn.execute(f'CREATE TABLE "{Long.__table__}" (id text PRIMARY KEY, temperature_celsius_minimum bigint, '
                    "temperature_celsius_maximum bigint)")  # fmt: skip
    try:
        Long.create_table()
        Long.create_table()
        indexes = pg_conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", (Long.__table__,)).fetchall()
        defs = " ".join(d for (d,) in indexes)
        assert "(temperature_celsius_minimum)" in defs and "(temperature_celsius_maximum)" in defs
        assert "_expires_at" in defs
        Long("a", 1, 2).set(expire=60)
        assert 55 < Long.match_for_pk("a").ttl() <= 60
    finally:
        pg_conn.execute(f'DROP TABLE IF EXISTS "{Long.__table__}"')


async def test_windows_keep_their_order_after_other_shapes_were_cached(pg_api: Api) -> None:
    """first() and pages are ordered by pk even after a full read or match() of the same lookup shape."""
    api = pg_api
    for i in range(1, 11):
        await api.run(sample(api, id=f"p{i:02d}", amount_kg=i, flavour="g").set())
    await api.items(api.Model.filter(flavour="g"))  # caches the unlimited SELECT of this shape
    await api.run(api.Model.match_for_values(flavour="g", amount_kg=3))
    for i in (1, 2):  # move rows 1 and 2 to the end of the heap
        await api.run(sample(api, id=f"p{i:02d}", amount_kg=i, flavour="g").set())
    assert (await api.run(api.Model.filter(flavour="g").first())).id == "p01"
    pages = await api.ids(api.Model.filter(flavour="g").limit(5))
    assert pages == ["p01", "p02", "p03", "p04", "p05"]


def test_untyped_pk_and_percent_in_table_name_are_configuration_errors(pg_conn: Any) -> None:
    """A pk without a type, or a '%' in __table__, is refused with a ConfigurationError."""

    class Untyped(persist_mixins.PgRowMixin):
        __table__ = "pmtest_untyped"
        id: Any = None

    with pytest.raises(ConfigurationError, match="annotate"):
        Untyped.create_table()

    @dataclasses.dataclass
    class Percent(persist_mixins.PgRowMixin):
        __table__ = "pmtest_100%"
        id: str = ""

    with pytest.raises(ConfigurationError, match="%"):
        Percent.create_table()


def test_concurrent_set_many_of_overlapping_pks_never_deadlock(pg_conn: Any) -> None:
    """Eight threads writing the same 300 pks in different orders, three rounds: every call succeeds."""
    import random
    import threading

    table = f"pmtest_lock_{uuid.uuid4().hex[:8]}"

    @dataclasses.dataclass
    class Row(persist_mixins.PgRowMixin):
        __table__ = table
        id: str
        n: int = 0

    Row.create_table()
    failures: list[BaseException] = []

    def writer(seed: int) -> None:
        pks = [f"k{i:03d}" for i in range(300)]
        random.Random(seed).shuffle(pks)
        try:
            Row.set_many([Row(pk, seed) for pk in pks])
        except BaseException as exc:  # noqa: BLE001 - counted and reported below
            failures.append(exc)

    try:
        for round_ in range(3):
            threads = [threading.Thread(target=writer, args=(round_ * 10 + i,)) for i in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert failures == []
        assert Row.count() == 300
    finally:
        pg_conn.execute(f'DROP TABLE IF EXISTS "{table}"')


async def test_a_pk_with_a_nul_byte_is_absent_and_a_pk_too_long_for_the_index_is_refused(pg_api: Api) -> None:
    """match_for_pk / refresh / delete with a NUL in the pk answer as for any absent pk; a huge pk never reaches SQL."""
    from persist_mixins import NotFound

    api = pg_api

    ghost = sample(api, id="zz\x00")
    with pytest.raises(NotFound, match="NUL"):
        await api.run(api.Model.match_for_pk("zz\x00"))
    with pytest.raises(NotFound):
        await api.run(ghost.refresh())
    assert await api.run(ghost.delete()) is False
    with pytest.raises(ValidationError, match="at most 2704 bytes"):
        await api.run(sample(api, id="x" * 3000).set())
    assert await api.run(api.Model.count()) == 0


def test_server_errors_are_classified_by_sqlstate() -> None:
    """Only a lost or refused connection is BackendConnectionError; deadlocks and serialization failures are
    RetryableError; other server errors (lock timeout, query canceled, a too-large value) surface as psycopg's."""
    import psycopg

    from persist_mixins import BackendConnectionError, RetryableError
    from persist_mixins.backends.postgres.driver_psycopg import translate

    expected = {
        psycopg.errors.DeadlockDetected("d"): RetryableError,
        psycopg.errors.SerializationFailure("s"): RetryableError,
        psycopg.errors.LockNotAvailable("l"): psycopg.errors.LockNotAvailable,
        psycopg.errors.QueryCanceled("q"): psycopg.errors.QueryCanceled,
        psycopg.errors.ProgramLimitExceeded("p"): psycopg.errors.ProgramLimitExceeded,
        psycopg.errors.AdminShutdown("a"): BackendConnectionError,
        psycopg.OperationalError("connection refused"): BackendConnectionError,
    }
    for error, kind in expected.items():
        assert type(translate("Row", "postgresql://x", error)) is kind, error


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_lock_timeout_is_the_servers_error_not_a_lost_connection(flavour: str, pg_conn: Any) -> None:
    """A write that waits past lock_timeout raises psycopg's LockNotAvailable, never "cannot reach PostgreSQL"."""
    import psycopg

    table = f"pmtest_lock_{uuid.uuid4().hex[:8]}"
    url = PG_URL + ("&" if "?" in PG_URL else "?") + "options=-c%20lock_timeout%3D100"
    module: Any = persist_mixins if flavour == "sync" else persist_mixins.asyncio
    Row = dataclasses.make_dataclass(
        "Row",
        [("id", str), ("n", int, 0)],
        bases=(module.PgRowMixin,),
        namespace={"__table__": table, "__postgres__": url},
    )
    pg_conn.execute(f'CREATE TABLE "{table}" (id text PRIMARY KEY, n bigint, _expires_at timestamptz)')
    pg_conn.execute(f"INSERT INTO \"{table}\" VALUES ('a', 1, NULL)")
    holder = psycopg.connect(PG_URL)
    try:
        holder.execute(f"SELECT * FROM \"{table}\" WHERE id = 'a' FOR UPDATE")  # holds the row lock
        with pytest.raises(psycopg.errors.LockNotAvailable):
            result = Row("a", 2).set()
            if flavour == "async":
                await result
    finally:
        holder.rollback()
        holder.close()
        if flavour == "async":
            await persist_mixins.asyncio.close()
        pg_conn.execute(f'DROP TABLE IF EXISTS "{table}"')
