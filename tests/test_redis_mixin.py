"""What is particular to SimpleRedisMixin: its key layout, datetimes, expiry by Redis, and its client options.

The behaviour every backend shares is in ``tests/behaviour/``; these tests run on
Redis alone (``redis_api``: every model library, sync and asyncio).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import orjson
import pytest
import redis

import persist_mixins
import persist_mixins.asyncio
from persist_mixins import ConfigurationError

from .conftest import REDIS_URL, Api
from .models import sample


async def test_datetimes_keep_their_offset_and_naive_ones_stay_naive(redis_api: Api) -> None:
    """An aware datetime reads back with its own UTC offset; a naive one reads back naive."""
    api = redis_api
    obj = await api.run(sample(api).set())
    loaded = await api.run(api.Model.match_for_pk("vanilla"))
    assert loaded.best_before == obj.best_before
    assert loaded.best_before.utcoffset() == dt.timedelta(hours=2)

    naive = sample(api, id="naive", best_before=dt.datetime(2030, 1, 2, 3, 4, 5))
    await api.run(naive.set())
    again = await api.run(api.Model.match_for_pk("naive"))
    assert again.best_before == dt.datetime(2030, 1, 2, 3, 4, 5)
    assert again.best_before.tzinfo is None


async def test_stored_as_json_string_at_prefix_colon_pk(redis_api: Api, redis_client: redis.Redis) -> None:
    """An object is one JSON string at ``{prefix}:{pk}``, the redis-schematics layout."""
    api = redis_api
    await api.run(sample(api).set())
    raw = redis_client.get(f"{api.prefix}:vanilla")
    assert raw is not None
    data = orjson.loads(raw)
    assert data["id"] == "vanilla"
    assert data["amount_kg"] == 42
    assert redis_client.ttl(f"{api.prefix}:vanilla") == -1


async def test_expired_keys_leave_nothing_to_purge(redis_api: Api, redis_client: redis.Redis) -> None:
    """Redis deletes an expired key itself: purge_expired() on an unindexed model has nothing to do."""
    api = redis_api
    await api.run(sample(api, id="keep").set())
    await api.run(sample(api, id="gone").set(expire=0.2))
    await asyncio.sleep(0.35)
    assert redis_client.exists(f"{api.prefix}:gone") == 0
    assert await api.run(api.Model.purge_expired()) == 0
    assert await api.run(api.Model.count()) == 1


async def test_glob_characters_in_prefix_are_escaped(redis_api: Api) -> None:
    """A key prefix with glob characters lists only its own objects."""
    api = redis_api
    Star, new_star, _ = api.model("*")
    await api.run(sample(api, id="plain").set())
    await api.run(new_star(id="starred").set())
    assert await api.ids(Star.all()) == ["starred"]
    assert await api.run(Star.count()) == 1


def test_wrong_client_flavour_is_a_configuration_error(prefix: str) -> None:
    """A sync model given an asyncio client (or the reverse) fails with ConfigurationError."""
    import redis.asyncio

    @dataclasses.dataclass
    class Sync(persist_mixins.SimpleRedisMixin):
        __key_prefix__ = prefix
        __redis__ = redis.asyncio.Redis.from_url(REDIS_URL)
        id: str | None = None

    with pytest.raises(ConfigurationError, match=r"redis\.Redis"):
        Sync(id="x").set()

    @dataclasses.dataclass
    class Async(persist_mixins.asyncio.SimpleRedisMixin):
        __key_prefix__ = prefix
        __redis_client__ = redis.Redis.from_url(REDIS_URL)
        id: str | None = None

    with pytest.raises(ConfigurationError, match="asyncio"):
        asyncio.run(Async(id="x").set())


def test_async_clients_follow_the_event_loop(prefix: str) -> None:
    """Models built from a URL work from one event loop after another (one client per loop)."""

    @dataclasses.dataclass
    class Loopy(persist_mixins.asyncio.SimpleRedisMixin):
        __key_prefix__ = prefix
        id: str | None = None
        n: int = 0

    async def write_then_read(n: int) -> int:
        await Loopy(id="x", n=n).set()
        found = (await Loopy.match_for_pk("x")).n
        await persist_mixins.asyncio.close()
        return found

    assert asyncio.run(write_then_read(1)) == 1
    assert asyncio.run(write_then_read(2)) == 2


def test_client_given_as_class_option_is_used(prefix: str, redis_client: redis.Redis) -> None:
    """``__redis_client__`` (the redis-schematics option) selects the client, whatever configure() says."""
    base, db = REDIS_URL.rsplit("/", 1)
    other_db = redis.Redis.from_url(f"{base}/{int(db) - 1 if int(db) > 0 else 1}")  # the database next to the test one

    @dataclasses.dataclass
    class Elsewhere(persist_mixins.SimpleRedisMixin):
        __key_prefix__ = prefix
        __redis_client__ = other_db
        id: str | None = None

    try:
        Elsewhere(id="x").set()
        assert other_db.exists(f"{prefix}:x") == 1
        assert redis_client.exists(f"{prefix}:x") == 0
    finally:
        other_db.delete(f"{prefix}:x")
        other_db.close()


def test_redis_schematics_prefix_hook_is_refused() -> None:
    """A model overriding redis-schematics' ``__prefix__`` gets told to use ``__key_prefix__``, not ignored."""
    from schematics import models, types

    with pytest.raises(ConfigurationError, match="__key_prefix__"):

        class Legacy(models.Model, persist_mixins.SimpleRedisMixin):
            id = types.StringType()

            @property
            def __prefix__(self) -> str:
                return "custom"


