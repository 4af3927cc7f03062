"""``__db_defaults__`` on Redis: the server's time and per-field counters, filled inside the write scripts.

The behaviour every backend shares is in ``tests/behaviour/test_db_defaults.py``; this module
checks what the Redis layouts store and the Redis-only rules (int counters, kept values,
which kinds can be filled, indexed fields refused).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
import redis

import persist_mixins.asyncio
from persist_mixins import ConfigurationError, ConflictError, HashRedisMixin, SimpleRedisMixin

from .models import define

TICKET: dict[str, Any] = {"id": str | None, "text": str | None, "no": int | None, "at": dt.datetime | None}
LAYOUTS = [SimpleRedisMixin, HashRedisMixin]


def ticket(prefix: str, mixin: type = SimpleRedisMixin, **options: Any) -> Any:
    """A dataclass ``Ticket`` whose ``no`` (a counter) and ``at`` (the server's time) the database fills."""
    return define(
        "dataclasses", TICKET, {"__key_prefix__": prefix, "__db_defaults__": ("no", "at"), **options}, mixin=mixin,
        name="Ticket",
    )  # fmt: skip


def stored(client: redis.Redis, prefix: str, mixin: type, pk: str, *, tagged: bool = False) -> dict[str, Any]:
    """The JSON document of one object as the layout stores it."""
    if mixin is HashRedisMixin:
        raw = client.hget(prefix, f"{prefix}:{pk}")
    else:
        raw = client.get(("{" + prefix + "}" if tagged else prefix) + f":{pk}")
    assert raw is not None
    return dict(json.loads(raw))  # type: ignore[arg-type]


def recent(value: Any) -> bool:
    """An aware UTC datetime within a minute of now."""
    return (
        isinstance(value, dt.datetime)
        and value.utcoffset() == dt.timedelta(0)
        and abs(dt.datetime.now(dt.timezone.utc) - value) < dt.timedelta(minutes=1)
    )


@pytest.mark.parametrize("mixin", LAYOUTS, ids=["json", "hash"])
def test_int_counter_and_server_time_are_filled_back(prefix: str, redis_client: redis.Redis, mixin: type) -> None:
    """Each new object takes the next number of the field's counter and the server's time; both are stored as read."""
    Ticket = ticket(prefix, mixin)
    a = Ticket(id="a", text="first").set()
    b = Ticket(id="b", text="second").set()
    assert (a.no, b.no) == (1, 2)
    assert recent(a.at) and recent(b.at) and b.at >= a.at
    doc = stored(redis_client, prefix, mixin, "a")
    assert doc["no"] == 1
    # Stored as the library writes an aware UTC datetime: ISO text with microseconds and +00:00.
    assert dt.datetime.fromisoformat(doc["at"]) == a.at and doc["at"].endswith("+00:00") and "." in doc["at"]
    assert Ticket.match_for_pk("a").at == a.at
    assert int(redis_client.get("{" + prefix + "}#seq:no") or 0) == 2  # the per-model counter, beside the objects
    given = Ticket(id="c", no=100, at=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)).set()
    assert (given.no, given.at.year) == (100, 2030)  # values given are written as given; the counter does not move
    assert Ticket(id="d").set().no == 3


@pytest.mark.parametrize("mixin", LAYOUTS, ids=["json", "hash"])
def test_a_stored_value_is_kept_when_the_object_leaves_it_none(
    prefix: str, redis_client: redis.Redis, mixin: type
) -> None:
    """Re-saving with None keeps what is stored (no new number, no new time); a stored null gets a fresh value."""
    Ticket = ticket(prefix, mixin)
    first = Ticket(id="a", text="one").set()
    again = Ticket(id="a", text="two").set()  # a new object for the same pk, fields left None
    assert (again.no, again.at) == (first.no, first.at)
    assert stored(redis_client, prefix, mixin, "a")["text"] == "two"
    doc = stored(redis_client, prefix, mixin, "a")
    doc["no"] = None
    raw = json.dumps(doc)
    if mixin is HashRedisMixin:
        redis_client.hset(prefix, f"{prefix}:a", raw)
    else:
        redis_client.set(f"{prefix}:a", raw)
    assert Ticket(id="a").set().no == 2  # the stored null gets the next number


def test_an_expired_object_takes_fresh_values(prefix: str) -> None:
    """An object gone by expiry is not 'stored': its re-save takes fresh values, and the TTL is written as asked."""
    Ticket = ticket(prefix)
    Ticket(id="a").set(expire=0.05)
    import time

    time.sleep(0.1)
    again = Ticket(id="a").set(expire=100)
    assert again.no == 2
    ttl = again.ttl()
    assert ttl is not None and 90 < ttl <= 100


@pytest.mark.parametrize("mixin", LAYOUTS, ids=["json", "hash"])
def test_set_only_naming_a_none_field_takes_a_fresh_value(prefix: str, mixin: type) -> None:
    """set(only=...) naming a None db-default field fills it afresh (SET col = DEFAULT); others stay as stored."""
    Ticket = ticket(prefix, mixin)
    obj = Ticket(id="a", text="one").set()
    first_at = obj.at
    obj.no = None
    obj.text = "two"
    obj.set(only=("no", "text"))
    assert obj.no == 2 and obj.at == first_at
    back = Ticket.match_for_pk("a")
    assert (back.no, back.text, back.at) == (2, "two", first_at)
    back.text = "three"
    back.set(only=("text",))
    assert Ticket.match_for_pk("a").no == 2


