"""Checked writes: ``set(only=...)`` (partial, never resurrecting) and ``__version_field__`` (optimistic locking)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from persist_mixins import ConflictError, InvalidLookup, NotFound, ValidationError

from ..conftest import RETHINK_URL, Api
from ..models import INDEXED, corrupt, new, sample, values

#: A versioned model with a str pk (client-made on every backend) and a counter.
VERSIONED: dict[str, Any] = {"id": str | None, "name": str, "n": int | None, "version": int | None}


def versioned(api: Api, suffix: str = ":v", **options: Any) -> Any:
    """The versioned ``Seq`` model of ``api``'s library, in this test's storage."""
    return api.define(
        api.kind, VERSIONED, suffix, name="Seq", defaults={"name": ""}, __version_field__="version", **options
    )


# -- set(only=...) -----------------------------------------------------------------------------


async def test_set_only_writes_just_those_fields(api: Api) -> None:
    """set(only=) writes the named fields and keeps another writer's change to the others."""
    mine = await api.run(sample(api).set())
    theirs = await api.run(api.Model.match_for_pk("vanilla"))
    theirs.amount_kg = 7
    theirs.tags = []
    await api.run(theirs.set())
    mine.flavour = "Mint"
    mine.amount_kg = 1000  # not named: not written
    assert await api.run(mine.set(only=("flavour",))) is mine
    stored = await api.run(api.Model.match_for_pk("vanilla"))
    assert values(stored) == {**values(theirs), "flavour": "Mint"}
    mine.extra, mine.grommet, mine.tags = {"k": "v"}, api.grommet(3), ["a", "b"]
    await api.run(mine.set(only=["extra", "grommet", "tags", "extra"]))
    stored = await api.run(api.Model.match_for_pk("vanilla"))
    assert values(stored) == {
        **values(theirs),
        "flavour": "Mint",
        "extra": {"k": "v"},
        "grommet": 3,
        "tags": ["a", "b"],
    }
    mine.ratio = None
    await api.run(mine.set(only="ratio"))  # one name
    assert (await api.run(api.Model.match_for_pk("vanilla"))).ratio is None


async def test_set_only_never_resurrects(api: Api) -> None:
    """set(only=) of a deleted object, or one never stored, is NotFound and writes nothing."""
    obj = await api.run(sample(api).set())
    await api.run(obj.delete())
    obj.flavour = "Mint"
    with pytest.raises(NotFound, match="set\\(only="):
        await api.run(obj.set(only=("flavour",)))
    assert not api.raw_exists(api.Model, "vanilla")
    with pytest.raises(NotFound):
        await api.run(sample(api, id=None).set(only=("flavour",)))
    with pytest.raises(NotFound):
        await api.run(sample(api, id="never").set(only=("flavour",)))
    assert api.raw_count(api.Model) == 0


async def test_set_only_refuses_bad_names_before_any_io(api: Api) -> None:
    """Unknown fields, the pk, no field, or expire= with only= raise before a connection is even made."""
    _, make, _ = api.model(":off", **api.unreachable)
    obj = make(id="a", amount_kg=1)
    with pytest.raises(InvalidLookup, match="nope"):
        await api.run(obj.set(only=("flavour", "nope")))
    with pytest.raises(InvalidLookup, match="pk"):
        await api.run(obj.set(only=("id",)))
    with pytest.raises(InvalidLookup):
        await api.run(obj.set(only=()))
    with pytest.raises(ValidationError, match="TTL"):
        await api.run(obj.set(only=("flavour",), expire=10))


async def test_set_only_validates_the_whole_object(api: Api) -> None:
    """An invalid field, even one not named, is a ValidationError and nothing is written."""
    obj = await api.run(sample(api).set())
    obj.flavour = "Mint"
    corrupt(obj, "amount_kg", "many")
    with pytest.raises(ValidationError):
        await api.run(obj.set(only=("flavour",)))
    assert (await api.run(api.Model.match_for_pk("vanilla"))).flavour == "Sweet Vanilla"


