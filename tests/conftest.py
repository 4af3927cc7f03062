"""Shared fixtures: the test servers, and the stores and models the suites run against.

Tests run against a real Redis (database 15 unless ``PERSIST_TEST_REDIS_URL`` says
otherwise) and a real PostgreSQL (``PERSIST_TEST_POSTGRES_URL``).  Every test gets
its own key prefix or tables, deleted or dropped afterwards; no database is flushed.

The behaviour suite (``tests/behaviour/``) asks for ``api`` (an IceCream model of one
library) or ``store`` (its own models): each runs once per backend x flavour
(x model library for ``api``): Redis sync and asyncio, PostgreSQL psycopg sync and
asyncio, and aiopg on two libraries.  A test marked ``@pytest.mark.needs("expiry")``
runs on every backend whose ``capabilities`` declare it and is skipped, naming the
capability, on the others; ``@pytest.mark.flavours("sync")`` keeps only those flavours.
Backend modules ask for ``redis_api`` or ``pg_api``, the same thing on one backend.
Sync calls return values, async calls awaitables: ``run`` / ``items`` hide the difference.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import inspect
import os
import threading
import typing
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest
import redis

import persist_mixins
import persist_mixins.asyncio
from persist_mixins.backend import Backend, Capability
from persist_mixins.backends.postgres import POSTGRES
from persist_mixins.backends.redis import REDIS, REDIS_HASH
from persist_mixins.backends.redis.schema import escape_glob
from persist_mixins.backends.rethinkdb import RETHINKDB

from . import models, reqlite

# The sync flavour of the behaviour suite runs inside async test functions (one event loop for
# both flavours): the warning for sync calls inside a running loop is tested on its own.
persist_mixins.configure(sync_in_loop="allow")

REDIS_URL = os.environ.get("PERSIST_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PG_URL = os.environ.get("PERSIST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: A RethinkDB server the tests may use (a real one); without it they start reqlite (see :func:`rethink_url`).
RETHINK_URL = os.environ.get("PERSIST_TEST_RETHINKDB_URL") or os.environ.get("PERSIST_RETHINKDB_URL")
BACKENDS: dict[str, Backend[Any]] = {
    "redis": REDIS, "redis_hash": REDIS_HASH, "postgres": POSTGRES, "rethinkdb": RETHINKDB,
}  # fmt: skip
CAPABILITIES = frozenset(typing.get_args(Capability))


# -- the servers, behind the library's back -------------------------------------------------


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


@pytest.fixture(scope="session")
def pg_conn() -> Iterator[Any]:
    """A raw autocommit psycopg connection to the test database, for setup and looking behind the library."""
    import psycopg

    conn = psycopg.connect(PG_URL, autocommit=True)
    persist_mixins.configure(postgres=PG_URL)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def rethink_url() -> Iterator[str]:
    """The RethinkDB server of the tests: ``PERSIST_TEST_RETHINKDB_URL`` (or ``PERSIST_RETHINKDB_URL``), else reqlite.

    reqlite (npm ``reqlite`` 2.3.0, installed by ``.ci/run`` under ``.ci/reqlite``, or at
    ``PERSIST_REQLITE``) is started on a free port of 127.0.0.1 and stopped by pid at the end.
    Without either, the RethinkDB tests are skipped (under ``CI=true`` they fail instead).
    """
    if RETHINK_URL:
        yield RETHINK_URL
        return
    if not reqlite.available():
        message = f"no RethinkDB server: set PERSIST_TEST_RETHINKDB_URL, or install reqlite at {reqlite.PACKAGE}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    port = reqlite.free_port()
    try:
        proc = reqlite.start(port)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield f"rethinkdb://127.0.0.1:{port}/persist_test"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def rethink_conn(rethink_url: str) -> Iterator[Any]:
    """A raw sync connection to the test database, for setup and looking behind the library's back."""
    from rethinkdb import RethinkDB

    from persist_mixins.backends.rethinkdb.driver_rethinkdb import parse_url

    settings = parse_url(rethink_url)
    r = RethinkDB()
    conn = r.connect(
        host=settings["host"], port=settings["port"], db=settings["db"], user=settings["user"],
        password=settings["password"],
    )  # fmt: skip
    if settings["db"] not in r.db_list().run(conn):
        r.db_create(settings["db"]).run(conn)
    persist_mixins.configure(rethinkdb=rethink_url)
    conn.r = r
    yield conn
    conn.close(noreply_wait=False)  # reqlite answers NOREPLY_WAIT with an empty reply


