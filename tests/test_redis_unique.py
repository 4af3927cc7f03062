"""``__unique__`` on Redis: the claim keys, their Cluster slot, stale claims, purge, reindex, canonical values.

The behaviour every backend shares is in ``tests/behaviour/test_unique.py``; this module
looks behind the library's back at what the Redis layouts store.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from persist_mixins import ConfigurationError, ConflictError, HashRedisMixin, SimpleRedisMixin
from persist_mixins.backends.redis.commands import Pipeline
from persist_mixins.backends.redis.driver_redis import RedisDriver
from persist_mixins.backends.redis.schema import same_slot, unique_text
from persist_mixins.binding import spec_of
from persist_mixins.run import run_sync

from .models import define
from .scripted import Script, through

BOOK: dict[str, Any] = {"id": str | None, "title": str | None, "code": Any, "n": int | None}


def book(prefix: str, mixin: type = SimpleRedisMixin, **options: Any) -> Any:
    """A dataclass ``Book`` with ``__unique__ = ("title", "code")`` under ``prefix``."""
    return define(
        "dataclasses", BOOK, {"__key_prefix__": prefix, "__unique__": ("title", "code"), **options}, mixin=mixin,
        name="Book",
    )  # fmt: skip


def test_unique_text_is_the_canonical_json_value() -> None:
    """Numbers compare as JSON numbers (1 and 1.0 are one value), strings exactly, dicts whatever their key order."""
    assert unique_text(None) == ""
    assert unique_text(1) == unique_text(1.0) == "1"
    assert unique_text(1.5) == "1.5"
    assert unique_text("Dune") == '"Dune"' != unique_text("dune")
    assert unique_text(True) == "true" != unique_text(1)
    assert unique_text("1") != unique_text(1)
    assert unique_text({"b": 1, "a": [2.0, "é"]}) == unique_text({"a": [2, "é"], "b": 1.0}) == '{"a":[2,"é"],"b":1}'
    assert unique_text(float("nan")) == "NaN"


def test_same_slot_keeps_or_makes_a_hash_tag() -> None:
    """Claim keys beside a hash land in its Cluster slot (not possible for a key with a "}" and no hash tag)."""
    for key in ("Book", "tenant:{t1}:books", "a{b", "{x"):
        assert key_slot(same_slot(key, "#u:title").encode()) == key_slot(key.encode()), key


def test_claim_keys_and_one_slot_per_script(prefix: str, redis_client: redis.Redis) -> None:
    """Every script call of a unique model names keys of one Cluster slot; the claims are where the docs say."""
    sent: list[Any] = []
    driver = RedisDriver(redis_client, "redis://test")

    def execute(command: Any) -> Any:
        sent.append(command)
        return driver.execute(redis_client, command)

    route = through(execute)
    for mixin, suffix in ((SimpleRedisMixin, ":s"), (HashRedisMixin, ":h")):
        Book = book(prefix + suffix, mixin)
        spec = spec_of(Book)
        plans = Book.__persist_backend__.plans
        a = run_sync(route, plans.save(spec, Book(id="a", title="Dune", code=1)))
        run_sync(route, plans.save_many(spec, [Book(id="b", title="Emma"), Book(id="c", code=2)]))
        a.title = "Dune II"
        run_sync(route, plans.save_only(spec, a, ("title",)))
        if mixin is SimpleRedisMixin:
            run_sync(route, plans.expire(spec, a, 100))
        run_sync(route, plans.delete(spec, a))
        run_sync(route, plans.purge_expired(spec))
        Book.filter(id="b").update(title="Persuasion")
        Book.filter(id="b").delete()
    flat = [c for s in sent for c in (s.commands if isinstance(s, Pipeline) else [s])]
    scripts = [c for c in flat if c.args[0] in ("EVALSHA", "EVAL")]
    assert len(scripts) >= 12
    for command in scripts:
        keys = command.args[3 : 3 + int(command.args[2])]
        assert len({key_slot(k.encode()) for k in keys}) == 1, keys
    assert redis_client.hgetall("{" + prefix + ":s}#u:title") == {}  # a and b deleted: their titles are free
    assert redis_client.hgetall("{" + prefix + ":s}#o:code") == {b"c": b"2"}
    assert redis_client.exists("{" + prefix + ":s}:c")
    assert redis_client.hgetall("{" + prefix + ":h}#u:code") == {b"2": b"c"}
    assert redis_client.hexists(prefix + ":h", prefix + ":h:c")  # the hash layout's fields are untagged


def test_stale_claims_are_taken_over(prefix: str, redis_client: redis.Redis) -> None:
    """A claim whose owner is gone behind the library's back, or owns another value now, never blocks."""
    Book = book(prefix)
    Book(id="a", title="Dune").set()
    redis_client.delete("{" + prefix + "}:a")  # gone without the library
    Book(id="b", title="Dune").set()
    redis_client.hset("{" + prefix + "}#o:title", "b", '"Other"')  # b's claim no longer says Dune
    Book(id="c", title="Dune").set()
    with pytest.raises(ConflictError):
        Book(id="d", title="Dune").set()
    assert redis_client.hget("{" + prefix + "}#u:title", '"Dune"') == b"c"


