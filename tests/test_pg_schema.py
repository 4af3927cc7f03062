"""PostgreSQL tables: create_table() growing an existing table, ``__schema__``, ``__unique__`` indexes, and
constraint violations surfacing as the library's errors.

Each test runs on psycopg sync, psycopg asyncio and aiopg (fixture ``pg_store``), on dataclass models.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from persist_mixins import ConfigurationError, ConflictError, ValidationError

from . import models
from .conftest import Store, pg_table_name
from .models import new


def model(store: Store, fields: dict[str, Any], suffix: str = "", name: str = "Book", **options: Any) -> Any:
    """A dataclass model of this module in the store (:meth:`Store.declare`), its table not created."""
    return store.declare(fields, suffix, name=name, **options)


def columns(store: Store, table: str, schema: str = "public") -> dict[str, str]:
    """The columns of a table and their types, read behind the library's back."""
    rows = store.conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
        (schema, table),
    ).fetchall()
    return dict(rows)


def indexes(store: Store, table: str, schema: str = "public") -> dict[str, str]:
    """The indexes of a table: name -> definition."""
    rows = store.conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s", (schema, table)
    ).fetchall()
    return dict(rows)


# -- create_table() on an existing table ------------------------------------------------------


async def test_create_table_adds_the_columns_and_indexes_the_model_gained(pg_store: Store) -> None:
    """A grown model's create_table() adds its new columns and indexes, keeps the data, and says what it did."""
    V1 = model(pg_store, {"id": str, "title": str | None, "legacy": str | None})
    made = await pg_store.run(V1.create_table())
    table = pg_table_name(pg_store.prefix)
    assert made[0] == f'create table "{table}"'
    assert await pg_store.run(V1.create_table()) == []  # nothing missing: nothing changed
    await pg_store.run(new(V1, id="a", title="Dune", legacy="x").set())

    fields = {"id": str, "title": str | None, "flavour": str | None, "pages": int | None, "v": int}
    V2 = model(pg_store, fields, __indexes__=("pages",), __unique__=("title",), __version_field__="v")
    changes = await pg_store.run(V2.create_table())
    assert changes[:3] == [
        'add column "flavour" text',
        'add column "pages" bigint',
        'add column "v" bigint NOT NULL DEFAULT 1',
    ]
    assert len(changes) == 5
    assert changes[3].startswith('create index "') and changes[3].endswith(f' on "{table}" ("pages")')
    assert changes[4].startswith('create unique index "') and changes[4].endswith(f' on "{table}" ("title")')
    assert await pg_store.run(V2.create_table()) == []

    types = columns(pg_store, table)
    assert types["flavour"] == "text" and types["pages"] == "bigint" and types["v"] == "bigint"
    assert types["legacy"] == "text"  # never dropped
    assert sum("UNIQUE" in d and "(title)" in d for d in indexes(pg_store, table).values()) == 1
    old = await pg_store.run(V2.match_for_pk("a"))  # the stored row reads back; new columns empty, the version 1
    assert (old.title, old.flavour, old.pages, old.v) == ("Dune", None, None, 1)
    old.pages = 412
    await pg_store.run(old.set())
    assert await pg_store.ids(V2.filter(pages__gte=400)) == ["a"]
    with pytest.raises(ConflictError, match=r"Book\.title = 'Dune'"):  # the unique index now holds
        await pg_store.run(new(V2, id="b", title="Dune", v=0).set())


async def test_create_table_on_a_table_made_by_another_tool(pg_store: Store) -> None:
    """A table the library did not make gains the expiry column and its index; its rows read back."""
    table = pg_table_name(pg_store.prefix)
    pg_store.conn.execute(f'CREATE TABLE "{table}" (id text PRIMARY KEY, title text)')
    pg_store.conn.execute(f"INSERT INTO \"{table}\" VALUES ('a', 'Dune')")
    Book = model(pg_store, {"id": str, "title": str | None})
    changes = await pg_store.run(Book.create_table())
    assert changes[0] == 'add column "_expires_at" timestamptz'
    assert changes[1].startswith('create index "') and changes[1].endswith('("_expires_at")')
    assert len(changes) == 2
    assert (await pg_store.run(Book.match_for_pk("a"))).title == "Dune"


