"""SimpleRedisMixin against the real Redis: every model library, sync and asyncio."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import decimal
import time
import uuid
from typing import Any

import orjson
import pytest
import redis

import persist_mixins
import persist_mixins.asyncio
from persist_mixins import (
    BackendConnectionError,
    ConfigurationError,
    InvalidLookup,
    MultipleFound,
    NotFound,
    ValidationError,
)

from .conftest import REDIS_URL, Api, sample, values


async def test_round_trip_keeps_every_type(api: Api) -> None:
    """Every supported type reads back equal, aware datetimes aware and naive ones naive."""
    obj = sample(api)
    assert await api.run(obj.set()) is obj
    loaded = await api.run(api.Model.match_for_pk("vanilla"))
    assert values(loaded) == values(obj)
    assert loaded.best_before.utcoffset() == dt.timedelta(hours=2)

    naive = sample(api, id="naive", best_before=dt.datetime(2030, 1, 2, 3, 4, 5))
    await api.run(naive.set())
    again = await api.run(api.Model.match_for_pk("naive"))
    assert again.best_before == dt.datetime(2030, 1, 2, 3, 4, 5)
    assert again.best_before.tzinfo is None


async def test_stored_as_json_string_at_prefix_colon_pk(api: Api, redis_client: redis.Redis) -> None:
    """An object is one JSON string at ``{prefix}:{pk}``, the redis-schematics layout."""
    await api.run(sample(api).set())
    raw = redis_client.get(f"{api.prefix}:vanilla")
    assert raw is not None
    data = orjson.loads(raw)
    assert data["id"] == "vanilla"
    assert data["amount_kg"] == 42
    assert redis_client.ttl(f"{api.prefix}:vanilla") == -1


async def test_objects_without_pk_get_distinct_uuid4_keys(api: Api) -> None:
    """Each pk-less object gets its own uuid4 hex pk (redis-schematics gave all of them one key)."""
    first = api.new(flavour="a", amount_kg=1)
    second = api.new(flavour="b", amount_kg=2)
    await api.run(first.set())
    await api.run(second.set())
    assert len(first.id) == 32 and int(first.id, 16) >= 0
    assert first.id != second.id
    assert await api.run(api.Model.count()) == 2
    assert (await api.run(api.Model.match_for_pk(second.id))).flavour == "b"


async def test_invalid_data_raises_and_writes_nothing(api: Api, redis_client: redis.Redis) -> None:
    """Invalid field values raise ValidationError, carry the library's error, and write no key."""
    obj = sample(api, id="bad")
    object.__setattr__(obj, "amount_kg", "lots") if api.kind != "schematics" else setattr(obj, "amount_kg", "lots")
    with pytest.raises(ValidationError) as info:
        await api.run(obj.set())
    assert "amount_kg" in str(info.value)
    if api.kind in ("schematics", "pydantic"):
        assert info.value.__cause__ is not None
    assert redis_client.exists(f"{api.prefix}:bad") == 0


async def test_refresh_reloads_in_place(api: Api) -> None:
    """refresh() copies the stored values onto the same instance; NotFound once it is gone."""
    obj = await api.run(sample(api).set())
    other = await api.run(api.Model.match_for_pk("vanilla"))
    other.amount_kg = 7
    await api.run(other.set())
    assert await api.run(obj.refresh()) is obj
    assert obj.amount_kg == 7
    assert await api.run(obj.delete()) is True
    assert await api.run(obj.delete()) is False
    with pytest.raises(NotFound):
        await api.run(obj.refresh())


async def test_expire_ttl_and_persist(api: Api) -> None:
    """set(expire=) keeps sub-second precision; expire(), persist() and ttl() agree with Redis."""
    obj = sample(api)
    await api.run(obj.set(expire=2.5))
    left = await api.run(obj.ttl())
    assert 2.0 < left <= 2.5
    assert await api.run(obj.persist()) is True
    assert await api.run(obj.ttl()) is None
    assert await api.run(obj.expire(dt.timedelta(seconds=30))) is True
    assert 29 < await api.run(obj.ttl()) <= 30
    with pytest.raises(ValidationError):
        await api.run(obj.expire(-1))
    await api.run(obj.delete())
    with pytest.raises(NotFound):
        await api.run(obj.ttl())
    assert await api.run(obj.expire(5)) is False


