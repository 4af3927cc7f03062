"""PostgreSQL ``__db_defaults__``: a field the object leaves None takes its column's DEFAULT, filled back by RETURNING.

Each test runs on psycopg sync, psycopg asyncio and aiopg (fixture ``pg_store``), on dataclass models.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest

from persist_mixins import ConfigurationError, ConflictError

from .conftest import Store, pg_table_name
from .models import new


def model(store: Store, fields: dict[str, Any], suffix: str = "", name: str = "Post", **options: Any) -> Any:
    """A dataclass model of this module in the store (:meth:`Store.declare`), its table not created."""
    return store.declare(fields, suffix, name=name, **options)


def raw(store: Store, sql: str, *params: Any) -> list[Any]:
    """Rows read behind the library's back."""
    return list(store.conn.execute(sql, params).fetchall())


def recent(value: Any) -> bool:
    """True when ``value`` is an aware datetime within a minute of now."""
    return isinstance(value, dt.datetime) and abs(dt.datetime.now(dt.timezone.utc) - value) < dt.timedelta(minutes=1)


#: Every kind create_table() gives a DEFAULT to.
FILLED: dict[str, Any] = {
    "id": str,
    "title": str | None,
    "seq": int | None,
    "token": uuid.UUID | None,
    "day": dt.date | None,
    "at": dt.datetime | None,
}
FILLED_DEFAULTS = ("seq", "token", "day", "at")


