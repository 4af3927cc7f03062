"""Indexes (``__indexes__``): indexed models answer every query exactly as unindexed ones do."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from typing import Any

import pytest

from persist_mixins import ValidationError

from ..conftest import Api, Store
from ..models import INDEXED, LOOKUP_IDS, LOOKUPS, populate

pytestmark = pytest.mark.needs("indexes")


@pytest.fixture
def ix(api: Api) -> Api:
    """``api`` with every indexable field of IceCream in ``__indexes__``."""
    return api.variant(":ix", __indexes__=INDEXED)


@pytest.mark.parametrize(("lookups", "expected"), LOOKUPS, ids=LOOKUP_IDS)
async def test_indexed_lookups_answer_like_a_scan(ix: Api, lookups: dict[str, Any], expected: list[str]) -> None:
    """With every field indexed, each lookup returns and counts exactly what the unindexed model does."""
    await populate(ix)
    assert sorted(await ix.ids(ix.Model.filter(**lookups))) == expected
    assert await ix.run(ix.Model.count(**lookups)) == len(expected)


@pytest.fixture
def stock(store: Store) -> type:
    """An indexed dataclass model for the mixed-condition tests."""

    @dataclasses.dataclass
    class Stock(store.base()):  # type: ignore[misc]
        __indexes__ = ("qty", "when", "name")
        id: str | None = None
        qty: int | None = None
        when: dt.datetime | None = None
        name: str | None = None

    return store.ready(Stock)


async def test_intersection_of_indexed_and_unindexed_conditions(store: Store, stock: Any) -> None:
    """Several indexed conditions intersect, and unindexed ones are still checked on the objects."""
    base = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    await store.run(
        stock.set_many(
            [stock(id=str(i), qty=i % 10, when=base + dt.timedelta(hours=i), name=f"n{i % 3}") for i in range(200)]
        )
    )
    found = stock.filter(qty__gte=8, when__lt=base + dt.timedelta(hours=50), name="n0", id__endswith="8")
    assert sorted(o.id for o in await store.items(found)) == ["18", "48"]
    assert await store.run(stock.count(qty__range=(2, 3), name__in=["n1"])) == 13


async def test_count_stays_exact_for_ints_beyond_float_precision(store: Store, stock: Any) -> None:
    """Ints that share a float score (beyond 2**53) are still counted and found exactly.

    RethinkDB numbers are doubles: it refuses such an int rather than store another number.
    """
    big = 2**60
    if store.backend == "rethinkdb":
        with pytest.raises(ValidationError, match=r"qty.*2\*\*53"):
            await store.run(stock.set_many([stock(id="a", qty=3), stock(id="b", qty=big)]))
        assert store.raw_count(stock) == 0
        return
    await store.run(stock.set_many([stock(id="a", qty=big), stock(id="b", qty=big + 1)]))
    assert float(big) == float(big + 1)
    assert await store.run(stock.count(qty=big)) == 1
    assert await store.run(stock.count(qty__gt=big)) == 1
    assert await store.ids(stock.filter(qty=big + 1)) == ["b"]


async def test_strict_bounds_keep_values_that_round_to_the_bound(store: Store) -> None:
    """Decimals that share a float score with a strict bound are still found when they satisfy it."""

    @dataclasses.dataclass
    class Price(store.base()):  # type: ignore[misc]
        __indexes__ = ("amount",)
        id: str | None = None
        amount: decimal.Decimal | None = None

    store.ready(Price)
    tenth = decimal.Decimal("0.1")
    above = tenth + decimal.Decimal("1e-25")
    await store.run(Price.set_many([Price(id="tenth", amount=tenth), Price(id="above", amount=above)]))
    assert await store.ids(Price.filter(amount__gt=tenth)) == ["above"]
    assert await store.ids(Price.filter(amount__lt=above)) == ["tenth"]
    assert await store.run(Price.count(amount__gt=tenth)) == 1
