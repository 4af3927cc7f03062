"""What the sync and asyncio facades share: everything of a mixin and a query that does no I/O.

:class:`ModelBase` (the backend link, the option check, lookup parsing) and
:class:`QueryBase` (chaining ``filter()``, ``order_by()``, ``limit()``) are written
once here; :mod:`persist_mixins.mixins` and :mod:`persist_mixins.asyncio` add only
the methods that run a plan, each one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from .backend import Backend, Plans
from .binding import check_class, spec_of
from .creating import check_defaults, create_values, get_or_create
from .errors import InvalidLookup, ValidationError
from .lookups import Q
from .query import QueryState
from .run import Plan
from .spec import Expiry, ModelSpec

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["ModelBase", "QueryBase", "only_fields"]

M = TypeVar("M", bound="ModelBase")


class ModelBase:
    """What every mixin has, sync or asyncio: its backend, the option check, lookup parsing."""

    __slots__ = ()
    #: The backend this model is stored in; set by each backend's mixin classes.
    __persist_backend__: ClassVar[Backend[Plans]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Check the class options as soon as the class is created."""
        super().__init_subclass__(**kwargs)
        check_class(cls)

    @classmethod
    def _where(cls, lookups: dict[str, Any], qs: tuple[Q, ...] = ()) -> QueryState:
        return QueryState().where(spec_of(cls), lookups, qs)

    @classmethod
    def _without(cls, lookups: dict[str, Any], qs: tuple[Q, ...]) -> QueryState:
        return QueryState().excluding(spec_of(cls), lookups, qs)

    @classmethod
    def _get_or_create(
        cls, defaults: Mapping[str, Any] | None, lookups: dict[str, Any], update: bool
    ) -> Plan[tuple[Any, bool]]:
        """The plan of ``get_or_create`` / ``update_or_create``; every argument is checked before any I/O.

        Raises:
            InvalidLookup: a bad lookup, no lookup, or ``defaults`` naming an unknown field
                (``update_or_create``: the pk or the version field).
        """
        spec = spec_of(cls)
        what = "update_or_create" if update else "get_or_create"
        if not lookups:
            raise InvalidLookup(f"{spec.name}.{what}() needs at least one lookup")
        state = cls._where(lookups)
        fields = check_defaults(spec, defaults, what)
        values = create_values(spec, lookups, fields)
        only = only_fields(spec, tuple(fields)) if update and fields else ()
        plans = cls.__persist_backend__.plans
        return get_or_create(plans, spec, state, values, fields, update, only)

    def __key_pattern__(self, *parts: Any) -> str:
        """``{prefix}:part:part``: redis-schematics' key builder, for models that build a ``__set_key__`` with it."""
        return ":".join([spec_of(type(self)).options.key_prefix, *map(str, parts)])

    def __json__(self) -> dict[str, Any]:
        """The object's stored document (validated), for ``json.dumps`` once ``patch_json()`` is applied."""
        return spec_of(type(self)).dump(self)


class QueryBase(Generic[M]):
    """A lazy query's model and state, and the chaining that derives narrower queries."""

    __slots__ = ("_model", "_state")

    def __init__(self, model: type[M], state: QueryState | None = None) -> None:
        """Make a query over ``model``; use ``Model.filter()`` / ``Model.all()`` instead."""
        self._model = model
        self._state = state or QueryState()

    @property
    def _plans(self) -> Plans:
        """The model's backend plans."""
        return self._model.__persist_backend__.plans

    @property
    def _spec(self) -> ModelSpec[M]:
        return spec_of(self._model)

    def _select(self) -> Plan[None]:
        """The plan that streams this query's ``(key, obj)`` pairs."""
        return self._plans.select_pairs(self._spec, self._state)

    def _derive(self, state: QueryState) -> Self:
        return type(self)(self._model, state)

    def filter(self, *qs: Q, **lookups: Any) -> Self:
        """Narrow the query with more lookups and ``Q`` objects (AND); raises InvalidLookup on a bad one."""
        return self._derive(self._state.where(spec_of(self._model), lookups, qs))

    def exclude(self, *qs: Q, **lookups: Any) -> Self:
        """Drop the objects matching all the lookups and ``Q`` objects given; raises InvalidLookup on a bad one.

        The complement, as in Django: ``exclude(flavour="mint")`` keeps objects whose flavour is None.
        """
        return self._derive(self._state.excluding(spec_of(self._model), lookups, qs))

    def order_by(self, *fields: str) -> Self:
        """Order by fields, ``'-field'`` for descending; None sorts last (first when descending)."""
        return self._derive(self._state.ordered(spec_of(self._model), fields))

    def limit(self, n: int) -> Self:
        """Return at most ``n`` objects."""
        return self._derive(self._state.limited(n))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._model.__name__} {self._state}>"


def only_fields(spec: ModelSpec[Any], only: Iterable[str], expire: Expiry = None) -> tuple[str, ...]:
    """Check the ``only`` argument of ``set()``: known fields, none of them the pk or the version field.

    Raises:
        InvalidLookup: an unknown field, the pk (or a field it is made of), the version field, or no field.
        ValidationError: ``expire`` given too (``set(only=...)`` keeps the stored TTL).
    """
    names = (only,) if isinstance(only, str) else tuple(only)
    what = f"{spec.name}.set(only={names!r})"
    if expire is not None:
        raise ValidationError(f"{what}: a partial write keeps the stored TTL; call expire() to change it")
    if not names:
        raise InvalidLookup(f"{what}: name at least one field")
    for name in names:
        if not isinstance(name, str) or name not in spec.fields:
            raise InvalidLookup(f"{what}: {spec.name} has no field {name!r}")
        if name == spec.pk_field or name in spec.options.unique_together:
            raise InvalidLookup(f"{what}: {name!r} makes the pk, which a partial write cannot change")
        if name == spec.options.version_field:
            raise InvalidLookup(f"{what}: {name!r} is the version field, counted by the backend")
    return tuple(dict.fromkeys(names))
