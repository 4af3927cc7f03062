"""PostgreSQL plans: every PgRowMixin operation as a generator of SQL commands.

Pure logic, no I/O: a plan yields :class:`~.commands.Sql` (and ``Copy``,
``Begin``, ``Commit``) values and receives replies from whichever driver runs it
(psycopg 3 sync or async, aiopg), so one plan serves every flavour and is tested
with scripted replies.  This module must not import ``psycopg`` or ``aiopg``
(a ruff rule enforces it).
"""

from __future__ import annotations

import decimal
import itertools
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from ... import pk_plans
from ...errors import ConflictError, InvalidLookup, MultipleFound, NotFound, ValidationError
from ...lookups import _check_value
from ...query import QueryState, describe
from ...run import EmitMany, Plan
from ...spec import ModelSpec, expire_ms
from .commands import Begin, Commit, Copy, Sql
from .compile import ALIVE, compile_where, count_sql, select_sql
from .schema import (
    EXPIRES,
    FREED,
    HIDDEN_PK,
    JSON_KINDS,
    Table,
    check_numbers,
    encode_value,
    quote,
    table_of,
    unique_clash,
)
from .schema import create_table as create_table
from .schema import free_expired as _free_expired

__all__ = [
    "guarded", "count", "create_table", "delete", "delete_where", "drop_table", "exists", "expire", "match",
    "match_for_pk", "match_for_values", "persist", "purge_expired", "refresh", "save", "save_many", "save_only",
    "select_pairs", "ttl", "update_where",
]  # fmt: skip

#: Rows per FETCH from a server-side cursor, and the size of the one-round-trip probe before it.
FETCH_SIZE = 1000
#: The largest key a btree index row holds on 8 kB pages (PostgreSQL refuses larger ones at write).
MAX_PK_BYTES = 2704
#: PostgreSQL takes at most 65,535 parameters per statement.
MAX_PARAMS = 65535
#: Objects per batch when set_many() copies or inserts.
WRITE_BATCH = 5000
_EXPIRES = quote(EXPIRES)
#: Rows past their expiry (see schema.EXPIRED).
_EXPIRED = f"{_EXPIRES} <= statement_timestamp()"
#: Expiry counts from the statement, not from the start of the transaction it runs in.
_EXPIRY = "statement_timestamp() + %s * interval '1 millisecond'"


# -- tables (create_table: see .schema) ------------------------------------------------------
def drop_table(spec: ModelSpec[Any]) -> Plan[bool]:
    """``drop_table()``: drop the table (and its indexes) if it exists; idempotent."""
    yield Sql(f"DROP TABLE IF EXISTS {table_of(spec).name}")
    return True


# -- writes --------------------------------------------------------------------------------
def _prepare(
    spec: ModelSpec[Any], table: Table, obj: Any, data: dict[str, Any] | None = None
) -> tuple[bool, list[Any]]:
    """Validate one object and encode its row; fill its pk unless the database generates it.

    Args:
        spec: the model.
        table: its table.
        obj: the object.
        data: its dump, when the caller already validated it.

    Returns:
        ``(generated, params)``: params in column order (hidden pk first, if any).
    """
    if data is None:
        if not isinstance(obj, spec.cls):
            raise ValidationError(f"{spec.name} expected, got {type(obj).__name__}")
        data = spec.dump(obj, native=True)  # validates: ValidationError before any write
        pk = spec.given_pk(obj)  # the common case: nothing to check or fill
        if pk is None:
            spec.check_pk(obj)  # an empty int pk passes: the key policy says the database makes it
    else:
        pk = spec.given_pk(obj)
    if pk is None:
        if spec.generates(obj):
            return True, table.encode(data)
        pk = spec.fill_pk(obj)
    if len(pk.encode()) > MAX_PK_BYTES:
        raise ValidationError(
            f"{spec.name}: the pk is {len(pk.encode())} bytes long; a PostgreSQL primary key index holds at most "
            f"{MAX_PK_BYTES} bytes per key (nothing was written)"
        )
    if not table.hidden_pk and data.get(table.pk) in (None, ""):
        value = getattr(obj, table.pk)
        data = {**data, table.pk: value}
    params = table.encode(data)
    if table.hidden_pk:
        params.insert(0, pk)
    return False, params


