"""PgRowMixin against the real PostgreSQL: every model library, psycopg sync and async, and aiopg.

The backend-neutral behaviour tests of the Redis suite run here again, unchanged,
through an ``api`` fixture that builds PostgreSQL models: one vocabulary, one
set of answers, whatever the backend.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest

import persist_mixins
import persist_mixins.asyncio
from persist_mixins import (
    BackendConnectionError,
    ConfigurationError,
    ConflictError,
    InvalidLookup,
    NotFound,
    ValidationError,
)

from .conftest import PG_URL, PgApi, sample, values
from .test_redis_mixin import (  # noqa: F401 - collected here, run against PostgreSQL
    LOOKUPS,
    test_class_expire_applies_to_every_write,
    test_expire_ttl_and_persist,
    test_failed_set_many_changes_no_object,
    test_filter_lookups,
    test_match_by_pk_still_checks_other_lookups,
    test_match_for_values_needs_exactly_one,
    test_objects_without_pk_get_distinct_uuid4_keys,
    test_ordering_limit_slicing_first_exists,
    test_query_delete_counts,
    test_query_update_keeps_ttl_and_validates,
    test_refresh_reloads_in_place,
    test_set_many_is_all_or_nothing_on_validation,
)


@pytest.fixture
def api(pg_api: PgApi) -> PgApi:
    """The Redis suite's ``api``, on PostgreSQL."""
    return pg_api


def _invalidate(api: PgApi, obj: Any, field: str, value: Any) -> None:
    if api.kind == "schematics":
        setattr(obj, field, value)
    else:
        object.__setattr__(obj, field, value)


async def test_round_trip_keeps_every_type(api: PgApi) -> None:
    """Every type reads back equal; datetimes come back aware, naive ones taken as UTC."""
    obj = sample(api)
    assert await api.run(obj.set()) is obj
    loaded = await api.run(api.Model.match_for_pk("vanilla"))
    assert values(loaded) == values(obj)
    assert loaded.best_before == obj.best_before
    naive = await api.run(sample(api, id="naive", best_before=dt.datetime(2030, 1, 2, 3, 4, 5)).set())
    again = await api.run(api.Model.match_for_pk(naive.id))
    assert again.best_before == dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert await api.ids(api.Model.filter(best_before=dt.datetime(2030, 1, 2, 3, 4, 5))) == ["naive"]


async def test_one_column_per_field_with_mapped_types(api: PgApi) -> None:
    """create_table() makes one typed column per field plus the expiry column, and is idempotent."""
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


async def test_hostile_text_round_trips_unchanged(api: PgApi) -> None:
    """Quotes, SQL, backslashes and unicode are stored and found as themselves (always parameters)."""
    hostile = ["it's", "'); DROP TABLE x; --", "back\\slash", "ünï©ødé 🍦", "%_%", '"quoted"']
    for i, text in enumerate(hostile):
        await api.run(sample(api, id=f"h{i}", flavour=text, extra={"k'ey": text}).set())
    for i, text in enumerate(hostile):
        assert (await api.run(api.Model.match_for_pk(f"h{i}"))).flavour == text
        assert await api.ids(api.Model.filter(flavour=text)) == [f"h{i}"]
        assert await api.ids(api.Model.filter(flavour__startswith=text)) == [f"h{i}"]
    assert await api.ids(api.Model.filter(**{"extra__k'ey": "it's"})) == ["h0"]
    assert await api.run(api.Model.count()) == len(hostile)


async def test_nul_byte_is_refused_naming_the_field(api: PgApi) -> None:
    """A NUL byte in text raises ValidationError naming the field, and writes nothing."""
    with pytest.raises(ValidationError, match="flavour"):
        await api.run(sample(api, id="nul", flavour="a\x00b").set())
    with pytest.raises(ValidationError, match="tags"):
        await api.run(sample(api, id="nul", tags=["a\x00b"]).set())
    assert await api.run(api.Model.count()) == 0
    with pytest.raises(InvalidLookup, match="NUL"):
        await api.run(api.Model.count(flavour="a\x00b"))