async def test_a_unique_index_that_stored_duplicates_prevent_changes_nothing(pg_store: Store) -> None:
    """Adding __unique__ over stored duplicates: ConflictError naming the field; no column or index was added."""
    V1 = model(pg_store, {"id": str, "title": str | None})
    await pg_store.run(V1.create_table())
    await pg_store.run(V1.set_many([new(V1, id="a", title="Dune"), new(V1, id="b", title="Dune")]))
    V2 = model(pg_store, {"id": str, "title": str | None, "extra": str | None}, __unique__=("title",))
    with pytest.raises(ConflictError, match=r"Book\.title is in __unique__.*Dune.*nothing was changed") as caught:
        await pg_store.run(V2.create_table())
    assert caught.value.__cause__ is not None and type(caught.value.__cause__).__name__ == "UniqueViolation"
    assert "extra" not in columns(pg_store, pg_table_name(pg_store.prefix))  # the whole call was rolled back
    await pg_store.run(new(V1, id="b", title="Emma").set())
    assert len(await pg_store.run(V2.create_table())) == 2  # the column and the index


async def test_a_table_without_the_pk_column_is_refused(pg_store: Store) -> None:
    """create_table() never changes a primary key: an existing table without the pk column is ConfigurationError."""
    table = pg_table_name(pg_store.prefix)
    pg_store.conn.execute(f'CREATE TABLE "{table}" (code text PRIMARY KEY)')
    Book = model(pg_store, {"id": str, "title": str | None})
    with pytest.raises(ConfigurationError, match="pk column 'id'"):
        await pg_store.run(Book.create_table())
    assert "title" not in columns(pg_store, table)


# -- __schema__ ---------------------------------------------------------------------------------


async def test_schema_holds_the_table_and_every_statement_uses_it(pg_store: Store) -> None:
    """__schema__: create_table() makes the schema and the table in it; every operation reads and writes there."""
    schema = f"pm_s_{uuid.uuid4().hex[:8]}"
    table = pg_table_name(pg_store.prefix)
    fields = {"id": str, "title": str | None, "n": int | None}
    Book = model(pg_store, fields, __schema__=schema, __indexes__=("n",), __unique__=("title",))
    try:
        changes = await pg_store.run(Book.create_table())
        assert changes[:2] == [f'create schema "{schema}"', f'create table "{schema}"."{table}"']
        assert await pg_store.run(Book.create_table()) == []
        assert set(columns(pg_store, table, schema)) == {"id", "title", "n", "_expires_at"}
        assert columns(pg_store, table) == {}  # nothing in public
        assert len(indexes(pg_store, table, schema)) == 4  # pk, expiry, n, title

        await pg_store.run(new(Book, id="a", title="Dune", n=1).set())
        await pg_store.run(Book.set_many([new(Book, id="b", title="Emma", n=2), new(Book, id="c", n=3)]))
        with pytest.raises(ConflictError, match=r"Book\.title = 'Dune'"):
            await pg_store.run(new(Book, id="d", title="Dune").set())
        assert await pg_store.run(Book.filter(n__gte=2).update(n=5)) == 2
        assert await pg_store.ids(Book.filter(n=5).order_by("id")) == ["b", "c"]
        b = await pg_store.run(Book.match_for_pk("b"))
        assert await pg_store.run(b.expire(100)) and await pg_store.run(b.ttl()) > 90
        assert await pg_store.run(b.delete())
        await pg_store.run(Book.purge_expired())
        assert pg_store.conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone() == (2,)

        await pg_store.run(Book.drop_table())
        await pg_store.run(Book.drop_table())  # idempotent
        row = pg_store.conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        assert row == (1,)  # drop_table() drops the table only
        assert columns(pg_store, table, schema) == {}
    finally:
        pg_store.conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def test_schema_that_exists_is_used(pg_store: Store) -> None:
    """An existing schema is not created again; a table in it with the same name as one in public is apart."""
    schema = f"pm_s_{uuid.uuid4().hex[:8]}"
    pg_store.conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        Public = model(pg_store, {"id": str})
        Private = model(pg_store, {"id": str}, __schema__=schema)
        await pg_store.run(Public.create_table())
        assert (await pg_store.run(Private.create_table()))[
            0
        ] == f'create table "{schema}"."{pg_table_name(pg_store.prefix)}"'
        await pg_store.run(new(Private, id="only-here").set())
        assert await pg_store.run(Public.count()) == 0
        assert await pg_store.run(Private.count()) == 1
    finally:
        pg_store.conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.parametrize("bad", [5, "", "pg_mine", "x" * 64, "a%b"])