def _omitted(table: Table, params: list[Any]) -> tuple[str, ...]:
    """The ``__db_defaults__`` fields a row leaves None: the write omits them, the database fills them."""
    head = 1 if table.hidden_pk else 0
    names = table.field_names
    return tuple(name for name in table.spec.options.db_defaults if params[head + names.index(name)] is None)


def _kept(table: Table, col: str) -> str:
    """The ``ON CONFLICT`` update of an omitted db-default column: the stored value stays.

    An expired row is gone for the user, so it takes the database's default (``EXCLUDED``
    holds it), as does a stored NULL.
    """
    return f"{col} = CASE WHEN t.{_EXPIRED} THEN EXCLUDED.{col} ELSE COALESCE(t.{col}, EXCLUDED.{col}) END"


def _upsert_sql(table: Table, generated: bool, versioned: bool, omit: tuple[str, ...] = ()) -> str:
    key = ("upsert", generated, versioned, omit)
    text = table.sql.get(key)
    if text is not None:
        return text  # type: ignore[no-any-return]
    cols = [c.quoted for c in table.columns if not (generated and c.name == table.pk) and c.name not in omit]
    if table.hidden_pk:
        cols.insert(0, table.qpk)
    values = ["%s" for c in cols]
    sql = f"INSERT INTO {table.name} AS t ({', '.join(cols)}, {_EXPIRES}) VALUES ({', '.join(values)}, {_EXPIRY})"
    if table.spec.options.unique:  # expired holders of the unique values go first, in the same statement
        unique = _free_expired(table, table.spec.options.unique)
        sql = f"{unique}INSERT INTO {table.name} AS t ({', '.join(cols)}, {_EXPIRES}) "
        sql += f"SELECT {', '.join(values)}, {_EXPIRY} FROM {FREED}"
    returning = [table.qpk] if generated else []
    if table.version:
        returning.append(quote(table.version))
    returning += [quote(name) for name in omit]
    if not generated:
        updates = [f"{c} = EXCLUDED.{c}" for c in cols if c != table.qpk]
        updates += [_kept(table, quote(name)) for name in omit]
        updates.append(f"{_EXPIRES} = EXCLUDED.{_EXPIRES}")
        sql += f" ON CONFLICT ({table.qpk}) DO UPDATE SET {', '.join(updates)}"
        if table.version:
            # The version written is the object's + 1 (sent as a parameter), on every backend.
            v = quote(table.version)
            sql += f" WHERE t.{v} IS NOT DISTINCT FROM %s OR t.{_EXPIRES} <= statement_timestamp()"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    table.sql[key] = sql
    return sql


def _row_params(table: Table, params: list[Any], generated: bool, omit: tuple[str, ...] = ()) -> list[Any]:
    """The parameters an insert sends: no generated pk, no omitted db-default field (the database makes them)."""
    if not generated and not omit:
        return params  # the common case, on every set()
    skip = {table.pk, *omit} if generated else set(omit)
    head = 1 if table.hidden_pk else 0
    return params[:head] + [p for name, p in zip(table.field_names, params[head:], strict=True) if name not in skip]


def save(spec: ModelSpec[Any], obj: Any, expire: Any = None) -> Plan[Any]:
    """``obj.set()``: validate, then one ``INSERT ... ON CONFLICT DO UPDATE`` round trip.

    A database-generated pk (an empty int pk) and the new version number
    (``__version_field__``) are read back by ``RETURNING`` and set on the object.

    Raises:
        ValidationError: the data is invalid; nothing was written.
        ConflictError: the row changed since it was read (optimistic locking), or a
            unique index other than the pk already holds these values.
    """
    table = table_of(spec)
    px = expire_ms(spec, expire)
    generated, params = _prepare(spec, table, obj)
    version = getattr(obj, table.version, None) if table.version else None
    if table.version:  # the stored version will be the object's + 1 (None counts as 0)
        params[(1 if table.hidden_pk else 0) + table.field_names.index(table.version)] = (version or 0) + 1
    omit = _omitted(table, params) if spec.options.db_defaults else ()
    args = [*_row_params(table, params, generated, omit), px]
    if table.version and not generated:
        args.append(version)
    sql = _upsert_sql(table, generated, bool(table.version), omit)
    unique = spec.options.unique
    if unique:
        head = 1 if table.hidden_pk else 0
        args[:0] = [params[head + table.field_names.index(name)] for name in unique]
    try:
        if not generated and not table.version and not omit:
            yield Sql(sql, args)
            return obj
        row = yield Sql(sql, args, "one")
    except ConflictError as exc:
        raise unique_clash(spec, exc, {name: getattr(obj, name, None) for name in unique}) from exc.__cause__
    if row is None:
        raise ConflictError(_stale(spec, obj, table.version or "", version))
    at = 0
    if generated:
        spec.adapter.set_field(obj, table.pk, row[0])
        at = 1
    if table.version:
        spec.adapter.set_field(obj, table.version, row[at])
        at += 1
    if omit:
        _fill_back(spec, obj, omit, row[at:])
    return obj


