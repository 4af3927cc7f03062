"""redis-schematics compatibility: its README runs with the import changed, data moves both ways, bugs stay fixed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import redis
import redis_schematics
from schematics import models, types

from persist_mixins import HashRedisMixin, InvalidLookup, MultipleFound, NotFound, SimpleRedisMixin
from persist_mixins.backends.redis import driver_redis as redis_driver
from persist_mixins.binding import spec_of

from .models import readme_model


@pytest.fixture
def IceCreamModel(prefix: str) -> type:
    """The model of redis-schematics' README quickstart, with persist_mixins' SimpleRedisMixin."""
    return readme_model(SimpleRedisMixin, __key_prefix__=prefix)


def test_readme_quickstart_runs_with_only_the_import_changed(IceCreamModel: Any) -> None:
    """The README's quickstart works unchanged except for its one typo, which now raises InvalidLookup."""
    vanilla = IceCreamModel(
        dict(
            id="vanilla",
            flavour="Sweet Vanilla",
            amount_kg=42,
            best_before=datetime_now() + dt.timedelta(days=2),
        )
    )
    chocolate = IceCreamModel(
        dict(
            id="chocolate",
            flavour="Delicious Chocolate",
            amount_kg=12,
            best_before=datetime_now() + dt.timedelta(days=3),
        )
    )
    vanilla.set()
    chocolate.set()

    assert IceCreamModel.match_for_pk("vanilla").flavour == "Sweet Vanilla"
    # The README writes `amount__gte`, a field the model does not have: redis-schematics
    # silently compared None (and crashed on Python 3); persist_mixins names the typo.
    with pytest.raises(InvalidLookup, match="no field 'amount'"):
        IceCreamModel.match_for_values(amount__gte=30)
    assert IceCreamModel.match_for_values(amount_kg__gte=30).id == "vanilla"

    assert IceCreamModel.match(id="vanilla").amount_kg == 42  # match on pk
    with pytest.raises(MultipleFound):  # both flavours are still good: more than one match
        IceCreamModel.match(best_before__gte=datetime_now())

    vanilla.refresh()
    assert len(IceCreamModel.all()) == 2
    with pytest.raises(InvalidLookup):
        IceCreamModel.filter(amount__gte=30)
    assert [o.id for o in IceCreamModel.filter(amount_kg__gte=30)] == ["vanilla"]

    vanilla.delete()
    with pytest.raises(NotFound):
        IceCreamModel.match_for_pk("vanilla")


def datetime_now() -> dt.datetime:
    """``datetime.now()``, as the README calls it."""
    return dt.datetime.now()


@pytest.fixture
def legacy(prefix: str, redis_client: redis.Redis) -> type:
    """The same model on redis-schematics 0.3.1 itself, sharing the key prefix (its ``__prefix__`` hook)."""
    return readme_model(
        redis_schematics.SimpleRedisMixin, __redis_client__=redis_client, __prefix__=property(lambda self: prefix)
    )


def test_data_written_by_redis_schematics_reads_back(IceCreamModel: Any, legacy: Any) -> None:
    """Objects redis-schematics stored are found, decoded and filtered by persist_mixins."""
    best = dt.datetime(2030, 5, 6, 7, 8, 9, 123456)
    legacy(dict(id="vanilla", flavour="Vanilla", amount_kg=42, best_before=best)).set()
    found = IceCreamModel.match(id="vanilla")
    assert (found.pk, found.flavour, found.amount_kg, found.best_before) == ("vanilla", "Vanilla", 42, best)
    assert IceCreamModel.count(amount_kg__gte=40) == 1


def test_data_written_by_persist_mixins_reads_back_in_redis_schematics(IceCreamModel: Any, legacy: Any) -> None:
    """Objects persist_mixins stored are read by redis-schematics' match_for_pk and all()."""
    best = dt.datetime(2030, 5, 6, 7, 8, 9, 123456)
    IceCreamModel(dict(id="mint", flavour="Mint", amount_kg=3, best_before=best)).set()
    old = legacy.match_for_pk("mint")
    assert (old.flavour, old.amount_kg, old.best_before) == ("Mint", 3, best)
    assert [o.id for o in legacy.all()] == ["mint"]


