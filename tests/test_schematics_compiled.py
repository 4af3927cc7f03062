"""The compiled Schematics path (adapters/schematics_compiled.py) against Schematics itself.

Random model classes (every compiled field type with random options, and now and then
something the compiled path must leave to Schematics: a custom type, a validator, a
role) x random inputs (right and wrong types, ISO text close to what Schematics writes,
missing fields, None).  The properties:

- whenever the compiled ``dump`` returns, Schematics' ``validate(); to_primitive()``
  succeeds with the same document (same keys, order, values and value types) and leaves
  the object in the same state (``_data``, nested instances included);
- whenever the compiled ``load`` returns, ``Model(dict(doc), strict=False)`` succeeds and
  builds the same instance;
- the adapter's ``dump`` / ``load`` (compiled path, else Schematics) give exactly what
  Schematics gives: the same document, or the same ValidationError message.

The last tests run the issue's model through Redis and PostgreSQL with Schematics' own
loops made to fail, so the compiled path is shown to be the one taken there.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import itertools
import math
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as hs
from schematics import models
from schematics import types as st
from schematics.exceptions import BaseError
from schematics.transforms import blacklist
from schematics.types import compound

from persist_mixins.adapters import schematics as schematics_adapter
from persist_mixins.adapters.schematics_compiled import compiled
from persist_mixins.errors import ValidationError

_names = itertools.count()

# --------------------------------------------------------------------------- values
ISO_TEXT = [
    "2030-01-01T12:00:00.000000",
    "2030-01-01T12:00:00.123456",
    "0999-05-06T07:08:09.000001",
    "0001-01-01T00:00:00.000000",
    "0000-01-01T00:00:00.000000",
    "2030-13-01T12:00:00.000000",
    "2030-02-30T12:00:00.000000",
    "2030-01-01T24:00:00.000000",
    "2030-01-01T12:00:00.000000+0000",
    "2030-01-01T12:00:00.000000+0130",
    "2030-01-01T12:00:00.000000-0500",
    "2030-01-01T12:00:00Z",
    "2030-01-01 12:00:00.000000",
    "2030-01-01T12:00:00,000000",
    "2030-01-01T12:00",
    "2030-01-01T12:00:00.0000001",
    "\u0662\u0660\u0663\u0660-01-01T12:00:00.000000",
    "2030-01-01T12:00:00.00000\u0663",
    "2030-01-01T12:00:00.000000\n",
    "2030-01-01",
    "2030-1-01",
    "2030-00-10",
    "2030-12-32",
    "0000-01-01",
    "0999-12-31",
    "\u0662\u0660\u0663\u0660-01-01",
    "01/02/2030",
    "1700000000",
    "1e3",
    "12.5",
    "nan",
    "true",
    "1",
    "0",
    "",
    "x",
    "abc",
    str(uuid.UUID(int=5)),
    uuid.UUID(int=7).hex,
]

ZONES = [None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=1, minutes=30)), st.DateTimeType.UTC]


@hs.composite
def datetimes(draw: Any) -> dt.datetime:
    value = draw(hs.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)))
    return value.replace(tzinfo=draw(hs.sampled_from(ZONES)))


scalars = hs.one_of(
    hs.none(),
    hs.booleans(),
    hs.integers(min_value=-(10**20), max_value=10**20),
    hs.integers(min_value=-3, max_value=12),
    hs.floats(allow_nan=True, allow_infinity=True),
    hs.text(max_size=6),
    hs.sampled_from(ISO_TEXT),
    hs.decimals(allow_nan=True, allow_infinity=False, places=3),
    hs.uuids(),
    datetimes(),
    hs.dates(min_value=dt.date(1, 1, 1)),
    hs.binary(max_size=3),
)
values = hs.recursive(
    scalars,
    lambda inner: hs.one_of(
        hs.lists(inner, max_size=3),
        hs.dictionaries(hs.sampled_from(["a", "b", "f0", "f1", "sx"]), inner, max_size=3),
        hs.tuples(inner),
    ),
    max_leaves=6,
)


def good_values(kind: str) -> hs.SearchStrategy[Any]:
    """Values of the field's own type (mostly accepted)."""
    return {
        "str": hs.text(max_size=6),
        "int": hs.integers(min_value=-5, max_value=15),
        "float": hs.floats(min_value=-5, max_value=15, allow_nan=False),
        "decimal": hs.decimals(min_value=-5, max_value=15, places=2),
        "bool": hs.booleans(),
        "datetime": datetimes(),
        "date": hs.dates(min_value=dt.date(1, 1, 1)),
        "uuid": hs.uuids(),
    }[kind]