def pg_table_name(prefix: str) -> str:
    """A table name from a test prefix (``pmtest_ab12:exp`` -> ``pmtest_ab12_exp``)."""
    return "".join(ch if ch.isalnum() else "_" for ch in prefix)


# -- stores and models ------------------------------------------------------------------------


class Store:
    """One backend in one flavour: the mixin models inherit, test-private storage, sync/async helpers.

    ``conn`` is the raw client of :func:`redis_client` or :func:`pg_conn`; ``pool`` an aiopg
    pool the models are given (flavour ``aiopg``).
    """

    def __init__(self, backend: str, flavour: str, prefix: str, conn: Any, pool: Any = None) -> None:
        self.backend = backend
        self.flavour = flavour
        self.prefix = prefix
        self.conn, self.pool = conn, pool
        self.capabilities: frozenset[str] = BACKENDS[backend].capabilities
        module: Any = persist_mixins if flavour == "sync" else persist_mixins.asyncio
        mixins = {
            "redis": module.SimpleRedisMixin, "redis_hash": module.HashRedisMixin, "postgres": module.PgRowMixin,
            "rethinkdb": module.RethinkMixin,
        }  # fmt: skip
        self.mixin: type = mixins[backend]
        self.tables: list[str] = []

    def place(self, suffix: str = "") -> dict[str, Any]:
        """Class options that put a model in this test's own storage (``suffix`` tells models apart)."""
        if self.backend in ("redis", "redis_hash"):
            return {"__key_prefix__": self.prefix + suffix}
        options: dict[str, Any] = {"__table__": pg_table_name(self.prefix + suffix)}
        if self.backend == "rethinkdb":
            return options
        if self.pool is not None:
            options["__postgres__"] = self.pool
        return options

    def base(self, suffix: str = "") -> type:
        """A field-less base of this store's mixin: a model class inheriting it lives in this test's storage."""
        return type("Placed", (self.mixin,), self.place(suffix))

    @property
    def unreachable(self) -> dict[str, Any]:
        """A class option naming a server that does not answer (port 1)."""
        if self.backend in ("redis", "redis_hash"):
            return {"__redis__": "redis://127.0.0.1:1/0"}
        if self.backend == "rethinkdb":
            return {"__rethinkdb__": "rethinkdb://127.0.0.1:1/test"}
        return {"__postgres__": "postgresql://postgres@127.0.0.1:1/test"}

    def fail_fast(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make a connection to a server that does not answer fail within a second.

        Redis fails at once; a psycopg pool would wait ``POOL_TIMEOUT`` (10 s) for a connection.
        """
        if self.backend == "postgres":
            from persist_mixins.backends.postgres import driver_psycopg

            monkeypatch.setattr(driver_psycopg, "POOL_TIMEOUT", 0.5)

    def ready(self, cls: type) -> type:
        """Make ``cls`` usable: on PostgreSQL and RethinkDB create its table now (dropped after the test)."""
        if self.backend == "rethinkdb":
            from persist_mixins.backends.rethinkdb.driver_rethinkdb import RethinkDriver
            from persist_mixins.binding import spec_of
            from persist_mixins.run import run_sync

            table = spec_of(cls).options.table
            if table not in self.tables:
                self.tables.append(table)
                self._drop_rethink(table)
                driver = RethinkDriver(self.conn, cls, "rethinkdb://test", True)
                run_sync(driver.route, RETHINKDB.plans.create_table(spec_of(cls)))
        if self.backend == "postgres":
            from persist_mixins.backends.postgres.schema import table_of
            from persist_mixins.binding import spec_of

            table = spec_of(cls).options.table
            if table not in self.tables:
                self.tables.append(table)
                self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')
                for statement in table_of(spec_of(cls)).create_statements():
                    self.conn.execute(statement)
        return cls

    def define(
        self,
        kind: str,
        fields: dict[str, Any],
        suffix: str = "",
        *,
        name: str = "IceCream",
        defaults: dict[str, Any] | None = None,
        frozen: bool = False,
        **options: Any,
    ) -> Any:
        """A model of library ``kind`` with ``fields`` (see :func:`models.define`) in this store, ready for use."""
        cls = models.define(
            kind,
            fields,
            {**self.place(suffix), **options},
            mixin=self.mixin,
            name=name,
            defaults=defaults,
            frozen=frozen,
        )
        return self.ready(cls)

    def declare(self, fields: dict[str, Any], suffix: str = "", *, name: str = "IceCream", **options: Any) -> Any:
        """A dataclass model in this store with ``fields``, its table not created (the test creates it).

        The table is dropped after the test, unless ``__schema__`` puts it elsewhere (the test drops that).
        """
        cls = models.define("dataclasses", fields, {**self.place(suffix), **options}, mixin=self.mixin, name=name)
        table = pg_table_name(self.prefix + suffix)
        if table not in self.tables and "__schema__" not in options:
            self.tables.append(table)
        return cls

    def raw_exists(self, cls: type, pk: str) -> bool:
        """Whether the server holds an object of ``cls`` with this pk, read behind the library's back."""
        from persist_mixins.binding import spec_of

        options = spec_of(cls).options
        if self.backend == "rethinkdb":
            r = self.conn.r
            return r.table(options.table).get(pk).run(self.conn) is not None  # type: ignore[no-any-return]
        if self.backend == "redis_hash":  # field "{prefix}:{pk}" of the hash "{prefix}"
            return bool(self.conn.hexists(options.key_prefix, f"{options.key_prefix}:{pk}"))
        if self.backend == "redis":  # "{prefix}:{pk}", or "{{prefix}}:{pk}" when indexed (a Cluster hash tag)
            tagged = "{" + options.key_prefix + "}" if options.indexes or options.unique else options.key_prefix
            return bool(self.conn.exists(f"{tagged}:{pk}"))
        column = spec_of(cls).pk_field or "_pk"  # the hidden pk column of a __unique_together__-only model
        row = self.conn.execute(f'SELECT count(*) FROM "{options.table}" WHERE "{column}" = %s', (pk,)).fetchone()
        return bool(row[0])

    def raw_count(self, cls: type) -> int:
        """How many objects of ``cls`` the server holds, expired ones included, read behind the library's back.

        On Redis this counts every key under ``{prefix}:``, so models under a longer prefix count too.
        """
        from persist_mixins.binding import spec_of

        options = spec_of(cls).options
        if self.backend == "rethinkdb":
            return int(self.conn.r.table(options.table).count().run(self.conn))
        if self.backend == "redis_hash":
            return int(self.conn.hlen(options.key_prefix))
        if self.backend == "redis":
            tagged = "{" + options.key_prefix + "}" if options.indexes or options.unique else options.key_prefix
            return sum(1 for _ in self.conn.scan_iter(match=escape_glob(tagged + ":") + "*", count=1000))
        return int(self.conn.execute(f'SELECT count(*) FROM "{options.table}"').fetchone()[0])

    async def run(self, result: Any) -> Any:
        """Await ``result`` when the flavour is asyncio; return it as is otherwise."""
        return await result if inspect.isawaitable(result) else result

    async def concurrently(self, calls: Sequence[Callable[[], Any]]) -> list[Any]:
        """Run the calls at once, in this store's flavour; each call's result, or the exception it raised, in order.

        Sync: one thread per call, released together by a barrier.  Asyncio: the calls'
        coroutines gathered on this loop.
        """
        if self.flavour != "sync":
            return list(await asyncio.gather(*(call() for call in calls), return_exceptions=True))
        barrier = threading.Barrier(len(calls))
        results: list[Any] = [None] * len(calls)

        def work(k: int) -> None:
            barrier.wait()
            try:
                results[k] = calls[k]()
            except Exception as exc:  # noqa: BLE001 - handed to the test, which asserts on it
                results[k] = exc

        threads = [threading.Thread(target=work, args=(k,)) for k in range(len(calls))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    async def items(self, query: Any) -> list[Any]:
        """Read a query in full: ``list(q)`` (sync) or ``await q`` (asyncio)."""
        return list(query) if self.flavour == "sync" else await query

    async def ids(self, query: Any) -> list[Any]:
        """The ids of a query's objects, in order."""
        return [obj.id for obj in await self.items(query)]

    async def close(self) -> None:
        """Close what the test opened and drop its tables."""
        if self.flavour != "sync":
            await persist_mixins.asyncio.close()
        if self.pool is not None:
            self.pool.close()
            await self.pool.wait_closed()
        for table in self.tables:
            if self.backend == "rethinkdb":
                self._drop_rethink(table)
            else:
                self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')

    def _drop_rethink(self, table: str) -> None:
        r = self.conn.r
        present = r.table_list().run(self.conn)
        for name in (table, table + "__persist"):  # the model's table and its bookkeeping table
            if name in present:
                r.table_drop(name).run(self.conn)


class Api(Store):
    """A store with the IceCream model of one library (:data:`models.ICECREAM`): ``Model``, ``new``, ``Grommet``."""

    def __init__(self, kind: str, backend: str, flavour: str, prefix: str, conn: Any, pool: Any = None) -> None:
        super().__init__(backend, flavour, prefix, conn, pool)
        self.kind = kind
        self.Model, self.new, self.Grommet = self.model()

    def model(self, suffix: str = "", **options: Any) -> Any:
        """A fresh IceCream class of this library (options as class attributes), its constructor and grommet."""
        cls = self.ready(models.icecream(self.kind, self.mixin, {**self.place(suffix), **options}))
        return cls, lambda **kw: models.new(cls, **kw), models.GROMMETS[self.kind]

    def variant(self, suffix: str, **options: Any) -> Api:
        """The same library and flavour with another model (class options given), under ``prefix + suffix``."""
        other = copy.copy(self)  # shares ``tables``: the original drops the variant's too
        other.prefix = self.prefix + suffix
        other.Model, other.new, other.Grommet = self.model(suffix, **options)
        return other

    def grommet(self, weight: int) -> Any:
        """A nested model instance of this library."""
        return models.new(self.Grommet, weight=weight)


@dataclasses.dataclass(frozen=True)
class Target:
    """One parametrization: a backend, a flavour and (for ``api``) a model library."""

    backend: str
    flavour: str
    kind: str | None = None

    @property
    def id(self) -> str:
        return "-".join(part for part in (self.backend, self.flavour, self.kind) if part)


#: Every library on Redis and on psycopg, sync and async; aiopg on two libraries
#: (its SQL is the same; what differs is the driver); the Redis hash layout on the library
#: its users come from (Schematics) and one annotated library (its plans do not vary by library).
HASH_KINDS = ("schematics", "dataclasses")
API_TARGETS = (
    [Target("redis", f, k) for f in ("sync", "async") for k in models.KINDS]
    + [Target("redis_hash", f, k) for f in ("sync", "async") for k in HASH_KINDS]
    + [Target("postgres", f, k) for f in ("sync", "async") for k in models.KINDS]
    + [Target("postgres", "aiopg", k) for k in ("dataclasses", "pydantic")]
    + [Target("rethinkdb", f, k) for f in ("sync", "async") for k in models.KINDS]
)
STORE_TARGETS = (
    [Target(b, f) for b in ("redis", "redis_hash") for f in ("sync", "async")]
    + [Target("postgres", f) for f in ("sync", "async", "aiopg")]
    + [Target("rethinkdb", f) for f in ("sync", "async")]
)
#: The parametrized fixtures, and the targets each runs over.
TARGETS = {
    "api": API_TARGETS,
    "store": STORE_TARGETS,
    "redis_api": [t for t in API_TARGETS if t.backend == "redis"],
    "pg_api": [t for t in API_TARGETS if t.backend == "postgres"],
    "pg_store": [t for t in STORE_TARGETS if t.backend == "postgres"],
    "rethink_api": [t for t in API_TARGETS if t.backend == "rethinkdb"],
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs(*capabilities): the test runs on backends declaring every capability (Backend.capabilities), "
        "skipped elsewhere",
    )
    config.addinivalue_line("markers", "flavours(*names): the test runs only on these flavours (sync, async, aiopg)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``api``, ``store``, ``redis_api`` and ``pg_api`` over their targets, honouring the markers."""
    needed: set[str] = set()
    for mark in metafunc.definition.iter_markers("needs"):
        needed.update(mark.args)
    if needed - CAPABILITIES:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: no capability {sorted(needed - CAPABILITIES)}")
    flavours: set[str] | None = None
    for mark in metafunc.definition.iter_markers("flavours"):
        flavours = set(mark.args) if flavours is None else flavours & set(mark.args)
    for fixture, targets in TARGETS.items():
        if fixture not in metafunc.fixturenames:
            continue
        params = []
        for target in targets:
            if flavours is not None and target.flavour not in flavours:
                continue
            missing = sorted(needed - BACKENDS[target.backend].capabilities)
            marks = []
            if missing:
                reason = f"needs capability {', '.join(map(repr, missing))}, which {target.backend} does not declare"
                marks.append(pytest.mark.skip(reason=reason))
            params.append(pytest.param(target, id=target.id, marks=marks))
        metafunc.parametrize(fixture, params, indirect=True)


async def _open(request: pytest.FixtureRequest) -> Store:
    """The store or api of ``request.param``, on its server."""
    target: Target = request.param
    pool = None
    if target.backend in ("redis", "redis_hash"):
        conn, prefix = request.getfixturevalue("redis_client"), request.getfixturevalue("prefix")
    elif target.backend == "rethinkdb":
        conn, prefix = request.getfixturevalue("rethink_conn"), f"pmtest_{uuid.uuid4().hex[:8]}"
    else:
        conn, prefix = request.getfixturevalue("pg_conn"), f"pmtest_{uuid.uuid4().hex[:8]}"
        if target.flavour == "aiopg":
            import aiopg

            pool = await aiopg.create_pool(PG_URL.replace("postgresql://", "postgres://"), minsize=1, maxsize=4)
    if target.kind is None:
        return Store(target.backend, target.flavour, prefix, conn, pool)
    return Api(target.kind, target.backend, target.flavour, prefix, conn, pool)


@pytest.fixture
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """One backend x flavour, for tests that define their own models (``store.define``)."""
    opened = await _open(request)
    yield opened
    await opened.close()


@pytest.fixture
async def api(request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    """The IceCream model of one backend x flavour x library, in test-private storage."""
    opened = await _open(request)
    assert isinstance(opened, Api)
    yield opened
    await opened.close()


@pytest.fixture
async def redis_api(request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    """``api`` on Redis only, for the Redis-specific modules."""
    opened = await _open(request)
    assert isinstance(opened, Api)
    yield opened
    await opened.close()


@pytest.fixture
async def rethink_api(request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    """``api`` on RethinkDB only, for the RethinkDB-specific modules."""
    opened = await _open(request)
    assert isinstance(opened, Api)
    yield opened
    await opened.close()


@pytest.fixture
async def pg_store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """``store`` on PostgreSQL only (psycopg sync, psycopg asyncio, aiopg), for the PostgreSQL-specific modules."""
    opened = await _open(request)
    yield opened
    await opened.close()


@pytest.fixture
async def pg_api(request: pytest.FixtureRequest) -> AsyncIterator[Api]:
    """``api`` on PostgreSQL only, for the PostgreSQL-specific modules."""
    opened = await _open(request)
    assert isinstance(opened, Api)
    yield opened
    await opened.close()
