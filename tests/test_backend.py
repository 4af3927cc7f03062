"""The backend interface (``persist_mixins.backend``): the registry, declarations and key policies."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

import persist_mixins
from persist_mixins import ConfigurationError, ValidationError
from persist_mixins.backend import Backend, backends, register
from persist_mixins.backends.postgres import POSTGRES
from persist_mixins.backends.redis import REDIS
from persist_mixins.binding import spec_of


def test_shipped_backends_are_registered_by_name() -> None:
    """Importing persist_mixins registers every shipped backend, so close() and configure() reach each."""
    assert backends()["redis"] is REDIS
    assert backends()["postgres"] is POSTGRES


def test_a_second_backend_under_a_taken_name_is_refused() -> None:
    """Two declarations cannot share a name (configure(name=...) would be ambiguous)."""
    clash = dataclasses.replace(REDIS)
    with pytest.raises(ConfigurationError, match="two backends are named 'redis'"):
        register(clash)
    assert register(REDIS) is REDIS  # registering the same declaration again is harmless


def test_a_missing_client_library_names_the_extra_to_install() -> None:
    """A backend whose driver module cannot import says which extra to install."""
    ghost: Backend = dataclasses.replace(REDIS, name="ghost", drivers=".backends.ghost.driver_nothing")
    with pytest.raises(ConfigurationError, match=r"pip install 'persist_mixins\[ghost\]'"):
        ghost.factory  # noqa: B018


@dataclasses.dataclass
class Tub(persist_mixins.SimpleRedisMixin):
    """An int-keyed Redis model."""

    id: int | None = None
    litres: int = 0


@dataclasses.dataclass
class Row(persist_mixins.PgRowMixin):
    """An int-keyed PostgreSQL model."""

    id: int | None = None
    litres: int = 0


@dataclasses.dataclass
class Keyed(persist_mixins.PgRowMixin):
    """A UUID-keyed PostgreSQL model."""

    id: uuid.UUID | None = None


def test_key_policy_decides_who_makes_an_empty_int_pk() -> None:
    """An empty int pk is the database's to make on PostgreSQL (identity), and an error on Redis."""
    assert spec_of(Row).generates(Row()) and spec_of(Row).keys == POSTGRES.keys
    spec_of(Row).check_pk(Row())
    assert not spec_of(Tub).generates(Tub())
    with pytest.raises(ValidationError, match="cannot generate such a key"):
        spec_of(Tub).check_pk(Tub())


def test_pks_keep_their_type() -> None:
    """pk_value() gives the pk in its field's type: int, UUID or str, never a stringified copy."""
    key = uuid.uuid4()
    assert spec_of(Row).pk_value(Row(7)) == 7
    assert spec_of(Keyed).pk_value(Keyed(key)) == key
    assert spec_of(Keyed).pk_value(Keyed()) is None
    assert not spec_of(Keyed).generates(Keyed())  # UUIDs are made by the client (uuid4) on PostgreSQL


@pytest.mark.parametrize(
    ("attribute", "meant"),
    [("__expires__", "__expire__"), ("__index__", "__indexes__"), ("__unique_togther__", "__unique_together__"),
     ("__redis_url__", "__redis__"), ("__tabel__", "__table__")],
)  # fmt: skip
def test_a_misspelt_option_fails_at_class_creation_naming_the_option_meant(attribute: str, meant: str) -> None:
    """A class attribute close to an option (or a known alias of one) is refused instead of silently ignored."""
    with pytest.raises(ConfigurationError, match=rf"Cone\.{attribute} is not an option .* did you mean {meant}\?"):
        type("Cone", (persist_mixins.SimpleRedisMixin,), {"__annotations__": {"id": str}, attribute: 10})


def test_other_dunders_and_methods_stay_allowed() -> None:
    """A user's own dunder attribute, far from every option, and dunder methods such as __index__ are fine."""

    @dataclasses.dataclass
    class Scoop(persist_mixins.SimpleRedisMixin):
        __my_registry_name__ = "scoops"
        id: str

        def __index__(self) -> int:
            return 0

    assert spec_of(Scoop).options.key_prefix == "Scoop"


def test_a_backends_own_options_are_accepted_and_near_misses_refused() -> None:
    """Each backend declares its options: a PgRowMixin takes __postgres__ and __version_field__; a near miss fails."""

    @dataclasses.dataclass
    class Pg(persist_mixins.PgRowMixin):
        __postgres__ = "postgresql://postgres@127.0.0.1:5432/test"
        __version_field__ = "version"
        id: str
        version: int = 0

    with pytest.raises(ConfigurationError, match=r"did you mean __redis__\?"):
        type("R", (persist_mixins.SimpleRedisMixin,), {"__annotations__": {"id": str}, "__redi__": "redis://x"})
