"""Refusals: bad data, bad lookups and unreachable servers raise clearly, and leave the stored data as it was."""

from __future__ import annotations

import time

import pytest

import persist_mixins
from persist_mixins import BackendConnectionError, InvalidLookup, ValidationError

from ..conftest import Api
from ..models import corrupt, sample


async def test_invalid_data_raises_and_writes_nothing(api: Api) -> None:
    """Invalid field values raise ValidationError naming the field, carry the library's error, and write nothing."""
    obj = sample(api, id="bad")
    corrupt(obj, "amount_kg", "lots")
    with pytest.raises(ValidationError, match="amount_kg") as info:
        await api.run(obj.set())
    assert "amount_kg" in str(info.value)
    if api.kind in ("schematics", "pydantic"):
        assert info.value.__cause__ is not None
    assert not api.raw_exists(api.Model, "bad")
    assert api.raw_count(api.Model) == 0


async def test_set_many_is_all_or_nothing_on_validation(api: Api) -> None:
    """set_many stores every object, or none of them when one is invalid."""
    objs = [sample(api, id=f"o{i}", amount_kg=i) for i in range(1500)]
    stored = await api.run(api.Model.set_many(objs))
    assert stored == objs
    assert await api.run(api.Model.count()) == 1500
    await api.run(api.Model.all().delete())
    bad = [sample(api, id="x1"), sample(api, id="x2")]
    corrupt(bad[1], "amount_kg", "lots")
    with pytest.raises(ValidationError):
        await api.run(api.Model.set_many(bad))
    assert await api.run(api.Model.count()) == 0


async def test_failed_set_many_changes_no_object(api: Api) -> None:
    """When one object of a batch is invalid, no other object gets a pk filled in."""
    Model, new, _ = api.model(":ut2", __unique_together__=("flavour", "amount_kg"))
    good = new(flavour="mint", amount_kg=1)
    bad = new(flavour="mint")  # amount_kg, part of the pk, is missing
    with pytest.raises(ValidationError):
        await api.run(Model.set_many([good, bad]))
    assert good.id is None
    assert await api.run(Model.count()) == 0


async def test_update_checks_values_as_set_would(api: Api) -> None:
    """update() refuses values set() would refuse: a float for an int, a str for a list, a dict for a list."""
    await api.run(sample(api, id="u").set())
    for bad in ({"amount_kg": 2.5}, {"tags": "oops"}, {"tags": {"k": 1}}, {"extra": ["x"]}):
        with pytest.raises(ValidationError):
            await api.run(api.Model.all().update(**bad))
    assert (await api.run(api.Model.match_for_pk("u"))).amount_kg == 42


async def test_unknown_lookup_raises_before_any_io(api: Api) -> None:
    """A typo in a lookup, or a value of the wrong type, raises InvalidLookup even when the server is unreachable."""
    Model, _, _ = api.model(":io", **api.unreachable)
    with pytest.raises(InvalidLookup, match="amount"):
        Model.filter(amount__gte=30)
    with pytest.raises(InvalidLookup, match="no field"):
        await api.run(Model.match(amount_kg__gtee=30))
    with pytest.raises(InvalidLookup, match="int"):
        await api.run(Model.count(amount_kg__gte="30"))


async def test_unknown_operator_is_named_as_such(api: Api) -> None:
    """A typo in an operator says it is not an operator, and lists the operators."""
    with pytest.raises(InvalidLookup, match="'foo' is not an operator"):
        api.Model.filter(amount_kg__foo=3)


async def test_unreachable_server_names_the_url(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that does not answer gives BackendConnectionError naming its URL, not a hang."""
    if api.flavour == "aiopg":
        pytest.skip("an aiopg pool is built by the user, connected before it is given")
    api.fail_fast(monkeypatch)
    Model, new, _ = api.model(":down", **api.unreachable)
    started = time.monotonic()
    try:
        with pytest.raises(BackendConnectionError, match=r"127\.0\.0\.1:1"):
            await api.run(new(id="x").set())
        with pytest.raises(ConnectionError):
            await api.run(Model.match_for_pk("x"))
        assert time.monotonic() - started < 10
    finally:
        if api.flavour == "sync":
            persist_mixins.close()  # the pool built for the unreachable URL