def _fill_back(spec: ModelSpec[Any], obj: Any, names: tuple[str, ...], values: Any) -> None:
    """Set on ``obj`` the values the database filled in its ``__db_defaults__`` fields (``RETURNING``).

    Scalar kinds come from the driver as the field's Python value; a JSON kind is loaded
    through the model, as a read would load it.
    """
    got = dict(zip(names, values, strict=True))
    if any(spec.fields[name].kind in JSON_KINDS for name in names):
        loaded = spec.adapter.load({**spec.dump(obj, native=True), **got})
        got = {name: getattr(loaded, name) for name in names}
    for name, value in got.items():
        spec.adapter.set_field(obj, name, value)


def save_only(spec: ModelSpec[Any], obj: Any, fields: tuple[str, ...]) -> Plan[Any]:
    """``obj.set(only=fields)``: validate the whole object, then ``UPDATE`` just those columns of the live row.

    One ``UPDATE ... WHERE pk AND alive [AND version] RETURNING``: the row's expiry and other
    columns stay as stored, and a deleted or expired row is not written (NotFound).  A
    versioned row is counted on (``version + 1``); when the update matched nothing, one
    more ``SELECT`` tells a stale object (ConflictError) from a missing one.

    Raises:
        ValidationError: the data is invalid; nothing was written.
        NotFound: no live row has this pk.
        ConflictError: the row's version is not the object's.
    """
    table = table_of(spec)
    pk = _require_pk(spec, table, obj)  # before _prepare, which would fill a missing pk
    _, params = _prepare(spec, table, obj)  # validates the whole object, as set() does
    head = 1 if table.hidden_pk else 0
    by_name = dict(zip(table.field_names, params[head:], strict=True))
    sets, args = [], []
    omit = tuple(name for name in fields if name in spec.options.db_defaults and by_name[name] is None)
    for name in fields:
        col = table.column(name)
        if name in omit:  # the database fills it again
            sets.append(f"{col.quoted} = DEFAULT")
            continue
        sets.append(f"{col.quoted} = %s" + ("::jsonb" if col.kind in ("list", "dict", "model", "any") else ""))
        args.append(by_name[name])
    where = f"{table.qpk} = %s AND {ALIVE}"
    args.append(pk)
    version = getattr(obj, table.version, None) if table.version else None
    if table.version:
        v = quote(table.version)
        sets.append(f"{v} = {v} + 1")
        where += f" AND {v} IS NOT DISTINCT FROM %s"
        args.append(version)
    returning = ", ".join([quote(table.version) if table.version else table.qpk, *(quote(name) for name in omit)])
    sql = f"UPDATE {table.name} SET {', '.join(sets)} WHERE {where} RETURNING {returning}"
    unique = [name for name in fields if name in spec.options.unique]
    if unique:  # expired holders of the unique values go first, in the same statement
        sql = _free_expired(table, unique) + sql.replace(" WHERE ", f" FROM {FREED} WHERE ", 1)
        args[:0] = [by_name[name] for name in unique]
    try:
        row = yield Sql(sql, args, "one")
    except ConflictError as exc:
        raise unique_clash(spec, exc, {name: getattr(obj, name, None) for name in unique}) from exc.__cause__
    if row is None:
        if table.version:
            live = yield Sql(_by_pk(table, "SELECT 1 FROM {t} WHERE {pk} = %s AND {alive}"), [pk], "one")
            if live is not None:
                raise ConflictError(_stale(spec, obj, table.version, version))
        raise NotFound(f"{spec.name} with pk {str(pk)!r} not found (deleted or expired): set(only=...) writes nothing")
    if table.version:
        spec.adapter.set_field(obj, table.version, row[0])
    if omit:
        _fill_back(spec, obj, omit, row[1:])
    return obj


def _stale(spec: ModelSpec[Any], obj: Any, field: str, version: Any) -> str:
    """The message of a ConflictError for a stale versioned object."""
    return (
        f"{spec.name} {spec.pk_of(obj)!r}: the stored row changed since this object was read "
        f"(its {field} is no longer {version!r}); refresh() and retry"
    )


