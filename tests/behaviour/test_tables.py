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
