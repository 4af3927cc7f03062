"""peewee-async's Manager tests, translated onto persist_mixins.asyncio.PgRowMixin (issue 14).

Each test is named after the peewee-async 0.10 test it translates (``tests/test_shortcuts.py``,
``test_common.py``, ``test_updating.py``, ``test_deleting.py``, ``test_transaction.py``, all
run through ``peewee_async.Manager``) and makes the same assertions with the library's own
calls: no raw SQL and no helper written for the occasion. docs/migrating-postgres.md
("peewee-async's Manager tests, translated") shows each translation next to the original.

``Note`` stands for peewee-async's ``TestModel`` (an auto-increment ``id``, ``text``, ``data``)
and ``UuidNote`` for its ``UUIDTestModel``; the fixture creates their tables, as peewee-async's
``manager`` fixture does, and drops them afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from persist_mixins.asyncio import ConflictError, NotFound, PgRowMixin, close
from persist_mixins.backends.postgres import POSTGRES

RUN = uuid.uuid4().hex[:8]  # table names of this run: parallel runs never share a table


@dataclass
class Note(PgRowMixin):
    """peewee-async's ``TestModel``: ``id`` serial, ``text`` (unique there: see test_create_or_get), ``data``."""

    __table__ = f"pmtest_mig_note_{RUN}"

    id: int | None = None  # empty: PostgreSQL generates it
    text: str = ""
    data: str = ""


@dataclass
class UuidNote(PgRowMixin):
    """peewee-async's ``UUIDTestModel``: a uuid4 primary key made by the client."""

    __table__ = f"pmtest_mig_uuidnote_{RUN}"

    id: uuid.UUID = field(default_factory=uuid.uuid4)
    text: str = ""


class FakeUpdateError(Exception):
    """Raised inside a transaction block to fail it (peewee-async's test_transaction.py has the same)."""


@pytest.fixture(autouse=True)
async def tables(pg_conn: Any) -> AsyncIterator[None]:
    """The models' tables (the session's ``configure(postgres=...)`` comes with ``pg_conn``), dropped afterwards."""
    for model in (Note, UuidNote):
        await model.create_table()
    yield
    for model in (Note, UuidNote):
        await model.drop_table()
    await close()


# -- tests/test_shortcuts.py ------------------------------------------------------------------


async def test_create_obj() -> None:
    """``manager.create(TestModel, text=...)`` is ``Note(text=...).set()``, which fills the generated id."""
    text = f"Test {uuid.uuid4()}"
    obj = await Note(text=text).set()
    assert obj is not None
    assert obj.text == text
    assert isinstance(obj.id, int)
    assert await Note.match_for_pk(obj.id) == obj


async def test_get_or_none() -> None:
    """``manager.get_or_none(TestModel, text=...)`` is ``Note.filter(text=...).first()``."""
    text1 = f"Test {uuid.uuid4()}"
    text2 = f"Test {uuid.uuid4()}"
    obj1 = await Note(text=text1).set()
    obj2 = await Note.filter(text=text1).first()
    obj3 = await Note.filter(text=text2).first()
    assert obj1 == obj2
    assert obj2 is not None
    assert obj3 is None


async def test_count_query() -> None:
    """``manager.count(TestModel.select())`` is ``Note.count()`` (or ``Note.all().count()``)."""
    for _ in range(3):
        await Note(text=f"Test {uuid.uuid4()}").set()
    assert await Note.count() == 3
    assert await Note.all().count() == 3


async def test_count_query_with_limit() -> None:
    """``manager.count(TestModel.select().limit(1))`` is ``Note.all().limit(1).count()``: the limit is counted."""
    for _ in range(3):
        await Note(text=f"Test {uuid.uuid4()}").set()
    assert await Note.all().limit(1).count() == 1
    assert await Note.all()[:1].count() == 1  # a slice is a limit too


async def test_scalar_query() -> None:
    """``manager.scalar(TestModel.select(fn.Count(TestModel.id)))``: ``count()``, the one aggregate there is.

    A ``fn.Max`` / ``fn.Min`` scalar becomes the first object of a query ordered on the field.
    """
    first = await Note(text=f"Test {uuid.uuid4()}").set()
    second = await Note(text=f"Test {uuid.uuid4()}").set()
    assert await Note.count() == 2
    highest = await Note.all().order_by("-id").first()  # SELECT max(id)
    assert highest is not None and highest.id == max(first.id or 0, second.id or 0)


async def test_delete_obj() -> None:
    """``manager.delete(obj)`` is ``obj.delete()``, which says whether a row was deleted."""
    obj1 = await Note(text=f"Test {uuid.uuid4()}").set()
    obj2 = await Note.match(id=obj1.id)
    assert await obj2.delete() is True
    assert await Note.filter(id=obj1.id).first() is None
    assert await obj2.delete() is False  # already gone
    with pytest.raises(NotFound):  # manager.get() raised TestModel.DoesNotExist
        await Note.match(id=obj1.id)


