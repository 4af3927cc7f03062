"""RethinkDB plans, driven by scripted replies: the ReQL they build (its wire JSON), no server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from typing import Any

import pytest

from persist_mixins import InvalidLookup, NotFound, RethinkMixin, ValidationError
from persist_mixins.backends.rethinkdb import RETHINKDB, plans, reql
from persist_mixins.backends.rethinkdb.commands import Cursor, Database, Next, Run
from persist_mixins.binding import spec_of
from persist_mixins.query import QueryState
from persist_mixins.run import collect, run_sync

from .scripted import Script

TABLE = [reql.TABLE, ["cone"]]


@dataclasses.dataclass
class Cone(RethinkMixin):
    __table__ = "cone"
    __indexes__ = ("amount_kg", "made")
    id: str | None = None
    flavour: str | None = None
    amount_kg: int | None = None
    made: dt.datetime | None = None
    price: Any = None


@dataclasses.dataclass
class Keyed(RethinkMixin):
    __table__ = "keyed"
    id: uuid.UUID | None = None
    n: int = 0


def where(model: type = Cone, **lookups: Any) -> QueryState:
    return QueryState().where(spec_of(model), lookups)


def wire(term: Any) -> str:
    return json.dumps(term, sort_keys=True)


def select(state: QueryState, *replies: Any) -> tuple[list[Any], Script]:
    script = Script(*replies)
    found = run_sync(script.route, collect(RETHINKDB.plans.select_pairs(spec_of(Cone), state)))
    return [obj for _, obj in found], script


def test_term_numbers_are_the_protocol_s() -> None:
    """The term types plans send are the ones the official driver's ql2 protocol defines."""
    from rethinkdb import ql2_pb2

    names = [name for name in dir(reql) if name.isupper() and isinstance(getattr(reql, name), int) and name != "ROW"]
    assert len(names) > 40
    for name in names:
        assert getattr(ql2_pb2.Term.TermType, name) == getattr(reql, name), name


def test_save_is_one_insert_that_replaces() -> None:
    """set() is one insert with conflict="replace": times as ISO8601 terms to the millisecond, no expiry as null."""
    script = Script({"inserted": 1, "errors": 0})
    made = dt.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)
    run_sync(script.route, plans.save(spec_of(Cone), Cone("a", "mint", 3, made), None))
    (command,) = script.sent
    assert command.term == [
        reql.INSERT,
        [
            TABLE,
            {
                "id": "a", "flavour": "mint", "amount_kg": 3, "made": [reql.ISO8601, ["2030-01-02T03:04:05.679+00:00"]],
                "price": None, "_expires_at": None,
            },
        ],
        {"conflict": "replace"},
    ]  # fmt: skip


def test_expiry_is_computed_by_the_server_clock() -> None:
    """set(expire=) stores now + seconds by the server's clock (r.now().add(...))."""
    script = Script({"inserted": 1})
    run_sync(script.route, plans.save(spec_of(Cone), Cone("a"), 2.5))
    assert script.sent[0].term[1][1]["_expires_at"] == [reql.ADD, [[reql.NOW, []], 2.5]]


def test_an_empty_pk_is_made_by_the_server_and_filled_back() -> None:
    """A pk left empty is not sent: the server's generated key is set on the object, typed as its field."""
    key = "5b8e2d3a-0c41-4e0b-9e0c-0a1b2c3d4e5f"
    script = Script({"inserted": 1, "generated_keys": [key]})
    obj = run_sync(script.route, plans.save(spec_of(Keyed), Keyed(n=1), None))
    assert "id" not in script.sent[0].term[1][1]
    assert obj.id == uuid.UUID(key)


def test_a_refused_write_is_an_error() -> None:
    """An insert the server refuses (errors in its summary) raises with the server's message."""
    script = Script({"inserted": 0, "errors": 1, "first_error": "Primary key too long"})
    with pytest.raises(Exception, match="Primary key too long"):
        run_sync(script.route, plans.save(spec_of(Cone), Cone("a"), None))


def test_match_for_pk_is_a_get() -> None:
    """match_for_pk() reads by get(), with the server's time: a document expired by that clock is absent."""
    now = {"$reql_type$": "TIME", "epoch_time": 100.0, "timezone": "+00:00"}
    later = {**now, "epoch_time": 101.0}
    script = Script([{"id": "a", "_expires_at": later}, now])
    assert run_sync(script.route, plans.match_for_pk(spec_of(Cone), "a")).id == "a"
    assert script.sent[0].term == [reql.MAKE_ARRAY, [[reql.GET, [TABLE, "a"]], [reql.NOW, []]]]
    for reply in ([{"id": "a", "_expires_at": now}, now], [None, now]):
        with pytest.raises(NotFound):
            run_sync(Script(reply).route, plans.match_for_pk(spec_of(Cone), "a"))


def test_a_pk_that_cannot_exist_is_not_found_without_a_query() -> None:
    """A pk of the wrong type, or longer than RethinkDB keys can be, reads as absent: nothing is sent."""
    script = Script()
    with pytest.raises(NotFound):
        run_sync(script.route, plans.match_for_pk(spec_of(Keyed), "not-a-uuid"))
    with pytest.raises(NotFound):
        run_sync(script.route, plans.match_for_pk(spec_of(Cone), "x" * 200))
    assert script.sent == []


