"""The test models, in one place: one way to build a model class of each library, and the shared sample data.

:func:`define` builds a model class of any supported library (Schematics, pydantic,
dataclasses, attrs, plain annotated classes) from one field table; the other helpers
name the models the tests share (the IceCream of the behaviour suite, the counter with
an int pk, redis-schematics' README model, the lookup-only models) and the sample
objects written into them.  No test module defines these classes itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import functools
import operator
import types as pytypes
import typing
import uuid
from collections.abc import Mapping
from typing import Any

import attrs
import pydantic
from schematics import models, types
from schematics.types import compound

from persist_mixins import SimpleRedisMixin

KINDS = ("schematics", "pydantic", "dataclasses", "attrs", "plain")

# -- nested models, one per library ------------------------------------------------------


class SchematicsGrommet(models.Model):
    weight = types.IntType()


class PydanticGrommet(pydantic.BaseModel):
    weight: int | None = None


@dataclasses.dataclass
class DataGrommet:
    weight: int | None = None


@attrs.define
class AttrsGrommet:
    weight: int | None = None


#: The nested model each library's IceCream holds (plain classes nest a dataclass).
GROMMETS: dict[str, type] = {
    "schematics": SchematicsGrommet,
    "pydantic": PydanticGrommet,
    "dataclasses": DataGrommet,
    "attrs": AttrsGrommet,
    "plain": DataGrommet,
}


class Nested:
    """A field-table placeholder: "the nested model (grommet) of the library being built"."""


# -- one builder for every library -------------------------------------------------------

_SCHEMATICS: dict[Any, Any] = {
    str: types.StringType,
    int: types.IntType,
    float: types.FloatType,
    bool: types.BooleanType,
    dt.datetime: types.DateTimeType,
    dt.date: types.DateType,
    decimal.Decimal: types.DecimalType,
    uuid.UUID: types.UUIDType,
}


def _resolve(annotation: Any, kind: str) -> Any:
    """``annotation`` with :class:`Nested` replaced by the library's grommet class."""
    if annotation is Nested:
        return GROMMETS[kind]
    if typing.get_origin(annotation) in (typing.Union, pytypes.UnionType):
        return functools.reduce(operator.or_, (_resolve(arg, kind) for arg in typing.get_args(annotation)))
    return annotation


def _schematics_type(annotation: Any) -> Any:
    """The Schematics field type of a Python annotation (``X | None`` as ``X``)."""
    if typing.get_origin(annotation) in (typing.Union, pytypes.UnionType):
        (annotation,) = (arg for arg in typing.get_args(annotation) if arg is not type(None))
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        return compound.ListType(_schematics_type(args[0]))
    if origin is dict:
        return compound.DictType(_schematics_type(args[1]))
    if annotation is Nested:
        return compound.ModelType(SchematicsGrommet)
    return _SCHEMATICS[annotation]()


def define(
    kind: str,
    fields: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
    *,
    mixin: type = SimpleRedisMixin,
    base: type | None = None,
    name: str = "IceCream",
    defaults: Mapping[str, Any] | None = None,
    frozen: bool = False,
) -> type:
    """A model class of library ``kind``.

    ``fields`` maps names to annotations (``Nested`` is the library's grommet); every field
    defaults to None unless ``defaults`` says otherwise.  ``options`` are class attributes
    (``__key_prefix__``, ``__table__`` ...).  The class inherits ``base`` when given (a class
    made here, say a field-less abstract base), else ``mixin`` as the library wants it:
    after ``models.Model`` for Schematics, before ``pydantic.BaseModel`` for pydantic.
    """
    defaults = {name_: None for name_ in fields} | dict(defaults or {})
    namespace: dict[str, Any] = {"__module__": __name__, "__qualname__": name, **(options or {})}
    if kind == "schematics":
        namespace.update({field: _schematics_type(annotation) for field, annotation in fields.items()})
        bases = (base,) if base is not None else (models.Model, mixin)
        return type(models.Model)(name, bases, namespace)
    namespace["__annotations__"] = {field: _resolve(annotation, kind) for field, annotation in fields.items()}
    namespace.update(defaults)
    if kind == "pydantic":
        if frozen:
            namespace["model_config"] = pydantic.ConfigDict(frozen=True)
        bases = (base,) if base is not None else (mixin, pydantic.BaseModel)
        return type(pydantic.BaseModel)(name, bases, namespace)
    cls = type(name, (base if base is not None else mixin,), namespace)
    if kind == "dataclasses":
        return dataclasses.dataclass(frozen=frozen)(cls)
    if kind == "attrs":
        return attrs.frozen(cls) if frozen else attrs.define(cls)
    if kind == "plain":
        return cls
    raise ValueError(f"no model library {kind!r}")


