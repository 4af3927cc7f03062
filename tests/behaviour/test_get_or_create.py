"""``get_or_create`` / ``update_or_create``: Django's semantics, atomic against concurrent callers, on every backend."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from persist_mixins import InvalidLookup, MultipleFound, ValidationError

from ..conftest import Api
from ..models import sample, values

#: A model with a required field (no default), to see a new object refused before any write.
TICKET: dict[str, Any] = {"id": str | None, "title": str, "seats": int | None, "when": dt.datetime | None}


async def test_get_or_create_finds_or_creates(api: Api) -> None:
    """The first call creates from the lookups and defaults; the next finds that object and writes nothing."""
    obj, created = await api.run(api.Model.get_or_create(id="mint", defaults={"amount_kg": 5, "flavour": "Mint"}))
    assert created
    assert (obj.id, obj.amount_kg, obj.flavour) == ("mint", 5, "Mint")
    stored = await api.run(api.Model.match_for_pk("mint"))
    assert values(stored) == values(obj)
    again, created = await api.run(api.Model.get_or_create(id="mint", defaults={"amount_kg": 99}))
    assert not created
    assert again.amount_kg == 5  # defaults are for creating only
    assert api.raw_count(api.Model) == 1


async def test_get_or_create_by_values_fills_the_pk(api: Api) -> None:
    """Lookups on other fields: the new object gets them (operators excluded) and a pk; callables in defaults run."""
    calls = []

    def amount() -> int:
        calls.append(1)
        return 12

    obj, created = await api.run(
        api.Model.get_or_create(flavour="Mint", amount_kg__gte=10, defaults={"amount_kg": amount})
    )
    assert created and calls == [1]
    assert obj.id and (obj.flavour, obj.amount_kg) == ("Mint", 12)
    found, created = await api.run(
        api.Model.get_or_create(flavour="Mint", amount_kg__gte=10, defaults={"amount_kg": amount})
    )
    assert not created and found.id == obj.id
    assert calls == [1]  # a callable default is called only when its value is used
    # The same values under a lookup the object does not meet: a second object.
    other, created = await api.run(
        api.Model.get_or_create(flavour="Mint", amount_kg__gte=20, defaults={"amount_kg": 30})
    )
    assert created and other.id != obj.id


async def test_get_or_create_with_several_matches(api: Api) -> None:
    """More than one match is MultipleFound, as match() says; nothing is created."""
    await api.run(sample(api, id="a").set())
    await api.run(sample(api, id="b").set())
    with pytest.raises(MultipleFound):
        await api.run(api.Model.get_or_create(flavour="Sweet Vanilla"))
    with pytest.raises(MultipleFound):
        await api.run(api.Model.update_or_create(flavour="Sweet Vanilla", defaults={"amount_kg": 1}))
    assert api.raw_count(api.Model) == 2


async def test_update_or_create(api: Api) -> None:
    """update_or_create writes the defaults to the found object (just those fields) or creates it."""
    obj, created = await api.run(api.Model.update_or_create(id="v", defaults={"flavour": "Vanilla", "amount_kg": 1}))
    assert created and (obj.flavour, obj.amount_kg) == ("Vanilla", 1)
    theirs = await api.run(api.Model.match_for_pk("v"))
    theirs.ratio = 0.5
    await api.run(theirs.set())  # another writer's change to a field the defaults do not name
    obj, created = await api.run(api.Model.update_or_create(id="v", defaults={"amount_kg": 2}))
    assert not created
    assert (obj.flavour, obj.amount_kg, obj.ratio) == ("Vanilla", 2, 0.5)
    stored = await api.run(api.Model.match_for_pk("v"))
    assert (stored.flavour, stored.amount_kg, stored.ratio) == ("Vanilla", 2, 0.5)
    assert api.raw_count(api.Model) == 1


async def test_bad_arguments_fail_before_any_io(api: Api) -> None:
    """Unknown fields in lookups or defaults, no lookup, or the pk in update_or_create's defaults: InvalidLookup."""
    Off, _, _ = api.model(":off", **api.unreachable)
    with pytest.raises(InvalidLookup, match="nope"):
        await api.run(Off.get_or_create(nope=1))
    with pytest.raises(InvalidLookup, match="nope"):
        await api.run(Off.get_or_create(id="a", defaults={"nope": 1}))
    with pytest.raises(InvalidLookup):
        await api.run(Off.get_or_create())
    with pytest.raises(InvalidLookup, match="pk"):
        await api.run(Off.update_or_create(flavour="x", defaults={"id": "b"}))
    with pytest.raises(InvalidLookup):
        await api.run(Off.get_or_create(id="a", defaults=[("flavour", "x")]))


async def test_an_invalid_new_object_writes_nothing(api: Api) -> None:
    """A new object missing a required field, or of the wrong type, is a ValidationError; nothing is written."""
    Ticket = api.define(api.kind, TICKET, ":t", name="Ticket")
    if api.kind != "schematics":  # a Schematics field is optional unless required=True
        with pytest.raises(ValidationError):
            await api.run(Ticket.get_or_create(id="t1", seats=3))  # no title
    with pytest.raises(ValidationError):
        await api.run(Ticket.get_or_create(id="t1", defaults={"title": "x", "seats": "many"}))
    assert api.raw_count(Ticket) == 0
    when = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    _, created = await api.run(Ticket.get_or_create(id="t1", defaults={"title": "Dune", "when": when}))
    assert created and (await api.run(Ticket.match_for_pk("t1"))).when == when


@pytest.mark.parametrize("update", [False, True], ids=["get", "update"])
async def test_concurrent_callers_create_exactly_one(api: Api, update: bool) -> None:
    """8 concurrent callers (threads or tasks) with the same lookups: one object, created by exactly one of them.

    Half of them pass the lookups in the other keyword order: the same lookups all the same.
    """
    callers = 8
    method = "update_or_create" if update else "get_or_create"

    def lookups(k: int) -> dict[str, Any]:
        return {"flavour": "Race", "fresh": True} if k % 2 else {"fresh": True, "flavour": "Race"}

    results = await api.concurrently(
        [lambda k=k: getattr(api.Model, method)(**lookups(k), defaults={"amount_kg": k}) for k in range(callers)]
    )
    errors = [result for result in results if isinstance(result, BaseException)]
    if errors:
        raise errors[0]
    assert len(results) == callers
    assert sum(created for _, created in results) == 1
    assert len({obj.id for obj, _ in results}) == 1
    assert await api.run(api.Model.count(flavour="Race")) == 1
