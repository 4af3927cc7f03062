"""Redis secondary indexes against the real Redis: sorted sets read instead of a scan, kept exact, no ghosts.

That indexed models answer like unindexed ones is in ``tests/behaviour/test_indexes.py``
(every backend declaring "indexes"); these tests look at how Redis does it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
import uuid
from typing import Any

import pytest
import redis

import persist_mixins
from persist_mixins import ConfigurationError, ValidationError
from persist_mixins.backends.redis import driver_redis as redis_driver
from persist_mixins.backends.redis import scripts

from .conftest import REDIS_URL, Api
from .models import INDEXED, populate, sample


@pytest.fixture
def ix(redis_api: Api) -> Api:
    """``redis_api`` with every indexable field of IceCream in ``__indexes__``."""
    return redis_api.variant(":ix", __indexes__=INDEXED)


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every command the library sends (pipelines flattened), recorded on the way to the real server."""
    sent: list[tuple[Any, ...]] = []

    def record(command: Any) -> None:
        for cmd in getattr(command, "commands", (command,)):
            sent.append(cmd.args)

    sync_execute = redis_driver.RedisDriver.execute
    async_execute = redis_driver.AsyncRedisDriver.execute

    def sync_recording(self: Any, conn: Any, command: Any) -> Any:
        record(command)
        return sync_execute(self, conn, command)

    async def async_recording(self: Any, conn: Any, command: Any) -> Any:
        record(command)
        return await async_execute(self, conn, command)

    monkeypatch.setattr(redis_driver.RedisDriver, "execute", sync_recording)
    monkeypatch.setattr(redis_driver.AsyncRedisDriver, "execute", async_recording)
    return sent


def names(sent: list[tuple[Any, ...]]) -> set[str]:
    """The command names in a recording."""
    return {str(args[0]) for args in sent}


async def test_indexed_filter_reads_the_index_not_a_scan(ix: Api, commands: list[tuple[Any, ...]]) -> None:
    """Filters on indexed fields read sorted sets and never SCAN; an unindexed field falls back to SCAN."""
    await populate(ix)
    commands.clear()
    assert await ix.ids(ix.Model.filter(amount_kg__gte=15, flavour__startswith="D")) == ["b"]
    assert {"ZRANGEBYSCORE", "ZRANGEBYLEX"} <= names(commands)
    assert "SCAN" not in names(commands)
    commands.clear()
    assert await ix.ids(ix.Model.filter(tags__contains="green")) == ["c"]
    assert "SCAN" in names(commands)


async def test_exact_counts_decode_nothing(ix: Api, commands: list[tuple[Any, ...]]) -> None:
    """count() on conditions the index decides alone checks keys with EXISTS and reads no values."""
    await populate(ix)
    commands.clear()
    assert await ix.run(ix.Model.count(amount_kg__gte=20, flavour__in=["Mint", "Dark Chocolate"])) == 2
    assert "EXISTS" in names(commands)
    assert "MGET" not in names(commands) and "SCAN" not in names(commands)


async def test_order_by_index_with_limit_reads_only_a_page(ix: Api, commands: list[tuple[Any, ...]]) -> None:
    """order_by on an indexed field with a limit reads a small page, not every object."""
    await ix.run(ix.Model.set_many([sample(ix, id=f"o{i:03}", amount_kg=i) for i in range(300)]))
    await ix.run(sample(ix, id="none", amount_kg=None).set())
    commands.clear()
    assert [o.amount_kg for o in await ix.items(ix.Model.all().order_by("-amount_kg").limit(3))] == [None, 299, 298]
    assert [o.amount_kg for o in await ix.items(ix.Model.filter(amount_kg__lt=100).order_by("amount_kg")[5:8])] == [
        5,
        6,
        7,
    ]
    read = sum(len(args) - 1 for args in commands if args[0] == "MGET")
    assert read <= 40
    assert "SCAN" not in names(commands)