def new(cls: type, **values: Any) -> Any:
    """An instance of a class made by :func:`define`, whatever its library."""
    if issubclass(cls, models.Model):
        return cls(values)
    if dataclasses.is_dataclass(cls) or attrs.has(cls) or issubclass(cls, pydantic.BaseModel):
        return cls(**values)
    obj = cls()
    for name, value in values.items():
        setattr(obj, name, value)
    return obj


def corrupt(obj: Any, field: str, value: Any) -> None:
    """Set a field to a value its library would refuse, bypassing validation and frozen-ness."""
    if isinstance(obj, models.Model):
        setattr(obj, field, value)
    else:
        object.__setattr__(obj, field, value)


# -- the models the tests share -----------------------------------------------------------

#: The behaviour suite's IceCream: one field of every supported type, all optional.
ICECREAM: dict[str, Any] = {
    "id": str | None,
    "flavour": str | None,
    "amount_kg": int | None,
    "best_before": dt.datetime | None,
    "ratio": float | None,
    "fresh": bool | None,
    "made_on": dt.date | None,
    "price": decimal.Decimal | None,
    "ref": uuid.UUID | None,
    "tags": list[str] | None,
    "extra": dict[str, str] | None,
    "grommet": Nested | None,
}
FIELDS = tuple(name for name in ICECREAM if name != "grommet")


def icecream(kind: str, mixin: type, options: Mapping[str, Any]) -> type:
    """The IceCream model of library ``kind`` on ``mixin``, with these class options."""
    return define(kind, ICECREAM, options, mixin=mixin)


#: A model with an int pk (generated by the database where it can be) and a version field.
COUNTER: dict[str, Any] = {"id": int | None, "name": str, "version": int | None}


def counter(kind: str, mixin: type, options: Mapping[str, Any]) -> type:
    """The counter model (``Seq``) of library ``kind``."""
    return define(kind, COUNTER, options, mixin=mixin, name="Seq", defaults={"name": ""})


#: redis-schematics' README quickstart model (a Schematics model with a ``pk`` field).
README: dict[str, Any] = {
    "pk": str | None,
    "id": str | None,
    "flavour": str | None,
    "amount_kg": int | None,
    "best_before": dt.datetime | None,
}


def readme_model(mixin: type, **options: Any) -> type:
    """redis-schematics' README ``IceCreamModel`` on ``mixin`` (this library's or redis-schematics' own)."""
    return define("schematics", README, options, mixin=mixin, name="IceCreamModel")


# -- models for lookups evaluated on instances (no storage) ---------------------------------

#: A dataclass IceCream with a second nested model (pydantic) and ``name`` for ``flavour``.
LookupIceCream = define(
    "dataclasses",
    {**{("name" if k == "flavour" else k): v for k, v in ICECREAM.items()}, "pgrommet": PydanticGrommet | None},
    name="IceCream",
)


@dataclasses.dataclass
class Cone(SimpleRedisMixin):
    """pk field ``pk`` with an ``id`` field beside it."""

    pk: str | None = None
    id: str | None = None


@dataclasses.dataclass
class Scoop(SimpleRedisMixin):
    """pk built from __unique_together__, no pk field."""

    __unique_together__ = ("flavour", "size")

    flavour: str | None = None
    size: str | None = None


@dataclasses.dataclass
class Tagged(SimpleRedisMixin):
    """__unique_together__ beside an ``id`` pk field."""

    __unique_together__ = ("flavour", "size")

    id: str | None = None
    flavour: str | None = None
    size: str | None = None


@dataclasses.dataclass
class Tub(SimpleRedisMixin):
    """An int pk."""

    id: int | None = None


@dataclasses.dataclass
class Ticket(SimpleRedisMixin):
    """A UUID pk."""

    id: uuid.UUID | None = None


@dataclasses.dataclass
class Crate(SimpleRedisMixin):
    """An int pk beside __unique_together__."""

    __unique_together__ = ("shelf", "slot")

    id: int | None = None
    shelf: int | None = None
    slot: int | None = None


# -- sample data ---------------------------------------------------------------------------