# --------------------------------------------------------------------------- random models
def one_in(draw: Any, n: int) -> bool:
    """True about once in ``n`` draws (hs.integers favours its bounds)."""
    return bool(draw(hs.integers(0, 4 * n - 1)) % n == n // 2)


LEAVES = ["str", "int", "float", "decimal", "bool", "datetime", "date", "uuid"]


class CustomString(st.StringType):
    """A custom type: the compiled path must leave the whole model to Schematics."""


def _never_empty(value: Any) -> None:
    if value == "":
        raise st.ValidationError("custom validator says no")


@hs.composite
def leaf_field(draw: Any, item: bool = False) -> tuple[str, Any]:
    kind = draw(hs.sampled_from(LEAVES))
    kw: dict[str, Any] = {}
    if one_in(draw, 4):
        kw["required"] = True
    if not item and one_in(draw, 5):
        default = draw(hs.one_of(good_values(kind), scalars))
        kw["default"] = (lambda d=default: copy.deepcopy(d)) if draw(hs.booleans()) else default
    if not item and one_in(draw, 6):
        kw["serialized_name"] = draw(hs.sampled_from(["sx", "sy", "f0", "f1"]))
    if one_in(draw, 5):
        kw["serialize_when_none"] = draw(hs.booleans())
    if one_in(draw, 6):
        kw["choices"] = draw(hs.lists(good_values(kind), min_size=1, max_size=4))
    if kind == "str":
        if draw(hs.booleans()):
            kw["min_length"] = draw(hs.one_of(hs.none(), hs.integers(0, 3)))
            kw["max_length"] = draw(hs.one_of(hs.none(), hs.integers(0, 5)))
        if one_in(draw, 4):
            kw["regex"] = draw(hs.sampled_from(["a", "[0-9]+", ".*x$", "^$"]))
    if kind in ("int", "float", "decimal") and draw(hs.booleans()):
        kw["min_value"] = draw(hs.one_of(hs.none(), hs.integers(-3, 5)))
        kw["max_value"] = draw(hs.one_of(hs.none(), hs.integers(0, 12)))
    if kind == "int" and one_in(draw, 4):
        kw["strict"] = True
    if kind == "datetime":
        if draw(hs.booleans()):
            kw["tzd"] = draw(hs.sampled_from(["allow", "require", "utc", "reject"]))
            kw["convert_tz"] = draw(hs.booleans())
            kw["drop_tzinfo"] = draw(hs.booleans())
        if one_in(draw, 6):
            kw["formats"] = "%Y-%m-%d %H:%M"
        if one_in(draw, 6):
            kw["serialized_format"] = draw(hs.sampled_from(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S.%f"]))
    if kind == "date" and one_in(draw, 6):
        kw["formats"] = "%d/%m/%Y"
    odd = draw(hs.integers(0, 39))
    if odd == 21:
        kw["validators"] = [_never_empty]
    cls = {
        "str": CustomString if odd == 27 else st.StringType,
        "int": st.IntType,
        "float": st.FloatType,
        "decimal": st.DecimalType,
        "bool": st.BooleanType,
        "datetime": st.DateTimeType,
        "date": st.DateType,
        "uuid": st.UUIDType,
    }[kind]
    return kind, cls(**kw)


@hs.composite
def field_types(draw: Any, depth: int) -> tuple[str, Any]:
    choice = draw(hs.sampled_from(range(10)))
    if choice <= 5 or depth <= 0:
        return draw(leaf_field())
    kw: dict[str, Any] = {}
    if one_in(draw, 4):
        kw["required"] = True
    if one_in(draw, 5):
        kw["serialize_when_none"] = draw(hs.booleans())
    if choice <= 7:
        if draw(hs.booleans()):
            _, item = draw(leaf_field(item=True))
        else:
            item = compound.ModelType(draw(model_classes(depth - 1)))
        if choice == 6:
            if draw(hs.booleans()):
                kw["min_size"] = draw(hs.integers(0, 2))
                kw["max_size"] = draw(hs.integers(1, 3))
            return "list", compound.ListType(item, **kw)
        return "dict", compound.DictType(item, **kw)
    return "model", compound.ModelType(draw(model_classes(depth - 1)), **kw)


@hs.composite
def model_classes(draw: Any, depth: int = 1) -> Any:
    count = draw(hs.integers(1, 4))
    attrs: dict[str, Any] = {}
    for i in range(count):
        _, attrs[f"f{i}"] = draw(field_types(depth))
    odd = draw(hs.integers(0, 29)) - 13
    if odd == 0:
        attrs["validate_f0"] = lambda self, data, value: value
    elif odd == 1:
        attrs["Options"] = type("Options", (), {"roles": {"default": blacklist("f0")}})
    elif odd == 2:
        attrs["Options"] = type("Options", (), {"serialize_when_none": draw(hs.booleans())})
    elif odd == 3:
        attrs["Options"] = type("Options", (), {"export_order": True})
    return type(f"Rand{next(_names)}", (models.Model,), attrs)


def value_for(draw: Any, field: Any, depth: int = 2) -> Any:
    """A value for ``field``: often of its own type, else anything."""
    if one_in(draw, 6) or depth <= 0:
        return draw(values)
    if isinstance(field, compound.ModelType):
        data = {name: value_for(draw, f, depth - 1) for name, f in field.model_class._schema.fields.items()}
        return data if draw(hs.booleans()) else Instance(field.model_class, data)
    if isinstance(field, compound.ListType):
        return [value_for(draw, field.field, depth - 1) for _ in range(draw(hs.integers(0, 3)))]
    if isinstance(field, compound.DictType):
        keys = draw(hs.lists(hs.sampled_from(["a", "b", "c"]), max_size=3, unique=True))
        return {k: value_for(draw, field.field, depth - 1) for k in keys}
    kind = next(k for k, c in KIND_OF.items() if type(field) is c or (k == "str" and isinstance(field, st.StringType)))
    return draw(good_values(kind))


KIND_OF = {
    "str": st.StringType,
    "int": st.IntType,
    "float": st.FloatType,
    "decimal": st.DecimalType,
    "bool": st.BooleanType,
    "datetime": st.DateTimeType,
    "date": st.DateType,
    "uuid": st.UUIDType,
}


class Instance:
    """In a recipe: an instance of ``cls`` built from ``data`` (each object gets its own)."""

    def __init__(self, cls: Any, data: dict[str, Any]) -> None:
        self.cls, self.data = cls, data

    def __repr__(self) -> str:
        return f"Instance({self.cls.__name__}, {self.data!r})"


def materialize(value: Any) -> Any:
    """A fresh copy of a recipe value, its Instance markers built (or left as dicts when Schematics refuses)."""
    if isinstance(value, Instance):
        data = materialize(value.data)
        try:
            return value.cls(data)
        except Exception:  # noqa: BLE001
            return data
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v) for v in value]
    if isinstance(value, tuple):
        return tuple(materialize(v) for v in value)
    return value


@hs.composite
def recipes(draw: Any) -> tuple[Any, str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A model class, how to make an object of it (constructor data, attribute writes), writes after a dump."""
    cls = draw(model_classes())
    fields = cls._schema.fields
    how = draw(hs.sampled_from(["init", "init_false", "setattr"]))
    given_ = {n: value_for(draw, f) for n, f in fields.items() if not one_in(draw, 6)}
    later = {n: value_for(draw, f) for n, f in fields.items() if one_in(draw, 3)}
    between = {n: value_for(draw, f) for n, f in fields.items() if one_in(draw, 3)}
    return cls, how, given_, later, between


def rewrite(objs: tuple[Any, ...], between: dict[str, Any]) -> bool:
    """Set the same new values on both objects (converted data over valid data); False when Schematics refuses."""
    try:
        for obj in objs:
            for name, value in materialize(between).items():
                setattr(obj, name, value)
    except Exception:  # noqa: BLE001 - a value the descriptor refuses: not what is tested here
        return False
    return True


def make(cls: Any, how: str, given_: dict[str, Any], later: dict[str, Any]) -> Any:
    """The object a recipe describes, or None when Schematics refuses to build it (not what is tested)."""
    given_, later = materialize(given_), materialize(later)
    try:
        obj = cls() if how == "setattr" else cls(given_, init=how == "init")
        for name, value in itertools.chain((given_ if how == "setattr" else {}).items(), later.items()):
            setattr(obj, name, value)
    except Exception:  # noqa: BLE001 - Schematics refuses to build it (or fails doing so): not what is tested here
        return None
    return obj


# --------------------------------------------------------------------------- comparing
def canon(x: Any) -> Any:
    """A strict, comparable image of a value: types, reprs, order, nested models' inner state."""
    if isinstance(x, models.Model):
        return ("model", type(x).__name__, state(x))
    if isinstance(x, Mapping):
        return ("map", type(x).__name__, [(canon(k), canon(v)) for k, v in x.items()])
    if isinstance(x, (list, tuple)):
        return ("seq", type(x).__name__, [canon(v) for v in x])
    if isinstance(x, float) and math.isnan(x):
        return ("float", "nan")
    return (type(x).__name__, repr(x))


def state(obj: Any) -> Any:
    """An instance's whole ``_data``: its three maps, the dict under the valid proxy, how ``maps`` links them."""
    data = obj._data
    links = [data.maps[0] is data._unsafe, data.maps[1] is data._converted, data.maps[2] is data._valid]
    hidden = data._ModelDict__valid
    return (
        type(data).__name__, canon(data._unsafe), canon(data._converted), canon(dict(data._valid)), canon(hidden),
        type(data._valid).__name__, len(data.maps), links, set(vars(data)),
    )  # fmt: skip


def schematics_dump(obj: Any) -> tuple[Any, ...]:
    """What the adapter did before the compiled path: Schematics' validate() then to_primitive()."""
    try:
        obj.validate()
        return ("ok", canon(obj.to_primitive()))
    except BaseError as exc:
        return ("invalid", f"{type(obj).__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001
        return ("raised", type(exc).__name__, str(exc))


def adapter_dump(dump: Any, obj: Any) -> tuple[Any, ...]:
    try:
        return ("ok", canon(dump(obj)))
    except ValidationError as exc:
        return ("invalid", str(exc))
    except Exception as exc:  # noqa: BLE001
        return ("raised", type(exc).__name__, str(exc))


def schematics_load(cls: Any, doc: Mapping[str, Any]) -> tuple[Any, ...]:
    try:
        return ("ok", canon(cls(dict(doc), strict=False)))
    except BaseError as exc:
        return ("invalid", f"{cls.__name__}: stored data does not load: {exc}")
    except Exception as exc:  # noqa: BLE001
        return ("raised", type(exc).__name__, str(exc))


def adapter_load(load: Any, doc: Mapping[str, Any]) -> tuple[Any, ...]:
    try:
        return ("ok", canon(load(doc)))
    except ValidationError as exc:
        return ("invalid", str(exc))
    except Exception as exc:  # noqa: BLE001
        return ("raised", type(exc).__name__, str(exc))


SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


# --------------------------------------------------------------------------- properties
@SETTINGS
@given(recipes())
def test_compiled_dump_is_schematics_validate_and_to_primitive(recipe: Any) -> None:
    cls, between = recipe[0], recipe[-1]
    plan = compiled(cls)
    event(f"compiled: {plan is not None}")
    ours, theirs = make(*recipe[:-1]), make(*recipe[:-1])
    if ours is None:
        return
    assert state(ours) == state(theirs)
    for round_ in range(3):  # later dumps read what the first left in _data.valid, then new converted data
        if round_ == 2 and not rewrite((ours, theirs), between):
            return
        expected = schematics_dump(theirs)
        if plan is not None:
            before = state(ours)
            try:
                got = ("ok", canon(plan.dump(ours)))
            except Exception:  # noqa: BLE001
                event("compiled dump: left to Schematics")
                assert state(ours) == before, "a bail must leave the object untouched"
                got = schematics_dump(ours)
            else:
                event("compiled dump: answered")
                assert expected[0] == "ok", expected
        else:
            got = schematics_dump(ours)
        assert got == expected
        assert state(ours) == state(theirs)


@SETTINGS
@given(recipes())
def test_adapter_dump_matches_schematics(recipe: Any) -> None:
    cls, between = recipe[0], recipe[-1]
    dump = schematics_adapter.adapter(cls).dump
    ours, theirs = make(*recipe[:-1]), make(*recipe[:-1])
    if ours is None:
        return
    for round_ in range(3):
        if round_ == 2 and not rewrite((ours, theirs), between):
            return
        assert adapter_dump(dump, ours) == schematics_dump(theirs)
        assert state(ours) == state(theirs)


def to_json(value: Any) -> Any:
    """A value as a JSON document holds it (what Redis gives back), or unchanged when it has no JSON form."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@hs.composite
def documents(draw: Any) -> tuple[Any, dict[str, Any]]:
    """A model class and a stored document: a dump of a valid object, or random keys and values."""
    cls = draw(model_classes())
    fields = cls._schema.fields
    doc: dict[str, Any] = {}
    if draw(hs.booleans()):
        obj = make(cls, "setattr", {n: value_for(draw, f) for n, f in fields.items()}, {})
        try:
            obj.validate()
            doc = obj.to_primitive()
        except Exception:  # noqa: BLE001
            doc = {}
    keys = [*fields, *(f.serialized_name for f in fields.values() if f.serialized_name), "extra"]
    for key in draw(hs.lists(hs.sampled_from(keys), max_size=4)):
        field = fields.get(key)
        value = value_for(draw, field) if field is not None else draw(values)
        doc[key] = value if one_in(draw, 4) else to_json(value)
    for key in draw(hs.lists(hs.sampled_from(keys), max_size=2)):
        doc.pop(key, None)
    return cls, doc


@SETTINGS
@given(documents())
def test_compiled_load_is_schematics_model_of_dict(case: Any) -> None:
    cls, doc = case
    plan = compiled(cls)
    expected = schematics_load(cls, copy.deepcopy(doc))
    if plan is None:
        return
    try:
        got = ("ok", canon(plan.load(copy.deepcopy(doc))))
    except Exception:  # noqa: BLE001
        event("compiled load: left to Schematics")
        return
    event("compiled load: answered")
    assert got == expected


@SETTINGS
@given(documents())
def test_adapter_load_matches_schematics(case: Any) -> None:
    cls, doc = case
    load = schematics_adapter.adapter(cls).load
    assert adapter_load(load, copy.deepcopy(doc)) == schematics_load(cls, copy.deepcopy(doc))


# --------------------------------------------------------------------------- the path is taken
class Nested(models.Model):
    code = st.StringType(required=True, min_length=1, max_length=8, regex="[a-z]+")
    weight = st.FloatType(min_value=0)


class Everything(models.Model):
    id = st.StringType(required=True)
    flavour = st.StringType(choices=["vanilla", "chocolate"], serialized_name="taste")
    amount_kg = st.IntType(min_value=0, max_value=1000, default=1)
    price = st.DecimalType()
    ratio = st.FloatType()
    frozen = st.BooleanType(default=False)
    best_before = st.DateTimeType()
    made_on = st.DateType()
    batch = st.UUIDType()
    tags = compound.ListType(st.StringType(), min_size=0, max_size=5)
    notes = compound.DictType(st.IntType())
    box = compound.ModelType(Nested)
    boxes = compound.ListType(compound.ModelType(Nested))


def everything() -> Everything:
    return Everything(
        {
            "id": "e1", "flavour": "vanilla", "amount_kg": 7, "price": decimal.Decimal("1.50"), "ratio": 0.5,
            "frozen": True, "best_before": dt.datetime(2030, 1, 2, 3, 4, 5, 6), "made_on": dt.date(2029, 12, 31),
            "batch": uuid.UUID(int=9), "tags": ["a", "b"], "notes": {"x": 1}, "box": {"code": "ab", "weight": 1.5},
            "boxes": [{"code": "cd"}],
        }
    )  # fmt: skip


def test_every_compiled_type_is_answered_without_schematics() -> None:
    """Not vacuous: a valid object of every compiled type is dumped and loaded by the plan itself."""
    plan = compiled(Everything)
    assert plan is not None
    obj, reference = everything(), everything()
    doc = plan.dump(obj)  # raises Bail if it had to leave it to Schematics
    reference.validate()
    assert canon(doc) == canon(reference.to_primitive())
    assert state(obj) == state(reference)
    assert list(doc)[:3] == ["id", "taste", "amount_kg"]
    loaded = plan.load(doc)
    assert state(loaded) == state(Everything(dict(doc), strict=False))


def test_the_issue_model_is_compiled() -> None:
    class Ice(models.Model):
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    plan = compiled(Ice)
    assert plan is not None
    doc = plan.dump(Ice({"id": "i", "flavour": "v", "amount_kg": 3, "best_before": dt.datetime(2030, 1, 1)}))
    assert doc == {"id": "i", "flavour": "v", "amount_kg": 3, "best_before": "2030-01-01T00:00:00.000000"}
    assert plan.load(doc).best_before == dt.datetime(2030, 1, 1)


class Node(models.Model):
    name = st.StringType(required=True)
    child = compound.ModelType("Node")


def test_a_model_nesting_itself_is_compiled() -> None:
    """A plan that refers to itself while it is built (ModelType by the class's own name)."""
    plan = compiled(Node)
    assert plan is not None
    ours, theirs = (Node({"name": "a", "child": {"name": "b", "child": {"name": "c"}}}) for _ in range(2))
    doc = plan.dump(ours)
    theirs.validate()
    assert canon(doc) == canon(theirs.to_primitive())
    assert state(ours) == state(theirs)
    assert state(plan.load(doc)) == state(Node(dict(doc), strict=False))
    ours.child.child.name = None  # required: Schematics' error, through the adapter
    with pytest.raises(ValidationError, match="This field is required"):
        schematics_adapter.adapter(Node).dump(ours)


@pytest.mark.parametrize(
    "attrs",
    [
        {"f": CustomString()},
        {"f": st.StringType(validators=[_never_empty])},
        {"f": st.StringType(), "validate_f": lambda self, data, value: value},
        {"f": st.StringType(), "Options": type("Options", (), {"roles": {"default": blacklist("f")}})},
        {"f": st.TimestampType()},
        {"f": compound.PolyModelType(Nested)},
        {"f": st.StringType(), "g": st.StringType(serialized_name="f")},
        {"f": st.StringType(), "__init__": lambda self, *a, **k: models.Model.__init__(self, *a, **k)},
    ],
    ids=["custom type", "validators=", "validate_<field>", "default role", "other type", "poly", "name clash", "init"],
)
def test_what_the_plan_does_not_reproduce_stays_with_schematics(attrs: dict[str, Any]) -> None:
    cls = type(f"Odd{next(_names)}", (models.Model,), dict(attrs))
    assert compiled(cls) is None


def test_invalid_values_raise_schematics_messages() -> None:
    dump = schematics_adapter.adapter(Everything).dump
    obj = everything()
    obj.amount_kg = 5000
    obj.flavour = "mint"
    with pytest.raises(ValidationError) as caught:
        dump(obj)
    reference = everything()
    reference.amount_kg = 5000
    reference.flavour = "mint"
    with pytest.raises(BaseError) as theirs:
        reference.validate()
    assert str(caught.value) == f"Everything: {theirs.value}"
    assert "Int value should be less than or equal to 1000." in str(caught.value)


# --------------------------------------------------------------------------- through the servers
UTC = dt.timezone.utc


def ice_model(mixin: type, **options: Any) -> Any:
    """The issue's model (issue 12) on ``mixin``."""
    attrs = {
        "__module__": __name__, "__indexes__": ("amount_kg",), **options,
        "id": st.StringType(), "flavour": st.StringType(choices=["vanilla", "chocolate"]),
        "amount_kg": st.IntType(min_value=0), "best_before": st.DateTimeType(),
    }  # fmt: skip
    return type("CompiledIce", (models.Model, mixin), attrs)


def ices(cls: Any) -> list[Any]:
    """Five objects of the issue's model, amount_kg 0 to 4."""
    return [
        cls(
            {
                "id": f"i{n}",
                "flavour": "vanilla",
                "amount_kg": n,
                "best_before": dt.datetime(2030, 1, n + 1, tzinfo=UTC),
            }
        )
        for n in range(5)
    ]


def refuse_schematics_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, Schematics' import / validation / export loops fail if anything runs them."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Schematics' own loop ran")

    for name in ("convert", "validate", "to_primitive", "export_loop"):
        monkeypatch.setattr(models, name, refuse)


def check_round_trip(cls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    objs = ices(cls)
    refuse_schematics_loops(monkeypatch)
    cls.set_many(objs[:4])
    objs[4].amount_kg = 44
    objs[4].set()
    got = cls.match_for_pk("i4")
    assert (got.flavour, got.amount_kg, got.best_before) == ("vanilla", 44, dt.datetime(2030, 1, 5, tzinfo=UTC))
    assert sorted(o.id for o in cls.filter(amount_kg__gte=3)) == ["i3", "i4"]
    monkeypatch.undo()
    bad = cls({"id": "bad", "flavour": "mint", "amount_kg": -1})
    with pytest.raises(ValidationError) as caught:
        bad.set()
    reference = cls({"id": "bad", "flavour": "mint", "amount_kg": -1})
    with pytest.raises(BaseError) as theirs:
        reference.validate()
    assert str(caught.value) == f"CompiledIce: {theirs.value}"
    assert "Value (mint) must be one of" in str(caught.value)
    assert cls.count(id="bad") == 0


def test_redis_writes_and_reads_through_the_compiled_path(prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from persist_mixins import SimpleRedisMixin

    check_round_trip(ice_model(SimpleRedisMixin, __key_prefix__=prefix), monkeypatch)


def test_postgres_writes_and_reads_through_the_compiled_path(
    pg_conn: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from persist_mixins import PgRowMixin

    table = "".join(ch if ch.isalnum() else "_" for ch in prefix)
    cls = ice_model(PgRowMixin, __table__=table)
    cls.create_table()
    try:
        check_round_trip(cls, monkeypatch)
    finally:
        pg_conn.execute(f'DROP TABLE IF EXISTS "{table}"')