def save_many(spec: ModelSpec[Any], objs: Iterable[Any], expire: Any = None) -> Plan[list[Any]]:
    """``set_many()``: validate every object first, then COPY into a staging table and upsert.

    Objects whose pk the database generates are inserted by batched multi-row
    ``INSERT ... RETURNING`` instead (COPY cannot return keys).  The whole call is
    one transaction (a savepoint inside a ``transaction()`` block): all or nothing.
    """
    table = table_of(spec)
    px = expire_ms(spec, expire)
    items = list(objs)
    if table.version and items:
        raise ValidationError(f"{spec.name}.set_many(): models with __version_field__ are saved one by one with set()")
    dumps = _checked(spec, table, items)
    pk_at = 0 if table.hidden_pk else table.field_names.index(table.pk)
    prepared = [_prepare(spec, table, obj, data) for obj, data in zip(items, dumps, strict=True)]
    # One row per pk, the last one given winning (as successive set() calls would).
    keyed = list(
        {
            params[0] if table.hidden_pk else params[pk_at]: params for generated, params in prepared if not generated
        }.values()
    )
    fresh = [(obj, params) for obj, (generated, params) in zip(items, prepared, strict=True) if generated]
    if not items:
        return items
    taken = _unique_values(spec, table, [*keyed, *(params for _, params in fresh)])
    token = yield Begin()
    try:
        for name, values in taken.items():  # expired holders of the values go first (see schema.free_expired)
            col = table.column(name)
            cast = "text" if col.name == table.pk and col.kind == "any" else col.sql_type
            yield Sql(f"DELETE FROM {table.name} WHERE {_EXPIRED} AND {col.quoted} = ANY(%s::{cast}[])", [values])
        if keyed and spec.options.db_defaults:
            owners = [(obj, params) for obj, (generated, params) in zip(items, prepared, strict=True) if not generated]
            yield from _upsert_defaults(spec, table, keyed, owners, px)
        elif keyed:
            yield from _copy_upsert(table, keyed, px)
        if fresh:
            yield from _insert_generated(spec, table, fresh, px)
    except ConflictError as exc:
        raise unique_clash(spec, exc, batch=taken) from exc.__cause__
    yield Commit(token)
    return items


def _unique_values(spec: ModelSpec[Any], table: Table, rows: list[list[Any]]) -> dict[str, list[Any]]:
    """The values ``set_many()`` gives each ``__unique__`` field; ConflictError when two objects share one."""
    head = 1 if table.hidden_pk else 0
    taken: dict[str, list[Any]] = {}
    for name in spec.options.unique:
        at = head + table.field_names.index(name)
        seen: set[Any] = set()
        for params in rows:
            value = params[at]
            if value is None:
                continue
            if value in seen:
                raise ConflictError(
                    f"{spec.name}.{name} = {value!r} is given to two {spec.name} objects of one set_many() call "
                    "(__unique__); nothing was written"
                )
            seen.add(value)
        if seen:
            taken[name] = list(seen)
    return taken


def _checked(spec: ModelSpec[Any], table: Table, items: list[Any]) -> list[dict[str, Any]]:
    """Dump every object and check its pk rules before any pk is filled: a bad batch changes nothing."""
    dumps = []
    for obj in items:
        if not isinstance(obj, spec.cls):
            raise ValidationError(f"{spec.name}.set_many() takes {spec.name} objects, got {type(obj).__name__}")
        data = spec.dump(obj, native=True)
        spec.check_pk(obj)
        check_numbers(table, data)
        dumps.append(data)
    return dumps


def _copy_upsert(table: Table, rows: list[list[Any]], px: int | None) -> Plan[None]:
    cols = [c.quoted for c in table.columns]
    if table.hidden_pk:
        cols.insert(0, table.qpk)
    stage = quote("_pm_stage_" + table.spec.options.table[:40])
    yield Sql(f"CREATE TEMP TABLE {stage} (LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DROP")
    for start in range(0, len(rows), WRITE_BATCH):
        yield Copy(stage, tuple(cols), rows[start : start + WRITE_BATCH])
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in [*cols, _EXPIRES] if c != table.qpk)
    yield Sql(
        f"INSERT INTO {table.name} ({', '.join(cols)}, {_EXPIRES}) "
        # Rows are upserted, so locked, in pk order: concurrent bulk writers of the same keys
        # take their locks in one order and never deadlock.
        f"SELECT {', '.join(cols)}, {_EXPIRY} FROM {stage} ORDER BY {table.qpk} "
        f"ON CONFLICT ({table.qpk}) DO UPDATE SET {updates}",
        [px],
    )
    yield Sql(f"DROP TABLE {stage}")


