"""Django-style lookups (``persist_mixins.lookups``): parsing, checking and evaluating on instances."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import pytest

from persist_mixins import InvalidLookup
from persist_mixins.backends.redis.compile import pk_from_conditions
from persist_mixins.binding import spec_of
from persist_mixins.lookups import OPERATORS, Condition, evaluate, matches, parse_lookups

from .models import AttrsGrommet, Cone, DataGrommet, Nested, PydanticGrommet, Scoop, Tagged, define
from .models import LookupIceCream as IceCream

AWARE = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
REF = uuid.UUID("12345678-1234-5678-1234-567812345678")


SchematicsIceCream, PydanticIceCream, AttrsIceCream = (
    define(kind, {"id": str | None, "amount_kg": int | None, "ref": uuid.UUID | None, "grommet": Nested | None})
    for kind in ("schematics", "pydantic", "attrs")
)


SPEC = spec_of(IceCream)


def vanilla(**overrides: Any) -> IceCream:
    """A fully populated IceCream."""
    values: dict[str, Any] = {
        "id": "vanilla",
        "name": "Sweet Vanilla",
        "amount_kg": 42,
        "ratio": 0.25,
        "fresh": True,
        "best_before": AWARE,
        "made_on": dt.date(2029, 12, 31),
        "price": decimal.Decimal("3.10"),
        "ref": REF,
        "tags": ["sweet", "white"],
        "extra": {"origin": "Madagascar"},
        "grommet": DataGrommet(7),
        "pgrommet": PydanticGrommet(weight=12),
    }
    values.update(overrides)
    return IceCream(**values)


def holds(obj: Any, **lookups: Any) -> bool:
    """Whether ``obj`` meets the lookups, parsed against its class."""
    spec = spec_of(type(obj))
    return matches(spec, parse_lookups(spec, lookups), obj)


def pk_of(cls: type, **lookups: Any) -> tuple[str | None, bool]:
    """What the lookups pin the pk of ``cls`` to, and how certainly."""
    spec = spec_of(cls)
    return pk_from_conditions(spec, parse_lookups(spec, lookups))


# One true and one false lookup per operator or alias, on vanilla().
CASES: dict[str, tuple[tuple[str, Any], tuple[str, Any]]] = {
    "eq": (("amount_kg__eq", 42), ("amount_kg__eq", 41)),
    "exact": (("name__exact", "Sweet Vanilla"), ("name__exact", "sweet vanilla")),
    "ne": (("amount_kg__ne", 41), ("amount_kg__ne", 42)),
    "not": (("name__not", "Mint"), ("name__not", "Sweet Vanilla")),
    "lt": (("amount_kg__lt", 43), ("amount_kg__lt", 42)),
    "lte": (("amount_kg__lte", 42), ("amount_kg__lte", 41)),
    "gt": (("ratio__gt", 0.2), ("ratio__gt", 0.25)),
    "gte": (("ratio__gte", 0.25), ("ratio__gte", 0.3)),
    "in": (("name__in", ["Mint", "Sweet Vanilla"]), ("name__in", ["Mint"])),
    "not_in": (("amount_kg__not_in", {1, 2}), ("amount_kg__not_in", {42})),
    "exclude": (("amount_kg__exclude", (1,)), ("amount_kg__exclude", (41, 42))),
    "contains": (("tags__contains", "white"), ("tags__contains", "whit")),
    "icontains": (("name__icontains", "VANILLA"), ("name__icontains", "mint")),
    "startswith": (("name__startswith", "Sweet"), ("name__startswith", "sweet")),
    "endswith": (("name__endswith", "Vanilla"), ("name__endswith", "Sweet")),
    "isnull": (("grommet__isnull", False), ("grommet__isnull", True)),
    "range": (("made_on__range", (dt.date(2029, 1, 1), dt.date(2029, 12, 31))), ("amount_kg__range", (1, 41))),
}


def test_every_operator_and_alias_has_a_case() -> None:
    """The operator table advertises exactly the operators and aliases of the design, each tested here."""
    assert set(OPERATORS) == set(CASES)
    assert {OPERATORS[a] for a in ("exact", "not", "exclude")} == {"eq", "ne", "not_in"}


@pytest.mark.parametrize("op", sorted(CASES))
def test_operator_true_case(op: str) -> None:
    """Each operator and alias is satisfied by a value it should accept."""
    lookup, value = CASES[op][0]
    assert holds(vanilla(), **{lookup: value}) is True


@pytest.mark.parametrize("op", sorted(CASES))
def test_operator_false_case(op: str) -> None:
    """Each operator and alias rejects a value it should not accept."""
    lookup, value = CASES[op][1]
    assert holds(vanilla(), **{lookup: value}) is False


def test_plain_field_lookup_is_equality() -> None:
    """``field=value`` without an operator means equality."""
    assert holds(vanilla(), amount_kg=42, name="Sweet Vanilla")
    assert not holds(vanilla(), amount_kg=42, name="Mint")


def test_contains_on_text_is_a_substring_test() -> None:
    """contains on a text field tests for a substring, case-sensitively."""
    assert holds(vanilla(), name__contains="Van")
    assert not holds(vanilla(), name__contains="van")


def test_range_is_inclusive_at_both_ends() -> None:
    """range=(lo, hi) includes both bounds."""
    assert holds(vanilla(), amount_kg__range=(42, 50))
    assert holds(vanilla(), amount_kg__range=(1, 42))
    assert not holds(vanilla(), amount_kg__range=(43, 50))


def test_datetime_and_decimal_comparisons() -> None:
    """Ordering lookups compare datetimes and Decimals by value."""
    assert holds(vanilla(), best_before__gt=AWARE - dt.timedelta(seconds=1))
    assert not holds(vanilla(), best_before__gt=AWARE)
    assert holds(vanilla(), price__lt=decimal.Decimal("3.11"), price__gte=3)


@pytest.mark.parametrize(
    ("lookup", "value"),
    [
        ("amount_kg__lt", 100),
        ("amount_kg__lte", 100),
        ("amount_kg__gt", -100),
        ("amount_kg__gte", -100),
        ("amount_kg__range", (-100, 100)),
        ("name__contains", "a"),
        ("name__icontains", "a"),
        ("name__startswith", ""),
        ("name__endswith", ""),
        ("tags__contains", "sweet"),
        ("amount_kg__in", [0, 42]),
        ("amount_kg", 0),
    ],
)
def test_none_never_satisfies_a_comparison(lookup: str, value: Any) -> None:
    """A None value satisfies no ordering, text or membership test, and raises no TypeError."""
    obj = vanilla(amount_kg=None, name=None, tags=None)
    assert holds(obj, **{lookup: value}) is False


@pytest.mark.parametrize(
    ("lookup", "value"),
    [
        ("amount_kg__ne", 42),
        ("amount_kg__not_in", [1, 42]),
        ("amount_kg__exclude", [1, 42]),
        ("amount_kg", None),
        ("amount_kg__in", [None, 42]),
        ("amount_kg__isnull", True),
    ],
)
def test_none_satisfies_ne_not_in_and_isnull(lookup: str, value: Any) -> None:
    """None is unequal to any value, not in a list without None, equal to None and null."""
    assert holds(vanilla(amount_kg=None), **{lookup: value}) is True


def test_none_is_excluded_by_not_in_a_list_holding_none() -> None:
    """not_in a list that holds None excludes a None value."""
    assert holds(vanilla(amount_kg=None), amount_kg__not_in=[None]) is False


def test_isnull_false_rejects_none() -> None:
    """isnull=False is not satisfied by None, and isnull=True not by a value."""
    assert holds(vanilla(amount_kg=None), amount_kg__isnull=False) is False
    assert holds(vanilla(), amount_kg__isnull=True) is False


def test_ne_none_keeps_only_values() -> None:
    """``field__ne=None`` holds for a value and not for None."""
    assert holds(vanilla(), amount_kg__ne=None) is True
    assert holds(vanilla(amount_kg=None), amount_kg__ne=None) is False


@pytest.mark.parametrize(
    "obj",
    [
        SchematicsIceCream({"id": "a", "amount_kg": 5, "ref": str(REF), "grommet": {"weight": 3}}),
        PydanticIceCream(id="a", amount_kg=5, ref=REF, grommet=PydanticGrommet(weight=3)),
        AttrsIceCream("a", 5, REF, AttrsGrommet(3)),
    ],
    ids=["schematics", "pydantic", "attrs"],
)
def test_lookups_evaluate_alike_on_every_model_library(obj: Any) -> None:
    """Lookups parse and evaluate the same on Schematics, pydantic and attrs instances."""
    assert holds(obj, pk="a", amount_kg__range=(1, 5), ref=str(REF), grommet__weight__gte=3)
    assert not holds(obj, amount_kg__gt=5)
    assert not holds(obj, grommet__weight__lt=3)
    with pytest.raises(InvalidLookup):
        holds(obj, amount_kg__gte="5")


# -- nested paths ----------------------------------------------------------------------


def test_nested_dataclass_path() -> None:
    """A path into a nested dataclass compares the nested field."""
    assert holds(vanilla(), grommet__weight__gte=7)
    assert not holds(vanilla(), grommet__weight__gt=7)


def test_nested_pydantic_path() -> None:
    """A path into a nested pydantic model compares the nested field."""
    assert holds(vanilla(), pgrommet__weight=12)
    assert not holds(vanilla(), pgrommet__weight__lt=12)


def test_nested_dict_path() -> None:
    """A path into a dict field reads the key, and a missing key reads as None."""
    assert holds(vanilla(), extra__origin="Madagascar")
    assert holds(vanilla(), extra__origin__startswith="Mada")
    assert holds(vanilla(), extra__colour__isnull=True)
    assert not holds(vanilla(), extra__colour="white")


def test_nested_path_through_none_is_none() -> None:
    """A path through a None nested object reads as None: isnull holds, comparisons do not."""
    obj = vanilla(grommet=None)
    assert holds(obj, grommet__weight__isnull=True)
    assert not holds(obj, grommet__weight__gte=0)


def test_nested_unknown_field_raises_invalid_lookup() -> None:
    """A path naming a field the nested model lacks raises InvalidLookup."""
    with pytest.raises(InvalidLookup, match="height"):
        parse_lookups(SPEC, {"grommet__height": 1})
    with pytest.raises(InvalidLookup, match="height"):
        parse_lookups(SPEC, {"pgrommet__height__gte": 1})


def test_nested_value_type_is_checked() -> None:
    """A value of the wrong type for a nested field raises InvalidLookup."""
    with pytest.raises(InvalidLookup):
        parse_lookups(SPEC, {"grommet__weight__gte": "10"})


# -- parsing errors --------------------------------------------------------------------


def test_unknown_field_raises_invalid_lookup_naming_it() -> None:
    """A lookup on a field the model lacks raises InvalidLookup, also a ValueError, naming the field."""
    with pytest.raises(InvalidLookup, match="flavor") as info:
        parse_lookups(SPEC, {"flavor": "vanilla"})
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("lookup", ["amount_kg__between", "name__iexact", "amount_kg__gtee", "fresh__is"])
def test_unknown_operator_raises_invalid_lookup(lookup: str) -> None:
    """An unknown operator suffix is read as a field path into a scalar and raises InvalidLookup."""
    with pytest.raises(InvalidLookup):
        parse_lookups(SPEC, {lookup: 1})


@pytest.mark.parametrize("lookup", ["amount_kg__", "__amount_kg", "grommet____weight"])
def test_malformed_lookup_raises_invalid_lookup(lookup: str) -> None:
    """A lookup with an empty path part raises InvalidLookup."""
    with pytest.raises(InvalidLookup):
        parse_lookups(SPEC, {lookup: 1})


@pytest.mark.parametrize(
    ("lookup", "value"),
    [
        ("amount_kg__gte", "30"),
        ("amount_kg", "42"),
        ("amount_kg", True),
        ("name__gt", 5),
        ("name", 5),
        ("fresh", 1),
        ("made_on", dt.datetime(2029, 12, 31)),
        ("best_before", "2030-01-02"),
        ("name__in", "Sweet Vanilla"),
        ("name__in", {"Sweet Vanilla": 1}),
        ("amount_kg__in", 42),
        ("amount_kg__in", [42, "43"]),
        ("amount_kg__range", (1, 2, 3)),
        ("amount_kg__range", (1,)),
        ("amount_kg__range", "12"),
        ("amount_kg__range", (None, 5)),
        ("amount_kg__isnull", "yes"),
        ("amount_kg__isnull", 1),
        ("amount_kg__gt", None),
        ("name__startswith", 5),
        ("name__icontains", None),
        ("name__contains", 5),
        ("amount_kg__contains", 4),
        ("tags__icontains", "sweet"),
        ("fresh__gt", False),
        ("tags__lt", ["a"]),
        ("grommet__gte", 1),
        ("ref", "not-a-uuid"),
        ("ref__in", ["not-a-uuid"]),
    ],
)
def test_wrong_value_type_raises_invalid_lookup(lookup: str, value: Any) -> None:
    """A value the field cannot hold, or an operator the field's kind does not support, raises InvalidLookup."""
    with pytest.raises(InvalidLookup):
        parse_lookups(SPEC, {lookup: value})


