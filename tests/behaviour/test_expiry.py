"""Expiry: TTLs set per write or per class, read back, changed, removed; expired objects are never seen."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from persist_mixins import NotFound, ValidationError

from ..conftest import Api
from ..models import INDEXED, sample

pytestmark = pytest.mark.needs("expiry")


async def test_expire_ttl_and_persist(api: Api) -> None:
    """set(expire=) keeps sub-second precision; expire(), persist() and ttl() agree with the server."""
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
    """After its TTL an object is not matched, listed, counted, refreshed, updated or deleted; its pk is free."""
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
    assert await api.run(api.Model.all().update(amount_kg=1)) == 1
    assert await api.run(gone.delete()) is False
    assert await api.run(gone.set()) is gone  # an expired pk can be written again
    assert await api.run(gone.ttl()) is None


@pytest.mark.needs("indexes")
async def test_persist_takes_an_object_off_the_expiry_schedule(api: Api) -> None:
    """An indexed object whose TTL was removed is never purged and stays found; once expired, purge counts it."""
    ix = api.variant(":ix", __indexes__=INDEXED)
    obj = await ix.run(sample(ix, id="kept", amount_kg=5).set(expire=0.5))
    assert await ix.run(obj.persist()) is True
    await asyncio.sleep(0.7)
    assert await ix.run(ix.Model.purge_expired()) == 0
    assert await ix.ids(ix.Model.filter(amount_kg=5)) == ["kept"]
    assert await ix.run(obj.expire(0.2)) is True
    await asyncio.sleep(0.4)
    assert await ix.run(ix.Model.purge_expired()) == 1
