"""Shared fixtures: the test Redis, and one model per library, sync and asyncio.

Tests run against a real Redis, database 15 unless ``PERSIST_TEST_REDIS_URL``
says otherwise.  Every test gets its own key prefix and the keys under it are
deleted afterwards; no database is ever flushed.  The ``api`` fixture runs a
test body once per (model library x flavour): sync calls return values, async
calls return awaitables, and ``api.run`` / ``api.items`` hide the difference.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import decimal
import inspect
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import pydantic
import pytest
import redis
from schematics import models, types
from schematics.types import compound

import persist_mixins
import persist_mixins.asyncio
from persist_mixins.backends.redis.schema import escape_glob

REDIS_URL = os.environ.get("PERSIST_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
KINDS = ("schematics", "pydantic", "dataclasses", "attrs", "plain")
FLAVOURS = ("sync", "async")


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    """A raw client on the test database, for looking behind the library's back."""
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    persist_mixins.configure(redis=REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def prefix(request: pytest.FixtureRequest, redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix unique to this test; its keys are deleted afterwards."""
    name = f"pmtest:{uuid.uuid4().hex[:8]}"
    yield name
    # Unindexed models write "name...", indexed ones "{name...}" (a Cluster hash tag).
    for pattern in (escape_glob(name) + "*", "{" + escape_glob(name) + "*"):
        keys = list(redis_client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            redis_client.delete(*keys[start : start + 1000])


# -- one model per library ---------------------------------------------------------------

FIELDS = ("id", "flavour", "amount_kg", "best_before", "ratio", "fresh", "made_on", "price", "ref", "tags", "extra")


class SchematicsGrommet(models.Model):
    weight = types.IntType()


class PydanticGrommet(pydantic.BaseModel):
    weight: int | None = None


def _schematics(mixin: type, prefix: str, options: dict[str, Any]) -> Any:
    Grommet = SchematicsGrommet
    attrs_ = {
        "__key_prefix__": prefix,
        **options,
        "id": types.StringType(),
        "flavour": types.StringType(),
        "amount_kg": types.IntType(),
        "best_before": types.DateTimeType(),
        "ratio": types.FloatType(),
        "fresh": types.BooleanType(),
        "made_on": types.DateType(),
        "price": types.DecimalType(),
        "ref": types.UUIDType(),
        "tags": compound.ListType(types.StringType()),
        "extra": compound.DictType(types.StringType()),
        "grommet": compound.ModelType(Grommet),
    }
    cls = type(models.Model)("IceCream", (models.Model, mixin), attrs_)
    return cls, lambda **kw: cls(kw), Grommet


def _pydantic(mixin: type, prefix: str, options: dict[str, Any]) -> Any:
    cls = _build("", PydanticGrommet, mixin, prefix, options, bases="mixin, pydantic.BaseModel")
    return cls, lambda **kw: cls(**kw), PydanticGrommet


def _annotated_body(decorator: str, nested: str, bases: str) -> str:
    return (
        f"{decorator}\n"
        f"class IceCream({bases}):\n"
        "    id: str | None = None\n    flavour: str | None = None\n    amount_kg: int | None = None\n"
        "    best_before: dt.datetime | None = None\n    ratio: float | None = None\n"
        "    fresh: bool | None = None\n    made_on: dt.date | None = None\n"
        "    price: decimal.Decimal | None = None\n    ref: uuid.UUID | None = None\n"
        "    tags: list[str] | None = None\n    extra: dict[str, str] | None = None\n"
        f"    grommet: {nested} | None = None\n"
    )


def _build(
    decorator: str, nested: type, mixin: type, prefix: str, options: dict[str, Any], bases: str = "mixin"
) -> Any:
    namespace: dict[str, Any] = {"__key_prefix__": prefix, **options}
    body = _annotated_body(decorator, nested.__name__, bases)
    for key in namespace:
        body += f"    {key} = ns[{key!r}]\n"
    exec_ns: dict[str, Any] = {}
    exec(body, {**globals(), "mixin": mixin, "ns": namespace}, exec_ns)
    return exec_ns["IceCream"]


@dataclasses.dataclass
class DataGrommet:
    weight: int | None = None


@attrs.define
class AttrsGrommet:
    weight: int | None = None


def _dataclasses(mixin: type, prefix: str, options: dict[str, Any]) -> Any:
    cls = _build("@dataclasses.dataclass", DataGrommet, mixin, prefix, options)
    return cls, lambda **kw: cls(**kw), DataGrommet


def _attrs(mixin: type, prefix: str, options: dict[str, Any]) -> Any:
    cls = _build("@attrs.define", AttrsGrommet, mixin, prefix, options)
    return cls, lambda **kw: cls(**kw), AttrsGrommet


def _plain(mixin: type, prefix: str, options: dict[str, Any]) -> Any:
    cls = _build("", DataGrommet, mixin, prefix, options)

    def new(**kw: Any) -> Any:
        obj = cls()
        for key, value in kw.items():
            setattr(obj, key, value)
        return obj

    return cls, new, DataGrommet


BUILDERS = {
    "schematics": _schematics,
    "pydantic": _pydantic,
    "dataclasses": _dataclasses,
    "attrs": _attrs,
    "plain": _plain,
}


class Api:
    """One (library, flavour) combination, with helpers that hide sync/async differences."""

    def __init__(self, kind: str, flavour: str, prefix: str) -> None:
        self.kind = kind
        self.flavour = flavour
        self.prefix = prefix
        self.mixin = persist_mixins.SimpleRedisMixin if flavour == "sync" else persist_mixins.asyncio.SimpleRedisMixin
        self.Model, self.new, self.Grommet = self.model()

    def model(self, suffix: str = "", **options: Any) -> Any:
        """Build a fresh IceCream model class for this library (options as class attributes)."""
        return BUILDERS[self.kind](self.mixin, self.prefix + suffix, options)

    def variant(self, suffix: str, **options: Any) -> Api:
        """The same library and flavour with another model (class options given), under ``prefix + suffix``."""
        other = copy.copy(self)
        other.prefix = self.prefix + suffix
        other.Model, other.new, other.Grommet = self.model(suffix, **options)
        return other

    def grommet(self, weight: int) -> Any:
        """A nested model instance of this library."""
        if self.kind == "schematics":
            return self.Grommet({"weight": weight})
        return self.Grommet(weight=weight)

    async def run(self, result: Any) -> Any:
        """Await ``result`` when the flavour is asyncio; return it as is otherwise."""
        return await result if inspect.isawaitable(result) else result

    async def items(self, query: Any) -> list[Any]:
        """Read a query in full: ``list(q)`` (sync) or ``await q`` (asyncio)."""
        return list(query) if self.flavour == "sync" else await query

    async def ids(self, query: Any) -> list[Any]:
        """The ids of a query's objects, in order."""
        return [obj.id for obj in await self.items(query)]


def values(obj: Any) -> dict[str, Any]:
    """The persisted field values of an instance, nested grommet as its weight."""
    out = {name: getattr(obj, name) for name in FIELDS}
    grommet = obj.grommet
    out["grommet"] = None if grommet is None else grommet.weight
    return out


@pytest.fixture(params=FLAVOURS)
def flavour(request: pytest.FixtureRequest) -> str:
    """sync or async."""
    return str(request.param)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """The model library under test."""
    return str(request.param)


@pytest.fixture
async def api(kind: str, flavour: str, prefix: str) -> AsyncIterator[Api]:
    """A model of ``kind`` with the ``flavour`` mixin, under a test-private key prefix."""
    yield Api(kind, flavour, prefix)
    if flavour == "async":
        await persist_mixins.asyncio.close()


def sample(api: Api, **overrides: Any) -> Any:
    """A fully populated IceCream for ``api``'s library."""
    data: dict[str, Any] = {
        "id": "vanilla",
        "flavour": "Sweet Vanilla",
        "amount_kg": 42,
        "best_before": dt.datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone(dt.timedelta(hours=2))),
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


# -- PostgreSQL ----------------------------------------------------------------------------------

PG_URL = os.environ.get("PERSIST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: (library, flavour) pairs the PostgreSQL suite runs: every library on psycopg sync and async,
#: and the aiopg path on two libraries (its SQL is the same; what differs is the driver).
PG_COMBOS = [(k, f) for k in KINDS for f in ("sync", "async")] + [("dataclasses", "aiopg"), ("pydantic", "aiopg")]


@pytest.fixture(scope="session")
def pg_conn() -> Iterator[Any]:
    """A raw autocommit psycopg connection to the test database, for setup and looking behind the library."""
    import psycopg

    conn = psycopg.connect(PG_URL, autocommit=True)
    persist_mixins.configure(postgres=PG_URL)
    yield conn
    conn.close()


def pg_table_name(prefix: str) -> str:
    """A table name from a test prefix (``pmtest:ab12:exp`` -> ``pmtest_ab12_exp``)."""
    return "".join(ch if ch.isalnum() else "_" for ch in prefix)


class PgApi(Api):
    """An :class:`Api` whose models are PgRowMixin rows, each in its own table, created up front."""

    def __init__(self, kind: str, flavour: str, prefix: str, conn: Any, pool: Any = None) -> None:
        self.kind, self.flavour, self.prefix = kind, flavour, prefix
        self.conn, self.pool = conn, pool
        self.tables: list[str] = []
        self.mixin = persist_mixins.PgRowMixin if flavour == "sync" else persist_mixins.asyncio.PgRowMixin
        self.Model, self.new, self.Grommet = self.model()

    def model(self, suffix: str = "", **options: Any) -> Any:
        """Build an IceCream model in a fresh table (created now; dropped after the test)."""
        from persist_mixins.backends.postgres.schema import table_of
        from persist_mixins.binding import spec_of

        table = pg_table_name(self.prefix + suffix)
        options = {"__table__": table, **options}
        if self.pool is not None and "__postgres__" not in options:
            options["__postgres__"] = self.pool
        built = BUILDERS[self.kind](self.mixin, self.prefix + suffix, options)
        if table not in self.tables:
            self.tables.append(table)
            self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')
            for statement in table_of(spec_of(built[0])).create_statements():
                self.conn.execute(statement)
        return built

    def variant(self, suffix: str, **options: Any) -> Api:
        """The same library and flavour with another model and table."""
        other = copy.copy(self)
        other.prefix = self.prefix + suffix
        other.Model, other.new, other.Grommet = self.model(suffix, **options)
        return other

    def drop(self) -> None:
        """Drop every table this test created."""
        for table in self.tables:
            self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')


@pytest.fixture(params=PG_COMBOS, ids=[f"{k}-{f}" for k, f in PG_COMBOS])
async def pg_api(request: pytest.FixtureRequest, pg_conn: Any) -> AsyncIterator[PgApi]:
    """A PgRowMixin model of one library and flavour, in a test-private table."""
    kind, flavour = request.param
    pool = None
    if flavour == "aiopg":
        import aiopg

        pool = await aiopg.create_pool(PG_URL.replace("postgresql://", "postgres://"), minsize=1, maxsize=4)
    pg = PgApi(kind, flavour, f"pmtest_{uuid.uuid4().hex[:8]}", pg_conn, pool)
    yield pg
    if flavour != "sync":
        await persist_mixins.asyncio.close()
    if pool is not None:
        pool.close()
        await pool.wait_closed()
    pg.drop()