def test_none_values_never_raise_in_comparisons(IceCreamModel: Any) -> None:
    """Objects with None fields are skipped by ordering lookups instead of raising TypeError."""
    IceCreamModel(dict(id="empty")).set()
    IceCreamModel(dict(id="full", amount_kg=5, best_before=dt.datetime(2030, 1, 1))).set()
    assert [o.id for o in IceCreamModel.filter(amount_kg__gte=1)] == ["full"]
    assert [o.id for o in IceCreamModel.filter(best_before__lt=dt.datetime(2031, 1, 1))] == ["full"]
    assert sorted(o.id for o in IceCreamModel.filter(amount_kg__ne=5)) == ["empty"]


def test_key_expiring_between_listing_and_reading_is_skipped(
    IceCreamModel: Any, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object that disappears after SCAN listed it and before MGET read it is skipped, not a crash."""
    for pk in ("a", "b", "c"):
        IceCreamModel(dict(id=pk, amount_kg=1)).set()
    spec = spec_of(IceCreamModel)
    real = redis_driver.RedisDriver.execute

    def execute_then_expire(self: Any, conn: Any, command: Any) -> Any:
        reply = real(self, conn, command)
        if getattr(command, "args", ("",))[0] == "SCAN":
            redis_client.delete(f"{spec.options.key_prefix}:b")  # expires in the gap
        return reply

    monkeypatch.setattr(redis_driver.RedisDriver, "execute", execute_then_expire)
    assert sorted(o.id for o in IceCreamModel.all()) == ["a", "c"]


def test_configure_supplies_the_client_when_the_model_has_none(
    IceCreamModel: Any, prefix: str, redis_client: redis.Redis
) -> None:
    """A model without ``__redis_client__`` writes through the connection given to configure()."""
    IceCreamModel(dict(id="x", amount_kg=1)).set()
    assert redis_client.exists(f"{prefix}:x") == 1
    assert IceCreamModel.match(pk="x").amount_kg == 1


def test_reindex_picks_up_redis_schematics_data(prefix: str, legacy: Any) -> None:
    """Objects redis-schematics wrote become indexed (and keep their TTL) after reindex()."""
    legacy(dict(id="vanilla", flavour="Vanilla", amount_kg=42)).set()
    legacy(dict(id="mint", flavour="Mint", amount_kg=3)).set()

    Indexed = readme_model(SimpleRedisMixin, __key_prefix__=prefix, __indexes__=("amount_kg",))
    assert Indexed.reindex() == 2
    assert [o.id for o in Indexed.filter(amount_kg__gte=10)] == ["vanilla"]
    assert Indexed.match(pk="mint").flavour == "Mint"


#: Every field type redis-schematics' examples and tests use, and the other Schematics scalars.
EVERY_TYPE = {
    "pk": types.StringType(), "id": types.IntType(required=True), "name": types.StringType(),
    "created": types.DateTimeType(), "price": types.DecimalType(), "tags": types.ListType(types.StringType()),
    "ok": types.BooleanType(), "ratio": types.FloatType(), "day": types.DateType(), "ref": types.UUIDType(),
    "extra": types.DictType(types.IntType()),
}  # fmt: skip
SAMPLE = {
    "id": 123, "name": "Bar", "created": dt.datetime(2030, 1, 2, 3, 4, 5, 678), "price": "1.50", "tags": ["a", "b"],
    "ok": True, "ratio": 0.5, "day": dt.date(2030, 1, 2), "ref": "12345678-1234-5678-1234-567812345678",
    "extra": {"k": 1},
}  # fmt: skip
LAYOUTS = {
    "simple": (SimpleRedisMixin, redis_schematics.SimpleRedisMixin),
    "hash": (HashRedisMixin, redis_schematics.HashRedisMixin),
}


def model_pair(layout: str, name: str, client: redis.Redis, expire: int | None) -> tuple[type, type]:
    """One Schematics model of every field type on persist_mixins' and on redis-schematics' mixin of a layout."""
    ours, theirs = LAYOUTS[layout]
    options = {"__redis_client__": client, "__expire__": expire, **EVERY_TYPE}
    return type(name, (models.Model, ours), dict(options)), type(name, (models.Model, theirs), dict(options))


def stored_ttl(layout: str, name: str, client: redis.Redis) -> int:
    """The TTL of what a layout stored for the sample (the object's key, or the model's hash)."""
    return int(client.ttl(f"{name}:123" if layout == "simple" else name))


@pytest.mark.parametrize("expire", [None, 120])
@pytest.mark.parametrize("layout", ["simple", "hash"])
def test_redis_schematics_reads_every_field_type_we_write(
    layout: str, expire: int | None, redis_client: redis.Redis, prefix: str
) -> None:
    """What persist_mixins writes in either layout, redis-schematics 0.3.1 reads back field for field, TTL included."""
    name = prefix.replace(":", "_")
    ours, theirs = model_pair(layout, name, redis_client, expire)
    try:
        ours(SAMPLE).set()
        back = theirs.match_for_pk("123")
        assert back.to_primitive() == {**ours(SAMPLE).to_primitive(), "pk": "123"}
        assert [o.to_primitive() for o in theirs.all()] == [back.to_primitive()]
        assert (
            stored_ttl(layout, name, redis_client) == -1
            if expire is None
            else 110 < stored_ttl(layout, name, redis_client) <= 120
        )
    finally:
        redis_client.delete(f"{name}:123", name)


@pytest.mark.parametrize("expire", [None, 120])
@pytest.mark.parametrize("layout", ["simple", "hash"])
def test_we_read_every_field_type_redis_schematics_writes(
    layout: str, expire: int | None, redis_client: redis.Redis, prefix: str
) -> None:
    """What redis-schematics 0.3.1 writes in either layout is found by pk, by values and in queries, field for field."""
    if layout == "hash" and expire is None:
        pytest.skip(
            "redis-schematics 0.3.1's HashRedisMixin cannot write without __expire__ (it sends EXPIRE key None)"
        )
    name = prefix.replace(":", "_")
    ours, theirs = model_pair(layout, name, redis_client, expire)
    try:
        theirs(SAMPLE).set()
        found = ours.match_for_pk("123")
        assert found.to_primitive() == theirs.match_for_pk("123").to_primitive()
        assert ours.match(name="Bar", price__gte=1).id == 123
        assert [o.id for o in ours.filter(tags__contains="b", day=dt.date(2030, 1, 2))] == [123]
        ttl = found.ttl()
        assert ttl is None if expire is None else 110 < ttl <= 120
    finally:
        redis_client.delete(f"{name}:123", name)


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN included."""
    return (a != a and b != b) or (a == b and type(a) is type(b))


BIG = 2**70 + 3  # not a float's value: read as a float, it would come back changed
SMALL = -(2**65) - 1


@pytest.mark.parametrize("ratio", [0.5, float("nan"), float("inf"), float("-inf")], ids=["0.5", "nan", "inf", "-inf"])
@pytest.mark.parametrize("layout", ["simple", "hash"])
def test_nan_infinities_and_huge_ints_move_both_ways(
    layout: str, ratio: float, redis_client: redis.Redis, prefix: str
) -> None:
    """redis-schematics writes NaN / Infinity tokens and ints of any size: we read them exactly (and all() counts
    them), and write them the same way, so it reads ours (orjson refused them, read huge ints as floats, wrote NaN
    as null)."""
    name = prefix.replace(":", "_")
    ours, theirs = model_pair(layout, name, redis_client, 120)
    huge = {**SAMPLE, "id": BIG, "ratio": ratio, "extra": {"k": SMALL}}
    try:
        theirs(huge).set()
        found = ours.match_for_pk(str(BIG))
        assert (found.id, found.extra) == (BIG, {"k": SMALL})
        assert _same(found.ratio, ratio)
        assert len(ours.all()) == 1
        assert [o.id for o in ours.filter(name="Bar")] == [BIG]

        ours({**huge, "id": BIG + 1}).set()
        back = theirs.match_for_pk(str(BIG + 1))
        assert (back.id, back.extra) == (BIG + 1, {"k": SMALL})
        assert _same(back.ratio, ratio)
        assert ours.count() == 2
    finally:
        redis_client.delete(f"{name}:{BIG}", f"{name}:{BIG + 1}", name)