def _upsert_defaults(
    spec: ModelSpec[Any],
    table: Table,
    rows: list[list[Any]],
    owners: list[tuple[Any, list[Any]]],
    px: int | None,
) -> Plan[None]:
    """``set_many()`` of a model with ``__db_defaults__``: multi-row ``INSERT ... ON CONFLICT ... RETURNING``.

    COPY cannot leave a column to its default per row nor return what was stored, so rows
    are upserted in pk order (the lock order, as :func:`_copy_upsert`), each run of rows
    leaving the same fields None by one statement per batch; the values the database
    filled (or kept, for a stored row) go back to every object of that pk.
    """
    pk_at = 0 if table.hidden_pk else table.field_names.index(table.pk)
    filled: dict[str, dict[str, Any]] = {}
    for omit, run in itertools.groupby(sorted(rows, key=lambda p: p[pk_at]), key=lambda p: _omitted(table, p)):
        group = list(run)
        cols = [c.quoted for c in table.columns if c.name not in omit]
        if table.hidden_pk:
            cols.insert(0, table.qpk)
        updates = [f"{c} = EXCLUDED.{c}" for c in cols if c != table.qpk]
        updates += [_kept(table, quote(name)) for name in omit]
        updates.append(f"{_EXPIRES} = EXCLUDED.{_EXPIRES}")
        row_sql = "(" + ", ".join(["%s"] * len(cols)) + f", {_EXPIRY})"
        batch = max(1, min(WRITE_BATCH, MAX_PARAMS // (len(cols) + 1)))
        for start in range(0, len(group), batch):
            chunk = group[start : start + batch]
            args: list[Any] = []
            for params in chunk:
                args.extend(_row_params(table, params, False, omit))
                args.append(px)
            sql = (
                f"INSERT INTO {table.name} AS t ({', '.join(cols)}, {_EXPIRES}) VALUES "
                + ", ".join([row_sql] * len(chunk))
                + f" ON CONFLICT ({table.qpk}) DO UPDATE SET {', '.join(updates)}"
            )
            if not omit:
                yield Sql(sql, args)
                continue
            returned = yield Sql(sql + f" RETURNING {table.qpk}, {', '.join(quote(n) for n in omit)}", args, "all")
            for row in returned:
                filled[str(row[0])] = dict(zip(omit, row[1:], strict=True))
    for obj, params in owners:
        got = filled.get(str(params[pk_at]), {})
        names = tuple(name for name in got if getattr(obj, name, None) is None)
        if names:
            _fill_back(spec, obj, names, [got[name] for name in names])


def _insert_generated(
    spec: ModelSpec[Any], table: Table, fresh: list[tuple[Any, list[Any]]], px: int | None
) -> Plan[None]:
    """Insert objects whose pk the database makes; a db-default field left None is ``DEFAULT`` in its row."""
    names = [c.name for c in table.columns if c.name != table.pk]
    cols = [quote(name) for name in names]
    defaults = spec.options.db_defaults
    per_row = len(cols) + 1
    batch = max(1, min(WRITE_BATCH, MAX_PARAMS // per_row))
    row_sql = "(" + ", ".join(["%s"] * len(cols)) + f", {_EXPIRY})"
    returning = ", ".join([table.qpk, *(quote(name) for name in defaults)])
    for start in range(0, len(fresh), batch):
        chunk = fresh[start : start + batch]
        args: list[Any] = []
        texts = []
        for _, params in chunk:
            values = _row_params(table, params, True)
            if defaults:  # PostgreSQL takes DEFAULT per row in VALUES
                cells = ["DEFAULT" if n in defaults and v is None else "%s" for n, v in zip(names, values, strict=True)]
                texts.append("(" + ", ".join(cells) + f", {_EXPIRY})")
                values = [v for n, v in zip(names, values, strict=True) if not (n in defaults and v is None)]
            args.extend(values)
            args.append(px)
        rows = yield Sql(
            f"INSERT INTO {table.name} ({', '.join(cols)}, {_EXPIRES}) VALUES "
            + ", ".join(texts if defaults else [row_sql] * len(chunk))
            + f" RETURNING {returning}",
            args,
            "all",
        )
        for (obj, _), row in zip(chunk, rows, strict=True):
            spec.adapter.set_field(obj, table.pk, row[0])
            if defaults:
                left = tuple(name for name in defaults if getattr(obj, name, None) is None)
                if left:
                    _fill_back(spec, obj, left, [row[1 + defaults.index(name)] for name in left])


# -- single objects ------------------------------------------------------------------------
def _pk_param(spec: ModelSpec[Any], table: Table, pk: Any) -> Any:
    """The pk as its column's type, or NotFound when it cannot be one."""
    kind = spec.fields[table.pk].kind if not table.hidden_pk else "str"
    try:
        if kind == "int":
            return int(pk)
        if kind == "uuid":
            return pk if isinstance(pk, uuid.UUID) else uuid.UUID(str(pk))
    except (TypeError, ValueError):
        raise NotFound(f"{spec.name} with pk {pk!r} not found ({table.pk} holds {kind} values)") from None
    text = str(pk)
    if "\x00" in text:  # no stored pk can hold one (writes refuse it): absent, as any unknown pk
        raise NotFound(f"{spec.name} with pk {text!r} not found (a pk never holds a NUL byte)")
    return text


def _require_pk(spec: ModelSpec[Any], table: Table, obj: Any) -> Any:
    pk = getattr(obj, table.pk, None) if not table.hidden_pk else spec.pk_of(obj)
    if pk in (None, ""):
        raise NotFound(f"{spec.name} object has no pk: it was never saved")
    return _pk_param(spec, table, pk)


def _by_pk(table: Table, what: str) -> str:
    key = ("by_pk", what)
    text = table.sql.get(key)
    if text is None:
        text = table.sql[key] = what.format(t=table.name, pk=table.qpk, cols=table.select_list, alive=ALIVE)
    return text


def fetch(spec: ModelSpec[Any], pk: Any) -> Plan[Any]:
    """Read one object by pk; return it, or None when absent or expired."""
    table = table_of(spec)
    row = yield Sql(
        _by_pk(table, "SELECT {cols} FROM {t} WHERE {pk} = %s AND {alive}"), [_pk_param(spec, table, pk)], "one"
    )
    return None if row is None else _decoder(table)(row)


def match_for_pk(spec: ModelSpec[Any], pk: Any) -> Plan[Any]:
    """``match_for_pk(pk)``: the object, or :class:`~persist_mixins.errors.NotFound`."""
    return (yield from pk_plans.match_for_pk(fetch, spec, pk))


def refresh(spec: ModelSpec[Any], obj: Any) -> Plan[Any]:
    """``obj.refresh()``: reload every field in place; :class:`~persist_mixins.errors.NotFound` when gone."""
    return (yield from pk_plans.refresh(fetch, spec, obj, _require_pk(spec, table_of(spec), obj)))


def delete(spec: ModelSpec[Any], obj: Any) -> Plan[bool]:
    """``obj.delete()``: True when a live row was deleted."""
    table = table_of(spec)
    try:
        pk = _require_pk(spec, table, obj)
    except NotFound:
        return False
    n = yield Sql(_by_pk(table, "DELETE FROM {t} WHERE {pk} = %s AND {alive}"), [pk])
    return bool(n)


def expire(spec: ModelSpec[Any], obj: Any, seconds: Any) -> Plan[bool]:
    """``obj.expire(seconds)``: set the row's expiry; False when it is not stored."""
    px = expire_ms(spec, seconds) if seconds is not None else None
    if px is None:
        raise ValidationError(f"{spec.name}.expire() needs a number of seconds or a timedelta")
    table = table_of(spec)
    sql = _by_pk(table, "UPDATE {t} SET " + _EXPIRES + " = " + _EXPIRY + " WHERE {pk} = %s AND {alive}")
    return bool((yield Sql(sql, [px, _require_pk(spec, table, obj)])))


def persist(spec: ModelSpec[Any], obj: Any) -> Plan[bool]:
    """``obj.persist()``: drop the row's expiry; True when it had one."""
    table = table_of(spec)
    alive = f"{_EXPIRES} > statement_timestamp()"
    sql = _by_pk(table, "UPDATE {t} SET " + _EXPIRES + " = NULL WHERE {pk} = %s AND " + alive)
    return bool((yield Sql(sql, [_require_pk(spec, table, obj)])))


def ttl(spec: ModelSpec[Any], obj: Any) -> Plan[float | None]:
    """``obj.ttl()``: seconds left, None when it never expires; NotFound when not stored."""
    table = table_of(spec)
    pk = _require_pk(spec, table, obj)
    sql = _by_pk(
        table, "SELECT extract(epoch FROM " + _EXPIRES + " - clock_timestamp()) FROM {t} WHERE {pk} = %s AND {alive}"
    )
    row = yield Sql(sql, [pk], "one")
    if row is None:
        raise NotFound(f"{spec.name} with pk {str(pk)!r} not found (deleted or expired)")
    return None if row[0] is None else max(0.0, float(row[0]))


def purge_expired(spec: ModelSpec[Any]) -> Plan[int]:
    """``purge_expired()``: delete expired rows; return how many."""
    table = table_of(spec)
    return int((yield Sql(f"DELETE FROM {table.name} WHERE {_EXPIRES} <= statement_timestamp()")))


# -- queries -------------------------------------------------------------------------------
def _decoder(table: Table) -> Any:
    decode = table.sql.get("decoder")
    if decode is None:
        decode = table.sql["decoder"] = table.decoder()
    return decode


def _pairs(table: Table) -> Any:
    pairs = table.sql.get("pairs")
    if pairs is None:
        pairs = table.sql["pairs"] = table.pairs()
    return pairs


def select_pairs(spec: ModelSpec[Any], state: QueryState) -> Plan[None]:
    """Stream ``(None, obj)`` for every matching row.

    Results of up to :data:`FETCH_SIZE` rows come from one plain SELECT.  A
    larger result is streamed from a server-side cursor, FETCH_SIZE rows per
    round trip, so it is never held in memory whole: the probe's rows are
    discarded and the cursor reads from the start, in its own snapshot.
    """
    table = table_of(spec)
    pairs = _pairs(table)
    small = state.limit is not None and state.limit <= FETCH_SIZE
    sql, params = select_sql(table, state, cap=None if small else FETCH_SIZE + 1)
    rows = yield Sql(sql, params, "all")
    if small or len(rows) <= FETCH_SIZE:
        yield EmitMany(pairs(rows))
        return
    del rows
    sql, params = select_sql(table, state)
    token = yield Begin(read_only=True)
    cursor = f"_pm_cursor_{uuid.uuid4().hex[:12]}"  # unique: two streams may share a connection
    yield Sql(f"DECLARE {cursor} NO SCROLL CURSOR FOR {sql}", params)
    while True:
        rows = yield Sql(f"FETCH FORWARD {FETCH_SIZE} FROM {cursor}", (), "all")
        yield EmitMany(pairs(rows))
        if len(rows) < FETCH_SIZE:
            break
    yield Sql(f"CLOSE {cursor}")
    yield Commit(token)


def match_for_values(spec: ModelSpec[Any], state: QueryState) -> Plan[Any]:
    """``match_for_values(**lookups)``: exactly one object, else NotFound / MultipleFound."""
    table = table_of(spec)
    sql, params = select_sql(table, state, cap=2)
    rows = yield Sql(sql, params, "all")
    if not rows:
        raise NotFound(f"{spec.name} matching {_describe(state)} not found")
    if len(rows) > 1:
        raise MultipleFound(f"{spec.name}: more than one object matches {_describe(state)}")
    return _decoder(table)(rows[0])


def match(spec: ModelSpec[Any], state: QueryState) -> Plan[Any]:
    """``match(**lookups)``: one SELECT; a pk lookup is served by the primary key index."""
    return (yield from match_for_values(spec, state))


def _describe(state: QueryState) -> str:
    parts = [f"{'__'.join(c.path)}__{c.op}={c.value!r}" for c in state.conditions]
    if state.tree:
        parts.append(describe(QueryState(tree=state.tree)))
    return ", ".join(parts) or "(no lookups)"


def count(spec: ModelSpec[Any], state: QueryState) -> Plan[int]:
    """How many live rows match (within offset/limit), by one SELECT."""
    sql, params = count_sql(table_of(spec), state)
    row = yield Sql(sql, params, "one")
    return int(row[0])


def exists(spec: ModelSpec[Any], state: QueryState) -> Plan[bool]:
    """``exists()``: one ``SELECT EXISTS`` that stops at the first row."""
    sql, params = count_sql(table_of(spec), state, exists=True)
    row = yield Sql(sql, params, "one")
    return bool(row[0])


def _targets(table: Table, state: QueryState) -> tuple[str, list[Any]]:
    """The WHERE text that selects a query's rows for UPDATE/DELETE, window included."""
    if state.offset or state.limit is not None:
        inner, params = select_sql(table, state, table.qpk)
        return f"{table.qpk} IN ({inner})", params
    return compile_where(table, state.conditions, state.tree)


def delete_where(spec: ModelSpec[Any], state: QueryState) -> Plan[int]:
    """Query ``delete()``: one ``DELETE`` statement; returns how many rows went."""
    table = table_of(spec)
    where, params = _targets(table, state)
    return int((yield Sql(f"DELETE FROM {table.name} WHERE {where}", params)))


def update_where(spec: ModelSpec[Any], state: QueryState, values: Mapping[str, Any]) -> Plan[int]:
    """Query ``update(**values)``: one ``UPDATE`` statement, keeping each row's expiry.

    Each value is checked against its field's kind before the statement is sent.
    """
    table = table_of(spec)
    sets, args = [], []
    for name, value in values.items():
        if name not in spec.fields:
            raise InvalidLookup(f"{spec.name}.update({name}=...): {spec.name} has no field {name!r}")
        if name == spec.pk_field or name in spec.options.unique_together or name == HIDDEN_PK:
            raise InvalidLookup(f"{spec.name}.update({name}=...): the pk cannot be changed by update()")
        if name == table.version:
            raise InvalidLookup(f"{spec.name}.update({name}=...): the version field is counted by the database")
        col = table.column(name)
        if value is None and not col.nullable:
            raise ValidationError(f"{spec.name}.{name} is required: update() cannot set it to None")
        if value is not None:
            value = _update_value(spec, name, col.kind, value)
        sets.append(f"{col.quoted} = %s" + ("::jsonb" if col.kind in ("list", "dict", "model", "any") else ""))
        args.append(encode_value(spec, col, value))
    if not sets:
        return 0
    if table.version:
        v = quote(table.version)
        sets.append(f"{v} = {v} + 1")
    where, params = _targets(table, state)
    sql = f"UPDATE {table.name} SET {', '.join(sets)} WHERE {where}"
    unique = [name for name in values if name in spec.options.unique]
    if unique:  # expired holders of the unique values go first, in the same statement
        sql = _free_expired(table, unique) + sql.replace(" WHERE ", f" FROM {FREED} WHERE ", 1)
        args[:0] = [args[list(values).index(name)] for name in unique]
    try:
        return int((yield Sql(sql, [*args, *params])))
    except ConflictError as exc:
        raise unique_clash(spec, exc, values) from exc.__cause__


#: What update() accepts per kind (stricter than lookups: an int field takes no 2.5).
_UPDATE_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,), "float": (int, float), "decimal": (int, decimal.Decimal), "list": (list, tuple),
    "dict": (Mapping,),
}  # fmt: skip


def _update_value(spec: ModelSpec[Any], name: str, kind: str, value: Any) -> Any:
    """Check one update() value against its field's kind, as set() would."""
    wanted = _UPDATE_TYPES.get(kind)
    if wanted is not None and (not isinstance(value, wanted) or isinstance(value, bool)):
        raise ValidationError(f"{spec.name}.update({name}={value!r}): the field holds {kind} values")
    if kind == "model":
        field = spec.fields[name]
        if field.model is not None and not isinstance(value, (field.model, Mapping)):
            raise ValidationError(f"{spec.name}.update({name}={value!r}): expected a {field.model.__name__}")
        return value
    if kind in ("list", "dict", "any"):
        return value
    try:
        return _check_value(name, spec, kind, value)
    except InvalidLookup as exc:
        raise ValidationError(str(exc).replace(".filter(", ".update(")) from None


T = TypeVar("T")


def guarded(spec: ModelSpec[Any], name: str, body: Plan[T]) -> Plan[T]:
    """Run ``body`` in a transaction holding the advisory lock ``name`` of this model's table.

    ``pg_advisory_xact_lock`` waits for the holder and is released at commit or rollback
    (inside a ``transaction()`` block: when that block ends), so a caller that takes it
    next reads what the holder committed.
    """
    token = yield Begin()
    key = f"persist_mixins:{table_of(spec).name}:{name}"
    yield Sql("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,), "one")
    result = yield from body
    yield Commit(token)
    return result