@pytest.mark.parametrize("mixin", LAYOUTS, ids=["json", "hash"])
def test_set_many_fills_every_object_back(prefix: str, mixin: type) -> None:
    """set_many() fills each object from its own write: consecutive numbers, the server's time."""
    Ticket = ticket(prefix, mixin)
    objs = Ticket.set_many([Ticket(id=f"t{k}") for k in range(5)] + [Ticket(id="given", no=50)])
    assert [obj.no for obj in objs] == [1, 2, 3, 4, 5, 50]
    assert all(recent(obj.at) for obj in objs)
    assert sorted(obj.no for obj in Ticket.all()) == [1, 2, 3, 4, 5, 50]


@pytest.mark.parametrize("mixin", LAYOUTS, ids=["json", "hash"])
def test_versioned_and_unique_model(prefix: str, redis_client: redis.Redis, mixin: type) -> None:
    """Versioned and unique: one script checks the version and claims, then fills; a refused write takes no number."""
    Ticket = define(
        "dataclasses", {**TICKET, "version": int | None, "code": str | None},
        {"__key_prefix__": prefix, "__db_defaults__": ("no", "at"), "__version_field__": "version",
         "__unique__": ("code",)},
        mixin=mixin, name="Ticket",
    )  # fmt: skip
    a = Ticket(id="a", code="x").set()
    assert (a.no, a.version) == (1, 1) and recent(a.at)
    with pytest.raises(ConflictError):
        Ticket(id="b", code="x").set()  # the unique clash: nothing written, no number taken
    stale = Ticket.match_for_pk("a")
    a.text = "moved on"
    a.set()
    with pytest.raises(ConflictError):
        stale.set()  # the version moved on
    b = Ticket(id="b", code="y").set()
    assert b.no == 2
    assert stored(redis_client, prefix, mixin, "a", tagged=True)["no"] == 1


def test_other_kinds_and_indexed_fields_are_refused(prefix: str, redis_client: redis.Redis) -> None:
    """Only datetime and int fields can be filled (ConfigurationError at the first write); an indexed one never."""
    Odd = define(
        "dataclasses", {"id": str | None, "name": str | None},
        {"__key_prefix__": prefix, "__db_defaults__": ("name",)}, name="Odd",
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match=r"only datetime fields .* and int fields"):
        Odd(id="a").set()
    with pytest.raises(ConfigurationError, match=r"only datetime fields"):
        Odd.set_many([Odd(id="a")])
    assert redis_client.exists(f"{prefix}:a") == 0
    with pytest.raises(ConfigurationError, match=r"__db_defaults__ names 'no', which is in __indexes__"):
        ticket(prefix + ":i", __indexes__=("no",))


def test_an_indexed_model_fills_an_unindexed_field(prefix: str) -> None:
    """On an indexed model the write script keeps the other fields' index entries and fills the db-default field."""
    Ticket = ticket(prefix, __indexes__=("text",))
    Ticket.set_many([Ticket(id="a", text="x"), Ticket(id="b", text="y")])
    found = Ticket.match(text="y")
    assert found.no == 2 and recent(found.at)
    found.text = "z"
    found.set()
    assert Ticket.match(text="z").no == 2 and not Ticket.filter(text="y").exists()


async def test_asyncio_fills_back(prefix: str) -> None:
    """The asyncio mixins run the same plans: set(), set_many() and set(only=) fill back."""
    options: dict[str, Any] = {"__key_prefix__": prefix, "__db_defaults__": ("no", "at")}
    Ticket = dataclasses.make_dataclass(
        "Ticket",
        [("id", str), ("no", int | None, None), ("at", dt.datetime | None, None)],
        bases=(persist_mixins.asyncio.SimpleRedisMixin,),
        namespace=options,
    )
    a = await Ticket("a").set()
    many = await Ticket.set_many([Ticket("b"), Ticket("c")])
    assert [a.no, *(obj.no for obj in many)] == [1, 2, 3] and recent(a.at)
    a.no = None
    await a.set(only=("no",))
    assert a.no == 4 and (await Ticket.match_for_pk("a")).no == 4


def test_hash_layout_counters_never_take_the_hash_ttl(prefix: str, redis_client: redis.Redis) -> None:
    """The claims of a hash-layout model take the hash's TTL; its counters, named in the same script, do not."""
    Ticket = ticket(prefix, HashRedisMixin, __expire__=100, __unique__=("text",))
    Ticket(id="a", text="x").set()
    assert 90 < redis_client.pttl(prefix) / 1000 <= 100
    assert redis_client.pttl("{" + prefix + "}#u:text") > 0
    assert redis_client.pttl("{" + prefix + "}#seq:no") == -1


def test_a_refused_kind_leaves_the_object_untouched(prefix: str) -> None:
    """The kind check comes before anything else: the object's empty pk is not even filled."""
    Odd = define(
        "dataclasses", {"id": str | None, "name": str | None},
        {"__key_prefix__": prefix, "__db_defaults__": ("name",)}, name="Odd",
    )  # fmt: skip
    for write in (lambda obj: obj.set(), lambda obj: Odd.set_many([obj])):
        obj = Odd()
        with pytest.raises(ConfigurationError):
            write(obj)
        assert obj.id is None