def test_numeric_fields_accept_any_number() -> None:
    """int, float and Decimal values compare with int, float and Decimal fields alike."""
    assert holds(vanilla(), amount_kg__gt=41.5, ratio__lt=1, price__gt=3.0)


def test_uuid_string_is_coerced_to_uuid() -> None:
    """A UUID given as a string is parsed to a UUID and matches the stored UUID."""
    (cond,) = parse_lookups(SPEC, {"ref": str(REF)})
    assert cond.value == REF
    assert isinstance(cond.value, uuid.UUID)
    assert holds(vanilla(), ref=str(REF))
    assert holds(vanilla(), ref__in=[str(REF).upper()])
    assert not holds(vanilla(), ref=str(uuid.uuid4()))


def test_parse_returns_canonical_conditions_in_order() -> None:
    """Parsing keeps lookup order and names aliases by their canonical operator."""
    conditions = parse_lookups(SPEC, {"amount_kg__gte": 30, "name__not": "Mint", "name__exclude": ["a"]})
    assert [(c.path, c.op, c.value) for c in conditions] == [
        (("amount_kg",), "gte", 30),
        (("name",), "ne", "Mint"),
        (("name",), "not_in", ("a",)),
    ]


def test_pk_lookup_resolves_to_the_pk_field() -> None:
    """``pk=`` is an alias of the pk field."""
    (cond,) = parse_lookups(SPEC, {"pk": "vanilla"})
    assert cond.path == ("id",)
    assert holds(vanilla(), pk="vanilla")
    assert not holds(vanilla(), pk="mint")