async def test_class_expire_applies_to_every_write(api: Api) -> None:
    """``__expire__`` is the default TTL of set() and set_many(); set(expire=) overrides it."""
    Model, new, _ = api.model(":exp", __expire__=100)
    obj = await api.run(new(id="a", amount_kg=1).set())
    assert 99 < await api.run(obj.ttl()) <= 100
    await api.run(obj.set(expire=5))
    assert 4 < await api.run(obj.ttl()) <= 5
    (many,) = await api.run(Model.set_many([new(id="b", amount_kg=2)]))
    assert 99 < await api.run(many.ttl()) <= 100


async def test_expired_objects_are_absent_from_every_read(api: Api) -> None:
    """After its TTL an object is not matched, listed, counted or refreshed."""
    keep = await api.run(sample(api, id="keep").set())
    gone = await api.run(sample(api, id="gone").set(expire=0.2))
    await asyncio.sleep(0.35)
    with pytest.raises(NotFound):
        await api.run(api.Model.match_for_pk("gone"))
    with pytest.raises(NotFound):
        await api.run(gone.refresh())
    assert await api.ids(api.Model.all()) == ["keep"]
    assert await api.run(api.Model.count()) == 1
    assert (await api.run(api.Model.match(flavour="Sweet Vanilla"))).id == keep.id
    assert await api.run(api.Model.purge_expired()) == 0


async def test_match_by_pk_still_checks_other_lookups(api: Api) -> None:
    """match(id=..., other=...) finds nothing when ``other`` disagrees (redis-schematics ignored it)."""
    await api.run(sample(api).set())
    assert (await api.run(api.Model.match(id="vanilla", amount_kg=42))).id == "vanilla"
    with pytest.raises(NotFound):
        await api.run(api.Model.match(id="vanilla", amount_kg=1))
    with pytest.raises(NotFound):
        await api.run(api.Model.match(pk="nope"))


async def test_match_for_values_needs_exactly_one(api: Api) -> None:
    """match() on values returns the one match, MultipleFound for two, NotFound for none."""
    await api.run(sample(api, id="a", amount_kg=10).set())
    await api.run(sample(api, id="b", amount_kg=20).set())
    assert (await api.run(api.Model.match(amount_kg__gt=15))).id == "b"
    assert (await api.run(api.Model.match_for_values(amount_kg=10))).id == "a"
    with pytest.raises(MultipleFound):
        await api.run(api.Model.match(flavour="Sweet Vanilla"))
    with pytest.raises(NotFound):
        await api.run(api.Model.match(amount_kg__gt=100))
    with pytest.raises(KeyError):  # both errors stay KeyErrors, as in redis-schematics
        await api.run(api.Model.match(amount_kg__gt=100))


LOOKUPS: list[tuple[dict[str, Any], list[str]]] = [
    ({"amount_kg": 20}, ["b"]),
    ({"amount_kg__ne": 20}, ["a", "c", "n"]),
    ({"amount_kg__not": 20}, ["a", "c", "n"]),
    ({"amount_kg__lt": 20}, ["a"]),
    ({"amount_kg__lte": 20}, ["a", "b"]),
    ({"amount_kg__gt": 20}, ["c"]),
    ({"amount_kg__gte": 20}, ["b", "c"]),
    ({"amount_kg__in": [10, 30]}, ["a", "c"]),
    ({"amount_kg__not_in": [10, 30]}, ["b", "n"]),
    ({"amount_kg__exclude": [10]}, ["b", "c", "n"]),
    ({"amount_kg__range": (10, 20)}, ["a", "b"]),
    ({"amount_kg__isnull": True}, ["n"]),
    ({"amount_kg__isnull": False}, ["a", "b", "c"]),
    ({"flavour__contains": "Choc"}, ["b"]),
    ({"flavour__icontains": "choc"}, ["b"]),
    ({"flavour__startswith": "Sweet"}, ["a"]),
    ({"flavour__endswith": "Mint"}, ["c"]),
    ({"tags__contains": "green"}, ["c"]),
    ({"extra__origin": "Madagascar"}, ["a", "b", "c"]),
    ({"grommet__weight__gte": 8}, ["b", "c"]),
    ({"best_before__lt": dt.datetime(2030, 6, 1, tzinfo=dt.timezone.utc)}, ["a", "b", "c"]),
    ({"made_on__range": (dt.date(2029, 1, 1), dt.date(2030, 1, 1))}, ["a", "b", "c"]),
    ({"amount_kg__gte": 10, "flavour__icontains": "mint"}, ["c"]),
    ({"ratio__gt": 0.2}, ["a", "b", "c", "n"]),
    ({"ratio__lt": 0.25}, []),
    ({"fresh": True}, ["a", "b", "c", "n"]),
    ({"fresh": False}, []),
    ({"price__lte": decimal.Decimal("3.10")}, ["a", "b", "c", "n"]),
    ({"price__gt": decimal.Decimal("3.1")}, []),
    ({"ref": "12345678-1234-5678-1234-567812345678"}, ["a", "b", "c", "n"]),
    ({"ref__in": [uuid.UUID(int=1)]}, []),
]


