"""The backend interface: what a backend declares, and the registry of declared backends.

A backend is a package under ``persist_mixins/backends/`` that builds one
:class:`Backend` value: its plans (a module that mypy checks against
:class:`Plans`), its session rules (how a run opens and closes a connection), the
class options it adds and checks, its key policy, its capabilities, and where its
drivers live (imported lazily: a Redis user never imports psycopg).  Its mixin
classes point at that value (``__persist_backend__``), and the core reaches the
backend only through it: adding a backend touches no core module.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from .errors import ConfigurationError
from .run import Driver, Plan, SessionRules

if TYPE_CHECKING:
    from .query import QueryState
    from .spec import Expiry, ModelSpec

__all__ = ["Backend", "Capability", "DriverFactory", "Flavour", "KeyPolicy", "Plans", "backends", "register"]

M = TypeVar("M")
T = TypeVar("T")
P_co = TypeVar("P_co", bound="Plans", covariant=True)

Flavour = Literal["sync", "async"]
#: What a backend can do; the behaviour suite runs a test wherever its capability is declared.
#: ``expiry``: per-object TTLs (``set(expire=)``, ``expire()``, ``persist()``); ``class_expiry``: ``__expire__``
#: and ``ttl()`` only (a TTL shared by all of a model's objects, as in one Redis hash); ``unique``: ``__unique__``;
#: ``db_defaults``: ``__db_defaults__``.
Capability = Literal[
    "tables", "transactions", "indexes", "expiry", "class_expiry", "changes", "generated_int_keys", "reindex", "unique",
    "db_defaults",
]  # fmt: skip
#: Who makes a missing pk: the client (a uuid4 hex), the database (an identity column), or the database (a UUID).
KeyPolicy = Literal["client_uuid", "database_identity", "database_uuid"]


class Plans(Protocol):
    """The plans every backend provides, one per public operation (arguments after the spec as the facade passes them).

    A backend's ``plans`` module is checked against this protocol by mypy (see
    :class:`Backend`), so a missing or mistyped plan fails the type check, not a user's call.
    """

    def save(self, spec: ModelSpec[M], obj: M, expire: Expiry, /) -> Plan[M]:
        """``obj.set(expire=)``."""
        ...

    def save_only(self, spec: ModelSpec[M], obj: M, fields: tuple[str, ...], /) -> Plan[M]:
        """``obj.set(only=fields)``: write just these fields of a stored object, keeping its TTL.

        ``fields`` were checked by the facade (known fields, not the pk, not the version field).
        Raises :class:`~persist_mixins.errors.NotFound` when the object is gone or expired (never
        recreates it), :class:`~persist_mixins.errors.ConflictError` when it is versioned and stale.
        """
        ...

    def save_many(self, spec: ModelSpec[M], objs: Iterable[M], expire: Expiry, /) -> Plan[list[M]]:
        """``Model.set_many(objs, expire=)``."""
        ...

    def refresh(self, spec: ModelSpec[M], obj: M, /) -> Plan[M]:
        """``obj.refresh()``."""
        ...

    def delete(self, spec: ModelSpec[M], obj: M, /) -> Plan[bool]:
        """``obj.delete()``."""
        ...

    def expire(self, spec: ModelSpec[M], obj: M, seconds: Expiry, /) -> Plan[bool]:
        """``obj.expire(seconds)``."""
        ...

    def persist(self, spec: ModelSpec[M], obj: M, /) -> Plan[bool]:
        """``obj.persist()``."""
        ...

    def ttl(self, spec: ModelSpec[M], obj: M, /) -> Plan[float | None]:
        """``obj.ttl()``."""
        ...

    def match(self, spec: ModelSpec[M], state: QueryState, /) -> Plan[M]:
        """``Model.match(**lookups)``."""
        ...

    def match_for_pk(self, spec: ModelSpec[M], pk: Any, /) -> Plan[M]:
        """``Model.match_for_pk(pk)``."""
        ...

    def match_for_values(self, spec: ModelSpec[M], state: QueryState, /) -> Plan[M]:
        """``Model.match_for_values(**lookups)``."""
        ...

    def select_pairs(self, spec: ModelSpec[M], state: QueryState, /) -> Plan[None]:
        """Iterating a query: emits ``(key, obj)`` pairs."""
        ...

    def count(self, spec: ModelSpec[M], state: QueryState, /) -> Plan[int]:
        """``query.count()`` / ``Model.count(**lookups)``."""
        ...

    def exists(self, spec: ModelSpec[M], state: QueryState, /) -> Plan[bool]:
        """``query.exists()``."""
        ...

    def delete_where(self, spec: ModelSpec[M], state: QueryState, /) -> Plan[int]:
        """``query.delete()``."""
        ...

    def update_where(self, spec: ModelSpec[M], state: QueryState, values: Mapping[str, Any], /) -> Plan[int]:
        """``query.update(**values)``."""
        ...

    def purge_expired(self, spec: ModelSpec[M], /) -> Plan[int]:
        """``Model.purge_expired()``."""
        ...

    def guarded(self, spec: ModelSpec[M], name: str, body: Plan[T], /) -> Plan[T]:
        """Run ``body`` holding the model's lock ``name``: no other ``guarded`` run with that name is inside at once.

        What makes ``get_or_create`` atomic.  A holder that dies leaves the lock to its
        expiry (Redis, RethinkDB) or to the end of its transaction (PostgreSQL).
        """
        ...


class DriverFactory(Protocol):
    """What a backend's driver module provides to :mod:`persist_mixins.connections`."""

    def open(self, url: str, flavour: Flavour) -> Any:
        """A client (or pool) the library owns, built from a URL; async ones belong to the running loop."""
        ...

    def wrap(self, source: Any, flavour: Flavour, model: type, url: str | None) -> Driver:
        """The driver of ``model`` over ``source`` (a client built by :meth:`open`, with its ``url``, or a user's).

        Raises:
            ConfigurationError: ``source`` is not a client this backend takes for this flavour.
        """
        ...

    def close(self, client: Any) -> None:
        """Close a sync client built by :meth:`open`."""
        ...

    async def aclose(self, client: Any) -> None:
        """Close an asyncio client built by :meth:`open`."""
        ...


