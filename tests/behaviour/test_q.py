"""``Q`` objects (``|``, ``&``, ``~``) and ``exclude()``: every backend selects what Python's evaluator selects.

The objects are :func:`~tests.models.populate`'s a (10 kg, Sweet Vanilla), b (20 kg, Dark
Chocolate, grommet 8), c (30 kg, Mint, tag green, grommet 9) and n (every optional field
None).  ``~Q(...)`` and ``exclude(...)`` are complements, as in Django: an object whose value
is None is kept by ``exclude(amount_kg=10)`` and by ``~Q(amount_kg__gt=15)``.
"""

from __future__ import annotations

from typing import Any

import pytest

from persist_mixins import InvalidLookup, Q

from ..conftest import Api
from ..models import INDEXED, populate

#: Each ``filter(Q)`` on the populate() objects, and the pks it selects.
QS: list[tuple[str, Q, list[str]]] = [
    ("or", Q(amount_kg=10) | Q(amount_kg=30), ["a", "c"]),
    ("or-text", Q(amount_kg__lt=15) | Q(flavour__icontains="mint"), ["a", "c"]),
    ("not-gt-keeps-none", ~Q(amount_kg__gt=15), ["a", "n"]),
    ("not-eq-keeps-none", ~Q(amount_kg=20), ["a", "c", "n"]),
    ("or-nested-path", Q(grommet__weight__gte=9) | Q(amount_kg__isnull=True), ["c", "n"]),
    ("not-or", ~(Q(amount_kg=10) | Q(grommet__weight=8)), ["c", "n"]),
    ("and-not", Q(amount_kg__gte=20) & ~Q(flavour__startswith="Dark"), ["c"]),
    ("not-in-with-none", ~Q(flavour__in=["Mint", None]), ["a", "b"]),
    ("not-not", ~~Q(amount_kg=10), ["a"]),
    ("and-of-ors", (Q(amount_kg=10) | Q(amount_kg=20)) & (Q(amount_kg=20) | Q(amount_kg=30)), ["b"]),
    ("not-contains", ~Q(tags__contains="green"), ["a", "b", "n"]),
    ("or-dict-key", Q(extra__origin="Madagascar") | Q(amount_kg__isnull=True), ["a", "b", "c", "n"]),
    ("not-nested", ~Q(grommet__weight__gte=9), ["a", "b", "n"]),
    ("not-several", ~Q(amount_kg__gt=15, flavour__icontains="mint"), ["a", "b", "n"]),
    ("not-ne", ~Q(amount_kg__ne=20), ["b"]),
    ("or-isnull-false", Q(amount_kg__isnull=False) | Q(flavour="Mint"), ["a", "b", "c"]),
    ("empty-q", Q(), ["a", "b", "c", "n"]),
]

#: Each ``exclude(...)`` (lookups, then Q objects) and the pks it keeps.
EXCLUDES: list[tuple[str, dict[str, Any], tuple[Q, ...], list[str]]] = [
    ("eq", {"amount_kg": 10}, (), ["b", "c", "n"]),
    ("gt", {"amount_kg__gt": 15}, (), ["a", "n"]),
    ("two-lookups", {"amount_kg__gte": 20, "flavour": "Mint"}, (), ["a", "b", "n"]),
    ("q-or", {}, (Q(amount_kg=10) | Q(flavour="Mint"),), ["b", "n"]),
    ("text", {"flavour__icontains": "choc"}, (), ["a", "c", "n"]),
    ("nested", {"grommet__weight": 8}, (), ["a", "c", "n"]),
    ("isnull", {"amount_kg__isnull": True}, (), ["a", "b", "c"]),
    ("nothing", {}, (), ["a", "b", "c", "n"]),
]


async def test_filter_q(api: Api) -> None:
    """Each Q expression selects and counts exactly the expected objects, on the model and on a query.

    One test per target walks every expression (QS) over one populated model: the setup, not
    the queries, is what costs, and the message names the expression that disagrees.
    """
    await populate(api)
    for name, q, expected in QS:
        assert sorted(await api.ids(api.Model.filter(q))) == expected, name
        assert sorted(await api.ids(api.Model.all().filter(q))) == expected, name
        assert await api.run(api.Model.count(q)) == len(expected), name
        assert await api.run(api.Model.filter(q).count()) == len(expected), name
        assert await api.ids(api.Model.filter(q).order_by("-id")) == expected[::-1], name
        assert await api.ids(api.Model.filter(q).order_by("id")[1:]) == expected[1:], name