@pytest.mark.needs("expiry")
async def test_set_only_keeps_the_ttl_and_skips_expired_objects(api: Api) -> None:
    """set(only=) leaves the TTL as it was; an expired object is NotFound and stays gone."""
    obj = await api.run(sample(api).set(expire=100))
    obj.flavour = "Mint"
    await api.run(obj.set(only=("flavour",)))
    assert 90 < await api.run(obj.ttl()) <= 100
    await api.run(obj.persist())
    await api.run(obj.set(only=("flavour",)))
    assert await api.run(obj.ttl()) is None
    short = await api.run(sample(api, id="short").set(expire=0.05))
    await asyncio.sleep(0.15)
    with pytest.raises(NotFound):
        await api.run(short.set(only=("flavour",)))
    assert await api.ids(api.Model.all()) == ["vanilla"]
    with pytest.raises(NotFound):
        await api.run(api.Model.match_for_pk("short"))


@pytest.mark.needs("class_expiry")
async def test_set_only_keeps_the_hash_ttl(api: Api) -> None:
    """On the hash layout, set(only=) leaves the hash's TTL (``__expire__``) as it was."""
    Model, make, _ = api.model(":exp", __expire__=100)
    obj = await api.run(make(id="a", amount_kg=1).set())
    api.conn.pexpire(Model.__key_prefix__, 50_000)
    obj.amount_kg = 2
    await api.run(obj.set(only=("amount_kg",)))
    assert 40 < await api.run(obj.ttl()) <= 50
    assert (await api.run(Model.match_for_pk("a"))).amount_kg == 2


@pytest.mark.needs("indexes")
async def test_set_only_keeps_index_entries_right(api: Api) -> None:
    """Indexed lookups find the new value of a field set(only=) wrote, not its old one; other entries stay."""
    ix = api.variant(":ix", __indexes__=INDEXED)
    mine = await api.run(sample(ix, amount_kg=10).set())
    theirs = await api.run(ix.Model.match_for_pk("vanilla"))
    theirs.flavour = "Mint"
    await api.run(theirs.set())
    mine.amount_kg = 20
    await api.run(mine.set(only=("amount_kg",)))
    assert await ix.ids(ix.Model.filter(amount_kg=20)) == ["vanilla"]
    assert await ix.ids(ix.Model.filter(amount_kg=10)) == []
    assert await ix.ids(ix.Model.filter(flavour="Mint", amount_kg__gte=15)) == ["vanilla"]
    assert await ix.ids(ix.Model.filter(flavour="Sweet Vanilla")) == []
    mine.amount_kg = None
    await api.run(mine.set(only=("amount_kg",)))
    assert await ix.ids(ix.Model.filter(amount_kg__isnull=True)) == ["vanilla"]
    assert await ix.ids(ix.Model.filter(amount_kg__gte=0)) == []


# -- __version_field__ -------------------------------------------------------------------------


async def test_stale_write_is_a_conflict(api: Api) -> None:
    """set() counts versions; a stale copy's set() or set(only=) is ConflictError and writes nothing."""
    Seq = versioned(api)
    first = await api.run(new(Seq, id="s", name="a").set())
    assert first.version == 1
    stale = await api.run(Seq.match_for_pk("s"))
    first.name = "b"
    await api.run(first.set())
    assert first.version == 2
    stale.name, stale.n = "c", 5
    with pytest.raises(ConflictError, match="refresh"):
        await api.run(stale.set())
    with pytest.raises(ConflictError, match="refresh"):
        await api.run(stale.set(only=("n",)))
    assert stale.version == 1
    stored = await api.run(Seq.match_for_pk("s"))
    assert (stored.name, stored.n, stored.version) == ("b", None, 2)
    await api.run(stale.refresh())
    stale.n = 5
    assert (await api.run(stale.set(only=("n",)))).version == 3
    stale.name = "c"
    assert (await api.run(stale.set())).version == 4
    stored = await api.run(Seq.match_for_pk("s"))
    assert (stored.name, stored.n, stored.version) == ("c", 5, 4)
    with pytest.raises(ConflictError):  # a fresh object (no version) with a stored pk
        await api.run(new(Seq, id="s", name="new object, same pk").set())
    with pytest.raises(InvalidLookup, match="version"):
        await api.run(stale.set(only=("version",)))
    with pytest.raises(ValidationError, match="one by one"):
        await api.run(Seq.set_many([new(Seq, id="t", name="x")]))
    assert await api.run(Seq.all().update(name="all")) == 1  # a query update() counts the version too
    stored = await api.run(Seq.match_for_pk("s"))
    assert (stored.name, stored.n, stored.version) == ("all", 5, 5)
    with pytest.raises(ConflictError):
        await api.run(stale.set())
    with pytest.raises(InvalidLookup, match="version"):
        await api.run(Seq.all().update(version=9))
    await api.run(stale.refresh())
    await api.run(stale.delete())
    with pytest.raises(NotFound):
        await api.run(stale.set(only=("n",)))
    assert not api.raw_exists(Seq, "s")