def test_a_bad_schema_fails_at_class_creation(bad: Any) -> None:
    """__schema__ that is not a usable schema name is ConfigurationError naming the class and option."""
    import persist_mixins

    with pytest.raises(ConfigurationError, match=r"Shelf\.__schema__"):
        type("Shelf", (persist_mixins.PgRowMixin,), {"__schema__": bad, "__annotations__": {"id": str}})


# -- __unique__ with every pk kind ---------------------------------------------------------------


@pytest.mark.parametrize("pk", [int, uuid.UUID])
async def test_unique_with_generated_and_uuid_pks(pg_store: Store, pk: type) -> None:
    """__unique__ holds whatever the pk: a database-generated int or a UUID; expired holders never block."""
    Book = model(pg_store, {"id": pk | None, "title": str | None}, __unique__=("title",))
    await pg_store.run(Book.create_table())
    first = await pg_store.run(new(Book, title="Dune").set(expire=0.1))
    assert first.id is not None
    with pytest.raises(ConflictError, match=r"Book\.title = 'Dune'") as caught:
        await pg_store.run(new(Book, title="Dune").set())
    assert type(caught.value.__cause__).__name__ == "UniqueViolation"
    await asyncio.sleep(0.25)
    second = await pg_store.run(new(Book, title="Dune").set())  # the expired holder gave way
    assert second.id != first.id
    await pg_store.run(second.expire(0.1))
    await asyncio.sleep(0.25)
    saved = await pg_store.run(Book.set_many([new(Book, title="Dune"), new(Book, title="Emma")]))
    assert [b.title for b in saved] == ["Dune", "Emma"]
    with pytest.raises(ConflictError, match=r"Book\.title = 'Emma'"):
        await pg_store.run(Book.set_many([new(Book, title="Persuasion"), new(Book, title="Emma")]))
    assert sorted(b.title for b in await pg_store.items(Book.all())) == ["Dune", "Emma"]
    assert pg_store.raw_count(Book) == 2  # the expired holders were deleted, nothing else


async def test_a_clash_inside_a_transaction_writes_nothing(pg_store: Store) -> None:
    """In a transaction() block, a unique clash is ConflictError and the block rolls back."""
    Book = model(pg_store, {"id": str, "title": str | None}, __unique__=("title",))
    await pg_store.run(Book.create_table())
    await pg_store.run(new(Book, id="a", title="Dune").set())
    with pytest.raises(ConflictError, match=r"Book\.title = 'Dune'"):
        if pg_store.flavour == "sync":
            with Book.transaction():
                new(Book, id="b", title="Emma").set()
                new(Book, id="c", title="Dune").set()
        else:
            async with Book.transaction():
                await new(Book, id="b", title="Emma").set()
                await new(Book, id="c", title="Dune").set()
    assert await pg_store.ids(Book.all()) == ["a"]


# -- constraint violations ------------------------------------------------------------------------