async def test_invalid_data_raises_and_writes_nothing(api: PgApi) -> None:
    """Invalid model data raises ValidationError and no row is written."""
    obj = sample(api, id="bad")
    _invalidate(api, obj, "amount_kg", "lots")
    with pytest.raises(ValidationError, match="amount_kg"):
        await api.run(obj.set())
    assert api.conn.execute(f'SELECT count(*) FROM "{api.Model.__table__}"').fetchone() == (0,)


async def test_unknown_lookup_raises_before_any_sql(api: PgApi) -> None:
    """A typo in a lookup raises InvalidLookup even when PostgreSQL is unreachable."""
    Model, _, _ = api.model("_io", __postgres__="postgresql://postgres@127.0.0.1:1/test")
    with pytest.raises(InvalidLookup, match="amount"):
        Model.filter(amount__gte=30)
    with pytest.raises(InvalidLookup, match="no field"):
        await api.run(Model.match(amount_kg__gtee=30))


async def test_missing_table_says_to_create_it(api: PgApi) -> None:
    """Tables are never created as a side effect: a missing one names create_table()."""
    await api.run(api.Model.drop_table())
    await api.run(api.Model.drop_table())  # idempotent
    with pytest.raises(ConfigurationError, match="create_table"):
        await api.run(sample(api).set())
    await api.run(api.Model.create_table())
    assert await api.run(api.Model.count()) == 0


async def test_expired_rows_are_absent_and_purged(api: PgApi) -> None:
    """Expired rows are never read, counted, updated or deleted; purge_expired() deletes and counts them."""
    await api.run(sample(api, id="keep").set())
    gone = await api.run(sample(api, id="gone").set(expire=0.2))
    await asyncio.sleep(0.35)
    with pytest.raises(NotFound):
        await api.run(api.Model.match_for_pk("gone"))
    with pytest.raises(NotFound):
        await api.run(gone.refresh())
    assert await api.ids(api.Model.all()) == ["keep"]
    assert await api.run(api.Model.count()) == 1
    assert await api.run(api.Model.all().update(amount_kg=1)) == 1
    assert await api.run(gone.delete()) is False
    assert await api.run(api.Model.purge_expired()) == 1
    assert await api.run(api.Model.purge_expired()) == 0
    assert api.conn.execute(f'SELECT count(*) FROM "{api.Model.__table__}"').fetchone() == (1,)
    assert await api.run(gone.set()) is gone  # a purged (or expired) pk can be written again
    assert await api.run(gone.ttl()) is None


async def test_database_generated_int_pk_is_filled_back(api: PgApi) -> None:
    """An empty int pk is generated by the database (identity) and set on the object, set() and set_many()."""
    if api.kind == "schematics":
        pytest.skip("the shared Schematics test model has a str id")
    Seq = _counter_model(api)
    await api.run(Seq.create_table())
    try:
        a = await api.run(Seq(name="a").set())
        b = await api.run(Seq(name="b").set())
        assert isinstance(a.id, int) and b.id == a.id + 1
        many = await api.run(Seq.set_many([Seq(name=f"m{i}") for i in range(3)] + [Seq(id=1000, name="k")]))
        assert [m.id for m in many[:3]] == [b.id + 1, b.id + 2, b.id + 3]
        assert (await api.run(Seq.match_for_pk(1000))).name == "k"
        assert (await api.run(Seq.match_for_pk(str(a.id)))).name == "a"
        with pytest.raises(NotFound):
            await api.run(Seq.match_for_pk("not-a-number"))
    finally:
        await api.run(Seq.drop_table())