async def test_updates_move_objects_between_index_buckets(ix: Api, redis_client: redis.Redis) -> None:
    """Changing an indexed value moves the object: found under the new value only, one entry per field."""
    obj = await ix.run(sample(ix, id="m", amount_kg=10, flavour="Mint").set())
    obj.amount_kg = 20
    obj.flavour = None
    await ix.run(obj.set())
    assert await ix.ids(ix.Model.filter(amount_kg=10)) == []
    assert await ix.ids(ix.Model.filter(amount_kg=20)) == ["m"]
    assert await ix.ids(ix.Model.filter(flavour="Mint")) == []
    assert await ix.ids(ix.Model.filter(flavour__isnull=True)) == ["m"]
    assert redis_client.zcard(f"{{{ix.prefix}}}#i:amount_kg") == 1
    assert redis_client.zcard(f"{{{ix.prefix}}}#i:flavour") == 0
    assert await ix.run(ix.Model.filter(amount_kg=20).update(amount_kg=30)) == 1
    assert await ix.ids(ix.Model.filter(amount_kg=30)) == ["m"]
    assert redis_client.zrange(f"{{{ix.prefix}}}#i:amount_kg", 0, -1, withscores=True) == [(b"m", 30.0)]


async def test_delete_removes_index_entries(ix: Api, redis_client: redis.Redis) -> None:
    """delete() and query delete() leave no index entries or bookkeeping behind."""
    await populate(ix)
    obj = await ix.run(ix.Model.match_for_pk("a"))
    assert await ix.run(obj.delete()) is True
    assert await ix.run(ix.Model.filter(amount_kg__gte=0).delete()) == 2
    assert await ix.run(ix.Model.all().delete()) == 1
    assert redis_client.keys(f"{{{ix.prefix}}}*") == []


async def test_expired_objects_vanish_from_every_path(ix: Api, redis_client: redis.Redis) -> None:
    """Objects with a 1 s TTL are absent from pk, index, scan, count and ordered reads once expired."""
    await populate(ix)
    await ix.run(sample(ix, id="brief", amount_kg=20, flavour="Mint").set(expire=1))
    assert await ix.run(ix.Model.count(amount_kg=20)) == 2
    await asyncio.sleep(1.2)
    assert await ix.ids(ix.Model.filter(amount_kg=20)) == ["b"]
    assert await ix.run(ix.Model.count(amount_kg=20)) == 1
    assert await ix.run(ix.Model.count(flavour="Mint")) == 1
    assert sorted(await ix.ids(ix.Model.all())) == ["a", "b", "c", "n"]
    assert await ix.run(ix.Model.count()) == 4
    assert await ix.ids(ix.Model.all().order_by("-amount_kg").limit(2)) == ["n", "c"]
    with pytest.raises(persist_mixins.NotFound):
        await ix.run(ix.Model.match(id="brief"))
    # The entries are still there until purged, but never seen:
    assert redis_client.zscore(f"{{{ix.prefix}}}#i:amount_kg", "brief") == 20.0
    assert await ix.run(ix.Model.purge_expired()) == 1
    assert redis_client.zscore(f"{{{ix.prefix}}}#i:amount_kg", "brief") is None
    assert redis_client.exists(f"{{{ix.prefix}}}#e:brief") == 0
    assert await ix.run(ix.Model.purge_expired()) == 0
    assert await ix.run(ix.Model.count(amount_kg=20)) == 1