async def test_exclude(api: Api) -> None:
    """exclude() keeps exactly the complement of what filter() with the same arguments selects (EXCLUDES)."""
    await populate(api)
    for name, lookups, qs, expected in EXCLUDES:
        assert sorted(await api.ids(api.Model.exclude(*qs, **lookups))) == expected, name
        assert sorted(await api.ids(api.Model.all().exclude(*qs, **lookups))) == expected, name
        assert await api.run(api.Model.exclude(*qs, **lookups).count()) == len(expected), name
        if lookups or qs:  # an empty exclude() excludes nothing, as in Django
            selected = sorted(await api.ids(api.Model.filter(*qs, **lookups)))
            assert sorted(selected + expected) == ["a", "b", "c", "n"], name


async def test_q_mixes_with_lookups_and_chains(api: Api) -> None:
    """Q objects, keyword lookups, further filter() and exclude() calls all hold together."""
    await populate(api)
    either = Q(amount_kg=10) | Q(amount_kg=20)
    assert await api.ids(api.Model.filter(either, flavour__icontains="choc")) == ["b"]
    assert await api.ids(api.Model.filter(either).filter(fresh=True).exclude(amount_kg=10)) == ["b"]
    assert sorted(await api.ids(api.Model.filter(amount_kg__gte=10).exclude(either))) == ["c"]
    assert sorted(await api.ids(api.Model.exclude(amount_kg=10).exclude(amount_kg=20))) == ["c", "n"]
    assert (await api.run(api.Model.match(either, flavour="Dark Chocolate"))).id == "b"
    assert (await api.run(api.Model.match(~Q(amount_kg__isnull=False)))).id == "n"
    assert await api.run(api.Model.filter(either).exists()) is True
    assert await api.run(api.Model.exclude(fresh=True).exists()) is False


async def test_update_and_delete_through_q(api: Api) -> None:
    """update() and delete() on a Q or exclude() query touch exactly its matches."""
    await populate(api)
    assert await api.run(api.Model.filter(Q(amount_kg=10) | Q(amount_kg__isnull=True)).update(flavour="Lemon")) == 2
    assert sorted(await api.ids(api.Model.filter(flavour="Lemon"))) == ["a", "n"]
    text_or = Q(flavour__icontains="lemon") | Q(amount_kg=20)  # a text lookup: checked on objects on RethinkDB
    assert await api.run(api.Model.filter(text_or).update(fresh=False)) == 3
    assert sorted(await api.ids(api.Model.filter(fresh=False))) == ["a", "b", "n"]
    assert await api.run(api.Model.exclude(flavour="Lemon").delete()) == 2
    assert sorted(await api.ids(api.Model.all())) == ["a", "n"]
    assert await api.run(api.Model.delete_filter(~Q(amount_kg__gt=5))) == 1
    assert await api.ids(api.Model.all()) == ["a"]


async def test_bad_lookup_inside_q_raises_before_any_io(api: Api) -> None:
    """A typo inside a Q (however deep) or an exclude() raises InvalidLookup even with the server unreachable."""
    Model, _, _ = api.model(":qio", **api.unreachable)
    q = Q(amount_kg=1) | ~Q(amout_kg__gt=2)  # a Q belongs to no model: nothing is checked yet
    with pytest.raises(InvalidLookup, match="amout_kg"):
        Model.filter(q)
    with pytest.raises(InvalidLookup, match="amout_kg"):
        Model.all().filter(fresh=True).exclude(q)
    with pytest.raises(InvalidLookup, match="no field"):
        Model.exclude(amout=1)
    with pytest.raises(InvalidLookup, match="int"):
        await api.run(Model.count(Q(amount_kg__gte="30")))
    with pytest.raises(InvalidLookup, match="no field"):
        await api.run(Model.match(Q(flavour="x") | Q(flavor="y")))
    with pytest.raises(InvalidLookup, match="Q objects"):
        Model.filter("amount_kg=1")


@pytest.mark.needs("indexes")
async def test_indexed_model_answers_q_like_a_scan(api: Api) -> None:
    """With every field indexed, each Q expression (alone or with indexed lookups) answers as unindexed."""
    ix = api.variant(":ix", __indexes__=INDEXED)
    await populate(ix)
    for name, q, expected in QS:
        assert sorted(await ix.ids(ix.Model.filter(q))) == expected, name
        assert await ix.run(ix.Model.count(q)) == len(expected), name
        with_index = sorted(await ix.ids(ix.Model.filter(q, amount_kg__gte=20)))
        assert with_index == [pk for pk in expected if pk in ("b", "c")], name
        assert await ix.run(ix.Model.filter(q, amount_kg__gte=20).count()) == len(with_index), name
