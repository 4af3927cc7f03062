"""How a model maps onto a RethinkDB table: one document per object, and its secondary indexes.

Built once per model (:func:`collection_of`).  A document holds the model's fields
by name: datetimes as native ``TIME`` values (to the millisecond, RethinkDB's
precision), dates as ISO text (``2030-01-02``, which sorts as the dates do), UUIDs
and Decimals as their text (exact; Decimal lookups other than ``isnull`` are
evaluated on the decoded objects), nested models, lists and dicts as sub-documents.
``_expires_at`` (a TIME, indexed) holds an object's expiry; ``_pk`` is the primary
key of a model whose pk comes from ``__unique_together__`` alone.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...errors import ConfigurationError, NotFound, ValidationError
from ...spec import ModelSpec
from . import reql

__all__ = ["EXPIRES", "HIDDEN_PK", "MAX_EXACT_INT", "Collection", "collection_of", "decode_time"]

#: The field an expiring document keeps its expiry in (a TIME; indexed).
EXPIRES = "_expires_at"
#: What the name of a model's bookkeeping table adds to its own.
BOOK_SUFFIX = "__persist"
#: The primary key of models whose pk is built from ``__unique_together__`` alone.
HIDDEN_PK = "_pk"
#: RethinkDB numbers are doubles: integers beyond this are not stored exactly.
MAX_EXACT_INT = 2**53
#: Kinds whose lookups the server can evaluate as the library does (others are checked on decoded objects).
SERVER_KINDS = frozenset({"str", "int", "float", "bool", "datetime", "date", "uuid", "list", "model", "dict", "any"})

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def decode_time(value: Any) -> Any:
    """A ``TIME`` pseudo-type object as an aware datetime in its own offset; anything else unchanged."""
    if type(value) is not dict or value.get("$reql_type$") != "TIME":
        return value
    moment = _EPOCH + dt.timedelta(milliseconds=round(value["epoch_time"] * 1000))
    zone = value.get("timezone") or "+00:00"
    tz = _ZONES.get(zone)
    if tz is None:
        sign = -1 if zone[0] == "-" else 1
        hours, _, minutes = zone.lstrip("+-").partition(":")
        tz = dt.timezone(sign * dt.timedelta(hours=int(hours), minutes=int(minutes or 0)))
        if len(_ZONES) < 1000:
            _ZONES[zone] = tz
    return moment if tz is dt.timezone.utc else moment.astimezone(tz)


#: Offsets met so far (documents mostly hold a few).
_ZONES: dict[str, dt.timezone] = {"+00:00": dt.timezone.utc, "Z": dt.timezone.utc}


@dataclass(eq=False)
class Collection:
    """A model as a RethinkDB table: its name, primary key, indexes and document codec."""

    spec: ModelSpec[Any]
    #: The table's name (``__table__``).
    name: str
    #: The primary key field (the pk field, or ``_pk``).
    pk: str
    #: Fields with a secondary index (``__indexes__``), besides ``_expires_at``.
    indexes: tuple[str, ...]
    #: Field name -> kind, for encoding.
    kinds: Mapping[str, str]
    #: Datetime fields, whose TIME values are decoded on read.
    times: tuple[str, ...]
    #: Terms built once (the table term ...).
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def hidden_pk(self) -> bool:
        """True when the primary key is ``_pk`` (a ``__unique_together__`` pk), not a field."""
        return self.pk == HIDDEN_PK

    @property
    def table(self) -> reql.Term:
        """The table term (in the connection's database)."""
        return [reql.TABLE, [self.name]]

    @property
    def book_name(self) -> str:
        """The name of the model's bookkeeping table (``get_or_create`` locks), made by ``create_table()``."""
        return f"{self.name}{BOOK_SUFFIX}"

    @property
    def book(self) -> reql.Term:
        """The bookkeeping table term."""
        return [reql.TABLE, [self.book_name]]

    def encode(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """A native dump as a wire document.

        Raises:
            ValidationError: a value RethinkDB would not store exactly (NaN, an integer
                beyond 2**53, a ``$reql_type$`` key); nothing is written.
        """
        kinds = self.kinds
        doc: dict[str, Any] = {}
        for name, value in data.items():
            if value is None:
                doc[name] = None
                continue
            kind = kinds.get(name)
            if kind == "datetime" and isinstance(value, dt.datetime):
                doc[name] = reql.time(value)
            elif kind == "date" and isinstance(value, dt.date):
                doc[name] = value.isoformat()
            elif isinstance(value, (uuid.UUID, decimal.Decimal)):
                doc[name] = str(value)
            else:
                doc[name] = self._wire(name, value)
        return doc

    def _wire(self, name: str, value: Any) -> Any:
        kind = type(value)
        if kind is str or kind is bool:
            return value
        if kind is int:
            if -MAX_EXACT_INT <= value <= MAX_EXACT_INT:
                return value
            raise ValidationError(
                f"{self.spec.name}.{name}: {value} is beyond 2**53, which RethinkDB (numbers are doubles) cannot "
                "store exactly; nothing was written"
            )
        if kind is float:
            if math.isfinite(value):
                return value
            raise ValidationError(f"{self.spec.name}.{name}: RethinkDB cannot store {value!r}; nothing was written")
        if isinstance(value, Mapping):
            if "$reql_type$" in value:
                raise ValidationError(f"{self.spec.name}.{name}: a '$reql_type$' key is reserved by RethinkDB")
            return {str(k): self._wire(name, v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [reql.MAKE_ARRAY, [self._wire(name, v) for v in value]]
        if isinstance(value, (uuid.UUID, decimal.Decimal)):
            return str(value)
        if isinstance(value, dt.datetime):
            return reql.time(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        if value is None:
            return None
        if isinstance(value, bool):  # subclasses of the JSON types: stored as their base type
            return bool(value)
        if isinstance(value, int):
            return self._wire(name, int(value))
        if isinstance(value, float):
            return self._wire(name, float(value))
        if isinstance(value, str):
            return str(value)
        raise ValidationError(f"{self.spec.name}.{name}: cannot store a {type(value).__name__} in RethinkDB")

    def lookup_value(self, kind: str, value: Any) -> Any:
        """A lookup value as stored values of ``kind`` are (for comparisons on the server)."""
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            return reql.time(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [reql.MAKE_ARRAY, [self.lookup_value(kind, v) for v in value]]
        if isinstance(value, Mapping):
            return {str(k): self.lookup_value(kind, v) for k, v in value.items()}
        return value

    def pk_datum(self, pk: Any) -> Any:
        """A pk given by a caller as the primary key value it is stored as.

        Raises:
            NotFound: the value cannot be a pk of this model (``"x"`` for an int pk).
        """
        kind = self.kinds.get(self.pk, "str") if not self.hidden_pk else "str"
        try:
            if kind == "int":
                if isinstance(pk, bool):
                    raise ValueError(pk)
                return int(pk)
            if kind == "uuid":
                return str(pk if isinstance(pk, uuid.UUID) else uuid.UUID(str(pk)))
        except (TypeError, ValueError):
            raise NotFound(f"{self.spec.name} with pk {pk!r} not found ({self.pk} holds {kind} values)") from None
        return pk if isinstance(pk, str) else str(pk)

    @property
    def decoder(self) -> Callable[[dict[str, Any]], Any]:
        """A function from a stored document to a model instance."""
        decode = self.cache.get("decoder")
        if decode is None:
            decode = self.cache["decoder"] = self._decoder()
        return decode

    def _decoder(self) -> Callable[[dict[str, Any]], Any]:
        load = self.spec.adapter.load
        times = self.times
        fields = set(self.kinds)
        extra = (EXPIRES, HIDDEN_PK) if self.pk == HIDDEN_PK or HIDDEN_PK not in fields else (EXPIRES,)

        def decode(doc: dict[str, Any]) -> Any:
            for name in extra:
                doc.pop(name, None)
            for name in times:
                value = doc.get(name)
                if type(value) is dict:
                    doc[name] = decode_time(value)
            try:
                return load(doc)
            except ValidationError:
                raise
            except Exception as exc:
                raise ValidationError(f"{self.spec.name}: a stored document does not load: {exc}") from exc

        return decode


_collections: weakref.WeakKeyDictionary[ModelSpec[Any], Collection] = weakref.WeakKeyDictionary()


def collection_of(spec: ModelSpec[Any]) -> Collection:
    """The :class:`Collection` of a model (built once).

    Raises:
        ConfigurationError: a field is named like one the library keeps in each document.
    """
    found = _collections.get(spec)
    if found is not None:
        return found
    for reserved in (EXPIRES, HIDDEN_PK):
        if reserved in spec.fields and (reserved != HIDDEN_PK or spec.pk_field is None):
            raise ConfigurationError(f"{spec.name}.{reserved}: the name is reserved by the RethinkDB backend")
    if EXPIRES in spec.fields:
        raise ConfigurationError(f"{spec.name}.{EXPIRES}: the name is reserved by the RethinkDB backend")
    kinds = {name: f.kind for name, f in spec.fields.items()}
    found = Collection(
        spec=spec,
        name=spec.options.table,
        pk=spec.pk_field or HIDDEN_PK,
        indexes=tuple(i for i in spec.options.indexes if i != spec.pk_field),
        kinds=kinds,
        times=tuple(name for name, kind in kinds.items() if kind == "datetime"),
    )
    _collections[spec] = found
    return found