async def test_not_null_and_check_violations_are_validation_errors(pg_store: Store) -> None:
    """A NOT NULL or CHECK constraint on the table: ValidationError naming the column / constraint; nothing written."""
    Book = model(pg_store, {"id": str, "title": str | None, "pages": int | None})
    await pg_store.run(Book.create_table())
    table = pg_table_name(pg_store.prefix)
    pg_store.conn.execute(f'ALTER TABLE "{table}" ALTER COLUMN title SET NOT NULL')
    pg_store.conn.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT pages_positive CHECK (pages > 0)')
    with pytest.raises(ValidationError, match=r"Book\.title: the column 'title' .* NOT NULL") as caught:
        await pg_store.run(new(Book, id="a", pages=1).set())
    assert type(caught.value.__cause__).__name__ == "NotNullViolation"
    with pytest.raises(ValidationError, match="CHECK constraint 'pages_positive'") as caught:
        await pg_store.run(new(Book, id="a", title="Dune", pages=0).set())
    assert type(caught.value.__cause__).__name__ == "CheckViolation"
    with pytest.raises(ValidationError, match="pages_positive"):
        await pg_store.run(
            Book.set_many([new(Book, id="b", title="Emma", pages=3), new(Book, id="c", title="X", pages=-1)])
        )
    assert pg_store.raw_count(Book) == 0
    await pg_store.run(new(Book, id="a", title="Dune", pages=3).set())
    with pytest.raises(ValidationError, match="pages_positive"):
        await pg_store.run(Book.all().update(pages=-5))
    assert (await pg_store.run(Book.match_for_pk("a"))).pages == 3


async def test_foreign_keys_name_the_constraint(pg_store: Store) -> None:
    """A row referring to a missing one is ValidationError; deleting a row still referred to is ConflictError."""
    Author = model(pg_store, {"id": str, "name": str | None}, ":author", name="Author")
    Book = model(pg_store, {"id": str, "author": str | None}, ":book", name="Book")
    await pg_store.run(Author.create_table())
    await pg_store.run(Book.create_table())
    authors, books = pg_table_name(pg_store.prefix + ":author"), pg_table_name(pg_store.prefix + ":book")
    pg_store.tables.remove(authors)
    pg_store.tables.append(authors)  # dropped after the books, which refer to it
    pg_store.conn.execute(
        f'ALTER TABLE "{books}" ADD CONSTRAINT book_author FOREIGN KEY (author) REFERENCES "{authors}" (id)'
    )
    with pytest.raises(ValidationError, match=r"refers to a row that does not exist.*book_author") as refused:
        await pg_store.run(new(Book, id="b", author="herbert").set())
    assert type(refused.value.__cause__).__name__ == "ForeignKeyViolation"
    assert pg_store.raw_count(Book) == 0
    herbert = await pg_store.run(new(Author, id="herbert", name="Frank Herbert").set())
    await pg_store.run(new(Book, id="b", author="herbert").set())
    with pytest.raises(
        ConflictError, match=r"Author: rows of .* still refer to this row \(foreign key 'book_author'\)"
    ) as held:
        await pg_store.run(herbert.delete())
    assert type(held.value.__cause__).__name__ == "ForeignKeyViolation"
    with pytest.raises(ConflictError, match="book_author"):
        await pg_store.run(Author.filter(id="herbert").delete())
    assert await pg_store.run(Author.count()) == 1
    assert await pg_store.run(Book.filter(id="b").delete()) == 1
    assert await pg_store.run(herbert.delete())


async def test_a_self_referencing_foreign_key(pg_store: Store) -> None:
    """A table whose rows refer to each other: a missing parent is ValidationError, deleting a parent ConflictError."""
    Node = model(pg_store, {"id": str, "parent": str | None}, ":node", name="Node")
    await pg_store.run(Node.create_table())
    nodes = pg_table_name(pg_store.prefix + ":node")
    pg_store.conn.execute(
        f'ALTER TABLE "{nodes}" ADD CONSTRAINT node_parent FOREIGN KEY (parent) REFERENCES "{nodes}" (id)'
    )
    with pytest.raises(ValidationError, match="node_parent"):
        await pg_store.run(new(Node, id="leaf", parent="nobody").set())
    root = await pg_store.run(new(Node, id="root").set())
    await pg_store.run(new(Node, id="leaf", parent="root").set())
    with pytest.raises(ConflictError, match=r"still refer to this row \(foreign key 'node_parent'\)"):
        await pg_store.run(root.delete())
    assert await pg_store.run(Node.count()) == 2