def _with_query(query: str) -> str:
    return REDIS_URL + ("&" if "?" in REDIS_URL else "?") + query


def test_a_burst_of_async_sets_waits_for_connections_instead_of_failing(prefix: str) -> None:
    """500 concurrent set() through a URL-built pool all succeed (redis-py's default pool refused 400 of them)."""

    @dataclasses.dataclass
    class Burst(persist_mixins.asyncio.SimpleRedisMixin):
        __key_prefix__ = prefix
        __redis__ = REDIS_URL
        id: str
        n: int = 0

    async def burst() -> list[BaseException | None]:
        try:
            return await asyncio.gather(*(Burst(f"b{i}", i).set() for i in range(500)), return_exceptions=True)
        finally:
            await persist_mixins.asyncio.close()

    outcomes = asyncio.run(burst())
    assert [o for o in outcomes if isinstance(o, BaseException)] == []


def test_a_burst_of_threads_waits_for_connections_of_a_small_pool(prefix: str) -> None:
    """100 threads at once on a pool of 5 (``?max_connections=5``): every set() waits its turn and succeeds."""
    import threading

    @dataclasses.dataclass
    class Burst(persist_mixins.SimpleRedisMixin):
        __key_prefix__ = prefix
        __redis__ = _with_query("max_connections=5")
        id: str
        n: int = 0

    errors: list[BaseException] = []
    barrier = threading.Barrier(100)

    def one(i: int) -> None:
        barrier.wait()
        try:
            Burst(f"b{i}", i).set()
        except Exception as exc:  # noqa: BLE001 - collected
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    from persist_mixins.connections import sync_driver

    assert errors == []
    assert Burst.all().count() == 100
    assert sync_driver(Burst).client.connection_pool.max_connections == 5