def test_equality_on_an_indexed_field_is_get_all() -> None:
    """An indexed equality reads the index (get_all), then filters: never a full-table filter."""
    _, script = select(where(amount_kg=3), "cursor", [])
    term = script.sent[0].term
    assert term[0] == reql.FILTER
    assert term[1][0] == [reql.GET_ALL, [TABLE, 3], {"index": "amount_kg"}]


def test_in_on_the_pk_reads_the_primary_index() -> None:
    """pk__in reads the primary index by get_all, each key once."""
    _, script = select(where(id__in=["a", "b", "a"]), "cursor", [])
    assert script.sent[0].term[1][0] == [reql.GET_ALL, [TABLE, "a", "b"]]


def test_ranges_on_an_indexed_field_are_between() -> None:
    """gte / lt / range on an indexed field read the index by between, bounds as the lookup says."""
    _, script = select(where(amount_kg__gte=3), "cursor", [])
    assert script.sent[0].term[1][0] == [reql.BETWEEN, [TABLE, 3, [reql.MAXVAL, []]], {"index": "amount_kg"}]
    _, script = select(where(amount_kg__gt=3), "cursor", [])
    assert script.sent[0].term[1][0][2] == {"index": "amount_kg", "left_bound": "open"}
    _, script = select(where(amount_kg__range=(1, 5)), "cursor", [])
    assert script.sent[0].term[1][0] == [reql.BETWEEN, [TABLE, 1, 5], {"index": "amount_kg", "right_bound": "closed"}]
    moment = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    _, script = select(where(made__lte=moment), "cursor", [])
    between = script.sent[0].term[1][0]
    assert between[1][2] == [reql.ISO8601, ["2030-01-01T00:00:00.000+00:00"]]
    assert between[2] == {"index": "made", "right_bound": "closed"}


def test_unindexed_lookups_filter_the_table_with_missing_fields_as_null() -> None:
    """A lookup no index serves filters the table, each field read with .default(null)."""
    _, script = select(where(flavour="mint"), "cursor", [])
    term = script.sent[0].term
    assert term[0] == reql.FILTER and term[1][0] == TABLE
    assert wire([reql.DEFAULT, [[reql.GET_FIELD, [[reql.VAR, [1]], "flavour"]], None]]) in wire(term)


def test_bounds_on_one_indexed_field_make_one_between() -> None:
    """gte and lt on one indexed field read only the rows between them, the tightest bounds winning."""
    _, script = select(where(amount_kg__gte=3, amount_kg__lt=9, amount_kg__gt=2, amount_kg__lte=9), "cursor", [])
    assert script.sent[0].term[1][0] == [reql.BETWEEN, [TABLE, 3, 9], {"index": "amount_kg"}]


def test_index_order_serves_order_by_and_limit_on_a_range() -> None:
    """order_by + limit on the field a range reads is the index's order: no sort of the whole range."""
    _, script = select(where(amount_kg__gte=3).ordered(spec_of(Cone), ["-amount_kg"]).limited(10), [])
    term = script.sent[0].term
    assert term[0] == reql.LIMIT and term[1][1] == 10
    ordered = term[1][0][1][0]  # LIMIT(FILTER(ORDER_BY(BETWEEN ...)))
    assert ordered[0] == reql.ORDER_BY and ordered[2] == {"index": [reql.DESC, ["amount_kg"]]}


def test_text_lookups_are_checked_on_decoded_objects() -> None:
    """icontains has no exact ReQL equivalent: the server filters the rest and Python checks it."""
    found, script = select(
        where(flavour__icontains="MINT"),
        [{"id": "a", "flavour": "Mint chip"}, {"id": "b", "flavour": "vanilla"}],
    )
    assert [obj.id for obj in found] == ["a"]
    assert "MINT" not in wire(script.sent[0].term)


def test_large_reads_go_through_a_cursor() -> None:
    """Without a small limit, a query is read batch by batch from a cursor."""
    found, script = select(where(), "handle", [{"id": "a"}], [{"id": "b"}], [])
    assert [obj.id for obj in found] == ["a", "b"]
    assert isinstance(script.sent[0], Cursor)
    assert [type(c) for c in script.sent[1:]] == [Next, Next, Next]


def test_count_and_delete_run_on_the_server() -> None:
    """count() and delete() are single server-side queries."""
    script = Script(4)
    assert run_sync(script.route, plans.count(spec_of(Cone), where(amount_kg__gte=3))) == 4
    assert script.sent[0].term[0] == reql.COUNT
    script = Script({"deleted": 2})
    assert run_sync(script.route, plans.delete_where(spec_of(Cone), where(flavour="mint"))) == 2
    assert script.sent[0].term[0] == reql.DELETE


