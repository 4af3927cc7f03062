"""Objects: write, read back, refresh and delete, on every backend, flavour and model library."""

from __future__ import annotations

import dataclasses

import pytest

from persist_mixins import MultipleFound, NotFound

from ..conftest import Api, Store
from ..models import sample, values


async def test_round_trip_keeps_every_type(api: Api) -> None:
    """Every supported type reads back equal (a datetime as the same instant)."""
    obj = sample(api)
    assert await api.run(obj.set()) is obj
    loaded = await api.run(api.Model.match_for_pk("vanilla"))
    assert values(loaded) == values(obj)
    assert loaded.best_before == obj.best_before


async def test_refresh_reloads_in_place(api: Api) -> None:
    """refresh() copies the stored values onto the same instance; NotFound once it is gone."""
    obj = await api.run(sample(api).set())
    other = await api.run(api.Model.match_for_pk("vanilla"))
    other.amount_kg = 7
    await api.run(other.set())
    assert await api.run(obj.refresh()) is obj
    assert obj.amount_kg == 7
    assert await api.run(obj.delete()) is True
    assert await api.run(obj.delete()) is False
    with pytest.raises(NotFound):
        await api.run(obj.refresh())


async def test_match_by_pk_still_checks_other_lookups(api: Api) -> None:
    """match(id=..., other=...) finds nothing when ``other`` disagrees (redis-schematics ignored it)."""
    await api.run(sample(api).set())
    assert (await api.run(api.Model.match(id="vanilla", amount_kg=42))).id == "vanilla"
    with pytest.raises(NotFound):
        await api.run(api.Model.match(id="vanilla", amount_kg=1))
    with pytest.raises(NotFound):
        await api.run(api.Model.match(pk="nope"))


async def test_match_for_values_needs_exactly_one(api: Api) -> None:
    """match() on values returns the one match, MultipleFound for two, NotFound for none."""
    await api.run(sample(api, id="a", amount_kg=10).set())
    await api.run(sample(api, id="b", amount_kg=20).set())
    assert (await api.run(api.Model.match(amount_kg__gt=15))).id == "b"
    assert (await api.run(api.Model.match_for_values(amount_kg=10))).id == "a"
    with pytest.raises(MultipleFound):
        await api.run(api.Model.match(flavour="Sweet Vanilla"))
    with pytest.raises(NotFound):
        await api.run(api.Model.match(amount_kg__gt=100))
    with pytest.raises(KeyError):  # both errors stay KeyErrors, as in redis-schematics
        await api.run(api.Model.match(amount_kg__gt=100))


async def test_set_many_last_duplicate_wins(api: Api) -> None:
    """Two objects with one pk in a set_many() batch store the last one, as two set() calls would."""
    await api.run(api.Model.set_many([sample(api, id="d", amount_kg=1), sample(api, id="d", amount_kg=2)]))
    assert (await api.run(api.Model.match_for_pk("d"))).amount_kg == 2


async def test_hostile_text_round_trips_unchanged(api: Api) -> None:
    """Quotes, SQL, backslashes, glob and LIKE characters and unicode are stored and found as themselves."""
    hostile = ["it's", "'); DROP TABLE x; --", "back\\slash", "ünï©ødé 🍦", "%_%", '"quoted"']
    for i, text in enumerate(hostile):
        await api.run(sample(api, id=f"h{i}", flavour=text, extra={"k'ey": text}).set())
    for i, text in enumerate(hostile):
        assert (await api.run(api.Model.match_for_pk(f"h{i}"))).flavour == text
        assert await api.ids(api.Model.filter(flavour=text)) == [f"h{i}"]
        assert await api.ids(api.Model.filter(flavour__startswith=text)) == [f"h{i}"]
    assert await api.ids(api.Model.filter(**{"extra__k'ey": "it's"})) == ["h0"]
    assert await api.run(api.Model.count()) == len(hostile)


async def test_frozen_models_receive_a_generated_pk(store: Store) -> None:
    """Frozen dataclasses, frozen attrs classes and frozen pydantic models get their pk filled and round-trip."""
    for kind in ("dataclasses", "attrs", "pydantic"):
        model = store.define(kind, {"id": str | None, "n": int}, f":{kind}", defaults={"n": 0}, frozen=True)
        obj = await store.run(model(n=3).set())
        assert obj.id is not None and len(obj.id) == (36 if store.backend == "rethinkdb" else 32)
        assert await store.run(model.match_for_pk(obj.id)) == obj


async def test_kw_only_and_initvar_dataclasses_load_correctly(store: Store) -> None:
    """Dataclasses whose __init__ is not the plain field list still read back right."""

    @dataclasses.dataclass(kw_only=True)
    class Kw(store.base(":kw")):  # type: ignore[misc]
        id: str = ""
        n: int = 0

    @dataclasses.dataclass
    class Iv(store.base(":iv")):  # type: ignore[misc]
        id: str = ""
        scale: dataclasses.InitVar[int] = 1
        n: int = 0

        def __post_init__(self, scale: int) -> None:
            self.n *= scale

    for model, obj in ((Kw, Kw(id="a", n=5)), (Iv, Iv("a", 1, 5))):
        store.ready(model)
        await store.run(obj.set())
        assert (await store.run(model.match_for_pk("a"))).n == 5
        assert [o.n for o in await store.items(model.all())] == [5]


async def test_renamed_schematics_field_still_filters(store: Store) -> None:
    """A Schematics field stored under another name (serialized_name) is still filtered correctly."""
    from schematics import models, types

    Renamed = store.ready(
        type(models.Model)(
            "Renamed",
            (models.Model, store.mixin),
            {**store.place(), "id": types.StringType(), "amount_kg": types.IntType(serialized_name="kg")},
        )
    )
    await store.run(Renamed({"id": "a", "kg": 5}).set())
    await store.run(Renamed({"id": "b", "kg": 50}).set())
    assert [o.id for o in await store.items(Renamed.filter(amount_kg__gte=10))] == ["b"]
    assert await store.run(Renamed.count(amount_kg=5)) == 1