def test_naive_and_aware_datetimes_raise_invalid_lookup_when_evaluated() -> None:
    """Comparing a stored aware datetime with a naive one raises InvalidLookup, not TypeError."""
    spec = SPEC
    (cond,) = parse_lookups(spec, {"best_before__gt": dt.datetime(2030, 1, 1)})
    with pytest.raises(InvalidLookup, match="best_before"):
        evaluate(spec, cond, vanilla())


def test_evaluate_condition_on_untyped_dict_value_mismatch_raises_invalid_lookup() -> None:
    """A dict value of another type than the lookup value raises InvalidLookup on ordering, not TypeError."""
    (cond,) = parse_lookups(SPEC, {"extra__origin__gt": 5})
    assert isinstance(cond, Condition)
    with pytest.raises(InvalidLookup):
        evaluate(SPEC, cond, vanilla())


# -- unique_together pk ----------------------------------------------------------------


def test_unique_together_pk_lookup_matches_joined_value() -> None:
    """On a model whose pk comes from __unique_together__, ``pk=`` compares the joined value."""
    scoop = Scoop("mint", "big")
    assert holds(scoop, pk="mint.big")
    assert holds(scoop, pk__in=["x", "mint.big"])
    assert not holds(scoop, pk__ne="mint.big")


def test_unique_together_pk_rejects_ordering_lookups() -> None:
    """The joined pk of a __unique_together__ model supports only eq, ne, in and not_in."""
    spec = spec_of(Scoop)
    with pytest.raises(InvalidLookup):
        parse_lookups(spec, {"pk__gt": "a"})
    with pytest.raises(InvalidLookup):
        parse_lookups(spec, {"pk__startswith": "a"})


