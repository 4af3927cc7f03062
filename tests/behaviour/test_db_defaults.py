"""``__db_defaults__``: fields the database fills when the object leaves them None, filled back after the write."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from persist_mixins import ConfigurationError

from ..conftest import Api
from ..models import new

pytestmark = pytest.mark.needs("db_defaults")

#: A note whose creation time the database fills.
NOTE: dict[str, Any] = {"id": str | None, "text": str | None, "created": dt.datetime | None}


def notes(api: Api, suffix: str = ":d") -> Any:
    """The ``Note`` model of ``api``'s library with ``__db_defaults__ = ("created",)``."""
    return api.define(api.kind, NOTE, suffix, name="Note", __db_defaults__=("created",))


def recent(value: Any) -> bool:
    """True when ``value`` is a datetime within a minute of now (by UTC for a naive one, or by local time)."""
    if not isinstance(value, dt.datetime):
        return False
    if value.tzinfo is not None:
        return abs(dt.datetime.now(dt.timezone.utc) - value) < dt.timedelta(minutes=1)
    utc = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    return any(abs(now - value) < dt.timedelta(minutes=1) for now in (utc, dt.datetime.now()))


async def test_a_none_field_is_filled_by_the_database_and_filled_back(api: Api) -> None:
    """set() leaves a None db-default field to the database; the object then holds what was stored."""
    Note = notes(api)
    note = await api.run(new(Note, id="a", text="hi").set())
    assert recent(note.created)
    stored = await api.run(Note.match_for_pk("a"))
    assert stored.created == note.created
    given = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    other = await api.run(new(Note, id="b", text="set", created=given).set())
    assert other.created == given
    assert (await api.run(Note.match_for_pk("b"))).created == given  # a value given is written as given


async def test_set_many_and_partial_writes(api: Api) -> None:
    """set_many() fills each object; set(only=...) of other fields leaves the stored value alone."""
    Note = notes(api)
    objs = await api.run(Note.set_many([new(Note, id=f"n{k}", text=str(k)) for k in range(3)]))
    assert all(recent(obj.created) for obj in objs)
    first = objs[0].created
    stored = await api.run(Note.match_for_pk("n0"))
    assert stored.created == first
    stored.text = "changed"
    await api.run(stored.set(only=("text",)))
    again = await api.run(Note.match_for_pk("n0"))
    assert (again.text, again.created) == ("changed", first)


async def test_bad_option_fails_at_class_creation(api: Api) -> None:
    """__db_defaults__ naming an unknown field or the pk is ConfigurationError when the class is made."""
    with pytest.raises(ConfigurationError, match="nope"):
        api.define(api.kind, NOTE, ":bad", name="Note", __db_defaults__=("nope",))
    with pytest.raises(ConfigurationError, match="pk"):
        api.define(api.kind, NOTE, ":bad2", name="Note", __db_defaults__=("id",))


async def test_a_full_write_keeps_the_stored_value(api: Api) -> None:
    """set() of an object leaving the field None keeps what the database filled before, on every backend."""
    Note = notes(api, ":k")
    first = await api.run(new(Note, id="a", text="hi").set())
    again = await api.run(new(Note, id="a", text="changed").set())  # a new object, the same pk
    assert again.created == first.created
    stored = await api.run(Note.match_for_pk("a"))
    assert (stored.text, stored.created) == ("changed", first.created)
    many = await api.run(Note.set_many([new(Note, id="a", text="again"), new(Note, id="b", text="new")]))
    assert many[0].created == first.created and recent(many[1].created)
