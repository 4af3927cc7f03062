"""PostgreSQL plans driven by scripted replies, with no server: the SQL they send and what they make of replies."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import uuid
from typing import Any

import pytest

from persist_mixins import ConflictError, InvalidLookup, MultipleFound, NotFound, PgRowMixin
from persist_mixins.backends.postgres import plans
from persist_mixins.backends.postgres.commands import Begin, Commit, Copy, Sql
from persist_mixins.binding import spec_of
from persist_mixins.query import QueryState
from persist_mixins.run import iter_sync, run_sync

from .scripted import Script, through


@dataclasses.dataclass
class Cone(PgRowMixin):
    """A model whose table and field names need quoting."""

    __table__ = 'ice "cream"'
    __expire__ = 60
    id: str | None = None
    flavour: str | None = None
    scoops: int | None = None
    extra: dict[str, Any] | None = None


@dataclasses.dataclass
class Versioned(PgRowMixin):
    """A model with optimistic locking and a generated key."""

    __version_field__ = "version"
    id: int | None = None
    name: str = ""
    version: int | None = None


SPEC = spec_of(Cone)


def where(**lookups: Any) -> QueryState:
    """The query state of ``Cone.filter(**lookups)``."""
    return QueryState().where(SPEC, lookups)


def test_save_is_one_upsert_with_values_as_parameters() -> None:
    """set() sends one INSERT ... ON CONFLICT DO UPDATE; identifiers are quoted, values only parameters."""
    script = Script(1)
    obj = Cone("a'); DROP TABLE x; --", "mint", 2, {"k": "v"})
    assert run_sync(script.route, plans.save(SPEC, obj)) is obj
    (cmd,) = script.sent
    assert cmd.text.startswith('INSERT INTO "ice ""cream""" AS t ("id", "flavour", "scoops", "extra", "_expires_at")')
    assert 'ON CONFLICT ("id") DO UPDATE' in cmd.text
    assert "DROP" not in cmd.text and "mint" not in cmd.text
    assert list(cmd.params) == ["a'); DROP TABLE x; --", "mint", 2, '{"k":"v"}', 60000]


def test_sql_text_is_built_once_per_query_shape() -> None:
    """Two queries of one shape share their SQL text; a None value changes the shape."""
    first = Script([])
    second = Script([])
    list(iter_sync(first.route, plans.select_pairs(SPEC, where(scoops__gte=1, flavour="a"))))
    list(iter_sync(second.route, plans.select_pairs(SPEC, where(scoops__gte=5, flavour="b"))))
    assert first.sent[0].text is second.sent[0].text
    assert first.sent[0].params[:2] == [1, "a"] and second.sent[0].params[:2] == [5, "b"]
    third = Script([])
    list(iter_sync(third.route, plans.select_pairs(SPEC, where(scoops__gte=5, flavour=None))))
    assert '"flavour" IS NULL' in third.sent[0].text


def test_dict_keys_in_nested_paths_are_parameters() -> None:
    """A lookup into a dict field passes the key as a parameter, never as SQL text."""
    script = Script((0,))
    run_sync(script.route, plans.count(SPEC, where(**{"extra__k'; DROP": "v"})))
    (cmd,) = script.sent
    assert "DROP" not in cmd.text
    assert ["k'; DROP"] in cmd.params


def test_every_read_filters_expired_rows() -> None:
    """Reads, counts, updates and deletes all carry the expiry condition."""
    script = Script(None, (0,), 0, 0)
    run_sync(script.route, plans.fetch(SPEC, "a"))
    run_sync(script.route, plans.count(SPEC, where()))
    run_sync(script.route, plans.update_where(SPEC, where(), {"scoops": 1}))
    run_sync(script.route, plans.delete_where(SPEC, where(scoops=1)))
    assert all('"_expires_at" > statement_timestamp()' in cmd.text for cmd in script.sent)


def test_match_reads_two_rows_at_most() -> None:
    """match() asks for at most two rows: one is the answer, two is MultipleFound."""
    script = Script([("a", None, 1, None)])
    assert run_sync(script.route, plans.match(SPEC, where(scoops=1))).id == "a"
    assert script.sent[0].params[-1] == 2
    with pytest.raises(MultipleFound):
        run_sync(through(Script([("a", None, 1, None)] * 2).execute), plans.match(SPEC, where(scoops=1)))
    with pytest.raises(NotFound):
        run_sync(through(Script([]).execute), plans.match(SPEC, where(scoops=1)))


