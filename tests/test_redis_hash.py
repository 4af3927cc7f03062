"""HashRedisMixin against the real Redis: redis-schematics' hash layout, both ways, and what the layout refuses."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import persist_mixins
import persist_mixins.asyncio
from persist_mixins import ConfigurationError, HashRedisMixin, InvalidLookup, NotFound, ValidationError
from persist_mixins.patches import patch_json


@pytest.fixture
def hashes(redis_client: redis.Redis, prefix: str) -> Iterator[list[str]]:
    """Hash keys a test writes (deleted afterwards, with the prefix's other keys)."""
    keys: list[str] = []
    yield keys
    for key in keys:
        redis_client.delete(key)


def tenant_orders(prefix: str) -> Any:
    """A model whose ``__set_key__`` property puts each tenant's orders in a hash of their own."""

    @dataclasses.dataclass
    class Order(HashRedisMixin):
        __key_prefix__ = prefix
        id: str
        tenant: str = "acme"
        total: int = 0

        @property
        def __set_key__(self) -> str:
            return self.__key_pattern__(self.tenant)

    return Order


def test_dynamic_set_key_spreads_objects_over_hashes(redis_client: redis.Redis, prefix: str, hashes: list[str]) -> None:
    """A ``__set_key__`` property (one hash per tenant) picks the hash of writes, and of queries naming the tenant."""

    Order = tenant_orders(prefix)

    hashes.extend([f"{prefix}:acme", f"{prefix}:globex"])
    Order.set_many([Order("1", "acme", 5), Order("2", "globex", 7), Order("3", "acme", 9)])
    assert redis_client.hlen(f"{prefix}:acme") == 2 and redis_client.hlen(f"{prefix}:globex") == 1
    assert [o.id for o in Order.filter(tenant="acme").order_by("total")] == ["1", "3"]
    assert Order.filter(tenant="globex").count() == 1
    assert Order.match(tenant="globex", total=7).id == "2"
    order = Order("3", "acme")
    assert order.refresh().total == 9
    assert order.delete() and redis_client.hlen(f"{prefix}:acme") == 1


def test_per_object_expiry_is_refused_before_any_write(redis_client: redis.Redis, prefix: str) -> None:
    """set(expire=), expire() and persist() are ConfigurationErrors: the hash expires as a whole; nothing is written."""

    @dataclasses.dataclass
    class Cone(HashRedisMixin):
        __key_prefix__ = prefix
        id: str

    with pytest.raises(ConfigurationError, match=r"shares the expiry of its hash.*__expire__"):
        Cone("a").set(expire=5)
    assert not redis_client.exists(prefix)
    cone = Cone("a").set()
    for call in (lambda: cone.expire(5), cone.persist):
        with pytest.raises(ConfigurationError, match="shares the expiry of its hash"):
            call()
    assert cone.ttl() is None
    redis_client.delete(prefix)


def test_class_expire_is_the_hash_ttl_renewed_by_every_write(redis_client: redis.Redis, prefix: str) -> None:
    """``__expire__`` sets the TTL of the whole hash on each write; ttl() reports it; a deleted object is NotFound."""

    @dataclasses.dataclass
    class Cone(HashRedisMixin):
        __key_prefix__ = prefix
        __expire__ = 30
        id: str

    cone = Cone("a").set()
    redis_client.pexpire(prefix, 1000)
    Cone("b").set()
    assert 29 < cone.ttl() <= 30  # type: ignore[operator]
    cone.delete()
    with pytest.raises(NotFound):
        cone.ttl()
    redis_client.delete(prefix)


def test_indexes_are_refused_at_class_creation() -> None:
    """``__indexes__`` on the hash layout fails when the class is created, saying to use SimpleRedisMixin."""
    with pytest.raises(ConfigurationError, match=r"HashRedisMixin keeps no secondary indexes.*SimpleRedisMixin"):
        type("Cone", (HashRedisMixin,), {"__annotations__": {"id": str, "n": int}, "__indexes__": ("n",)})


def test_update_never_resurrects_and_invalid_data_writes_nothing(redis_client: redis.Redis, prefix: str) -> None:
    """Query update() writes only objects still stored, after validating every one; set_many is all or nothing."""

    @dataclasses.dataclass
    class Cone(HashRedisMixin):
        __key_prefix__ = prefix
        id: str
        n: int = 0

    Cone.set_many([Cone("a", 1), Cone("b", 1)])
    query = Cone.filter(n=1)
    assert len(query) == 2
    redis_client.hdel(prefix, f"{prefix}:b")  # deleted by someone else after the read
    assert query.update(n=2) == 1
    assert redis_client.hkeys(prefix) == [f"{prefix}:a".encode()]
    with pytest.raises(ValidationError):
        Cone.set_many([Cone("c", 1), Cone("d", "x")])  # type: ignore[arg-type]
    assert redis_client.hlen(prefix) == 1
    assert Cone.delete_all() == 1 and Cone.delete_all() == 0


def test_large_hashes_are_read_in_batches(redis_client: redis.Redis, prefix: str) -> None:
    """Thousands of objects in one hash: count is one HLEN, filters walk it by HSCAN and see each object once."""

    @dataclasses.dataclass
    class Cone(HashRedisMixin):
        __key_prefix__ = prefix
        id: str
        n: int = 0

    Cone.set_many([Cone(str(i), i % 10) for i in range(2500)])
    assert Cone.count() == 2500
    assert Cone.filter(n=3).count() == 250
    assert len({c.id for c in Cone.all()}) == 2500
    assert Cone.filter(n__gte=5).delete() == 1250
    redis_client.delete(prefix)


async def test_asyncio_hash_mixin_has_the_same_behaviour(redis_client: redis.Redis, prefix: str) -> None:
    """The asyncio HashRedisMixin writes the same layout and answers the same calls, awaited."""

    @dataclasses.dataclass
    class Cone(persist_mixins.asyncio.HashRedisMixin):
        __key_prefix__ = prefix
        id: str
        n: int = 0

    await Cone.set_many([Cone("a", 1), Cone("b", 2)])
    assert json.loads(redis_client.hget(prefix, f"{prefix}:a")) == {"id": "a", "n": 1}  # type: ignore[arg-type]
    assert (await Cone.match(n=2)).id == "b"
    assert [c.id async for c in Cone.filter(n__gte=1).order_by("-n")] == ["b", "a"]
    assert await Cone.filter(n=1).update(n=5) == 1
    assert (await Cone.match_for_pk("a")).n == 5
    assert await Cone.delete_filter(n=5) == 1
    assert await Cone.delete_all() == 1
    await persist_mixins.asyncio.close()


def test_patch_json_serializes_queries_and_models(prefix: str, redis_client: redis.Redis) -> None:
    """After patch_json(), json.dumps takes a query (a list of documents) and a model, as redis-schematics' did."""

    @dataclasses.dataclass
    class Cone(HashRedisMixin):
        __key_prefix__ = prefix
        id: str
        n: int = 0

    Cone("a", 1).set()
    patch_json()
    patch_json()  # idempotent
    assert json.dumps(Cone.all()) == '[{"id": "a", "n": 1}]'
    assert json.dumps(Cone("b")) == '{"id": "b", "n": 0}'
    assert Cone.all() == [Cone("a", 1)] and Cone.filter(n=2) == []
    redis_client.delete(prefix)


def test_dynamic_set_key_lookups_that_pin_the_pk_read_the_named_hash(redis_client: redis.Redis, prefix: str) -> None:
    """match/filter/update by pk plus the tenant read the tenant's hash; an update cannot move an object elsewhere."""

    Order = tenant_orders(prefix)

    Order("1", "globex", 7).set()
    assert Order.match(id="1", tenant="globex").total == 7
    assert [o.total for o in Order.filter(id="1", tenant="globex")] == [7]
    assert Order.filter(id="1", tenant="globex").update(total=8) == 1
    assert Order.match(id="1", tenant="globex").total == 8
    with pytest.raises(InvalidLookup, match="would move 1 object"):
        Order.filter(tenant="globex").update(tenant="acme")
    assert redis_client.hlen(f"{prefix}:globex") == 1 and not redis_client.exists(f"{prefix}:acme")
    redis_client.delete(f"{prefix}:globex")
