"""ModelSpec: everything a plan needs to know about a model class, built once per class.

Plans never touch Schematics, pydantic, attrs or dataclasses directly: they see a
:class:`ModelSpec` (field names and kinds, pk rules, key prefix, expiry) and the
adapter callables it carries (dump to primitives, load from primitives, assign in
place).  Class options are checked here, at class creation, so a typo in
``__unique_together__`` fails when the module is imported rather than on the
first write.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import inspect
import math
import sys
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .errors import ConfigurationError, ValidationError

if TYPE_CHECKING:
    from .adapters.values import Kind

__all__ = [
    "CORE_OPTIONS", "Expiry", "FieldSpec", "ModelAdapter", "ModelSpec", "check_option_names", "declared_field_names",
    "expire_ms", "read_options", "to_millis",
]  # fmt: skip


M = TypeVar("M")

#: An expiry as the public methods take it: seconds (int or float), a timedelta, or None.
Expiry = float | dt.timedelta | None


@dataclass(frozen=True)
class FieldSpec:
    """One persisted field: its name, kind and, for nested models, the nested spec."""

    name: str
    kind: Kind
    nullable: bool = True
    #: For ``kind == "model"``: the nested model class (lookups follow paths into it).
    model: type | None = None


@dataclass(frozen=True)
class ModelAdapter:
    """The four operations a model library must provide, as plain callables.

    ``dump`` validates and returns a dict of JSON primitives (raising
    :class:`~persist_mixins.errors.ValidationError`); ``load`` builds an instance from such a dict;
    ``assign`` copies every field of a loaded instance onto an existing one;
    ``set_field`` sets one attribute, frozen classes included.
    """

    library: str
    fields: Mapping[str, FieldSpec]
    dump: Callable[[Any], dict[str, Any]]
    load: Callable[[Mapping[str, Any]], Any]
    assign: Callable[[Any, Any], None]
    set_field: Callable[[Any, str, Any], None]
    #: Builds an instance from field values given positionally in field order, when the values
    #: are already the fields' Python values (a typed database row); None when the class cannot.
    positional: Callable[..., Any] | None = None
    #: Fields whose key in ``dump``'s document is not the field name (Schematics' ``serialized_name``).
    document_keys: Mapping[str, str] = field(default_factory=dict)
    #: ``dump`` in native mode (what :meth:`ModelSpec.dump` returns with ``native``), when the
    #: library can make it in one pass; None: ``dump``, then native values put back.
    dump_native: Callable[[Any], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Options:
    """The class options (``__expire__`` ...), checked and normalised."""

    expire_ms: int | None
    unique_together: tuple[str, ...]
    pk_field: str | None
    key_prefix: str
    table: str
    indexes: tuple[str, ...]
    #: ``__version_field__``: the int field optimistic locking counts writes in (every backend).
    version_field: str | None = None
    #: ``__unique__``: fields each unique on its own among the model's stored objects (None is never a clash).
    unique: tuple[str, ...] = ()
    #: ``__db_defaults__``: fields the database fills when the object leaves them None (filled back after a write).
    db_defaults: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)  # identity equality: one spec per class, usable as a dict key
class ModelSpec(Generic[M]):
    """A model class ``M`` as the plans see it.

    Built once per class by the mixin and cached on it (``__persist_spec__``).
    """

    cls: type[M]
    name: str
    options: Options
    adapter: ModelAdapter = field(repr=False)
    #: Who makes a missing pk, by the backend's key policy (``backend.KeyPolicy`` values).
    keys: frozenset[str] = frozenset({"client_uuid"})
    #: Results derived from the spec alone (parsed lookup names ...), filled on first use.
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def fields(self) -> Mapping[str, FieldSpec]:
        """The persisted fields, by name, in declaration order."""
        return self.adapter.fields

    def dump(self, obj: M, native: bool = False) -> dict[str, Any]:
        """Validate ``obj`` and return its document, or with ``native`` its field values.

        The document is what Redis stores: JSON primitives (datetimes as ISO text, Decimals
        and UUIDs as strings) under the keys the model library serializes to.  Native values
        are what a database with typed columns takes (PostgreSQL, RethinkDB): keyed by field
        name, datetime, date, Decimal and UUID fields keeping the object's own Python value,
        so nothing is formatted here only to be parsed by the server.

        Raises:
            ValidationError: the object is invalid.
        """
        if native and self.adapter.dump_native is not None:
            return self.adapter.dump_native(obj)
        data = self.adapter.dump(obj)
        if native:
            for name, key in self.adapter.document_keys.items():
                if key in data:
                    data[name] = data.pop(key)
            for name, wanted in self._native_fields:
                value = getattr(obj, name, None)
                if isinstance(value, wanted) and data.get(name) is not None:
                    data[name] = value
        return data

    @functools.cached_property
    def _native_fields(self) -> tuple[tuple[str, type | tuple[type, ...]], ...]:
        return tuple((f.name, _NATIVE[f.kind]) for f in self.fields.values() if f.kind in _NATIVE)

    @property
    def pk_field(self) -> str | None:
        """The field that holds the pk, or None when the pk comes from ``__unique_together__`` only."""
        return self.options.pk_field

    def given_pk(self, obj: Any) -> str | None:
        """The pk when the object's pk field holds a non-empty str or int (the common case), else None.

        For such an object :meth:`check_pk` passes, :meth:`generates` is False and
        :meth:`fill_pk` returns this without changing anything: a write may skip them.
        """
        field = self.options.pk_field
        if field is None:
            return None
        value = getattr(obj, field, None)
        kind = type(value)
        if kind is str:
            return value if value else None
        return str(value) if kind is int else None

    def pk_of(self, obj: Any) -> str | None:
        """Return the object's pk as a string, or None when it has none yet."""
        opts = self.options
        if opts.pk_field is not None:
            value = getattr(obj, opts.pk_field, None)
            if value is not None and value != "":
                return str(value)
        if opts.pk_field != "id" and "id" in self.fields:
            value = getattr(obj, "id", None)
            if value is not None and value != "":
                return str(value)
        if opts.unique_together:
            parts = [getattr(obj, name, None) for name in opts.unique_together]
            if all(p is not None and p != "" for p in parts):
                return ".".join(str(p) for p in parts)
        return None

    def pk_value(self, obj: Any) -> str | int | uuid.UUID | None:
        """The object's pk in its field's type (str, int or UUID), or None when it has none yet.

        A pk built from ``__unique_together__`` is the joined string.
        """
        field = self.options.pk_field
        if field is not None:
            value = getattr(obj, field, None)
            if value is not None and value != "" and isinstance(value, (str, int, uuid.UUID)):
                return value
        return self.pk_of(obj)

    def generates(self, obj: Any) -> bool:
        """True when the database must make this object's pk: it is empty and the key policy says so.

        An empty int pk is generated by a backend with ``database_identity`` keys (an identity
        column), an empty UUID pk by one with ``database_uuid`` keys; a pk built from
        ``__unique_together__`` never is.
        """
        opts = self.options
        if opts.pk_field is None or opts.unique_together or getattr(obj, opts.pk_field, None) not in (None, ""):
            return False
        kind = self.fields[opts.pk_field].kind
        return (kind == "int" and "database_identity" in self.keys) or (kind == "uuid" and "database_uuid" in self.keys)

    def check_pk(self, obj: Any) -> None:
        """Raise what :meth:`ensure_pk` would raise, without changing the object.

        Lets a batch check every object before filling the pk of any.

        Raises:
            ValidationError: as :meth:`ensure_pk`.
        """
        pk = self.pk_of(obj)
        opts = self.options
        if pk is None and self.generates(obj):
            return
        if pk is None:
            if opts.unique_together:
                empty = [n for n in opts.unique_together if getattr(obj, n, None) in (None, "")]
                raise ValidationError(
                    f"{self.name}: the pk is built from __unique_together__ {opts.unique_together!r}, "
                    f"but {', '.join(empty)} is empty; set it before saving"
                )
            kind = self.fields[opts.pk_field].kind if opts.pk_field else "str"
            if kind not in ("str", "any", "uuid"):
                raise ValidationError(
                    f"{self.name}.{opts.pk_field} is the pk, of kind {kind}, and is empty: "
                    "this backend cannot generate such a key; set it before saving"
                )
        elif opts.pk_field is not None and getattr(obj, opts.pk_field, None) in (None, ""):
            self._coerce_pk(pk)

    def ensure_pk(self, obj: Any) -> str:
        """Return the object's pk, filling it first when missing (the pk rules of docs/options.md, "Primary keys").

        Order: the pk field; the ``id`` field; ``__unique_together__``; a fresh uuid4 hex.

        Raises:
            ValidationError: a ``__unique_together__`` field is empty, or the pk field is
                not a string and so cannot hold a generated key.
        """
        self.check_pk(obj)
        return self.fill_pk(obj)

    def fill_pk(self, obj: Any) -> str:
        """:meth:`ensure_pk` for an object :meth:`check_pk` already accepted (writes check a whole batch first)."""
        pk = self.pk_of(obj)
        opts = self.options
        if pk is None:
            kind = self.fields[opts.pk_field].kind if opts.pk_field else "str"
            generated = uuid.uuid4()
            pk = generated.hex
            assert opts.pk_field is not None
            self.adapter.set_field(obj, opts.pk_field, generated if kind == "uuid" else pk)
            if kind == "uuid":
                pk = str(generated)
        elif opts.pk_field is not None and getattr(obj, opts.pk_field, None) in (None, ""):
            # Keep the stored document self-describing, as redis-schematics did.
            self.adapter.set_field(obj, opts.pk_field, self._coerce_pk(pk))
        return pk

    def _coerce_pk(self, pk: str) -> Any:
        assert self.options.pk_field is not None
        kind = self.fields[self.options.pk_field].kind
        try:
            if kind == "int":
                return int(pk)
            if kind == "uuid":
                return uuid.UUID(pk)
        except ValueError:
            raise ValidationError(
                f"{self.name}: the pk {pk!r} cannot be stored in {self.options.pk_field}, a field of kind {kind}; "
                "declare a str pk field for a __unique_together__ pk"
            ) from None
        return pk


