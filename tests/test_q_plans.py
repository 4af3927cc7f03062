"""What ``Q`` objects and ``exclude()`` compile to, with no server: SQL, ReQL, and Redis reads."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from persist_mixins import InvalidLookup, PgRowMixin, Q, RethinkMixin, SimpleRedisMixin
from persist_mixins.backends.postgres import plans as pg_plans
from persist_mixins.backends.redis import queries as redis_queries
from persist_mixins.backends.rethinkdb import RETHINKDB, reql
from persist_mixins.binding import spec_of
from persist_mixins.lookups import And, Condition, Not, Or, evaluate_node
from persist_mixins.query import QueryState, describe
from persist_mixins.run import collect, run_sync

from .scripted import Script


@dataclasses.dataclass
class PgCone(PgRowMixin):
    __table__ = "q_cone"
    id: str | None = None
    flavour: str | None = None
    scoops: int | None = None
    extra: dict[str, Any] | None = None


@dataclasses.dataclass
class RCone(RethinkMixin):
    __table__ = "q_cone"
    __indexes__ = ("scoops",)
    id: str | None = None
    flavour: str | None = None
    scoops: int | None = None


@dataclasses.dataclass
class RedisCone(SimpleRedisMixin):
    __key_prefix__ = "q_cone"
    __indexes__ = ("scoops",)
    id: str | None = None
    flavour: str | None = None
    scoops: int | None = None


def state(model: type, *qs: Q, **lookups: Any) -> QueryState:
    return QueryState().where(spec_of(model), lookups, qs)


def test_q_parses_to_a_flat_tree_and_plain_lookups_stay_conditions() -> None:
    """Top-level ANDed lookups stay plain conditions (indexes serve them); OR and NOT become tree nodes."""
    s = state(PgCone, Q(scoops=1) | (Q(scoops=2) | Q(flavour="mint")), flavour__isnull=False)
    assert [c.path for c in s.conditions] == [("flavour",)]
    (node,) = s.tree
    assert isinstance(node, Or) and len(node.terms) == 3  # a | (b | c) is one OR of three
    s = state(PgCone, Q(scoops=1) & Q(flavour="a"))
    assert len(s.conditions) == 2 and not s.tree
    assert state(PgCone, ~~Q(scoops=1)).conditions[0].op == "eq"  # a double negation cancels
    excluded = QueryState().excluding(spec_of(PgCone), {"scoops": 1, "flavour": "a"})
    (node,) = excluded.tree
    assert isinstance(node, Not) and isinstance(node.term, And)
    assert describe(excluded) == "(~Q((Q(scoops=1) & Q(flavour='a'))))"
    assert state(PgCone, Q()) == QueryState()


def test_python_evaluator_is_two_valued() -> None:
    """None fails a comparison and passes its negation: Not is the exact complement."""
    spec = spec_of(PgCone)
    gt = Condition(("scoops",), "gt", 1, "int")
    empty = PgCone("n")
    assert evaluate_node(spec, gt, empty) is False
    assert evaluate_node(spec, Not(gt), empty) is True
    assert evaluate_node(spec, Or((gt, Condition(("scoops",), "isnull", True, "int"))), empty) is True


def test_combining_with_something_else_is_a_type_error() -> None:
    """Q | 3 is refused by Python; filter('text') by InvalidLookup."""
    with pytest.raises(TypeError):
        Q(a=1) | 3  # type: ignore[operator]
    with pytest.raises(InvalidLookup, match="Q objects"):
        PgCone.filter("scoops=1")  # type: ignore[arg-type]


def test_postgres_compiles_or_and_not_to_sql_with_null_safe_not() -> None:
    """OR is SQL OR; NOT is ``IS NOT TRUE`` so NULL rows are in the complement; values stay parameters."""
    script = Script((0,))
    s = state(PgCone, Q(scoops__gt=1) | ~Q(flavour="x; DROP"), scoops__lt=9)
    run_sync(script.route, pg_plans.count(spec_of(PgCone), s))
    (cmd,) = script.sent
    assert '"scoops" < %s AND (("scoops" > %s) OR ((("flavour" = %s) IS NOT TRUE)))' in cmd.text
    assert cmd.params == [9, 1, "x; DROP"]
    assert "DROP" not in cmd.text


def test_postgres_delete_through_exclude_is_one_statement() -> None:
    """A query delete() of an exclude() is one DELETE with the negated condition."""
    script = Script(3)
    s = QueryState().excluding(spec_of(PgCone), {"extra__k": "v"})
    assert run_sync(script.route, pg_plans.delete_where(spec_of(PgCone), s)) == 3
    (cmd,) = script.sent
    assert cmd.text.startswith('DELETE FROM "q_cone" WHERE') and "IS NOT TRUE" in cmd.text
    assert ["k"] in cmd.params


def wire(term: Any) -> str:
    return json.dumps(term, sort_keys=True)


def test_rethinkdb_compiles_or_and_not_to_reql_and_keeps_the_index() -> None:
    """An indexed equality still reads get_all; the OR / NOT go in the server filter."""
    script = Script("cursor", [])
    s = state(RCone, Q(flavour="a") | ~Q(flavour="b"), scoops=3)
    run_sync(script.route, collect(RETHINKDB.plans.select_pairs(spec_of(RCone), s)))
    term = script.sent[0].term
    assert term[0] == reql.FILTER
    assert term[1][0] == [reql.GET_ALL, [[reql.TABLE, ["q_cone"]], 3], {"index": "scoops"}]
    text = wire(term)
    assert f"[{reql.OR}, " in text and f"[{reql.NOT}, " in text


def test_rethinkdb_or_with_a_residual_lookup_is_checked_in_python() -> None:
    """An OR holding a lookup ReQL cannot evaluate (icontains) is left whole to Python."""
    script = Script([{"id": "a", "flavour": "Mint chip"}, {"id": "b", "flavour": "vanilla"}, {"id": "c", "scoops": 2}])
    s = state(RCone, Q(flavour__icontains="MINT") | Q(scoops=2))
    found = run_sync(script.route, collect(RETHINKDB.plans.select_pairs(spec_of(RCone), s)))
    assert [obj.id for _, obj in found] == ["a", "c"]
    assert "MINT" not in wire(script.sent[0].term)


def test_redis_reads_the_index_for_plain_lookups_and_checks_the_tree_on_objects() -> None:
    """scoops=3 reads the index; the OR is checked on the decoded objects (none is taken on the index's word)."""
    docs = [
        json.dumps({"id": "k1", "flavour": "a", "scoops": 3}),
        json.dumps({"id": "k2", "flavour": "z", "scoops": 3}),
    ]
    script = Script(["k1", "k2"], docs)
    s = state(RedisCone, Q(flavour="a") | Q(flavour="b"), scoops=3)
    found = run_sync(script.route, collect(redis_queries.select_pairs(spec_of(RedisCone), s)))
    assert [obj.id for _, obj in found] == ["k1"]
    assert script.sent[0].args[0] != "SCAN"