@pytest.mark.parametrize(("lookups", "expected"), LOOKUPS, ids=[",".join(lk) for lk, _ in LOOKUPS])
async def test_filter_lookups(api: Api, lookups: dict[str, Any], expected: list[str]) -> None:
    """Each lookup operator selects exactly the expected objects; None never breaks a comparison."""
    await api.run(sample(api, id="a", amount_kg=10, flavour="Sweet Vanilla").set())
    await api.run(sample(api, id="b", amount_kg=20, flavour="Dark Chocolate", grommet=api.grommet(8)).set())
    await api.run(sample(api, id="c", amount_kg=30, flavour="Mint", tags=["green"], grommet=api.grommet(9)).set())
    await api.run(
        sample(
            api, id="n", amount_kg=None, flavour=None, extra=None, grommet=None, best_before=None, made_on=None
        ).set()
    )
    found = sorted(await api.ids(api.Model.filter(**lookups)))
    assert found == expected
    assert await api.run(api.Model.count(**lookups)) == len(expected)


async def test_unknown_lookup_raises_before_any_io(api: Api) -> None:
    """A typo in a lookup raises InvalidLookup even when Redis is unreachable."""
    Model, _, _ = api.model(":io", __redis__="redis://127.0.0.1:1/0")
    with pytest.raises(InvalidLookup, match="amount"):
        Model.filter(amount__gte=30)
    with pytest.raises(InvalidLookup, match="no field"):
        await api.run(Model.match(amount_kg__gtee=30))
    with pytest.raises(InvalidLookup, match="int"):
        await api.run(Model.count(amount_kg__gte="30"))


async def test_ordering_limit_slicing_first_exists(api: Api) -> None:
    """order_by sorts None last (first when descending); limit, slices, first and exists read windows."""
    for pk, amount in (("a", 30), ("b", 10), ("c", None), ("d", 20)):
        await api.run(sample(api, id=pk, amount_kg=amount).set())
    q = api.Model.all()
    assert await api.ids(q.order_by("amount_kg")) == ["b", "d", "a", "c"]
    assert await api.ids(q.order_by("-amount_kg")) == ["c", "a", "d", "b"]
    assert await api.ids(q.order_by("amount_kg").limit(2)) == ["b", "d"]
    assert await api.ids(q.order_by("amount_kg")[1:3]) == ["d", "a"]
    assert (await api.run(q.order_by("-amount_kg", "id").first())).id == "c"
    assert await api.run(api.Model.filter(amount_kg__gt=100).first()) is None
    assert await api.run(api.Model.filter(amount_kg__gt=25).exists()) is True
    assert await api.run(api.Model.filter(amount_kg__gt=35).exists()) is False
    assert await api.run(q.filter(amount_kg__gte=10).order_by("id").count()) == 3
    with pytest.raises(InvalidLookup):
        q.order_by("tags")


