"""``__unique__``: fields each unique on their own among a model's stored, alive objects.

Runs on every backend declaring the capability ``unique``, both flavours, every model library.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from persist_mixins import ConfigurationError, ConflictError

from ..conftest import Api
from ..models import new

pytestmark = pytest.mark.needs("unique")

#: A book with two unique fields, one plain field, and a str pk (client-made on every backend).
BOOK: dict[str, Any] = {"id": str | None, "title": str | None, "isbn": str | None, "n": int | None}


def books(api: Api, suffix: str = ":u", **options: Any) -> Any:
    """The ``Book`` model of ``api``'s library with ``__unique__ = ("title", "isbn")``, in this test's storage."""
    return api.define(api.kind, BOOK, suffix, name="Book", __unique__=("title", "isbn"), **options)


async def stored(api: Api, Book: Any) -> dict[str, tuple[Any, Any]]:
    """Every stored book as ``{id: (title, isbn)}``."""
    return {b.id: (b.title, b.isbn) for b in await api.items(Book.all())}


async def test_clash_names_the_field_and_writes_nothing(api: Api) -> None:
    """A value another stored object holds is ConflictError naming model, field and value; nothing is written."""
    Book = books(api)
    await api.run(new(Book, id="a", title="Dune", isbn="111").set())
    with pytest.raises(ConflictError, match=r"Book\.title = 'Dune'.*__unique__"):
        await api.run(new(Book, id="b", title="Dune", isbn="222").set())
    with pytest.raises(ConflictError, match=r"Book\.isbn = '111'"):
        await api.run(new(Book, id="b", title="Emma", isbn="111").set())
    assert api.raw_exists(Book, "a") and not api.raw_exists(Book, "b")
    # Neither write claimed its other value: both are still free.
    await api.run(new(Book, id="c", title="Emma", isbn="222").set())
    other = await api.run(Book.match_for_pk("c"))
    other.title = "Dune"  # an update of a stored object to a taken value
    with pytest.raises(ConflictError, match="title"):
        await api.run(other.set())
    assert await stored(api, Book) == {"a": ("Dune", "111"), "c": ("Emma", "222")}
    with pytest.raises(ConflictError):  # exact, case-sensitive strings: "dune" is another value
        await api.run(new(Book, id="d", title="Dune").set())
    await api.run(new(Book, id="d", title="dune").set())


async def test_none_never_clashes(api: Api) -> None:
    """Any number of objects may hold None in a unique field."""
    Book = books(api)
    for pk in "abc":
        await api.run(new(Book, id=pk, title=None, isbn=None).set())
    await api.run(Book.set_many([new(Book, id="d"), new(Book, id="e")]))
    assert await api.run(Book.count()) == 5


async def test_resave_and_change_free_the_old_value(api: Api) -> None:
    """Re-saving an object with its own value is fine; changing the value frees the old one."""
    Book = books(api)
    a = await api.run(new(Book, id="a", title="Dune", isbn="111").set())
    a.n = 2
    await api.run(a.set())
    await api.run(a.set())
    a.title = "Dune Messiah"
    await api.run(a.set())
    await api.run(new(Book, id="b", title="Dune").set())
    with pytest.raises(ConflictError):
        await api.run(new(Book, id="c", title="Dune Messiah").set())
    a.title = None  # None frees it too
    await api.run(a.set())
    await api.run(new(Book, id="c", title="Dune Messiah").set())
    assert await stored(api, Book) == {"a": (None, "111"), "b": ("Dune", None), "c": ("Dune Messiah", None)}


async def test_delete_frees_the_value(api: Api) -> None:
    """delete() and a query delete() free the values of the objects they remove."""
    Book = books(api)
    a = await api.run(new(Book, id="a", title="Dune", isbn="111").set())
    await api.run(new(Book, id="b", title="Emma", isbn="222").set())
    assert await api.run(a.delete())
    await api.run(new(Book, id="c", title="Dune", isbn="111").set())
    assert await api.run(Book.filter(id="b").delete()) == 1
    await api.run(new(Book, id="d", title="Emma", isbn="222").set())
    assert await stored(api, Book) == {"c": ("Dune", "111"), "d": ("Emma", "222")}


@pytest.mark.needs("expiry")
async def test_expiry_frees_the_value(api: Api) -> None:
    """An expired object's values are free; purge_expired() leaves the live claims working."""
    Book = books(api)
    await api.run(new(Book, id="a", title="Dune", isbn="111").set(expire=0.05))
    await api.run(new(Book, id="b", title="Emma").set(expire=100))
    await asyncio.sleep(0.15)
    await api.run(new(Book, id="c", title="Dune").set())
    await api.run(Book.purge_expired())
    await api.run(new(Book, id="d", isbn="111").set())
    with pytest.raises(ConflictError):
        await api.run(new(Book, id="e", title="Dune").set())
    with pytest.raises(ConflictError):
        await api.run(new(Book, id="e", title="Emma").set())
    assert await stored(api, Book) == {"b": ("Emma", None), "c": ("Dune", None), "d": (None, "111")}


