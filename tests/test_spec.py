"""Class options and pk rules (``persist_mixins.spec``), checked on every supported model library."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from persist_mixins import ConfigurationError, ValidationError
from persist_mixins.binding import spec_of
from persist_mixins.spec import to_millis

from .models import KINDS, Crate, Ticket, Tub, define, new

Factory = Callable[..., type]


def factory(kind: str) -> Factory:
    """``make(options, fields, base=None)``: an IceCream of library ``kind`` with str fields and these options."""

    def make(options: dict[str, Any], fields: tuple[str, ...], base: type | None = None) -> type:
        return define(kind, dict.fromkeys(fields, str | None), options, base=base)

    return make


FACTORIES: dict[str, Factory] = {kind: factory(kind) for kind in KINDS}


@pytest.fixture(params=sorted(FACTORIES))
def make(request: pytest.FixtureRequest) -> Factory:
    """A factory of IceCream classes for one model library."""
    return FACTORIES[request.param]


# -- class options checked at class creation -------------------------------------------

BAD_OPTIONS = {
    "expire-str": ({"__expire__": "10"}, "__expire__"),
    "expire-negative": ({"__expire__": -1}, "__expire__"),
    "expire-zero": ({"__expire__": 0}, "__expire__"),
    "expire-nan": ({"__expire__": float("nan")}, "__expire__"),
    "expire-inf": ({"__expire__": float("inf")}, "__expire__"),
    "expire-bool": ({"__expire__": True}, "__expire__"),
    "expire-zero-timedelta": ({"__expire__": dt.timedelta(0)}, "__expire__"),
    "unique-unknown": ({"__unique_together__": ("flavour", "colour")}, "__unique_together__"),
    "unique-string": ({"__unique_together__": "flavour"}, "__unique_together__"),
    "unique-args-unknown": ({"__unique_args__": ("colour",)}, "__unique_together__"),
    "pk-field-unknown": ({"__pk_field__": "code"}, "__pk_field__"),
    "key-prefix-empty": ({"__key_prefix__": ""}, "__key_prefix__"),
    "key-prefix-not-str": ({"__key_prefix__": 5}, "__key_prefix__"),
    "indexes-unknown": ({"__indexes__": ("colour",)}, "__indexes__"),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_bad_option_fails_at_class_creation(make: Factory, case: str) -> None:
    """A bad class option raises ConfigurationError when the class is created, naming class and option."""
    options, option = BAD_OPTIONS[case]
    with pytest.raises(ConfigurationError) as info:
        make(options, ("id", "flavour"))
    assert "IceCream" in str(info.value)
    assert option in str(info.value)


def test_no_pk_field_and_no_unique_together_fails_at_class_creation(make: Factory) -> None:
    """A model with neither a pk/id field nor __unique_together__ is refused at class creation."""
    with pytest.raises(ConfigurationError) as info:
        make({}, ("flavour", "size"))
    assert "IceCream" in str(info.value)
    assert "__unique_together__" in str(info.value)


def test_valid_options_are_read_into_the_spec(make: Factory) -> None:
    """Valid options reach the model's spec: expiry in ms, pk field, key prefix."""
    cls = make({"__expire__": 30, "__pk_field__": "code", "__key_prefix__": "Legacy"}, ("code", "flavour"))
    options = spec_of(cls).options
    assert (options.expire_ms, options.pk_field, options.key_prefix) == (30_000, "code", "Legacy")


def test_defaults_follow_redis_schematics(make: Factory) -> None:
    """Without options the key prefix is the class name, the pk field is id and nothing expires."""
    options = spec_of(make({}, ("id", "flavour"))).options
    assert (options.key_prefix, options.pk_field, options.expire_ms) == ("IceCream", "id", None)


def test_pk_field_named_pk_wins_over_id(make: Factory) -> None:
    """A field named pk is the pk field even when an id field exists."""
    assert spec_of(make({}, ("id", "pk"))).pk_field == "pk"


@pytest.mark.parametrize(
    ("expire", "ms"),
    [(2.5, 2500), (dt.timedelta(seconds=2.5), 2500), (10, 10_000), (dt.timedelta(minutes=2), 120_000), (None, None)],
)
def test_expire_keeps_sub_second_precision(make: Factory, expire: Any, ms: int | None) -> None:
    """__expire__ given as seconds or a timedelta becomes whole milliseconds, 2.5 s -> 2500 ms."""
    assert spec_of(make({"__expire__": expire}, ("id",))).options.expire_ms == ms