async def test_query_update_keeps_ttl_and_validates(api: Api) -> None:
    """update() rewrites every match in place, keeps each TTL, and refuses invalid values."""
    await api.run(sample(api, id="a", amount_kg=10).set(expire=60))
    await api.run(sample(api, id="b", amount_kg=20).set())
    assert await api.run(api.Model.filter(amount_kg__lt=15).update(flavour="Melted")) == 1
    a = await api.run(api.Model.match_for_pk("a"))
    assert a.flavour == "Melted"
    assert 55 < await api.run(a.ttl()) <= 60
    with pytest.raises(ValidationError):
        await api.run(api.Model.all().update(amount_kg="lots"))
    assert sorted(o.amount_kg for o in await api.items(api.Model.all())) == [10, 20]
    with pytest.raises(InvalidLookup):
        await api.run(api.Model.all().update(id="x"))
    with pytest.raises(InvalidLookup):
        await api.run(api.Model.all().update(colour="red"))


async def test_query_delete_counts(api: Api) -> None:
    """Query delete() removes only the matches and returns how many."""
    for pk, amount in (("a", 1), ("b", 2), ("c", 3)):
        await api.run(sample(api, id=pk, amount_kg=amount).set())
    assert await api.run(api.Model.filter(amount_kg__gte=2).delete()) == 2
    assert await api.ids(api.Model.all()) == ["a"]
    assert await api.run(api.Model.all().delete()) == 1
    assert await api.run(api.Model.count()) == 0


async def test_set_many_is_all_or_nothing_on_validation(api: Api) -> None:
    """set_many stores every object, or none of them when one is invalid."""
    objs = [sample(api, id=f"o{i}", amount_kg=i) for i in range(1500)]
    stored = await api.run(api.Model.set_many(objs))
    assert stored == objs
    assert await api.run(api.Model.count()) == 1500
    await api.run(api.Model.all().delete())
    bad = [sample(api, id="x1"), sample(api, id="x2")]
    object.__setattr__(bad[1], "amount_kg", "lots") if api.kind != "schematics" else setattr(
        bad[1], "amount_kg", "lots"
    )
    with pytest.raises(ValidationError):
        await api.run(api.Model.set_many(bad))
    assert await api.run(api.Model.count()) == 0


@pytest.mark.parametrize("pk", ["a*", "[ab]", "a?", "a\\b"])
async def test_glob_characters_in_pk_match_only_themselves(api: Api, pk: str) -> None:
    """A pk with glob characters is stored and found as itself, never as a pattern."""
    for other in ("ab", "a", "b", "aXb"):
        await api.run(sample(api, id=other).set())
    with pytest.raises(NotFound):
        await api.run(api.Model.match_for_pk(pk))
    await api.run(sample(api, id=pk, amount_kg=99).set())
    assert (await api.run(api.Model.match(pk=pk))).amount_kg == 99
    assert await api.ids(api.Model.filter(id=pk)) == [pk]
    assert await api.run(api.Model.count()) == 5


async def test_glob_characters_in_prefix_are_escaped(api: Api) -> None:
    """A key prefix with glob characters lists only its own objects."""
    Star, new_star, _ = api.model("*")
    await api.run(sample(api, id="plain").set())
    await api.run(new_star(id="starred").set())
    assert await api.ids(Star.all()) == ["starred"]
    assert await api.run(Star.count()) == 1


async def test_unique_together_builds_the_pk(api: Api, redis_client: redis.Redis) -> None:
    """``__unique_together__`` joins field values with '.' into the pk (redis-schematics ignored it)."""
    Model, new, _ = api.model(":ut", __unique_together__=("flavour", "amount_kg"))
    obj = await api.run(new(flavour="mint", amount_kg=3).set())
    assert obj.id == "mint.3"
    assert redis_client.exists(f"{api.prefix}:ut:mint.3") == 1
    assert (await api.run(Model.match(flavour="mint", amount_kg=3))).id == "mint.3"
    with pytest.raises(ValidationError, match="amount_kg"):
        await api.run(new(flavour="mint").set())


async def test_unreachable_redis_names_the_url(api: Api) -> None:
    """A server that does not answer gives BackendConnectionError naming its URL, not a hang."""
    Model, new, _ = api.model(":down", __redis__="redis://127.0.0.1:1/0")
    started = time.monotonic()
    with pytest.raises(BackendConnectionError, match=r"127\.0\.0\.1:1"):
        await api.run(new(id="x").set())
    with pytest.raises(ConnectionError):
        await api.run(Model.match_for_pk("x"))
    assert time.monotonic() - started < 10


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
    other_db = redis.Redis.from_url(REDIS_URL.rsplit("/", 1)[0] + "/14")

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