def test_large_result_switches_to_a_cursor() -> None:
    """A probe that returns more than FETCH_SIZE rows is dropped; a cursor then reads in batches."""
    row = ("a", None, 1, None)
    size = plans.FETCH_SIZE
    script = Script([row] * (size + 1), None, None, [row] * size, [row] * 3, None, None)
    items = list(iter_sync(script.route, plans.select_pairs(SPEC, where())))
    assert len(items) == size + 3
    kinds = [type(c) for c in script.sent]
    assert kinds == [Sql, Begin, Sql, Sql, Sql, Sql, Commit]
    assert script.sent[2].text.startswith("DECLARE _pm_cursor_")


def test_set_many_copies_then_upserts_in_one_transaction() -> None:
    """set_many() stages rows with COPY and upserts them, inside Begin/Commit."""
    objs = [Cone(f"c{i}", "mint", i) for i in range(3)]
    script = Script(None, None, 3, 3, None, None)
    run_sync(script.route, plans.save_many(SPEC, objs))
    kinds = [type(c) for c in script.sent]
    assert kinds == [Begin, Sql, Copy, Sql, Sql, Commit]
    assert [row[0] for row in script.sent[2].rows] == ["c0", "c1", "c2"]


def test_stale_version_is_a_conflict() -> None:
    """An upsert guarded by the version that returns no row means the row changed: ConflictError."""
    spec = spec_of(Versioned)
    obj = Versioned(7, "x", 3)
    script = Script(None)
    with pytest.raises(ConflictError, match="version"):
        run_sync(script.route, plans.save(spec, obj))
    (cmd,) = script.sent
    assert 'WHERE t."version" IS NOT DISTINCT FROM %s' in cmd.text
    assert cmd.params[2] == 4 and cmd.params[-1] == 3  # writes the next version if the stored one is 3
    fresh = Versioned(name="new")
    run_sync(through(Script((41, 1)).execute), plans.save(spec, fresh))
    assert (fresh.id, fresh.version) == (41, 1)


def test_save_only_updates_just_those_columns_of_a_live_row() -> None:
    """set(only=) is one UPDATE of the named columns (and the version) of the live row at the object's version.

    No row back: a second SELECT tells a stale object (ConflictError) from a gone one (NotFound).
    """
    spec = spec_of(Versioned)
    obj = Versioned(7, "x", 3)
    script = Script((4,))
    run_sync(script.route, plans.save_only(spec, obj, ("name",)))
    (cmd,) = script.sent
    assert cmd.text.startswith('UPDATE "versioned" SET "name" = %s, "version" = "version" + 1 WHERE "id" = %s AND ')
    assert cmd.text.endswith('AND "version" IS NOT DISTINCT FROM %s RETURNING "version"')
    assert cmd.params == ["x", 7, 3] and obj.version == 4
    with pytest.raises(ConflictError, match="refresh"):
        run_sync(Script(None, (1,)).route, plans.save_only(spec, obj, ("name",)))
    with pytest.raises(NotFound, match="only"):
        run_sync(Script(None, None).route, plans.save_only(spec, obj, ("name",)))
    assert obj.version == 4


def test_bad_lookups_send_nothing() -> None:
    """Unknown fields, operators and NUL bytes raise InvalidLookup before any SQL exists."""
    with pytest.raises(InvalidLookup):
        where(colour="red")
    with pytest.raises(InvalidLookup, match="NUL"):
        run_sync(through(Script().execute), plans.count(SPEC, where(flavour="a\x00")))


def test_naive_datetimes_compare_as_utc() -> None:
    """A naive datetime lookup value is sent as UTC, matching how naive values are stored."""

    @dataclasses.dataclass
    class Stamp(PgRowMixin):
        id: str = ""
        at: dt.datetime | None = None

    script = Script((0,))
    run_sync(
        script.route,
        plans.count(spec_of(Stamp), QueryState().where(spec_of(Stamp), {"at__lt": dt.datetime(2030, 1, 1)})),
    )
    assert script.sent[0].params == [dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)]


@dataclasses.dataclass
class Delivery(PgRowMixin):
    """A model with every field kind PostgreSQL stores natively."""

    id: uuid.UUID
    at: dt.datetime
    on: dt.date
    price: decimal.Decimal
    note: str = ""


def test_native_values_are_sent_as_python_values_not_text() -> None:
    """set() sends datetimes, dates, Decimals and UUIDs as Python values: the server parses no ISO text."""
    key, at = uuid.uuid4(), dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    script = Script(1)
    run_sync(
        script.route, plans.save(spec_of(Delivery), Delivery(key, at, dt.date(2030, 1, 2), decimal.Decimal("1.50")))
    )
    (cmd,) = script.sent
    assert list(cmd.params)[:4] == [key, at, dt.date(2030, 1, 2), decimal.Decimal("1.50")]
    assert [type(p) for p in list(cmd.params)[:4]] == [uuid.UUID, dt.datetime, dt.date, decimal.Decimal]