def test_tiny_expire_rounds_up_to_one_millisecond() -> None:
    """A positive expiry below half a millisecond becomes 1 ms, never 0 (which would mean no expiry)."""
    assert to_millis(0.0001, "expire") == 1


def test_unique_args_is_an_alias_of_unique_together(make: Factory) -> None:
    """__unique_args__ (the redis-schematics name) works as __unique_together__."""
    cls = make({"__unique_args__": ("flavour", "size")}, ("flavour", "size"))
    assert spec_of(cls).options.unique_together == ("flavour", "size")
    assert spec_of(cls).ensure_pk(new(cls, flavour="mint", size="big")) == "mint.big"


# -- abstract bases --------------------------------------------------------------------


LIBRARIES = [
    "schematics",
    "pydantic",
    "dataclasses",
    "attrs",
    "plain",
]


@pytest.mark.parametrize("library", LIBRARIES)
def test_abstract_base_without_fields_is_allowed(library: str) -> None:
    """A field-less base class carrying shared options can be created, and subclasses inherit its options."""
    make = FACTORIES[library]
    base = make({"__expire__": 10}, ())
    child = make({}, ("id", "flavour"), base)
    assert spec_of(child).options.expire_ms == 10_000


def test_abstract_base_options_are_still_checked(make: Factory) -> None:
    """A field-less base with a bad __expire__ is refused at class creation all the same."""
    with pytest.raises(ConfigurationError, match="__expire__"):
        make({"__expire__": "10"}, ())


@pytest.mark.parametrize("library", ["pydantic", "dataclasses", "attrs", "plain"])
def test_abstract_base_cannot_be_stored(library: str) -> None:
    """Using a field-less base as a model (its spec) raises ConfigurationError naming it."""
    base = FACTORIES[library]({}, ())
    with pytest.raises(ConfigurationError, match="IceCream"):
        spec_of(base)


def test_schematics_unique_together_naming_fields_fails_at_class_creation() -> None:
    """A Schematics model whose __unique_together__ names `fields`, which is not a field, is refused at creation."""
    with pytest.raises(ConfigurationError, match="__unique_together__"):
        FACTORIES["schematics"]({"__unique_together__": ("fields",)}, ("flavour",))


# -- pk rules --------------------------------------------------------------------------


def test_pk_is_the_pk_field_value(make: Factory) -> None:
    """The pk is the value of the pk field, as a string, even when an id is also set."""
    cls = make({}, ("pk", "id"))
    obj = new(cls, pk="p1", id="i1")
    assert spec_of(cls).ensure_pk(obj) == "p1"
    assert obj.pk == "p1"


def test_pk_falls_back_to_id_and_fills_the_pk_field(make: Factory) -> None:
    """With the pk field empty, the id value is the pk and is copied into the pk field."""
    cls = make({}, ("pk", "id"))
    obj = new(cls, id="i1")
    assert spec_of(cls).ensure_pk(obj) == "i1"
    assert obj.pk == "i1"


def test_pk_from_custom_pk_field(make: Factory) -> None:
    """__pk_field__ names the field holding the pk."""
    cls = make({"__pk_field__": "code"}, ("code", "flavour"))
    assert spec_of(cls).ensure_pk(new(cls, code="c7")) == "c7"


def test_pk_from_unique_together_joined_with_dots(make: Factory) -> None:
    """Without a pk value, __unique_together__ values joined with '.' form the pk, stored in the id field."""
    cls = make({"__unique_together__": ("flavour", "size")}, ("id", "flavour", "size"))
    obj = new(cls, flavour="mint", size="big")
    assert spec_of(cls).ensure_pk(obj) == "mint.big"
    assert obj.id == "mint.big"


def test_pk_from_unique_together_without_pk_field(make: Factory) -> None:
    """A model with only __unique_together__ gets its pk from those fields, in the declared order."""
    cls = make({"__unique_together__": ("size", "flavour")}, ("flavour", "size"))
    assert spec_of(cls).pk_field is None
    assert spec_of(cls).ensure_pk(new(cls, flavour="mint", size="big")) == "big.mint"


def test_unique_together_with_an_empty_part_raises_validation_error(make: Factory) -> None:
    """A __unique_together__ field left empty raises ValidationError naming it, instead of a half pk."""
    cls = make({"__unique_together__": ("flavour", "size")}, ("flavour", "size"))
    with pytest.raises(ValidationError, match="size"):
        spec_of(cls).ensure_pk(new(cls, flavour="mint", size=""))