async def test_concurrent_writers_leave_matching_entries(ix: Api, redis_client: redis.Redis) -> None:
    """Many concurrent set() calls of one object leave exactly one index entry, equal to the stored value."""
    if ix.flavour == "async":
        await asyncio.gather(*(sample(ix, id="hot", amount_kg=i).set() for i in range(50)))
    else:
        threads = [threading.Thread(target=sample(ix, id="hot", amount_kg=i).set) for i in range(50)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    stored = (await ix.run(ix.Model.match_for_pk("hot"))).amount_kg
    assert redis_client.zrange(f"{{{ix.prefix}}}#i:amount_kg", 0, -1, withscores=True) == [(b"hot", float(stored))]


def consistent(client: redis.Redis, prefix: str, field: str = "amount_kg") -> tuple[int, int]:
    """Check every index entry against the stored objects; return (objects, entries)."""
    import orjson

    tag = f"{{{prefix}}}"
    entries = dict(client.zrange(f"{tag}#i:{field}", 0, -1, withscores=True))
    objects = {}
    for key in client.scan_iter(match=f"\\{{{prefix}\\}}:*", count=1000):
        objects[key.decode()[len(tag) + 1 :]] = orjson.loads(client.get(key))[field]
    for pk, value in objects.items():
        assert entries.get(pk.encode()) == float(value), pk
    assert len(entries) == len(objects)
    return len(objects), len(entries)


def test_connection_killed_mid_pipeline_leaves_no_mix(prefix: str, redis_client: redis.Redis) -> None:
    """Killing the client's connection during set_many leaves each object old-with-old-entries or new-with-new."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    name = "pm-victim-" + prefix.rsplit(":", 1)[-1]  # this test's own: another suite may run beside it
    victim = redis.Redis.from_url(REDIS_URL, client_name=name, retry=Retry(NoBackoff(), 0))

    @dataclasses.dataclass
    class Bulk(persist_mixins.SimpleRedisMixin):
        __key_prefix__ = prefix
        __redis__ = victim
        __indexes__ = ("amount_kg",)
        id: str | None = None
        amount_kg: int = 0

    total = 20_000
    Bulk.set_many([Bulk(id=str(i), amount_kg=i) for i in range(total)])
    consistent(redis_client, prefix)
    stop = threading.Event()

    def killer() -> None:
        # Wait until the rewrite has started, then keep cutting the connection.
        while not stop.is_set() and float(redis_client.zscore(f"{{{prefix}}}#i:amount_kg", "0") or 0) < 100_000:
            time.sleep(0.001)
        while not stop.is_set():
            for client in redis_client.client_list():
                if client.get("name") == name:
                    redis_client.client_kill_filter(_id=client["id"])
            time.sleep(0.002)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        with pytest.raises(persist_mixins.BackendConnectionError):
            Bulk.set_many([Bulk(id=str(i), amount_kg=i + 100_000) for i in range(total)])
    finally:
        stop.set()
        thread.join()
        victim.close()
    objects, entries = consistent(redis_client, prefix)
    assert objects == entries == total
    rewritten = sum(1 for _, score in redis_client.zscan_iter(f"{{{prefix}}}#i:amount_kg") if score >= 100_000)
    assert 0 < rewritten < total  # the write really was cut off part-way


async def test_glob_and_nul_rules(ix: Api, redis_client: redis.Redis) -> None:
    """Indexed models refuse NUL in indexed text or pks (nothing written) and keep glob pks literal."""
    with pytest.raises(ValidationError, match="NUL"):
        await ix.run(sample(ix, id="x", flavour="a\x00b").set())
    with pytest.raises(ValidationError, match="NUL"):
        await ix.run(sample(ix, id="x\x00y").set())
    assert redis_client.keys(f"{{{ix.prefix}}}*") == []
    await ix.run(sample(ix, id="a*", amount_kg=1).set())
    await ix.run(sample(ix, id="ab", amount_kg=1).set())
    assert sorted(await ix.ids(ix.Model.filter(amount_kg=1))) == ["a*", "ab"]
    assert (await ix.run(ix.Model.match(pk="a*"))).id == "a*"


def _unknown_scripts(monkeypatch: pytest.MonkeyPatch, redis_client: redis.Redis) -> None:
    """Give the library scripts the server has never seen, as after a restart or a SCRIPT FLUSH.

    Each is the library's own script with a unique comment added (another SHA1), so the server
    answers NOSCRIPT; no SCRIPT FLUSH, which would empty the script cache of every client of
    the server (other test runs included) and fail their writes.
    """
    marker = uuid.uuid4().hex
    for name in ("SAVE", "DELETE", "EXPIRE", "PURGE", "PATCH"):
        fresh = scripts.Script(f"{getattr(scripts, name).source}\n-- {marker} {name}")
        assert redis_client.script_exists(fresh.sha) == [False]
        monkeypatch.setattr(scripts, name, fresh)


async def test_scripts_reload_after_script_flush(
    ix: Api, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that lost its scripts (restart, SCRIPT FLUSH) gets them again, for single and batched writes."""
    _unknown_scripts(monkeypatch, redis_client)
    await ix.run(sample(ix, id="one", amount_kg=1).set())
    _unknown_scripts(monkeypatch, redis_client)
    await ix.run(ix.Model.set_many([sample(ix, id="two", amount_kg=2)]))
    _unknown_scripts(monkeypatch, redis_client)
    assert await ix.run(ix.Model.all().delete()) == 2
    assert redis_client.script_exists(scripts.DELETE.sha) == [True]  # loaded again by the library


async def test_reindex_moves_unindexed_and_redis_schematics_data(
    redis_api: Api, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """reindex() indexes objects written before __indexes__ was declared, keeping their TTLs, and logs progress."""
    api = redis_api
    await api.run(sample(api, id="old", amount_kg=10).set())
    await api.run(sample(api, id="brief", amount_kg=20).set(expire=100))
    indexed = api.variant("", __indexes__=("amount_kg",))
    assert await indexed.ids(indexed.Model.filter(amount_kg=10)) == []  # not indexed yet
    with caplog.at_level(logging.INFO, logger="persist_mixins"):
        assert await indexed.run(indexed.Model.reindex()) == 2
    assert any("2 objects indexed" in message for message in caplog.messages)
    assert await indexed.ids(indexed.Model.filter(amount_kg=10)) == ["old"]
    brief = await indexed.run(indexed.Model.match(amount_kg=20))
    assert 95 < await indexed.run(brief.ttl()) <= 100
    assert redis_client.exists(f"{api.prefix}:old") == 0
    assert await indexed.run(indexed.Model.reindex()) == 2  # idempotent


def test_index_options_are_checked() -> None:
    """An index on an unknown field fails at class creation; on a list field, at first use."""
    with pytest.raises(ConfigurationError, match="colour"):

        @dataclasses.dataclass
        class Unknown(persist_mixins.SimpleRedisMixin):
            __indexes__ = ("colour",)
            id: str | None = None

    @dataclasses.dataclass
    class Listy(persist_mixins.SimpleRedisMixin):
        __indexes__ = ("tags",)
        id: str | None = None
        tags: list[str] = dataclasses.field(default_factory=list)

    with pytest.raises(ConfigurationError, match="tags"):
        Listy(id="x").set()
    with pytest.raises(ConfigurationError, match="tags"):
        Listy.count(tags__contains="x")


async def test_range_conditions_on_one_field_read_one_range(ix: Api, commands: list[tuple[Any, ...]]) -> None:
    """gte and lt on one indexed field become one ZRANGEBYSCORE reading only the hits, not two half-ranges."""
    await ix.run(ix.Model.set_many([sample(ix, id=f"o{i:03}", amount_kg=i) for i in range(300)]))
    commands.clear()
    assert await ix.ids(ix.Model.filter(amount_kg__gte=10, amount_kg__lt=13)) == ["o010", "o011", "o012"]
    ranges = [args for args in commands if args[0] == "ZRANGEBYSCORE"]
    assert ranges == [("ZRANGEBYSCORE", f"{{{ix.prefix}}}#i:amount_kg", "10.0", "(13.0")]
    assert await ix.run(ix.Model.count(amount_kg__gt=10, amount_kg__lte=20, amount_kg__range=(0, 15))) == 5


async def test_persist_or_expire_on_a_just_expired_object_leaves_it_to_purge(
    ix: Api, redis_client: redis.Redis
) -> None:
    """persist()/expire() racing an expiry keep the object on the schedule, so purge_expired() removes its entries."""
    objs = [sample(ix, id=f"e{i}", amount_kg=i) for i in range(4)]
    await ix.run(ix.Model.set_many(objs, expire=0.05))
    await asyncio.sleep(0.15)  # every object expired; its index entries remain until purged
    for obj in objs[:2]:
        assert await ix.run(obj.persist()) is False
    for obj in objs[2:]:
        assert await ix.run(obj.expire(60)) is False
    assert await ix.run(ix.Model.purge_expired()) == 4
    prefix = "{" + ix.prefix + "}"
    leftovers = [k for k in redis_client.scan_iter(match=prefix.replace("{", "\\{").replace("}", "\\}") + "*")]
    assert not any(redis_client.zcard(k) for k in leftovers if redis_client.type(k) == b"zset")