@dataclass(frozen=True, eq=False)
class Backend(Generic[P_co]):
    """One backend's declaration; mixin classes name it as ``__persist_backend__``.

    Args:
        name: the backend's name (``configure(name=...)``, the extra ``persist_mixins[name]``).
        plans: its plans module, checked by mypy against ``P_co``.
        session: how a run opens, uses and closes its connections (pure generators).
        drivers: the module (relative to this package) with ``FACTORY``, a :class:`DriverFactory`.
        default_url: the URL used when nothing else names one (it shows the scheme in messages).
        env: the environment variable read for the URL.
        connection_options: class options naming a connection, the first preferred.
        options: further class options the backend reads (so they are not typos).
        keys: who makes a missing pk.
        capabilities: what the backend can do.
        check: extra checks of a model class at class creation (raise ConfigurationError).
        connection: the connection setting it reads, when it shares another backend's
            (``configure(redis=...)`` serves both Redis layouts); default its own name.
    """

    name: str
    plans: P_co
    session: SessionRules
    drivers: str
    default_url: str
    env: str
    connection_options: tuple[str, ...]
    options: tuple[str, ...] = ()
    keys: frozenset[KeyPolicy] = frozenset({"client_uuid"})
    capabilities: frozenset[Capability] = frozenset()
    check: Callable[[type], None] | None = field(default=None, repr=False)
    connection: str = ""

    @property
    def setting(self) -> str:
        """The name of the connection setting (``configure(<setting>=...)``, the client cache)."""
        return self.connection or self.name

    @functools.cached_property
    def factory(self) -> DriverFactory:
        """The driver factory (imports the client library on first use).

        Raises:
            ConfigurationError: the client library is not installed; names the extra to install.
        """
        try:
            module = importlib.import_module(self.drivers, __package__)
        except ModuleNotFoundError as exc:
            raise ConfigurationError(
                f"the {self.name} backend needs {exc.name!r}: pip install 'persist_mixins[{self.name}]'"
            ) from exc
        factory: DriverFactory = module.FACTORY
        return factory

    def __repr__(self) -> str:
        return f"<Backend {self.name}>"


_registry: dict[str, Backend[Plans]] = {}


def register(backend: Backend[P_co]) -> Backend[P_co]:
    """Add a backend to the registry (``close()`` and ``configure()`` reach every registered one)."""
    known = _registry.get(backend.name)
    if known is not None and known is not backend:
        raise ConfigurationError(f"two backends are named {backend.name!r}")
    _registry[backend.name] = backend
    return backend


def backends() -> Mapping[str, Backend[Plans]]:
    """The registered backends, by name."""
    return _registry
