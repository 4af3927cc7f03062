"""Tables (backends that store rows in tables the user creates): nothing is created behind the user's back."""

from __future__ import annotations

import pytest

from persist_mixins import ConfigurationError

from ..conftest import Api
from ..models import sample

pytestmark = pytest.mark.needs("tables")


async def test_missing_table_says_to_create_it(api: Api) -> None:
    """Tables are never created as a side effect: a missing one names create_table(); drop and create are idempotent."""
    await api.run(api.Model.drop_table())
    await api.run(api.Model.drop_table())  # idempotent
    with pytest.raises(
        ConfigurationError,
        match=r"^IceCream: its table does not exist; create it first with IceCream\.create_table\(\)\n",
    ):
        await api.run(sample(api).set())
    await api.run(api.Model.create_table())
    assert await api.run(api.Model.count()) == 0


async def test_create_table_adds_what_the_model_gained_and_says_what(api: Api) -> None:
    """create_table() on an existing table adds the indexes a model gained, keeps the data, and lists its changes."""
    await api.run(sample(api).set())
    assert await api.run(api.Model.create_table()) == []  # nothing missing
    Grown, _, _ = api.model("", __indexes__=("amount_kg", "made_on"))  # the same table, two indexes more
    made = await api.run(Grown.create_table())
    assert made and all(change.startswith("create index") for change in made)
    assert any('"amount_kg"' in change for change in made) and any('"made_on"' in change for change in made)
    assert await api.run(Grown.create_table()) == []
    assert [obj.id for obj in await api.items(Grown.filter(amount_kg__gte=40))] == ["vanilla"]