@pytest.mark.needs("expiry")
async def test_versioned_writes_keep_expiry_rules(api: Api) -> None:
    """A versioned set() takes expire= like any set(); an expired object is written anew whatever its version."""
    Seq = versioned(api)
    obj = await api.run(new(Seq, id="s", name="a").set(expire=0.05))
    await asyncio.sleep(0.15)
    late = new(Seq, id="s", name="late")
    assert (await api.run(late.set(expire=100))).version == 1
    assert 90 < await api.run(late.ttl()) <= 100
    late.n = 1
    assert (await api.run(late.set(only=("n",)))).version == 2
    assert 90 < await api.run(late.ttl()) <= 100
    obj.name = "stale"  # read at version 1, before it expired
    with pytest.raises(ConflictError):
        await api.run(obj.set())


async def test_concurrent_increments_lose_nothing(api: Api) -> None:
    """5 writers x 10 increments, retrying on ConflictError, half with set() and half with set(only=): none lost."""
    Seq = versioned(api)
    await api.run(new(Seq, id="c", name="counter", n=0).set())
    tasks, rounds = 5, 10

    def partial(k: int) -> tuple[str, ...] | None:
        return ("n",) if k % 2 else None

    if api.flavour == "sync":

        def work(k: int) -> None:
            for _ in range(rounds):
                while True:
                    obj = Seq.match_for_pk("c")
                    obj.n += 1
                    try:
                        obj.set(only=partial(k))
                        break
                    except ConflictError:
                        continue

        threads = [threading.Thread(target=work, args=(k,)) for k in range(tasks)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    else:

        async def awork(k: int) -> None:
            for _ in range(rounds):
                while True:
                    obj = await Seq.match_for_pk("c")
                    obj.n += 1
                    try:
                        await obj.set(only=partial(k))
                        break
                    except ConflictError:
                        await asyncio.sleep(0)

        await asyncio.gather(*(awork(k) for k in range(tasks)))
    stored = await api.run(Seq.match_for_pk("c"))
    if api.backend == "rethinkdb" and not RETHINK_URL and stored.n != tasks * rounds:
        # The plans send one conditional replace per write, which RethinkDB applies atomically per
        # document; reqlite evaluates the replace's function and stores its result in separate steps.
        pytest.xfail(f"reqlite's replace/update is not atomic: {stored.n} of {tasks * rounds} increments kept")
    assert (stored.n, stored.version) == (tasks * rounds, tasks * rounds + 1)


@pytest.mark.needs("indexes")
async def test_versioned_index_on_the_version_field(api: Api) -> None:
    """An indexed version field is found at the version each write stored."""
    Seq = versioned(api, ":vi", __indexes__=("version", "name"))
    obj = await api.run(new(Seq, id="s", name="a").set())
    obj.name = "b"
    await api.run(obj.set(only=("name",)))
    assert [o.id for o in await api.items(Seq.filter(version=2, name="b"))] == ["s"]
    assert await api.items(Seq.filter(version=1)) == []
    stale = new(Seq, id="s", name="stale", version=1)
    with pytest.raises(ConflictError):
        await api.run(stale.set())
    assert [o.id for o in await api.items(Seq.filter(version=2, name="b"))] == ["s"]
    assert stale.version == 1