def test_pk_generated_as_uuid4_hex_when_nothing_else(make: Factory) -> None:
    """With no pk, id or __unique_together__ value, the pk is a fresh uuid4 hex stored in the pk field."""
    cls = make({}, ("id", "flavour"))
    first, second = new(cls, flavour="mint"), new(cls, flavour="mint")
    pk = spec_of(cls).ensure_pk(first)
    assert len(pk) == 32
    assert uuid.UUID(hex=pk).version == 4
    assert first.id == pk
    assert spec_of(cls).ensure_pk(second) != pk


def test_existing_pk_is_kept_on_every_call(make: Factory) -> None:
    """Once filled, the pk stays the same on later saves."""
    cls = make({}, ("id",))
    obj = new(cls)
    assert spec_of(cls).ensure_pk(obj) == spec_of(cls).ensure_pk(obj) == obj.id


def test_int_pk_is_stringified() -> None:
    """An int pk value becomes its decimal string."""
    assert spec_of(Tub).ensure_pk(Tub(5)) == "5"


def test_empty_int_pk_raises_validation_error() -> None:
    """An int pk field left empty raises ValidationError: no key can be generated for it."""
    obj = Tub()
    with pytest.raises(ValidationError, match="id"):
        spec_of(Tub).ensure_pk(obj)
    assert obj.id is None


def test_empty_uuid_pk_gets_a_uuid4() -> None:
    """A UUID pk field left empty receives a fresh uuid4, and the pk is its string form."""
    obj = Ticket()
    pk = spec_of(Ticket).ensure_pk(obj)
    assert isinstance(obj.id, uuid.UUID)
    assert obj.id.version == 4
    assert pk == str(obj.id)


def test_unique_together_pk_that_an_int_pk_field_cannot_hold_raises_validation_error() -> None:
    """A joined pk such as '1.2' that the int pk field cannot hold raises ValidationError."""
    with pytest.raises(ValidationError):
        spec_of(Crate).ensure_pk(Crate(shelf=1, slot=2))


def test_unresolvable_annotation_is_a_configuration_error() -> None:
    """A field annotated with a type the module cannot see fails clearly instead of being stored untyped."""
    namespace: dict[str, Any] = {}
    exec(
        "from __future__ import annotations\n"
        "import dataclasses\n"
        "from persist_mixins import SimpleRedisMixin\n"
        "@dataclasses.dataclass\n"
        "class Hidden(SimpleRedisMixin):\n"
        "    id: str | None = None\n"
        "    amount: Missing | None = None\n",
        namespace,
    )
    with pytest.raises(ConfigurationError, match="Missing"):
        spec_of(namespace["Hidden"])


def test_string_annotations_resolve_one_by_one_initvar_included() -> None:
    """A dataclass with an InitVar under ``from __future__ import annotations`` gets its fields (Python 3.10 too)."""
    from .hints_module import Scaled

    assert list(spec_of(Scaled).fields) == ["id", "litres"]
    assert spec_of(Scaled).fields["litres"].kind == "int"


def test_an_unresolvable_annotation_names_the_class_and_field() -> None:
    """An annotation naming a type the module cannot see is a ConfigurationError naming the class and the field."""
    from .hints_module import Broken

    with pytest.raises(ConfigurationError, match=r"Broken\.amount: cannot resolve its annotation 'Missing'"):
        spec_of(Broken)


@pytest.mark.parametrize("kind", ["dataclasses", "attrs", "plain"])
def test_none_is_refused_in_non_optional_fields_nested_ones_too_but_not_in_an_empty_pk(kind: str) -> None:
    """Only ``X | None`` (or untyped) fields dump None; the pk field may stay empty for the write to fill."""
    import dataclasses

    @dataclasses.dataclass
    class Lid:
        size: int

    fields = {"code": str, "lid": Lid | None, "note": Any, "label": str | None}
    Cup = define(kind, fields, {"__pk_field__": "code"}, name="Cup")
    spec = spec_of(Cup)
    assert spec.dump(new(Cup, code=None, lid=None, note=None, label=None))["code"] is None
    with pytest.raises(ValidationError, match=r"Cup\.lid: Lid\.size: None is not a int"):
        spec.dump(new(Cup, code="c", lid=Lid(None)))  # type: ignore[arg-type]
    Mug = define(kind, {"id": str | None, "name": str}, name="Mug")
    with pytest.raises(ValidationError, match=r"Mug\.name: None is not a str"):
        spec_of(Mug).dump(new(Mug, id="m", name=None))