#: The kinds whose JSON form is text, and the Python types a native dump keeps for them.
_NATIVE: dict[str, type | tuple[type, ...]] = {
    "datetime": dt.datetime,
    "date": dt.date,
    "decimal": decimal.Decimal,
    "uuid": uuid.UUID,
}


def to_millis(value: Any, what: str) -> int | None:
    """Convert an expiry (seconds as int/float, or a timedelta) to whole milliseconds.

    Sub-second precision is kept (2.5 -> 2500).  None means "never expires".

    Raises:
        TypeError: the value is not a number or timedelta.
        ValueError: the value is not positive and finite.
    """
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"{what} must be seconds (int or float) or a timedelta, not {type(value).__name__} {value!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, not {value!r}")
    return max(1, round(seconds * 1000))


def expire_ms(spec: ModelSpec[Any], expire: Any) -> int | None:
    """The TTL of a write in ms: the given one, else the class's ``__expire__``.

    Raises:
        ValidationError: the value is not a positive number of seconds or a timedelta.
    """
    if expire is None:
        return spec.options.expire_ms
    try:
        return to_millis(expire, f"{spec.name}: expire")
    except (TypeError, ValueError) as exc:
        raise ValidationError(str(exc)) from None


def _class_option(cls: type, *names: str) -> Any:
    for name in names:
        for klass in cls.__mro__:
            if name in klass.__dict__:
                return klass.__dict__[name]
    return None