def _counter_model(api: PgApi, **options: Any) -> Any:
    namespace: dict[str, Any] = {"__table__": f"{api.prefix}_seq", **options}
    if api.pool is not None:
        namespace["__postgres__"] = api.pool
    if api.kind == "pydantic":
        import pydantic

        return type("Seq", (api.mixin, pydantic.BaseModel), {
            **namespace, "__annotations__": {"id": "int | None", "name": "str", "version": "int | None"},
            "id": None, "version": None,
        })  # fmt: skip
    cls = type("Seq", (api.mixin,), {
        **namespace, "__annotations__": {"id": int | None, "name": str, "version": int | None},
        "id": None, "name": "", "version": None,
    })  # fmt: skip
    if api.kind == "attrs":
        import attrs

        return attrs.define(cls)
    if api.kind == "plain":

        class Plain(cls):  # type: ignore[misc, valid-type]
            def __init__(self, **kw: Any) -> None:
                for key, value in kw.items():
                    setattr(self, key, value)

        Plain.__name__ = "Seq"
        return Plain
    return dataclasses.dataclass(cls)


async def test_optimistic_locking_refuses_stale_writes(api: PgApi) -> None:
    """With __version_field__, set() counts versions and a stale copy gets ConflictError, writing nothing."""
    if api.kind == "schematics":
        pytest.skip("the shared Schematics test model has no version field")
    Seq = _counter_model(api, __version_field__="version")
    await api.run(Seq.create_table())
    try:
        first = await api.run(Seq(name="a").set())
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
        clash = Seq(id=first.id, name="new object, same pk")
        with pytest.raises(ConflictError):
            await api.run(clash.set())
        assert await api.run(Seq.all().update(name="all")) == 1
        assert (await api.run(Seq.match_for_pk(first.id))).version == 4
    finally:
        await api.run(Seq.drop_table())


async def test_unique_together_clash_is_a_conflict(api: PgApi) -> None:
    """A unique index other than the pk (__unique_together__ with an id field) raises ConflictError."""
    other = api.variant("_ut", __unique_together__=("flavour", "amount_kg"))
    await api.run(other.new(id="a", flavour="mint", amount_kg=1).set())
    with pytest.raises(ConflictError, match="unique"):
        await api.run(other.new(id="b", flavour="mint", amount_kg=1).set())
    filled = await api.run(other.new(flavour="choc", amount_kg=2).set())
    assert filled.id == "choc.2"
    assert await api.run(other.Model.count()) == 2


async def test_set_many_upserts_and_is_atomic(api: PgApi) -> None:
    """set_many() inserts and updates in one go (COPY + upsert); a clash in the batch writes none of it."""
    await api.run(api.Model.set_many([sample(api, id=f"o{i}", amount_kg=i) for i in range(300)]))
    await api.run(api.Model.set_many([sample(api, id=f"o{i}", amount_kg=-i) for i in range(0, 300, 2)]))
    assert await api.run(api.Model.count(amount_kg__lt=0)) == 149  # o0 is 0 either way
    assert (await api.run(api.Model.match_for_pk("o4"))).amount_kg == -4
    other = api.variant("_ut", __unique_together__=("flavour", "amount_kg"))
    await api.run(other.new(id="x", flavour="mint", amount_kg=1).set())
    with pytest.raises(ConflictError):
        await api.run(
            other.Model.set_many(
                [other.new(id="y", flavour="a", amount_kg=1), other.new(id="z", flavour="mint", amount_kg=1)]
            )
        )
    assert await api.ids(other.Model.all()) == ["x"]


async def test_large_results_stream_through_a_cursor(api: PgApi) -> None:
    """A query of more than 1,000 rows streams in batches and reads every row once; early stops are clean."""
    await api.run(api.Model.set_many([sample(api, id=f"r{i:05d}", amount_kg=i) for i in range(2600)]))
    if api.flavour == "sync":
        seen = [obj.amount_kg for obj in api.Model.filter(amount_kg__gte=100)]
        for i, _ in enumerate(api.Model.all()):
            if i == 1500:
                break  # the cursor and its transaction are closed, the connection goes back
    else:
        seen = [obj.amount_kg async for obj in api.Model.filter(amount_kg__gte=100)]
        stream = api.Model.all().__aiter__()
        for _ in range(1500):
            await stream.__anext__()
        await stream.aclose()
    assert sorted(seen) == list(range(100, 2600))
    assert await api.run(api.Model.count()) == 2600
    assert len(await api.items(api.Model.all().order_by("-amount_kg")[:1200])) == 1200
    assert await api.run(api.Model.filter(amount_kg__gte=1000).delete()) == 1600