def test_purge_expired_removes_claims_of_expired_objects(prefix: str, redis_client: redis.Redis) -> None:
    """purge_expired() drops the claims an expired object left; live claims stay."""
    Book = book(prefix)
    Book(id="a", title="Dune", code=1).set(expire=0.05)
    Book(id="b", title="Emma").set()
    time.sleep(0.15)
    assert Book.purge_expired() == 1
    assert redis_client.hgetall("{" + prefix + "}#u:title") == {b'"Emma"': b"b"}
    assert redis_client.hgetall("{" + prefix + "}#o:title") == {b"b": b'"Emma"'}
    assert not redis_client.exists("{" + prefix + "}#u:code", "{" + prefix + "}#o:code")


def test_hash_layout_purge_and_delete_all(prefix: str, redis_client: redis.Redis) -> None:
    """On the hash layout purge_expired() drops claims of objects gone from the hash; delete_all() drops them all."""
    Book = book(prefix, HashRedisMixin)
    Book.set_many([Book(id="a", title="Dune"), Book(id="b", title="Emma", code=3)])
    redis_client.hdel(prefix, prefix + ":b")  # gone without the library
    assert Book.purge_expired() == 1
    assert redis_client.hgetall("{" + prefix + "}#u:title") == {b'"Dune"': b"a"}
    assert not redis_client.exists("{" + prefix + "}#u:code")
    assert Book.delete_all() == 1
    assert not redis_client.exists("{" + prefix + "}#u:title", "{" + prefix + "}#o:title")


def test_hash_layout_claims_share_the_hash_ttl(prefix: str, redis_client: redis.Redis) -> None:
    """The claim hashes expire with the model's hash (``__expire__``)."""
    Book = book(prefix, HashRedisMixin, __expire__=100)
    Book(id="a", title="Dune").set()
    assert 90_000 < redis_client.pttl("{" + prefix + "}#u:title") <= 100_000


def test_hash_layout_refuses_a_dynamic_set_key() -> None:
    """__unique__ across several hashes cannot be checked atomically: refused at class creation."""
    with pytest.raises(ConfigurationError, match="__set_key__"):
        define(
            "dataclasses", BOOK,
            {"__unique__": ("title",), "__set_key__": property(lambda self: f"Book:{self.n}")},
            mixin=HashRedisMixin, name="Book",
        )  # fmt: skip


def test_numbers_clash_by_value(prefix: str) -> None:
    """1 and 1.0 are one value; True and "1" are others."""
    Book = book(prefix)
    Book(id="a", code=1).set()
    with pytest.raises(ConflictError, match=r"Book\.code = 1\.0"):
        Book(id="b", code=1.0).set()
    Book(id="c", code=True).set()
    Book(id="d", code="1").set()
    Book(id="e", code={"x": 1, "y": 2}).set()
    with pytest.raises(ConflictError):
        Book(id="f", code={"y": 2.0, "x": 1}).set()


def test_set_many_writes_the_rest_of_the_batch_of_a_clash(prefix: str) -> None:
    """set_many(): each object is checked on its own; in the batch of a clash the others are written."""
    Book = book(prefix)
    Book(id="a", title="Dune").set()
    with pytest.raises(ConflictError, match="Dune"):
        Book.set_many([Book(id="x", title="X"), Book(id="z", title="Dune"), Book(id="y", title="Y")])
    assert sorted(b.id for b in Book.all()) == ["a", "x", "y"]