async def test_sync_query_behaves_like_a_list(prefix: str) -> None:
    """Sync queries support len(), indexing, negative indexing and bool, as redis-schematics' lists did."""

    @dataclasses.dataclass
    class Listy(persist_mixins.SimpleRedisMixin):
        __key_prefix__ = prefix
        id: str | None = None
        n: int = 0

    Listy.set_many([Listy(id=str(i), n=i) for i in range(5)])
    q = Listy.all().order_by("n")
    assert len(q) == 5
    assert q[0].n == 0 and q[-1].n == 4
    assert [o.n for o in q[1:3]] == [1, 2]
    assert bool(Listy.filter(n__gt=3)) is True
    assert bool(Listy.filter(n__gt=9)) is False
    with pytest.raises(IndexError):
        Listy.all().order_by("n")[7]


def test_redis_schematics_prefix_hook_is_refused() -> None:
    """A model overriding redis-schematics' ``__prefix__`` gets told to use ``__key_prefix__``, not ignored."""
    from schematics import models, types

    with pytest.raises(ConfigurationError, match="__key_prefix__"):

        class Legacy(models.Model, persist_mixins.SimpleRedisMixin):
            id = types.StringType()

            @property
            def __prefix__(self) -> str:
                return "custom"


def test_unknown_operator_is_named_as_such() -> None:
    """A typo in an operator says it is not an operator, and lists the operators."""

    @dataclasses.dataclass
    class Typo(persist_mixins.SimpleRedisMixin):
        id: str | None = None
        n: int = 0

    with pytest.raises(InvalidLookup, match="'foo' is not an operator"):
        Typo.filter(n__foo=3)


def test_async_query_refuses_truth_testing() -> None:
    """``if q:`` on an async query raises instead of always being true."""

    @dataclasses.dataclass
    class Truthy(persist_mixins.asyncio.SimpleRedisMixin):
        id: str | None = None

    with pytest.raises(TypeError, match="exists"):
        bool(Truthy.all())


def test_renamed_schematics_field_still_filters(prefix: str) -> None:
    """A field stored under another JSON key (serialized_name) is still filtered correctly."""
    from schematics import models, types

    class Renamed(models.Model, persist_mixins.SimpleRedisMixin):
        __key_prefix__ = prefix
        id = types.StringType()
        amount_kg = types.IntType(serialized_name="kg")

    Renamed({"id": "a", "kg": 5}).set()
    Renamed({"id": "b", "kg": 50}).set()
    assert [o.id for o in Renamed.filter(amount_kg__gte=10)] == ["b"]
    assert Renamed.count(amount_kg=5) == 1


def test_frozen_models_receive_a_generated_pk(prefix: str) -> None:
    """Frozen dataclasses, frozen attrs classes and frozen pydantic models get their pk filled and round-trip."""
    import attrs
    import pydantic

    @dataclasses.dataclass(frozen=True)
    class FrozenData(persist_mixins.SimpleRedisMixin):
        __key_prefix__ = prefix + ":d"
        id: str | None = None
        n: int = 0

    @attrs.frozen
    class FrozenAttrs(persist_mixins.SimpleRedisMixin):
        __key_prefix__ = prefix + ":a"
        id: str | None = None
        n: int = 0

    class FrozenPydantic(persist_mixins.SimpleRedisMixin, pydantic.BaseModel):
        model_config = pydantic.ConfigDict(frozen=True)
        __key_prefix__ = prefix + ":p"
        id: str | None = None
        n: int = 0

    for model in (FrozenData, FrozenAttrs, FrozenPydantic):
        obj = model(n=3).set()
        assert obj.id is not None and len(obj.id) == 32
        assert model.match_for_pk(obj.id) == obj


async def test_failed_set_many_changes_no_object(api: Api) -> None:
    """When one object of a batch is invalid, no other object gets a pk filled in."""
    Model, new, _ = api.model(":ut2", __unique_together__=("flavour", "amount_kg"))
    good = new(flavour="mint", amount_kg=1)
    bad = new(flavour="mint")  # amount_kg, part of the pk, is missing
    with pytest.raises(ValidationError):
        await api.run(Model.set_many([good, bad]))
    assert good.id is None
    assert await api.run(Model.count()) == 0