async def test_update_and_delete_are_one_statement_each(api: PgApi) -> None:
    """Query update()/delete() respect windows and keep expiry; values are checked before SQL is sent."""
    for i in range(5):
        await api.run(sample(api, id=f"w{i}", amount_kg=i).set(expire=60 if i == 0 else None))
    assert await api.run(api.Model.all().order_by("-amount_kg").limit(2).update(flavour="top")) == 2
    assert sorted(await api.ids(api.Model.filter(flavour="top"))) == ["w3", "w4"]
    assert 55 < await api.run((await api.run(api.Model.match_for_pk("w0"))).ttl()) <= 60
    assert await api.run(api.Model.all().update(grommet=api.grommet(3), tags=["x"])) == 5
    assert await api.run(api.Model.count(grommet__weight=3, tags__contains="x")) == 5
    assert await api.run(api.Model.all().order_by("amount_kg").limit(1).delete()) == 1
    assert await api.run(api.Model.count()) == 4


async def test_unreachable_server_names_the_url(api: PgApi) -> None:
    """An unreachable PostgreSQL gives BackendConnectionError naming the URL, within the pool wait."""
    if api.flavour == "aiopg":
        pytest.skip("an aiopg pool is built by the user, connected before it is given")
    from persist_mixins.backends.postgres import driver_psycopg as driver

    _, new, _ = api.model("_down", __postgres__="postgresql://postgres@127.0.0.1:1/test")
    old = driver.POOL_TIMEOUT
    driver.POOL_TIMEOUT = 1.0
    try:
        with pytest.raises(BackendConnectionError, match=r"127\.0\.0\.1:1"):
            await api.run(new(id="x").set())
    finally:
        driver.POOL_TIMEOUT = old
        if api.flavour == "sync":
            persist_mixins.close()


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


async def test_set_many_last_duplicate_wins(api: PgApi) -> None:
    """Two objects with one pk in a set_many() batch store the last one, as two set() calls would."""
    await api.run(api.Model.set_many([sample(api, id="d", amount_kg=1), sample(api, id="d", amount_kg=2)]))
    assert (await api.run(api.Model.match_for_pk("d"))).amount_kg == 2


async def test_two_streams_on_one_connection(api: PgApi) -> None:
    """Two large queries read side by side inside one transaction each get their own cursor."""
    await api.run(api.Model.set_many([sample(api, id=f"s{i:04d}", amount_kg=i) for i in range(1200)]))
    if api.flavour == "sync":
        with api.Model.transaction():
            pairs = list(zip(api.Model.all().order_by("id"), api.Model.all().order_by("-id"), strict=True))
    else:
        async with api.Model.transaction():
            first, second = api.Model.all().order_by("id").__aiter__(), api.Model.all().order_by("-id").__aiter__()
            pairs = [(await first.__anext__(), await second.__anext__()) for _ in range(1200)]
            await first.aclose()
            await second.aclose()
    assert pairs[0][0].id == "s0000" and pairs[0][1].id == "s1199" and len(pairs) == 1200


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


async def test_early_break_from_a_large_stream_keeps_the_blocks_writes(api: PgApi) -> None:
    """Leaving a >1,000-row loop early inside transaction() undoes nothing the loop body wrote."""
    await api.run(api.Model.set_many([sample(api, id=f"b{i:04d}", amount_kg=i) for i in range(1100)]))
    if api.flavour == "sync":
        with api.Model.transaction():
            for obj in api.Model.all().order_by("id"):
                obj.amount_kg = -1
                obj.set()
                sample(api, id="written-in-loop").set()
                break
            sample(api, id="written-after").set()
    else:
        async with api.Model.transaction():
            stream = api.Model.all().order_by("id").__aiter__()
            obj = await stream.__anext__()
            obj.amount_kg = -1
            await obj.set()
            await sample(api, id="written-in-loop").set()
            await stream.aclose()
            await sample(api, id="written-after").set()
    assert (await api.run(api.Model.match_for_pk("b0000"))).amount_kg == -1
    assert await api.run(api.Model.count(id__in=["written-in-loop", "written-after"])) == 2