def sample(api: Any, **overrides: Any) -> Any:
    """A fully populated IceCream of ``api``'s library (``api.new`` builds it, ``api.grommet`` nests)."""
    data: dict[str, Any] = {
        "id": "vanilla",
        "flavour": "Sweet Vanilla",
        "amount_kg": 42,
        # RethinkDB keeps times to the millisecond (its server rounds them): the sample says what it stores.
        "best_before": dt.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone(dt.timedelta(hours=2))).replace(
            microsecond=679000 if api.backend == "rethinkdb" else 678901
        ),
        "ratio": 0.25,
        "fresh": True,
        "made_on": dt.date(2029, 12, 31),
        "price": decimal.Decimal("3.10"),
        "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "tags": ["sweet", "white"],
        "extra": {"origin": "Madagascar"},
        "grommet": api.grommet(7),
    }
    data.update(overrides)
    return api.new(**data)


def values(obj: Any) -> dict[str, Any]:
    """The persisted field values of an IceCream, the nested grommet as its weight."""
    out = {name: getattr(obj, name) for name in FIELDS}
    grommet = obj.grommet
    out["grommet"] = None if grommet is None else grommet.weight
    return out


async def populate(api: Any) -> None:
    """The four objects :data:`LOOKUPS` expects: a, b, c, and n whose optional fields are None."""
    await api.run(sample(api, id="a", amount_kg=10, flavour="Sweet Vanilla").set())
    await api.run(sample(api, id="b", amount_kg=20, flavour="Dark Chocolate", grommet=api.grommet(8)).set())
    await api.run(sample(api, id="c", amount_kg=30, flavour="Mint", tags=["green"], grommet=api.grommet(9)).set())
    none = {"amount_kg": None, "flavour": None, "extra": None, "grommet": None, "best_before": None, "made_on": None}
    await api.run(sample(api, id="n", **none).set())


#: Every indexable field of the IceCream (``__indexes__`` of the indexed variant).
INDEXED = ("amount_kg", "flavour", "best_before", "ratio", "fresh", "made_on", "price", "ref")

#: Each lookup on the :func:`populate` objects, and the pks it selects.
LOOKUPS: list[tuple[dict[str, Any], list[str]]] = [
    ({"amount_kg": 20}, ["b"]),
    ({"amount_kg__ne": 20}, ["a", "c", "n"]),
    ({"amount_kg__not": 20}, ["a", "c", "n"]),
    ({"amount_kg__lt": 20}, ["a"]),
    ({"amount_kg__lte": 20}, ["a", "b"]),
    ({"amount_kg__gt": 20}, ["c"]),
    ({"amount_kg__gte": 20}, ["b", "c"]),
    ({"amount_kg__in": [10, 30]}, ["a", "c"]),
    ({"amount_kg__not_in": [10, 30]}, ["b", "n"]),
    ({"amount_kg__exclude": [10]}, ["b", "c", "n"]),
    ({"amount_kg__range": (10, 20)}, ["a", "b"]),
    ({"amount_kg__isnull": True}, ["n"]),
    ({"amount_kg__isnull": False}, ["a", "b", "c"]),
    ({"flavour__contains": "Choc"}, ["b"]),
    ({"flavour__icontains": "choc"}, ["b"]),
    ({"flavour__startswith": "Sweet"}, ["a"]),
    ({"flavour__endswith": "Mint"}, ["c"]),
    ({"tags__contains": "green"}, ["c"]),
    ({"extra__origin": "Madagascar"}, ["a", "b", "c"]),
    ({"grommet__weight__gte": 8}, ["b", "c"]),
    ({"best_before__lt": dt.datetime(2030, 6, 1, tzinfo=dt.timezone.utc)}, ["a", "b", "c"]),
    ({"made_on__range": (dt.date(2029, 1, 1), dt.date(2030, 1, 1))}, ["a", "b", "c"]),
    ({"amount_kg__gte": 10, "flavour__icontains": "mint"}, ["c"]),
    ({"ratio__gt": 0.2}, ["a", "b", "c", "n"]),
    ({"ratio__lt": 0.25}, []),
    ({"fresh": True}, ["a", "b", "c", "n"]),
    ({"fresh": False}, []),
    ({"price__lte": decimal.Decimal("3.10")}, ["a", "b", "c", "n"]),
    ({"price__gt": decimal.Decimal("3.1")}, []),
    ({"ref": "12345678-1234-5678-1234-567812345678"}, ["a", "b", "c", "n"]),
    ({"ref__in": [uuid.UUID(int=1)]}, []),
]
LOOKUP_IDS = [",".join(lookups) for lookups, _ in LOOKUPS]