# -- pk_from_conditions ----------------------------------------------------------------


def test_pk_field_equality_pins_the_pk_for_certain() -> None:
    """Equality on the pk field (or ``pk=``) gives that pk, certain."""
    assert pk_of(IceCream, id="vanilla", amount_kg__gt=3) == ("vanilla", True)
    assert pk_of(IceCream, pk="vanilla") == ("vanilla", True)
    assert pk_of(Cone, pk="p1", id="i1") == ("p1", True)


def test_id_beside_a_pk_field_is_only_a_hint() -> None:
    """``id=`` on a model whose pk field is ``pk`` suggests the pk but is not certain."""
    assert pk_of(Cone, id="i1") == ("i1", False)


def test_unique_together_is_certain_without_a_pk_field() -> None:
    """Equality on every __unique_together__ field pins the joined pk for certain when no pk field exists."""
    assert pk_of(Scoop, size="big", flavour="mint") == ("mint.big", True)
    assert pk_of(Scoop, pk="mint.big") == ("mint.big", True)


def test_unique_together_is_a_hint_beside_a_pk_field() -> None:
    """Equality on every __unique_together__ field is only a hint when the model has a pk field."""
    assert pk_of(Tagged, flavour="mint", size="big") == ("mint.big", False)
    assert pk_of(Tagged, flavour="mint", size="big", id="x") == ("x", True)


@pytest.mark.parametrize(
    ("cls", "lookups"),
    [
        (IceCream, {"id__ne": "vanilla"}),
        (IceCream, {"id__in": ["vanilla"]}),
        (IceCream, {"id": None}),
        (IceCream, {"name": "vanilla"}),
        (Scoop, {"flavour": "mint"}),
        (Scoop, {"flavour": "mint", "size__ne": "big"}),
    ],
)
def test_lookups_that_do_not_pin_a_pk(cls: type, lookups: dict[str, Any]) -> None:
    """Lookups without equality on the pk (or every __unique_together__ field) pin nothing."""
    assert pk_of(cls, **lookups) == (None, False)
