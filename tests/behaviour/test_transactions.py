"""Transactions (``Model.transaction()``) as seen through the shared model: reads and writes inside a block."""

from __future__ import annotations

import asyncio
import time

import pytest

from ..conftest import Api
from ..models import sample

pytestmark = pytest.mark.needs("transactions")


async def test_two_streams_in_one_transaction(api: Api) -> None:
    """Two large queries read side by side inside one transaction each read their own objects."""
    await api.run(api.Model.set_many([sample(api, id=f"s{i:04d}", amount_kg=i) for i in range(1200)]))
    if api.flavour == "sync":
        with api.Model.transaction():
            pairs = list(zip(api.Model.all().order_by("id"), api.Model.all().order_by("-id"), strict=True))
    else:
        async with api.Model.transaction():
            first, second = api.Model.all().order_by("id").__aiter__(), api.Model.all().order_by("-id").__aiter__()
            pairs = [(await first.__anext__(), await second.__anext__()) for _ in range(1200)]
            await first.aclose()
            await second.aclose()
    assert pairs[0][0].id == "s0000" and pairs[0][1].id == "s1199" and len(pairs) == 1200


async def test_early_break_from_a_large_stream_keeps_the_blocks_writes(api: Api) -> None:
    """Leaving a >1,000-object loop early inside transaction() undoes nothing the loop body wrote."""
    await api.run(api.Model.set_many([sample(api, id=f"b{i:04d}", amount_kg=i) for i in range(1100)]))
    if api.flavour == "sync":
        with api.Model.transaction():
            for obj in api.Model.all().order_by("id"):
                obj.amount_kg = -1
                obj.set()
                sample(api, id="written-in-loop").set()
                break
            sample(api, id="written-after").set()
    else:
        async with api.Model.transaction():
            stream = api.Model.all().order_by("id").__aiter__()
            obj = await stream.__anext__()
            obj.amount_kg = -1
            await obj.set()
            await sample(api, id="written-in-loop").set()
            await stream.aclose()
            await sample(api, id="written-after").set()
    assert (await api.run(api.Model.match_for_pk("b0000"))).amount_kg == -1
    assert await api.run(api.Model.count(id__in=["written-in-loop", "written-after"])) == 2


@pytest.mark.needs("expiry")
async def test_expiry_counts_from_the_write_not_the_transaction_start(api: Api) -> None:
    """set(expire=2) late in a long transaction still lives about two seconds.

    Counted from the transaction's start (1.2 s earlier), it would have at most 0.8 s left
    when written; the check allows for whatever the commit and the read take (a loaded
    machine's fsync may take most of a second), measured from just before the write.
    """
    if api.flavour == "sync":
        with api.Model.transaction():
            api.Model.filter(amount_kg=-5).count()
            await asyncio.sleep(1.2)
            before = time.monotonic()
            obj = sample(api, id="late").set(expire=2)
    else:
        async with api.Model.transaction():
            await api.Model.filter(amount_kg=-5).count()
            await asyncio.sleep(1.2)
            before = time.monotonic()
            obj = await sample(api, id="late").set(expire=2)
    left = await api.run(obj.ttl())
    since = time.monotonic() - before
    assert 2 - since - 0.1 < left <= 2