async def test_an_existing_tables_server_defaults_fill_a_declared_field(pg_store: Store) -> None:
    """The issue's case: NOT NULL columns with DEFAULTs on a table made by raw SQL; set() with None fills them back."""
    table = pg_table_name(pg_store.prefix)
    pg_store.conn.execute(
        f"CREATE TABLE \"{table}\" (id text PRIMARY KEY, title text, status text NOT NULL DEFAULT 'draft', "
        "created_at timestamptz NOT NULL DEFAULT now())"
    )
    fields = {"id": str, "title": str | None, "status": str | None, "created_at": dt.datetime | None}
    Post = model(pg_store, fields, __db_defaults__=("status", "created_at"))
    await pg_store.run(Post.create_table())  # adds the expiry column only

    post = await pg_store.run(new(Post, id="a", title="Hello").set())
    assert post.status == "draft" and recent(post.created_at)
    assert raw(pg_store, f'SELECT status, created_at FROM "{table}"') == [("draft", post.created_at)]
    stored = await pg_store.run(Post.match_for_pk("a"))
    assert (stored.status, stored.created_at) == ("draft", post.created_at)

    again = await pg_store.run(new(Post, id="a", title="Hello again").set())  # a re-save with None keeps what is stored
    assert (again.status, again.created_at) == ("draft", post.created_at)
    assert raw(pg_store, f'SELECT title, status FROM "{table}"') == [("Hello again", "draft")]

    given = dt.datetime(2020, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    await pg_store.run(new(Post, id="a", title="x", status="published", created_at=given).set())  # values are written
    assert raw(pg_store, f'SELECT status, created_at FROM "{table}"') == [("published", given)]


async def test_create_table_gives_each_kind_its_default(pg_store: Store) -> None:
    """An identity for ints (a sequence), gen_random_uuid(), current_date, now(); filled back on set()."""
    Post = model(pg_store, FILLED, __db_defaults__=FILLED_DEFAULTS)
    await pg_store.run(Post.create_table())
    table = pg_table_name(pg_store.prefix)
    info = dict(
        (name, (default, identity))
        for name, default, identity in raw(
            pg_store,
            "SELECT column_name, column_default, is_identity FROM information_schema.columns WHERE table_name = %s",
            table,
        )
    )
    assert info["seq"] == (None, "YES")
    assert info["token"][0] == "gen_random_uuid()" and info["day"][0] == "CURRENT_DATE" and info["at"][0] == "now()"
    assert info["title"] == (None, "NO")

    first = await pg_store.run(new(Post, id="a").set())
    second = await pg_store.run(new(Post, id="b").set())
    assert (first.seq, second.seq) == (1, 2)
    assert isinstance(first.token, uuid.UUID) and first.token != second.token
    assert first.day == raw(pg_store, "SELECT current_date")[0][0] and recent(first.at)
    stored = await pg_store.run(Post.match_for_pk("a"))
    assert (stored.seq, stored.token, stored.day, stored.at) == (first.seq, first.token, first.day, first.at)

    again = await pg_store.run(new(Post, id="a", title="changed").set())  # None again: the stored values stay
    assert (again.seq, again.token, again.day, again.at) == (first.seq, first.token, first.day, first.at)
    token = uuid.uuid4()
    mine = await pg_store.run(new(Post, id="c", seq=100, token=token).set())  # given values are written as given
    assert (mine.seq, mine.token) == (100, token)
    assert raw(pg_store, f'SELECT seq, token FROM "{table}" WHERE id = %s', "c") == [(100, token)]


async def test_set_only_with_none_takes_the_default_again(pg_store: Store) -> None:
    """set(only=...) naming a db-default field the object left None writes DEFAULT; RETURNING fills it back."""
    Post = model(pg_store, FILLED, __db_defaults__=FILLED_DEFAULTS)
    await pg_store.run(Post.create_table())
    post = await pg_store.run(new(Post, id="a", title="one").set())
    assert post.seq == 1
    post.seq, post.title = None, "two"
    await pg_store.run(post.set(only=("seq", "title")))
    assert post.seq == 2  # the identity's next value
    stored = await pg_store.run(Post.match_for_pk("a"))
    assert (stored.seq, stored.title, stored.token) == (2, "two", post.token)
    stored.at = None
    await pg_store.run(stored.set(only=("title",)))  # a field not named stays as stored
    assert stored.at is None and (await pg_store.run(Post.match_for_pk("a"))).at == post.at


async def test_set_many_fills_every_object_back(pg_store: Store) -> None:
    """set_many(): new rows get defaults, stored rows keep theirs, given values are written; all filled back."""
    Post = model(pg_store, FILLED, __db_defaults__=FILLED_DEFAULTS)
    await pg_store.run(Post.create_table())
    old = await pg_store.run(new(Post, id="b", title="old").set())
    token = uuid.uuid4()
    objs = [
        new(Post, id="c", title="c"),
        new(Post, id="b", title="b again"),  # stored: keeps seq, token, at
        new(Post, id="a", title="a", seq=50, token=token),  # given values, the other two filled
        new(Post, id="d", title="d"),
    ]
    saved = await pg_store.run(Post.set_many(objs))
    assert saved == objs
    by_id = {obj.id: obj for obj in objs}
    assert (by_id["b"].seq, by_id["b"].token, by_id["b"].at) == (old.seq, old.token, old.at)
    assert (by_id["a"].seq, by_id["a"].token) == (50, token) and recent(by_id["a"].at)
    assert by_id["c"].seq not in (None, old.seq) and by_id["d"].seq not in (None, old.seq, by_id["c"].seq)
    assert all(isinstance(obj.token, uuid.UUID) and recent(obj.at) for obj in objs)
    for obj in objs:
        stored = await pg_store.run(Post.match_for_pk(obj.id))
        assert (stored.title, stored.seq, stored.token, stored.day, stored.at) == (
            obj.title, obj.seq, obj.token, obj.day, obj.at
        )  # fmt: skip


async def test_generated_pk_and_db_defaults(pg_store: Store) -> None:
    """A database-made int pk and a db-default field: set() and set_many() fill both back."""
    Entry = model(pg_store, {"id": int | None, "text": str | None, "at": dt.datetime | None}, __db_defaults__=("at",))
    await pg_store.run(Entry.create_table())
    one = await pg_store.run(new(Entry, text="one").set())
    assert one.id is not None and recent(one.at)
    given = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)
    many = await pg_store.run(Entry.set_many([new(Entry, text="two"), new(Entry, text="three", at=given)]))
    assert len({one.id, many[0].id, many[1].id}) == 3
    assert recent(many[0].at) and many[1].at == given
    assert (await pg_store.run(Entry.match_for_pk(many[0].id))).at == many[0].at


async def test_versioned_and_unique_models(pg_store: Store) -> None:
    """__version_field__ and __unique__ models fill db defaults back, and their rules still hold."""
    fields = {"id": str, "title": str | None, "v": int | None, "at": dt.datetime | None}
    Doc = model(pg_store, fields, name="Doc", __version_field__="v", __unique__=("title",), __db_defaults__=("at",))
    await pg_store.run(Doc.create_table())
    doc = await pg_store.run(new(Doc, id="a", title="t").set())
    assert doc.v == 1 and recent(doc.at)
    first = doc.at
    doc.at = None
    await pg_store.run(doc.set())
    assert (doc.v, doc.at) == (2, first)  # kept
    stale = await pg_store.run(Doc.match_for_pk("a"))
    stale.v = 1
    stale.at = None
    with pytest.raises(ConflictError):
        await pg_store.run(stale.set())
    doc.at = None
    await pg_store.run(doc.set(only=("at",)))
    assert doc.v == 3 and recent(doc.at)
    with pytest.raises(ConflictError, match=r"Doc\.title = 't'"):
        await pg_store.run(new(Doc, id="b", title="t").set())