@pytest.mark.needs("class_expiry")
async def test_class_expiry_frees_the_values(api: Api) -> None:
    """Where objects expire with their model's storage (``__expire__``), expired values are free."""
    Book = books(api, ":ux", __expire__=0.1)
    await api.run(new(Book, id="a", title="Dune").set())
    await asyncio.sleep(0.25)
    await api.run(Book.purge_expired())
    await api.run(new(Book, id="b", title="Dune").set())
    with pytest.raises(ConflictError):
        await api.run(new(Book, id="c", title="Dune").set())


async def test_set_only_is_checked(api: Api) -> None:
    """set(only=) naming a unique field is checked; one not naming it does not claim the in-memory value."""
    Book = books(api)
    await api.run(new(Book, id="a", title="Dune").set())
    b = await api.run(new(Book, id="b", title="Emma").set())
    b.title = "Dune"
    with pytest.raises(ConflictError, match="title"):
        await api.run(b.set(only=("title",)))
    b.n = 5
    await api.run(b.set(only=("n",)))  # title not written: no clash, Emma stays claimed
    assert await stored(api, Book) == {"a": ("Dune", None), "b": ("Emma", None)}
    with pytest.raises(ConflictError):
        await api.run(new(Book, id="c", title="Emma").set())
    b.title = "Persuasion"
    await api.run(b.set(only=("title",)))
    await api.run(new(Book, id="c", title="Emma").set())


async def test_query_update_is_checked(api: Api) -> None:
    """A query update() of a unique field refuses a taken value, and one value for several objects, writing nothing."""
    Book = books(api)
    await api.run(new(Book, id="a", title="Dune").set())
    await api.run(new(Book, id="b", title="Emma").set())
    await api.run(new(Book, id="c", title="Persuasion").set())
    with pytest.raises(ConflictError, match="title"):
        await api.run(Book.filter(id="b").update(title="Dune"))
    with pytest.raises(ConflictError, match="title"):
        await api.run(Book.filter(id__in=["b", "c"]).update(title="Ulysses"))
    assert await stored(api, Book) == {"a": ("Dune", None), "b": ("Emma", None), "c": ("Persuasion", None)}
    assert await api.run(Book.filter(id="b").update(title="Ulysses")) == 1
    assert await api.run(Book.all().update(n=1)) == 3  # other fields: no claim involved
    await api.run(new(Book, id="d", title="Emma").set())  # freed by the update
    assert await api.run(Book.filter(id__in=["a", "c"]).update(title=None)) == 2


async def test_set_many_is_checked(api: Api) -> None:
    """set_many(): one value twice in the call is refused before any write; a stored value is a clash."""
    Book = books(api)
    await api.run(new(Book, id="a", title="Dune").set())
    with pytest.raises(ConflictError, match="title"):
        await api.run(Book.set_many([new(Book, id="x", title="Emma"), new(Book, id="y", title="Emma")]))
    assert await stored(api, Book) == {"a": ("Dune", None)}
    with pytest.raises(ConflictError, match=r"Book\.title"):
        await api.run(Book.set_many([new(Book, id="z", title="Dune")]))
    assert api.raw_exists(Book, "a") and not api.raw_exists(Book, "z")
    same = new(Book, id="a", title="Dune", n=1)  # the stored object itself, written again
    await api.run(Book.set_many([same, new(Book, id="b", title="Emma")]))
    assert await stored(api, Book) == {"a": ("Dune", None), "b": ("Emma", None)}


async def test_concurrent_writers_one_wins(api: Api) -> None:
    """8 callers writing 8 objects with one value at once: exactly one succeeds, 7 get ConflictError."""
    Book = books(api)
    callers = 8
    writes = [lambda k=k: new(Book, id=f"w{k}", title="Contested").set() for k in range(callers)]
    results = await api.concurrently(writes)
    outcomes = []
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, ConflictError):
            raise result
        outcomes.append("clash" if isinstance(result, ConflictError) else "ok")
    assert sorted(outcomes) == ["clash"] * (callers - 1) + ["ok"]
    assert [title for title, _ in (await stored(api, Book)).values()] == ["Contested"]


async def test_bad_unique_option_fails_at_class_creation(api: Api) -> None:
    """__unique__ naming an unknown field, or the pk field, is ConfigurationError when the class is made."""
    with pytest.raises(ConfigurationError, match=r"__unique__.*'nope'"):
        api.define(api.kind, BOOK, ":bad", name="Book", __unique__=("title", "nope"))
    with pytest.raises(ConfigurationError, match=r"__unique__.*pk field"):
        api.define(api.kind, BOOK, ":bad", name="Book", __unique__=("id",))
    with pytest.raises(ConfigurationError, match="__unique__"):
        api.define(api.kind, BOOK, ":bad", name="Book", __unique__="title")