def test_indexed_versioned_unique_model(prefix: str) -> None:
    """__unique__ beside __indexes__ and __version_field__: each keeps working."""
    Seq = book(prefix, __indexes__=("n", "title"), __version_field__="n")
    a = Seq(id="a", title="Dune").set()
    assert a.n == 1
    with pytest.raises(ConflictError, match="title"):
        Seq(id="b", title="Dune").set()
    a.title = "Emma"
    a.set()
    assert [s.id for s in Seq.filter(title="Emma", n=2)] == ["a"]
    assert Seq.filter(title="Dune").count() == 0
    assert Seq.all().update(code=5) == 1
    Seq(id="b", title="Dune").set()
    assert Seq.reindex() == 2


def test_reindex_moves_old_objects_and_claims_them(prefix: str, redis_client: redis.Redis) -> None:
    """Objects at the untagged keys move and claim their values; a clash among them is reported, not moved."""
    redis_client.set(f"{prefix}:a", '{"id": "a", "title": "Dune"}')
    redis_client.set(f"{prefix}:b", '{"id": "b", "title": "Emma"}', px=100_000)
    redis_client.set(f"{prefix}:c", '{"id": "c", "title": "Emma"}')
    Book = book(prefix)
    assert Book.count() == 0  # the tagged layout: reindex() moves them
    with pytest.raises(ConflictError, match="reindex"):
        Book.reindex()
    moved = {b.id: b.title for b in Book.all()}
    assert moved["a"] == "Dune" and len(moved) == 2 and "Emma" in moved.values()
    (left,) = {"b", "c"} - set(moved)
    assert redis_client.exists(f"{prefix}:{left}")  # not moved, not lost
    with pytest.raises(ConflictError):
        Book(id="d", title="Dune").set()


@pytest.mark.parametrize("mixin", [SimpleRedisMixin, HashRedisMixin])
def test_a_value_given_twice_is_refused_before_any_io(mixin: type) -> None:
    """set_many() with one value on two objects sends nothing; one object given twice is no clash."""
    Book = book("plan", mixin)
    spec = spec_of(Book)
    plans = Book.__persist_backend__.plans
    script = Script()
    with pytest.raises(ConflictError, match=r"Book\.code = 7\.0 is given twice"):
        run_sync(script.route, plans.save_many(spec, [Book(id="a", code=7), Book(code=7.0)]))
    assert script.sent == []
    script = Script([1, 1])
    run_sync(script.route, plans.save_many(spec, [Book(id="a", title="X"), Book(id="a", title="X", n=2)]))
    (pipeline,) = script.sent
    assert [c.args[0] for c in pipeline.commands] == ["EVALSHA", "EVALSHA"]


@pytest.mark.parametrize("mixin", [SimpleRedisMixin, HashRedisMixin])
def test_a_clash_reply_names_the_field_it_is_about(mixin: type) -> None:
    """The script's {-2, i} names the i-th field the write claims; nothing more is sent."""
    Book = book("plan", mixin)
    script = Script([-2, 1])
    with pytest.raises(ConflictError, match=r"Book\.code = 'C' is already stored on another Book"):
        run_sync(script.route, Book.__persist_backend__.plans.save(spec_of(Book), Book(id="a", title="T", code="C")))
    (command,) = script.sent
    assert command.args[0] == "EVALSHA" and '"T"' in command.args and '"C"' in command.args


def test_hash_layout_takes_over_a_claim_whose_object_is_gone(prefix: str, redis_client: redis.Redis) -> None:
    """On the hash layout too, a claim whose object left the hash behind the library's back never blocks."""
    Book = book(prefix, HashRedisMixin)
    Book(id="a", title="Dune").set()
    redis_client.hdel(prefix, f"{prefix}:a")
    Book(id="b", title="Dune").set()
    with pytest.raises(ConflictError):
        Book(id="c", title="Dune").set()
    assert redis_client.hgetall("{" + prefix + "}#u:title") == {b'"Dune"': b"b"}
    assert redis_client.hgetall("{" + prefix + "}#o:title") == {b"b": b'"Dune"'}
