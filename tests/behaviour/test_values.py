"""Values at the edges: NaN and infinities, integers beyond 64 bits, None in a field that is not Optional.

Every backend keeps a value as it is or refuses it with ``ValidationError`` naming the
field, writing nothing; it never changes a value on the way.  Which of the two a backend
does is in ``STORED``: Redis documents are JSON written the way redis-schematics wrote
them (Python's ``json`` tokens for NaN and infinities, numbers of any size);
PostgreSQL keeps non-finite floats in double precision, refuses them in jsonb, and
refuses integers a bigint cannot hold.  A backend not listed may do either.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from persist_mixins import ValidationError

from ..conftest import Api, Store
from ..models import new, sample

#: Per backend, whether it stores each kind of extreme value (True) or refuses it (False).
STORED: dict[str, dict[str, bool]] = {
    "redis": {"float": True, "json_float": True, "int": True, "json_int": True},
    "redis_hash": {"float": True, "json_float": True, "int": True, "json_int": True},
    "postgres": {"float": True, "json_float": False, "int": False, "json_int": False},
}

NON_FINITE = [math.nan, math.inf, -math.inf]
HUGE = [2**64, 2**70, -(2**63) - 1, 10**30]


def same(a: Any, b: Any) -> bool:
    """Equal, NaN included (in lists too)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


async def kept_or_refused(store: Store, model: Any, objs: list[Any], field: str, what: str) -> None:
    """set() of the first object, then set_many() of all: each read back as it was, or refused naming ``field``."""
    expected = STORED.get(store.backend, {}).get(what)
    first = objs[0]
    try:
        await store.run(first.set())
    except ValidationError as exc:
        assert expected is not True, f"{store.backend} refused {getattr(first, field)!r}: {exc}"
        assert field in str(exc)
        assert await store.run(model.count()) == 0
        with pytest.raises(ValidationError, match=field):
            await store.run(model.set_many(objs))
        assert await store.run(model.count()) == 0
        return
    assert expected is not False, f"{store.backend} stored {getattr(first, field)!r} instead of refusing it"
    await store.run(model.set_many(objs))
    for obj in objs:
        back = await store.run(model.match_for_pk(obj.id))
        assert same(getattr(back, field), getattr(obj, field)), (getattr(back, field), getattr(obj, field))
    assert len(await store.items(model.all())) == len(objs)


@pytest.mark.parametrize("value", NON_FINITE, ids=["nan", "inf", "-inf"])
async def test_non_finite_floats_are_kept_or_refused_never_changed(api: Api, value: float) -> None:
    """NaN, inf and -inf in a float field read back as themselves (they were stored as null on Redis)."""
    objs = [sample(api, id=f"f{i}", ratio=value) for i in range(3)]
    await kept_or_refused(api, api.Model, objs, "ratio", "float")


@pytest.mark.parametrize("value", HUGE, ids=["2**64", "2**70", "-2**63-1", "10**30"])
async def test_ints_beyond_64_bits_are_kept_or_refused_never_changed(api: Api, value: int) -> None:
    """Ints beyond 64 bits: Redis writes them (JSON numbers of any size), PostgreSQL's bigint refuses them."""
    objs = [sample(api, id=f"i{i}", amount_kg=value + i) for i in range(3)]
    await kept_or_refused(api, api.Model, objs, "amount_kg", "int")


@pytest.mark.parametrize("value", [[math.nan], [1.5, -math.inf], [2**70], [{"deep": [-(2**65)]}]])
async def test_extreme_values_inside_json_fields_are_kept_or_refused(store: Store, value: list[Any]) -> None:
    """NaN, infinities and huge ints inside a list field: Redis keeps them, PostgreSQL's jsonb refuses them."""
    model = store.define("dataclasses", {"id": str | None, "readings": list | None}, ":json", name="Meter")
    objs = [model(id=f"m{i}", readings=value) for i in range(3)]
    await kept_or_refused(
        store, model, objs, "readings", "json_int" if isinstance(value[-1], int | dict) else "json_float"
    )


@pytest.mark.parametrize("kind", ["dataclasses", "attrs", "plain"])
async def test_none_in_a_field_that_is_not_optional_is_refused(store: Store, kind: str) -> None:
    """``name: str`` set to None is a ValidationError naming the field, nothing written (it was stored as null)."""
    model = store.define(kind, {"id": str | None, "name": str, "size": int | None}, f":{kind}", name="Cone")

    def cone(**values: Any) -> Any:
        return new(model, **{"id": None, "name": "x", "size": None, **values})

    with pytest.raises(ValidationError, match=r"Cone\.name: None"):
        await store.run(cone(id="a", name=None).set())
    with pytest.raises(ValidationError, match=r"Cone\.name: None"):
        await store.run(model.set_many([cone(id="b"), cone(id="c", name=None)]))
    assert await store.run(model.count()) == 0
    await store.run(cone(id="d", size=None).set())  # an Optional field takes None
    back = await store.run(model.match_for_pk("d"))
    assert (back.name, back.size) == ("x", None)
    anonymous = await store.run(cone(name="y").set())  # an empty pk is still filled in
    assert anonymous.id is not None


@pytest.mark.needs("generated_int_keys")
@pytest.mark.parametrize("kind", ["dataclasses", "attrs", "plain"])
async def test_an_int_pk_that_is_not_optional_may_be_left_for_the_database(store: Store, kind: str) -> None:
    """``id: int`` left None is generated by the database, although the annotation is not Optional."""
    model = store.define(kind, {"id": int, "name": str}, f":{kind}", name="Ticket")
    obj = await store.run(new(model, id=None, name="a").set())
    assert isinstance(obj.id, int)
    assert (await store.run(model.match_for_pk(obj.id))).name == "a"


async def test_a_refused_number_leaves_every_object_of_the_batch_unchanged(api: Api) -> None:
    """set_many() refusing a number refuses it before filling any pk: the batch's objects are as they were."""
    objs = [sample(api, id=None, amount_kg=1), sample(api, id="big", amount_kg=2**70)]
    try:
        await api.run(api.Model.set_many(objs))
    except ValidationError as exc:
        assert STORED.get(api.backend, {}).get("int") is not True, exc
        assert objs[0].id is None
        assert await api.run(api.Model.count()) == 0
    else:
        assert STORED.get(api.backend, {}).get("int") is not False
        assert objs[0].id is not None