def test_an_exhausted_pool_is_a_pool_timeout_not_an_unreachable_server(prefix: str) -> None:
    """Every connection busy past ``?timeout=``: PoolTimeoutError naming the pool's size; then it works again."""
    from persist_mixins import BackendConnectionError, PoolTimeoutError
    from persist_mixins.connections import async_driver, sync_driver

    query = "max_connections=1&timeout=0.2"

    @dataclasses.dataclass
    class Busy(persist_mixins.SimpleRedisMixin):
        __key_prefix__ = prefix
        __redis__ = _with_query(query)
        id: str

    pool = sync_driver(Busy).client.connection_pool
    held = pool.get_connection()  # the pool's only connection, checked out
    try:
        with pytest.raises(PoolTimeoutError, match="all 1 connections of the pool stayed busy") as caught:
            Busy("x").set()
        assert not isinstance(caught.value, BackendConnectionError)
    finally:
        pool.release(held)
    Busy("x").set()  # the connection is back

    @dataclasses.dataclass
    class AsyncBusy(persist_mixins.asyncio.SimpleRedisMixin):
        __key_prefix__ = prefix
        __redis__ = _with_query(query)
        id: str

    async def exhaust() -> None:
        try:
            pool = async_driver(AsyncBusy).client.connection_pool
            held = await pool.get_connection()
            try:
                with pytest.raises(PoolTimeoutError, match=r"within 0\.2 s"):
                    await AsyncBusy("y").set()
            finally:
                await pool.release(held)
            await AsyncBusy("y").set()
        finally:
            await persist_mixins.asyncio.close()

    asyncio.run(exhaust())
    assert Busy.all().count() == 2


@pytest.mark.parametrize("layout", ["simple", "hash"])
def test_set_many_holds_about_a_document_per_object_not_every_encoded_payload(prefix: str, layout: str) -> None:
    """set_many() of 20,000 objects allocates at most 1 KiB per object at its peak (it held 4.5 KiB before).

    Every payload was encoded (orjson keeps a 4 KiB buffer behind each) before the first batch was
    sent; now commands are built batch by batch from compact documents.
    """
    import tracemalloc

    base = persist_mixins.HashRedisMixin if layout == "hash" else persist_mixins.SimpleRedisMixin

    @dataclasses.dataclass
    class Heap(base):  # type: ignore[valid-type, misc]
        __key_prefix__ = prefix
        id: str
        flavour: str
        amount_kg: int

    objs = [Heap(f"scoop-{i:08d}", f"flavour number {i % 97}", i % 100) for i in range(20_000)]
    Heap.set_many(objs[:10])  # the client, its connection and the plans' caches exist before measuring
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        Heap.set_many(objs)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak / len(objs) < 1024, f"{peak / len(objs):.0f} bytes per object"
    assert Heap.count() == 20_000
    if layout == "hash":
        Heap.delete_all()


async def test_set_only_leaves_other_members_byte_for_byte(redis_api: Api, redis_client: redis.Redis) -> None:
    """set(only=) rewrites the named members of the stored JSON and copies the others as they were.

    The document here is written behind the library's back, as redis-schematics' ``json.dumps``
    would (spaces, ``[]``, a float that needs 17 digits, strings holding JSON punctuation): a
    script that decoded and re-encoded it (cjson) would turn ``[]`` into ``{}`` and round the float.
    """
    api = redis_api
    key = f"{api.prefix}:raw"
    tricky = 'a "}], \\\\ {[" b'
    raw = (
        '{"id": "raw", "flavour": "old", "amount_kg": 3, "ratio": 0.30000000000000004, "tags": [], '
        f'"extra": {{"k": {orjson.dumps(tricky).decode()}}}, "grommet": null}}'
    )
    redis_client.set(key, raw, ex=100)
    obj = await api.run(api.Model.match_for_pk("raw"))
    obj.flavour, obj.amount_kg = 'new "one"', 99
    await api.run(obj.set(only=("flavour",)))
    stored = redis_client.get(key).decode()
    members = [
        '"id":"raw"', '"flavour":"new \\"one\\""', '"amount_kg":3', '"ratio":0.30000000000000004', '"tags":[]',
        f'"extra":{{"k": {orjson.dumps(tricky).decode()}}}', '"grommet":null',
    ]  # fmt: skip
    assert stored == "{" + ",".join(members) + "}"  # only the separators between members are compacted
    assert 90 < redis_client.ttl(key) <= 100
    assert (await api.run(api.Model.match_for_pk("raw"))).extra == {"k": tricky}