def declared_field_names(cls: type) -> set[str]:
    """Field names visible at class creation, before any model library has finished.

    Dataclass and attrs decorators, and Schematics' metaclass, run after
    ``__init_subclass__``; their fields are already visible as annotations or
    as Schematics descriptors in the class namespaces.
    """
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object:
            continue
        for name, annotation in inspect.get_annotations(klass).items():
            if name.startswith("_") or "ClassVar" in str(annotation):
                continue
            names.add(name)
        for name, value in klass.__dict__.items():
            # Schematics keeps fields as FieldDescriptors until its metaclass finishes;
            # its other class attributes (the `fields` class_property...) are not fields.
            if type(value).__name__ == "FieldDescriptor" and type(value).__module__.startswith("schematics"):
                names.add(name)
    return names


def _names(cls: type, option: str, value: Any, fields: set[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        raise ConfigurationError(f"{cls.__name__}.{option} must be a tuple of field names, not {value!r}")
    if fields is None:  # an abstract base: its subclasses bring the fields
        return tuple(value)
    unknown = [n for n in value if n not in fields]
    if unknown:
        raise ConfigurationError(
            f"{cls.__name__}.{option} names {', '.join(map(repr, unknown))}, which "
            f"{'is not a field' if len(unknown) == 1 else 'are not fields'} of {cls.__name__} "
            f"(fields: {', '.join(sorted(fields)) or 'none'})"
        )
    return tuple(value)


def read_options(cls: type, fields: set[str] | None) -> Options:
    """Read and check the class options of ``cls`` against its field names.

    With ``fields=None`` (an abstract base without fields) option types are
    checked but not the field names they mention, and no pk is required yet.

    Raises:
        ConfigurationError: an option has the wrong type or names an unknown field;
            the message names the class and the option.
    """
    name = cls.__name__
    try:
        expire_ms = to_millis(_class_option(cls, "__expire__"), f"{name}.__expire__")
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(str(exc)) from None

    unique = _class_option(cls, "__unique_together__", "__unique_args__")
    unique_together = _names(cls, "__unique_together__", unique, fields)

    pk_field = _class_option(cls, "__pk_field__")
    if fields is None:
        pass
    elif pk_field is not None:
        if not isinstance(pk_field, str) or pk_field not in fields:
            raise ConfigurationError(f"{name}.__pk_field__ = {pk_field!r} is not a field of {name}")
    elif "pk" in fields:
        pk_field = "pk"
    elif "id" in fields:
        pk_field = "id"
    elif not unique_together:
        raise ConfigurationError(
            f"{name} has no pk: declare a 'pk' or 'id' field, set __pk_field__, or set __unique_together__"
        )

    for klass in cls.__mro__:
        if "__prefix__" in klass.__dict__ and not klass.__module__.startswith("redis_schematics"):
            raise ConfigurationError(
                f"{name} overrides __prefix__, the redis-schematics hook persist_mixins does not read: "
                "set __key_prefix__ = '...' instead"
            )
    prefix = _class_option(cls, "__key_prefix__")
    if prefix is None:
        prefix = name
    if not isinstance(prefix, str) or not prefix:
        raise ConfigurationError(f"{name}.__key_prefix__ must be a non-empty string, not {prefix!r}")

    table = _class_option(cls, "__table__")
    if table is None:
        table = name.lower()
    if not isinstance(table, str) or not table:
        raise ConfigurationError(f"{name}.__table__ must be a non-empty string, not {table!r}")

    indexes = _names(cls, "__indexes__", _class_option(cls, "__indexes__"), fields)

    version_field = _class_option(cls, "__version_field__")
    if version_field is not None and (
        not isinstance(version_field, str) or (fields is not None and version_field not in fields)
    ):
        raise ConfigurationError(f"{name}.__version_field__ = {version_field!r} is not a field of {name}")
    if version_field is not None and version_field == pk_field:
        raise ConfigurationError(f"{name}.__version_field__ cannot be the pk field {pk_field!r}")
    unique_fields = _names(cls, "__unique__", _class_option(cls, "__unique__"), fields)
    if pk_field is not None and pk_field in unique_fields:
        raise ConfigurationError(f"{name}.__unique__ names the pk field {pk_field!r}, which is unique already")
    if version_field is not None and version_field in unique_fields:
        raise ConfigurationError(f"{name}.__unique__ names the version field {version_field!r}")
    db_defaults = _names(cls, "__db_defaults__", _class_option(cls, "__db_defaults__"), fields)
    for what, taken in (("pk field", (pk_field,)), ("version field", (version_field,)), ("pk", unique_together)):
        clash = [n for n in db_defaults if n in taken]
        if clash:
            raise ConfigurationError(f"{name}.__db_defaults__ names the {what} {clash[0]!r}")
    return Options(
        expire_ms, unique_together, pk_field, prefix, table, indexes, version_field, unique_fields, db_defaults
    )


#: The class options every backend reads (a backend adds its own: ``Backend.options``).
CORE_OPTIONS = (
    "__expire__", "__unique_together__", "__unique_args__", "__pk_field__", "__key_prefix__", "__table__",
    "__indexes__", "__unique__", "__db_defaults__",
)  # fmt: skip
#: Names users reach for that mean one of our options (redis-schematics habits, other libraries' names).
_ALIASES = {
    "__expires__": "__expire__", "__ttl__": "__expire__", "__expiry__": "__expire__", "__timeout__": "__expire__",
    "__index__": "__indexes__", "__indices__": "__indexes__", "__unique__together__": "__unique_together__",
    "__pk__": "__pk_field__", "__primary_key__": "__pk_field__", "__tablename__": "__table__",
    "__table_name__": "__table__", "__redis_url__": "__redis__", "__postgres_url__": "__postgres__",
    "__rethinkdb_url__": "__rethinkdb__",
}  # fmt: skip


def check_option_names(cls: type, known: Iterable[str]) -> None:
    """Refuse a class attribute that looks like a misspelt option (``__expires__ = 10``).

    Only dunder attributes the class itself sets, whose value is not callable (methods
    such as ``__index__`` stay allowed), are looked at; one that is close to an option
    (at most two edits apart) or a known alias of one is an error.  Other dunders
    are the user's own business.

    Raises:
        ConfigurationError: naming the class, the attribute and the option meant.
    """
    options = set(known)
    for name, value in vars(cls).items():
        if not (name.startswith("__") and name.endswith("__")) or name in options or callable(value):
            continue
        if isinstance(value, (classmethod, staticmethod, property)):
            continue
        meant = _ALIASES.get(name)
        if meant is None:
            close = sorted((_edits(name, option), option) for option in options)
            meant = close[0][1] if close and close[0][0] <= 2 else None
        if meant is not None:
            raise ConfigurationError(
                f"{cls.__name__}.{name} is not an option persist_mixins reads; did you mean {meant}? "
                f"(options: {', '.join(sorted(options))})"
            )


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (option names are short)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def resolve_hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a model class (they say how each field is stored).

    Each annotation is resolved on its own, in the namespace of the class that declares
    it, so one that ``typing.get_type_hints`` refuses (``InitVar[int]`` written as a string
    under ``from __future__ import annotations`` on Python 3.10) does not stop the others.

    Raises:
        ConfigurationError: an annotation names a type the class's module cannot see
            (a type imported inside a function, or only under ``TYPE_CHECKING``), or is
            not a type at all; the message names the class and the field.
    """
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except (NameError, TypeError):
        pass  # find the field at fault, and resolve what can be resolved
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        module = sys.modules.get(klass.__module__)
        namespace = dict(vars(module)) if module is not None else {}
        for name, annotation in inspect.get_annotations(klass).items():
            if isinstance(annotation, str):
                try:
                    annotation = eval(
                        annotation, namespace, dict(vars(klass))
                    )  # the model author's own annotation, evaluated as typing does
                except NameError as exc:
                    raise ConfigurationError(
                        f"{cls.__name__}.{name}: cannot resolve its annotation {annotation!r} ({exc}); the type "
                        f"must be importable from the module that defines {klass.__name__} ({klass.__module__}), "
                        "because it says how the field is stored"
                    ) from exc
                except Exception as exc:
                    raise ConfigurationError(
                        f"{cls.__name__}.{name}: its annotation {annotation!r} is not a type ({exc})"
                    ) from exc
            hints[name] = annotation
    return hints