async def test_an_expired_row_is_replaced_with_fresh_defaults(pg_store: Store) -> None:
    """A row past its expiry is gone for the user: a new object at its pk gets new defaults, not the dead row's."""
    Post = model(pg_store, FILLED, __db_defaults__=FILLED_DEFAULTS)
    await pg_store.run(Post.create_table())
    dead = await pg_store.run(new(Post, id="a").set(expire=0.05))
    await asyncio.sleep(0.1)
    fresh = await pg_store.run(new(Post, id="a").set())
    assert fresh.seq != dead.seq and fresh.token != dead.token


async def test_growing_a_table_adds_db_default_columns_with_their_default(pg_store: Store) -> None:
    """create_table() on an existing table adds a db-default column with its DEFAULT; stored rows get a value."""
    V1 = model(pg_store, {"id": str, "title": str | None})
    await pg_store.run(V1.create_table())
    await pg_store.run(new(V1, id="a", title="old").set())
    V2 = model(pg_store, {"id": str, "title": str | None, "seq": int | None, "at": dt.datetime | None},
               __db_defaults__=("seq", "at"))  # fmt: skip
    changes = await pg_store.run(V2.create_table())
    assert changes == [
        'add column "seq" bigint GENERATED BY DEFAULT AS IDENTITY',
        'add column "at" timestamptz DEFAULT now()',
    ]
    old = await pg_store.run(V2.match_for_pk("a"))
    assert old.seq == 1 and recent(old.at)
    new_one = await pg_store.run(new(V2, id="b").set())
    assert new_one.seq == 2


async def test_an_existing_column_newly_named_gets_its_default_or_a_clear_error(pg_store: Store) -> None:
    """A column the table has, newly in __db_defaults__: a datetime gets DEFAULT now(); an int without is refused."""
    V1 = model(pg_store, {"id": str, "at": dt.datetime | None, "n": int | None})
    await pg_store.run(V1.create_table())
    V2 = model(pg_store, {"id": str, "at": dt.datetime | None, "n": int | None}, __db_defaults__=("at",))
    assert await pg_store.run(V2.create_table()) == ['set column "at" DEFAULT now()']
    assert await pg_store.run(V2.create_table()) == []
    assert recent((await pg_store.run(new(V2, id="a").set())).at)
    V3 = model(pg_store, {"id": str, "at": dt.datetime | None, "n": int | None}, __db_defaults__=("at", "n"))
    with pytest.raises(ConfigurationError, match=r"'n'.*no DEFAULT"):
        await pg_store.run(V3.create_table())


async def test_a_unique_together_model(pg_store: Store) -> None:
    """A model whose pk is built from __unique_together__ (the hidden pk column) fills its db defaults back."""
    fields = {"shop": str | None, "flavour": str | None, "at": dt.datetime | None}
    Scoop = model(pg_store, fields, name="Scoop", __unique_together__=("shop", "flavour"), __db_defaults__=("at",))
    await pg_store.run(Scoop.create_table())
    one = await pg_store.run(new(Scoop, shop="soho", flavour="vanilla").set())
    assert recent(one.at)
    many = await pg_store.run(
        Scoop.set_many([new(Scoop, shop="soho", flavour="vanilla"), new(Scoop, shop="x", flavour="y")])
    )
    assert many[0].at == one.at and recent(many[1].at)
    assert (await pg_store.run(Scoop.match(pk="x.y"))).at == many[1].at


async def test_a_json_field_takes_the_tables_default(pg_store: Store) -> None:
    """Any kind works with the table's own DEFAULT: a list field over ``jsonb DEFAULT '["new"]'``."""
    table = pg_table_name(pg_store.prefix)
    pg_store.conn.execute(f'CREATE TABLE "{table}" (id text PRIMARY KEY, tags jsonb NOT NULL DEFAULT \'["new"]\')')
    Post = model(pg_store, {"id": str, "tags": list[str] | None}, __db_defaults__=("tags",))
    await pg_store.run(Post.create_table())
    post = await pg_store.run(new(Post, id="a").set())
    assert post.tags == ["new"]
    posts = await pg_store.run(Post.set_many([new(Post, id="b"), new(Post, id="c", tags=["x"])]))
    assert [p.tags for p in posts] == [["new"], ["x"]]
    assert (await pg_store.run(Post.match_for_pk("b"))).tags == ["new"]
