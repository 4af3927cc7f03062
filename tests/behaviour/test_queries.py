"""Queries: lookups, ordering and windows, reading in full or streaming, update() and delete() on the matches."""

from __future__ import annotations

from typing import Any

import pytest

from persist_mixins import InvalidLookup, ValidationError

from ..conftest import Api
from ..models import LOOKUP_IDS, LOOKUPS, populate, sample


@pytest.mark.parametrize(("lookups", "expected"), LOOKUPS, ids=LOOKUP_IDS)
async def test_filter_lookups(api: Api, lookups: dict[str, Any], expected: list[str]) -> None:
    """Each lookup operator selects exactly the expected objects; None never breaks a comparison."""
    await populate(api)
    found = sorted(await api.ids(api.Model.filter(**lookups)))
    assert found == expected
    assert await api.run(api.Model.count(**lookups)) == len(expected)


async def test_contains_a_list_or_dict_needs_an_equal_element(api: Api) -> None:
    """tags__contains=[...] matches an equal element, never a partial one (as Python's `in`)."""
    await api.run(sample(api, id="c", tags=["a", "b"]).set())
    assert await api.run(api.Model.count(tags__contains="a")) == 1
    assert await api.run(api.Model.count(tags__contains=["a"])) == 0


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


@pytest.mark.flavours("sync")
async def test_sync_query_behaves_like_a_list(api: Api) -> None:
    """Sync queries support len(), indexing, negative indexing and bool, as redis-schematics' lists did."""
    api.Model.set_many([sample(api, id=str(i), amount_kg=i) for i in range(5)])
    q = api.Model.all().order_by("amount_kg")
    assert len(q) == 5
    assert q[0].amount_kg == 0 and q[-1].amount_kg == 4
    assert [o.amount_kg for o in q[1:3]] == [1, 2]
    assert bool(api.Model.filter(amount_kg__gt=3)) is True
    assert bool(api.Model.filter(amount_kg__gt=9)) is False
    with pytest.raises(IndexError):
        api.Model.all().order_by("amount_kg")[7]


@pytest.mark.flavours("async", "aiopg")
async def test_async_query_refuses_truth_testing(api: Api) -> None:
    """``if q:`` on an asyncio query raises instead of always being true."""
    with pytest.raises(TypeError, match="exists"):
        bool(api.Model.all())


async def test_large_results_stream_in_batches(api: Api) -> None:
    """A query of more than 1,000 objects streams in batches and reads every object once; early stops are clean."""
    await api.run(api.Model.set_many([sample(api, id=f"r{i:05d}", amount_kg=i) for i in range(2600)]))
    if api.flavour == "sync":
        seen = [obj.amount_kg for obj in api.Model.filter(amount_kg__gte=100)]
        for i, _ in enumerate(api.Model.all()):
            if i == 1500:
                break  # whatever the stream holds (a cursor, a connection) is released
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


@pytest.mark.needs("expiry")
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


@pytest.mark.needs("expiry")
async def test_update_and_delete_respect_windows_and_keep_expiry(api: Api) -> None:
    """Query update()/delete() change only the window's objects, keep expiry, and write nested values."""
    for i in range(5):
        await api.run(sample(api, id=f"w{i}", amount_kg=i).set(expire=60 if i == 0 else None))
    assert await api.run(api.Model.all().order_by("-amount_kg").limit(2).update(flavour="top")) == 2
    assert sorted(await api.ids(api.Model.filter(flavour="top"))) == ["w3", "w4"]
    assert 55 < await api.run((await api.run(api.Model.match_for_pk("w0"))).ttl()) <= 60
    assert await api.run(api.Model.all().update(grommet=api.grommet(3), tags=["x"])) == 5
    assert await api.run(api.Model.count(grommet__weight=3, tags__contains="x")) == 5
    assert await api.run(api.Model.all().order_by("amount_kg").limit(1).delete()) == 1
    assert await api.run(api.Model.count()) == 4


async def test_query_delete_counts(api: Api) -> None:
    """Query delete() removes only the matches and returns how many."""
    for pk, amount in (("a", 1), ("b", 2), ("c", 3)):
        await api.run(sample(api, id=pk, amount_kg=amount).set())
    assert await api.run(api.Model.filter(amount_kg__gte=2).delete()) == 2
    assert await api.ids(api.Model.all()) == ["a"]
    assert await api.run(api.Model.all().delete()) == 1
    assert await api.run(api.Model.count()) == 0


async def test_redis_schematics_names_delete_filter_and_delete_all(api: Api) -> None:
    """delete_filter() removes the matches and counts them; delete_all() empties the model (the hash layout: 1 hash)."""
    for pk, amount in (("a", 1), ("b", 2), ("c", 3)):
        await api.run(sample(api, id=pk, amount_kg=amount).set())
    assert await api.run(api.Model.delete_filter(amount_kg__gte=3)) == 1
    assert await api.run(api.Model.delete_filter(amount_kg__gte=3)) == 0
    assert await api.run(api.Model.delete_all()) == (1 if api.backend == "redis_hash" else 2)
    assert await api.run(api.Model.count()) == 0
    assert await api.run(api.Model.delete_all()) == 0


@pytest.mark.flavours("sync")
async def test_a_sync_query_equals_the_list_of_its_objects(api: Api) -> None:
    """A query compares equal to a list of the same objects in the same order, and to nothing else.

    Objects compare as their library says: plain classes by identity, so only emptiness is checked for them.
    """
    a, b = sample(api, id="a", amount_kg=1).set(), sample(api, id="b", amount_kg=2).set()
    if api.kind != "plain":
        assert api.Model.all().order_by("amount_kg") == [a, b]
        assert api.Model.all().order_by("-amount_kg") != [a, b]
        assert api.Model.filter(amount_kg=1) == api.Model.filter(id="a")
    assert api.Model.filter(amount_kg=5) == []
    assert api.Model.all() != "ab"