async def test_windows_keep_their_order_after_other_shapes_were_cached(api: PgApi) -> None:
    """first() and pages are ordered by pk even after a full read or match() of the same lookup shape."""
    for i in range(1, 11):
        await api.run(sample(api, id=f"p{i:02d}", amount_kg=i, flavour="g").set())
    await api.items(api.Model.filter(flavour="g"))  # caches the unlimited SELECT of this shape
    await api.run(api.Model.match_for_values(flavour="g", amount_kg=3))
    for i in (1, 2):  # move rows 1 and 2 to the end of the heap
        await api.run(sample(api, id=f"p{i:02d}", amount_kg=i, flavour="g").set())
    assert (await api.run(api.Model.filter(flavour="g").first())).id == "p01"
    pages = await api.ids(api.Model.filter(flavour="g").limit(5))
    assert pages == ["p01", "p02", "p03", "p04", "p05"]


async def test_expiry_counts_from_the_write_not_the_transaction_start(api: PgApi) -> None:
    """set(expire=2) late in a long transaction still lives about two seconds."""
    if api.flavour == "sync":
        with api.Model.transaction():
            api.conn  # noqa: B018 - the block's own connection does the waiting below
            api.Model.filter(amount_kg=-5).count()
            await asyncio.sleep(1.2)
            obj = sample(api, id="late").set(expire=2)
    else:
        async with api.Model.transaction():
            await api.Model.filter(amount_kg=-5).count()
            await asyncio.sleep(1.2)
            obj = await sample(api, id="late").set(expire=2)
    assert 1.5 < await api.run(obj.ttl()) <= 2


async def test_update_checks_values_as_set_would(api: PgApi) -> None:
    """update() refuses values set() would refuse: a float for an int, a str for a list, a dict for a list."""
    await api.run(sample(api, id="u").set())
    for bad in ({"amount_kg": 2.5}, {"tags": "oops"}, {"tags": {"k": 1}}, {"extra": ["x"]}):
        with pytest.raises(ValidationError):
            await api.run(api.Model.all().update(**bad))
    assert (await api.run(api.Model.match_for_pk("u"))).amount_kg == 42


async def test_contains_a_list_or_dict_needs_an_equal_element(api: PgApi) -> None:
    """tags__contains=[...] matches an equal element, never a partial one (as Python's `in`)."""
    await api.run(sample(api, id="c", tags=["a", "b"]).set())
    assert await api.run(api.Model.count(tags__contains="a")) == 1
    assert await api.run(api.Model.count(tags__contains=["a"])) == 0


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


def test_kw_only_and_initvar_dataclasses_load_correctly(pg_conn: Any) -> None:
    """Dataclasses whose __init__ is not the plain field list still read back right."""
    suffix = uuid.uuid4().hex[:6]

    @dataclasses.dataclass(kw_only=True)
    class Kw(persist_mixins.PgRowMixin):
        __table__ = f"pmtest_kw_{suffix}"
        id: str = ""
        n: int = 0

    @dataclasses.dataclass
    class Iv(persist_mixins.PgRowMixin):
        __table__ = f"pmtest_iv_{suffix}"
        id: str = ""
        scale: dataclasses.InitVar[int] = 1
        n: int = 0

        def __post_init__(self, scale: int) -> None:
            self.n *= scale

    try:
        for model, obj in ((Kw, Kw(id="a", n=5)), (Iv, Iv("a", 1, 5))):
            model.create_table()
            obj.set()
            assert model.match_for_pk("a").n == 5
            assert [o.n for o in model.all()] == [5]
    finally:
        for table in (Kw.__table__, Iv.__table__):
            pg_conn.execute(f'DROP TABLE IF EXISTS "{table}"')