def test_purge_deletes_by_the_expiry_index() -> None:
    """purge_expired() deletes a between() on the _expires_at index, from the epoch to now."""
    script = Script({"deleted": 3})
    assert run_sync(script.route, plans.purge_expired(spec_of(Cone))) == 3
    assert script.sent[0].term == [
        reql.DELETE,
        [
            [
                reql.BETWEEN,
                [TABLE, [reql.EPOCH_TIME, [0]], [reql.NOW, []]],
                {"index": "_expires_at", "right_bound": "closed"},
            ]
        ],
    ]


def test_set_many_validates_everything_before_writing() -> None:
    """One invalid object in set_many() means nothing is sent."""
    script = Script()
    with pytest.raises(ValidationError):
        run_sync(
            script.route, plans.save_many(spec_of(Cone), [Cone("a", amount_kg=1), Cone("b", amount_kg=float("nan"))])
        )
    assert script.sent == []


def test_set_many_writes_in_batches_and_the_last_duplicate_wins() -> None:
    """set_many() inserts WRITE_BATCH documents per query; two objects with one pk store the last one."""
    objs = [Cone(str(i), amount_kg=i) for i in range(plans.WRITE_BATCH + 1)] + [Cone("0", amount_kg=-1)]
    script = Script({"inserted": plans.WRITE_BATCH}, {"inserted": 1})
    run_sync(script.route, plans.save_many(spec_of(Cone), objs))
    sizes = [len(command.term[1][1][1]) for command in script.sent]
    assert sizes == [plans.WRITE_BATCH, 1]
    assert script.sent[0].term[1][1][1][0]["amount_kg"] == -1


def test_values_rethinkdb_cannot_hold_exactly_are_refused() -> None:
    """NaN, infinities, ints beyond 2**53 and '$reql_type$' keys raise ValidationError naming the field."""
    for obj, field in (
        (Cone("a", price=float("inf")), "price"),
        (Cone("a", amount_kg=2**60), "amount_kg"),
        (Cone("a", price={"$reql_type$": "TIME"}), "price"),
    ):
        script = Script()
        with pytest.raises(ValidationError, match=field):
            run_sync(script.route, plans.save(spec_of(Cone), obj, None))
        assert script.sent == []


def test_create_table_creates_what_is_missing_and_waits() -> None:
    """create_table() makes the database and tables if missing, each missing index, waits, and says what it made."""
    script = Script("shop", {"dbs_created": 1}, {"tables_created": 1}, None, ["amount_kg"], None, None, None)
    made = run_sync(script.route, plans.create_table(spec_of(Cone)))
    assert made == [
        'create database "shop"',
        'create table "cone"',
        'create index "made"',
        'create index "_expires_at"',
    ]
    assert isinstance(script.sent[0], Database)
    assert script.sent[1].term[1][2] == [reql.DB_CREATE, ["shop"]]
    assert script.sent[2].term[1][2] == [reql.TABLE_CREATE, ["cone"], {"primary_key": "id"}]
    assert script.sent[3].term[1][2] == [reql.TABLE_CREATE, ["cone__persist"]]  # the bookkeeping table (exists)
    created = [c.term[1][1] for c in script.sent if isinstance(c, Run) and c.term[0] == reql.INDEX_CREATE]
    assert created == ["made", "_expires_at"]
    assert script.sent[-1].term == [reql.INDEX_WAIT, [TABLE]]


def test_update_checks_values_like_set() -> None:
    """update() refuses unknown fields, the pk, and values of the wrong kind, before any query."""
    script = Script()
    for values, error in (
        ({"nope": 1}, InvalidLookup),
        ({"id": "x"}, InvalidLookup),
        ({"amount_kg": "x"}, ValidationError),
    ):
        with pytest.raises(error):
            run_sync(script.route, plans.update_where(spec_of(Cone), where(), values))
    assert script.sent == []


def test_changes_report_pairs_and_skip_state_messages() -> None:
    """A changefeed yields (old, new) pairs; state messages and changes of expired documents are not reported."""
    past = {"$reql_type$": "TIME", "epoch_time": 1.0, "timezone": "+00:00"}
    script = Script(
        "feed",
        "initial",  # include_initial: the current objects, read by a query once the feed is open
        [{"id": "now", "amount_kg": 5}],
        [],
        [{"state": "ready"}, {"old_val": None, "new_val": {"id": "a", "amount_kg": 1}}],
        [{"old_val": {"id": "b", "_expires_at": past}, "new_val": None}],
        [{"old_val": {"id": "c", "amount_kg": 1}, "new_val": {"id": "c", "amount_kg": 0}}],
        [],
    )
    items = run_sync(script.route, collect(plans.changes(spec_of(Cone), where(amount_kg__gte=1), True)))
    assert items[0] == plans.FEED_OPEN
    assert [(old and old.id, new and new.id) for old, new in items[1:]] == [(None, "now"), (None, "a"), ("c", None)]
    assert isinstance(script.sent[0], Cursor) and script.sent[0].term[0] == reql.FILTER
    assert script.sent[0].term[1][0] == [reql.CHANGES, [TABLE]]
    assert isinstance(script.sent[1], Cursor) and script.sent[1].term[0] == reql.FILTER