async def test_update_obj() -> None:
    """``manager.update(obj)`` is ``obj.set()`` (the whole row; ``set(only=...)`` for ``update(obj, only=...)``)."""
    obj1 = await Note(text=f"Test {uuid.uuid4()}").set()
    obj1.text = "Test update object"
    await obj1.set()
    obj2 = await Note.match(id=obj1.id)
    assert obj2.text == "Test update object"
    assert await Note.count() == 1  # an update, not a second row


async def test_create_or_get() -> None:
    """``manager.create_or_get(TestModel, text=..., data=...)``: ``set()``, then ``match()`` on ``ConflictError``.

    peewee-async inserts, and on the unique index's IntegrityError reads the row that
    is there; ``__unique__ = ("text",)`` is that index, and its clash is ``ConflictError``.
    ``get_or_create()`` gives the same (object, created) pairs in one call.
    """
    if "unique" not in POSTGRES.capabilities:
        pytest.skip("__unique__ is not supported by the PostgreSQL backend yet (no 'unique' capability)")

    @dataclass
    class UniqueNote(PgRowMixin):
        __table__ = f"pmtest_mig_uniquenote_{RUN}"
        __unique__ = ("text",)  # peewee: CharField(unique=True)

        id: int | None = None
        text: str = ""
        data: str = ""

    await UniqueNote.create_table()
    try:
        text = f"Test {uuid.uuid4()}"
        obj1 = await UniqueNote(text=text, data="Data 1").set()  # created
        with pytest.raises(ConflictError):
            await UniqueNote(text=text, data="Data 2").set()  # the unique text clashes: nothing written
        obj2 = await UniqueNote.match(text=text)  # ... so get the stored one
        assert obj1 == obj2
        assert obj1.data == "Data 1"
        assert obj2.data == "Data 1"
        assert await UniqueNote.get_or_create(text=text, defaults={"data": "Data 3"}) == (obj1, False)
        assert await UniqueNote.count() == 1
    finally:
        await UniqueNote.drop_table()


async def test_get_or_create() -> None:
    """``manager.get_or_create(TestModel, text=..., defaults={...})`` is ``Note.get_or_create(...)``, same result."""
    text = f"Test {uuid.uuid4()}"
    obj1, created1 = await Note.get_or_create(text=text, defaults={"data": "Data 1"})
    obj2, created2 = await Note.get_or_create(text=text, defaults={"data": "Data 2"})
    assert created1 is True
    assert created2 is False
    assert obj1 == obj2
    assert obj1.data == "Data 1"
    assert obj2.data == "Data 1"


# -- tests/test_common.py ---------------------------------------------------------------------


async def test_get_obj_by_id() -> None:
    """``manager.get(TestModel, id=obj.id)`` is ``Note.match(id=...)`` or ``Note.match_for_pk(...)``."""
    obj1 = await Note(text=f"Test {uuid.uuid4()}").set()
    obj2 = await Note.match(id=obj1.id)
    assert obj1 == obj2
    assert obj1.id == obj2.id
    assert await Note.match_for_pk(obj1.id) == obj1


async def test_get_obj_by_uuid() -> None:
    """A uuid4 primary key (peewee's ``UUIDField(primary_key=True, default=uuid.uuid4)``) reads back as a UUID."""
    obj1 = await UuidNote(text=f"Test {uuid.uuid4()}").set()
    obj2 = await UuidNote.match(id=obj1.id)
    assert obj1 == obj2
    assert isinstance(obj2.id, uuid.UUID)
    assert len(str(obj1.id)) == 36


async def test_indexing_result() -> None:
    """``manager.execute(TestModel.select().order_by(TestModel.text))[1]``: the awaited query is a list."""
    await Note(text="Test 1").set()
    obj = await Note(text="Test 2").set()
    result = await Note.all().order_by("text")
    assert obj == result[1]
    assert await Note.all().order_by("text")[1:].first() == obj  # reading just that row


# -- tests/test_updating.py and tests/test_deleting.py ----------------------------------------


async def test_update__count() -> None:
    """``manager.execute(TestModel.update(data=...))`` is ``Note.all().update(data=...)``: it returns the count."""
    for n in range(3):
        await Note(text=f"{n}").set()
    count = await Note.all().update(data="new_data")
    assert count == 3
    assert await Note.filter(data="new_data").count() == 3


async def test_delete__by_condition() -> None:
    """``insert_many()`` is ``set_many()``; ``TestModel.delete().where(...)`` is ``Note.filter(...).delete()``."""
    expected_text, deleted_text = "text1", "text2"
    await Note.set_many([Note(text=expected_text), Note(text=deleted_text)])
    assert await Note.filter(text=deleted_text).delete() == 1
    res = await Note.all()
    assert len(res) == 1
    assert res[0].text == expected_text


# -- tests/test_transaction.py ----------------------------------------------------------------


async def test_atomic_failed() -> None:
    """``async with manager.atomic():`` is ``async with Note.transaction():``; an exception rolls it back."""
    obj = await Note(text="FOO").set()
    obj_id = obj.id
    error = False
    try:
        async with Note.transaction():
            obj.text = "BAR"
            await obj.set(only=("text",))  # manager.update(obj, only=[TestModel.text])
            raise FakeUpdateError()
    except FakeUpdateError:
        error = True
    res = await Note.match_for_pk(obj_id)
    assert error is True
    assert res.text == "FOO"