def test_concurrent_create_table_calls_take_turns(pg_conn: Any) -> None:
    """Six processes' worth of create_table() at once on a new schema and table: none fails, one creates."""
    import threading

    import persist_mixins

    schema, table = f"pm_s_{uuid.uuid4().hex[:8]}", f"pmtest_{uuid.uuid4().hex[:8]}"
    fields = {"id": str, "n": int | None, "m": str | None}
    options = {"__schema__": schema, "__table__": table, "__indexes__": ("n",), "__unique__": ("m",)}
    Row = models.define("dataclasses", fields, options, mixin=persist_mixins.PgRowMixin, name="Row")
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def create() -> None:
        barrier.wait()
        try:
            results.append(Row.create_table())
        except Exception as exc:  # noqa: BLE001 - collected, asserted below
            results.append(exc)

    threads = [threading.Thread(target=create) for _ in range(6)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(isinstance(r, list) for r in results), results
        assert sorted(len(r) for r in results) == [0] * 5 + [5]  # schema, table, expiry, n and m indexes
    finally:
        pg_conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# -- the plans, driven by scripted replies (no server) ------------------------------------------------


def test_create_table_plan_sends_only_what_is_missing() -> None:
    """On an existing table the plan reads its columns and indexes, then adds the missing ones, in a transaction."""
    import persist_mixins
    from persist_mixins.backends.postgres import plans
    from persist_mixins.backends.postgres.commands import Begin, Commit, Sql
    from persist_mixins.backends.postgres.schema import table_of
    from persist_mixins.binding import spec_of
    from persist_mixins.run import run_sync

    from .scripted import Script

    fields = {"id": str, "title": str | None, "pages": int | None}
    options = {"__table__": "shelf", "__indexes__": ("pages",), "__unique__": ("title",)}
    Shelf = models.define("dataclasses", fields, options, mixin=persist_mixins.PgRowMixin, name="Shelf")
    table = table_of(spec_of(Shelf))
    expires = table.raw_index_name("expires")
    script = Script(
        0,
        (None,),
        [("id", False), ("title", False), ("_expires_at", False)],
        None,
        [("shelf_pkey",), (expires,)],
        None,
        None,
        None,
    )
    changes = run_sync(script.route, plans.create_table(spec_of(Shelf)))
    sent = [c.text if isinstance(c, Sql) else type(c) for c in script.sent]
    assert sent[0] is Begin and sent[-1] is Commit
    assert sent[1] == "SELECT pg_advisory_xact_lock(hashtext(%s))"
    assert sent[3] == 'ALTER TABLE "shelf" ADD COLUMN IF NOT EXISTS "pages" bigint'
    assert sent[5].startswith('CREATE INDEX IF NOT EXISTS "shelf_pages_') and sent[5].endswith('ON "shelf" ("pages")')
    assert sent[6].startswith('CREATE UNIQUE INDEX IF NOT EXISTS "shelf_unique title_')
    assert len(sent) == 8
    assert changes[0] == 'add column "pages" bigint' and len(changes) == 3


def test_a_unique_write_frees_expired_holders_in_the_same_statement() -> None:
    """set() of a __unique__ model is still one statement: a DELETE of expired holders, then the upsert after it."""
    import persist_mixins
    from persist_mixins.backends.postgres import plans
    from persist_mixins.binding import spec_of
    from persist_mixins.run import run_sync

    from .scripted import Script

    fields = {"id": str, "title": str | None, "isbn": str | None}
    options = {"__table__": "shelf", "__unique__": ("title", "isbn")}
    Shelf = models.define("dataclasses", fields, options, mixin=persist_mixins.PgRowMixin, name="Shelf")
    script = Script(1)
    run_sync(script.route, plans.save(spec_of(Shelf), new(Shelf, id="a", title="Dune", isbn=None)))
    (cmd,) = script.sent
    assert cmd.text.startswith(
        'WITH _pm_freed AS (DELETE FROM "shelf" WHERE "_expires_at" <= statement_timestamp() '
        'AND ("title" = %s OR "isbn" = %s) RETURNING 1) INSERT INTO "shelf" AS t'
    )
    assert "FROM (SELECT count(*) AS _pm_n FROM _pm_freed) AS _pm_f ON CONFLICT" in cmd.text
    assert list(cmd.params) == ["Dune", None, "a", "Dune", None, None]
