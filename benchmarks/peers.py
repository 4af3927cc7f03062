"""The issue-12 shape against the peers: redis-om, walrus, pydantic-redis on Redis, tortoise-orm on PostgreSQL.

Run by hand from the repository root, in a virtualenv of its own (the peers are not
dependencies of the project)::

    python3 -m venv .venv-peers
    .venv-peers/bin/pip install -e . redis-om walrus pydantic-redis tortoise-orm asyncpg matplotlib \\
        'psycopg[binary]' psycopg_pool
    .venv-peers/bin/python benchmarks/peers.py [--n 2000] [--runs 3] [--out docs/performance.md] \\
        [--plot docs/_static/peers.png]

The shape (issue 12): ``id`` str, ``flavour`` str, ``amount_kg`` int (indexed), ``best_before``
an aware datetime (UTC); N = 2,000 objects stored, ``amount_kg = i % 100``, so
``amount_kg >= 99`` is 1% of N.  Every operation is timed with the shared harness
(benchmarks/harness.py): a warm-up, then the contenders of one operation take turns in a
rotating order every ``--chunk`` operations within each repeat; a run keeps each
contender's median repeat and its ratio to the raw driver timed in the same rounds
(raw time / contender's time: a throughput ratio, 1 = raw, higher is faster); ``--runs``
runs, and the figures shown are the medians over the runs.  A peer that does not import
is skipped and the reason shown; an operation a peer has no API for (or whose server
module is missing) is listed as not measured.

Redis (sync, one redis-py client each, loopback, db 15):

* set one object (build it from a dict of the four values, then write it, overwriting
  the stored one): raw redis-py ``SET key orjson.dumps(row)`` (the reference), raw
  ``MULTI SET ZADD EXEC`` (the indexed write by hand, shown beside it); persist_mixins
  ``Model(**row).set()`` (a dataclass with ``SimpleRedisMixin`` and ``__indexes__``: it
  validates, writes the JSON document and its index entry in one script call); redis-om
  ``HashModel(pk=..., **row).save()`` (pydantic validation, HSET); walrus
  ``Model.create(**row)`` (a hash plus its index entries: walrus keeps a sorted set and
  a set per value for ``amount_kg``, and a set per value for the pk); pydantic-redis
  ``Model.insert(Model(**row))`` (pydantic validation, HSET and its index set in a
  MULTI).
* get by pk (a model instance; raw: a dict): raw ``orjson.loads(GET key)``;
  persist_mixins ``Model.match_for_pk(pk)``; redis-om ``Model.get(pk)``; walrus
  ``Model.load(pk)``; pydantic-redis ``Model.select(ids=[pk])[0]``.
* filter ``amount_kg >= 99`` read in full (N/100 objects): raw ``ZRANGEBYSCORE`` on its
  own index + ``MGET`` + orjson; persist_mixins ``list(Model.filter(amount_kg__gte=99))``;
  walrus ``list(Model.query(Model.amount_kg >= 99))``; redis-om
  ``Model.find(Model.amount_kg >= 99).all()`` only when the server has the RediSearch
  module (``find()`` needs it); pydantic-redis has no query by field value (its
  ``select()`` reads by pk or everything).

PostgreSQL (asyncio, tortoise-orm being async only; database of ``PG_BENCH_URL``,
default ``test`` at 127.0.0.1:5432): one table created by ``PgRowMixin.create_table()``
(btree on ``amount_kg``), read and written by all three contenders.  Raw = psycopg 3 on
one dedicated async autocommit connection: ``INSERT``, ``SELECT ... WHERE id = %s``,
``SELECT ... WHERE amount_kg >= %s``; persist_mixins = the dataclass with
``persist_mixins.asyncio.PgRowMixin`` (``set()`` of a new object, an upsert;
``match_for_pk()``; ``await Model.filter(amount_kg__gte=99)``), through the pool it
builds from a URL; tortoise-orm with its asyncpg backend (``Model.create(**row)``, a
plain INSERT; ``Model.get(id=pk)``; ``await Model.filter(amount_kg__gte=99)``).  Inserts
write new pks (deleted after each repeat).

Redis keys live under ``bench_peers_*``, ``{bench_peers_pm}*`` and ``benchpeerspydredis*``
(pydantic-redis names keys after the model class) and are deleted at the end (SCAN + DEL
on those patterns only, never FLUSHDB); walrus' query leaves ``temp.<uuid>`` keys that
expire by themselves within seconds.  The PostgreSQL table is dropped.  ``--plot``
writes a bar chart (matplotlib, imported only then); ``--out`` rewrites the part of a
Markdown file between ``<!-- peers:start -->`` and ``<!-- peers:end -->`` (inserted
before the Schematics section when absent).
"""

import argparse
import asyncio
import datetime as dt
import importlib.metadata
import os
import statistics
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
import redis
from harness import Impl, Result, Runner, delete_matching
from report import REPO, git, load, machine, md_table, python, text_table, utc_now

import persist_mixins
import persist_mixins.asyncio as pa
from persist_mixins import SimpleRedisMixin, configure

START, END = "<!-- peers:start -->", "<!-- peers:end -->"
BEFORE = "<!-- schematics-bench:start -->"  # the section ours goes in front of, when new
HOST, PORT, DB = "127.0.0.1", 6379, 15
URL = os.environ.get("PG_BENCH_URL", "postgresql://postgres@127.0.0.1:5432/test")
TABLE = "bench_peers"
COLUMNS = '"id", "flavour", "amount_kg", "best_before"'
INSERT = f'INSERT INTO "{TABLE}" ({COLUMNS}) VALUES (%s, %s, %s, %s)'
BY_PK = f'SELECT {COLUMNS} FROM "{TABLE}" WHERE "id" = %s'
RANGE = f'SELECT {COLUMNS} FROM "{TABLE}" WHERE "amount_kg" >= %s'
DELETE_NEW = f"DELETE FROM \"{TABLE}\" WHERE id LIKE 'x%'"
WHEN = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
FLAVOURS = ("vanilla", "chocolate", "strawberry", "pistachio")
LOW = 99  # amount_kg >= LOW: 1% of the objects

P_RAW, P_PM, P_OM, P_WAL = "bench_peers_raw", "bench_peers_pm", "bench_peers_om", "bench_peers_wal"
PYD_CLASS = "BenchPeersPydRedis"  # pydantic-redis prefixes keys with the lower-cased class name
PATTERNS = (f"{P_RAW}:*", f"{P_RAW}#*", f"{{{P_PM}}}*", f"{P_OM}:*", f"{P_WAL}|*", f"{PYD_CLASS.lower()}*")
RAW_IDX = f"{P_RAW}#i:amount_kg"

OP_SET, OP_GET, OP_FILTER = "set one object", "get by pk", "filter amount_kg >= x (1%)"
OP_INSERT = "insert one object"
RAW_R, RAW_MULTI = "raw redis-py", "raw redis-py MULTI SET+ZADD"
PM_R = "persist_mixins SimpleRedisMixin (dataclass, indexed)"
OM, WAL, PYD = "redis-om HashModel", "walrus Model", "pydantic-redis Model"
RAW_P, PM_P, TT = "raw psycopg 3 (async)", "persist_mixins PgRowMixin (asyncio)", "tortoise-orm (asyncpg)"
COLOURS = {RAW_MULTI: "#999999", PM_R: "#3a78b5", OM: "#d9822b", WAL: "#5aa469", PYD: "#a05eb5", PM_P: "#3a78b5"}
COLOURS[TT] = "#c0504d"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="objects stored; ops per repeat for set / get")
    parser.add_argument("--runs", type=int, default=3, help="whole runs; figures are the medians over runs")
    parser.add_argument("--repeats", type=int, default=3, help="repeats per run of every operation")
    parser.add_argument("--queries", type=int, default=200, help="filter queries per repeat")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up ops per contender")
    parser.add_argument("--chunk", type=int, default=100, help="ops per turn when contenders alternate")
    parser.add_argument("--only", choices=("redis", "postgres"), help="one backend only")
    parser.add_argument("--out", type=Path, help="Markdown file whose peers section is rewritten")
    parser.add_argument("--plot", type=Path, help="PNG bar chart of the ratios (needs matplotlib)")
    args = parser.parse_args()
    if args.n < 100:
        parser.error("--n must be >= 100 (the filter returns 1% of it)")
    return args


def row(i: int) -> dict[str, Any]:
    """Object number ``i``: amount_kg = i % 100."""
    return {"id": f"ice-{i}", "flavour": FLAVOURS[i % 4], "amount_kg": i % 100, "best_before": WHEN}


@dataclass
class Contender:
    """One library's way of doing each operation (None: not measured, with why in ``missing``)."""

    name: str
    ops: dict[str, Callable[[int, int], Any] | None]
    missing: dict[str, str]
    raw: bool = False


def looped(one: Callable[[int], Any]) -> Callable[[int, int], Any]:
    """``one(k)`` for k in first .. first + count - 1; returns the number of objects read."""

    def run(first: int, count: int) -> int:
        got = 0
        for k in range(first, first + count):
            out = one(k)
            got += len(out) if isinstance(out, list) else 1
        return got

    return run


def alooped(one: Callable[[int], Any]) -> Callable[[int, int], Any]:
    """The asyncio twin of :func:`looped`: ``one(k)`` returns an awaitable."""

    async def run(first: int, count: int) -> int:
        got = 0
        for k in range(first, first + count):
            out = await one(k)
            got += len(out) if isinstance(out, list) else 1
        return got

    return run


# --------------------------------------------------------------------------- Redis
def redis_contenders(client: redis.Redis, n: int, skipped: dict[str, str]) -> list[Contender]:
    """Raw redis-py, persist_mixins and every peer that imports, each with its model."""
    rows = [row(i) for i in range(n)]
    pks = [r["id"] for r in rows]
    raw_keys = [f"{P_RAW}:{pk}" for pk in pks]

    def spread(k: int) -> int:
        return k * 7919 % n

    def raw_multi(k: int) -> Any:
        r = rows[k % n]
        pipe = client.pipeline(transaction=True)
        pipe.set(raw_keys[k % n], orjson.dumps(r))
        pipe.zadd(RAW_IDX, {r["id"]: r["amount_kg"]})
        return pipe.execute()

    def raw_filter(_k: int) -> list[Any]:
        found = client.zrangebyscore(RAW_IDX, LOW, "+inf")
        return [orjson.loads(v) for v in client.mget([f"{P_RAW}:{pk.decode()}" for pk in found]) if v is not None]

    out = [
        Contender(
            RAW_R,
            {
                OP_SET: looped(lambda k: client.set(raw_keys[k % n], orjson.dumps(rows[k % n]))),
                OP_GET: looped(lambda k: orjson.loads(client.get(raw_keys[spread(k)]))),  # type: ignore[arg-type]
                OP_FILTER: looped(raw_filter),
            },
            {},
            raw=True,
        ),
        Contender(RAW_MULTI, {OP_SET: looped(raw_multi)}, {}),
    ]

    @dataclass
    class PmIce(SimpleRedisMixin):
        __key_prefix__ = P_PM
        __redis__ = client
        __indexes__ = ("amount_kg",)
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    out.append(
        Contender(
            PM_R,
            {
                OP_SET: looped(lambda k: PmIce(**rows[k % n]).set()),
                OP_GET: looped(lambda k: PmIce.match_for_pk(pks[spread(k)])),
                OP_FILTER: looped(lambda _k: list(PmIce.filter(amount_kg__gte=LOW))),
            },
            {},
        )
    )
    for build in (redis_om_contender, walrus_contender, pydantic_redis_contender):
        try:
            out.append(build(client, rows, spread))
        except ImportError as exc:
            skipped[build.__name__.removesuffix("_contender").replace("_", "-")] = f"does not import: {exc}"
    return out


def has_search(client: redis.Redis) -> bool:
    """Whether the server has the RediSearch module (``FT.*``), which redis-om's ``find()`` needs."""
    return any(m.get(b"name", m.get("name")) in (b"search", "search") for m in client.module_list())


def redis_om_contender(client: redis.Redis, rows: list[dict[str, Any]], spread: Callable[[int], int]) -> Contender:
    from redis_om import Field, HashModel

    om_client = redis.Redis(host=HOST, port=PORT, db=DB, decode_responses=True)  # redis-om reads str replies

    class OmIce(HashModel, index=True):  # type: ignore[call-arg]
        id: str
        flavour: str
        amount_kg: int = Field(index=True)
        best_before: dt.datetime

        class Meta:
            database = om_client
            global_key_prefix = P_OM
            model_key_prefix = "ice"

    n = len(rows)
    ops: dict[str, Any] = {
        OP_SET: looped(lambda k: OmIce(pk=rows[k % n]["id"], **rows[k % n]).save()),
        OP_GET: looped(lambda k: OmIce.get(rows[spread(k)]["id"])),
        OP_FILTER: None,
    }
    missing = {}
    if has_search(client):
        ops[OP_FILTER] = looped(lambda _k: OmIce.find(OmIce.amount_kg >= LOW).all())
    else:
        missing[OP_FILTER] = "the Redis server has no RediSearch module, which `find()` needs"
    return Contender(OM, ops, missing)


def walrus_contender(client: redis.Redis, rows: list[dict[str, Any]], spread: Callable[[int], int]) -> Contender:
    from walrus import Database, DateTimeField, IntegerField, Model, TextField

    class WalIce(Model):
        __database__ = Database(host=HOST, port=PORT, db=DB)
        __namespace__ = P_WAL
        id = TextField(primary_key=True)
        flavour = TextField()
        amount_kg = IntegerField(index=True)
        best_before = DateTimeField()

    n = len(rows)
    return Contender(
        WAL,
        {
            OP_SET: looped(lambda k: WalIce.create(**rows[k % n])),
            OP_GET: looped(lambda k: WalIce.load(rows[spread(k)]["id"])),
            OP_FILTER: looped(lambda _k: list(WalIce.query(WalIce.amount_kg >= LOW))),
        },
        {},
    )


def pydantic_redis_contender(
    client: redis.Redis, rows: list[dict[str, Any]], spread: Callable[[int], int]
) -> Contender:
    from pydantic_redis import Model, RedisConfig, Store

    store = Store(name="bench_peers", redis_config=RedisConfig(host=HOST, port=PORT, db=DB), life_span_in_seconds=None)
    namespace: dict[str, Any] = {
        "__annotations__": {"id": str, "flavour": str, "amount_kg": int, "best_before": dt.datetime},
        "_primary_key_field": "id",
        "__module__": __name__,
    }
    pyd_ice: Any = type(PYD_CLASS, (Model,), namespace)
    store.register_model(pyd_ice)
    n = len(rows)
    return Contender(
        PYD,
        {
            OP_SET: looped(lambda k: pyd_ice.insert(pyd_ice(**rows[k % n]))),
            OP_GET: looped(lambda k: pyd_ice.select(ids=[rows[spread(k)]["id"]])[0]),
            OP_FILTER: None,
        },
        {OP_FILTER: "no query by field value: `select()` reads by pk, or every object"},
    )


def cleanup(client: redis.Redis) -> int:
    """SCAN + DEL this script's keys only."""
    return delete_matching(client, PATTERNS)


def time_contenders(
    runner: Runner, contenders: list[Contender], ops: tuple[str, ...], args: argparse.Namespace, **kw: Any
) -> list[Result]:
    """One run: every operation, its contenders interleaved."""
    results: list[Result] = []
    want = args.n // 100
    for op in ops:
        impls = [
            Impl(c.name, fn, raw=c.raw, flavour=kw.get("flavour", "sync"))
            for c in contenders
            if (fn := c.ops.get(op)) is not None
        ]
        if op == OP_FILTER:

            def check(got: Any) -> str | None:
                return None if got and got % want == 0 else f"expected a multiple of {want} objects, got {got}"

            count, warmup, chunk = args.queries, max(1, args.warmup // 10), max(1, args.queries // 10)
            extra: dict[str, Any] = {"check": check, "unit": "ms/query"}
        else:
            count, warmup, chunk, extra = args.n, args.warmup, args.chunk, {}
        if op == OP_INSERT:
            extra.update(fresh=True, after=kw["after"])
        results += runner.group(op, impls, count, args.repeats, warmup, chunk, **extra)
    return results


def run_redis(args: argparse.Namespace, skipped: dict[str, str]) -> tuple[list[list[Result]], list[Contender], str]:
    """``--runs`` runs of the Redis contenders; the results per run, the contenders, the server's description."""
    client = redis.Redis(host=HOST, port=PORT, db=DB)
    info = client.info("server")
    modules = ", ".join(str(m.get(b"name", m.get("name"))) for m in client.module_list()) or "no modules"
    server = f"Redis {info['redis_version']} at {HOST}:{PORT}, db {DB}, same machine ({modules})"
    try:
        cleanup(client)
        contenders = redis_contenders(client, args.n, skipped)
        for c in contenders:  # preload: every contender's own N objects (and index)
            fn = c.ops.get(OP_SET)
            if fn is not None:
                fn(0, args.n)
        runner, runs = Runner(), []
        for run in range(args.runs):
            print(f"Redis, run {run + 1} of {args.runs}", flush=True)
            runs.append(time_contenders(runner, contenders, (OP_SET, OP_GET, OP_FILTER), args))
            show(runs[-1])
        return runs, contenders, server
    finally:
        print(f"Redis cleanup: deleted {cleanup(client)} keys", flush=True)
        client.close()


# --------------------------------------------------------------------------- PostgreSQL
def tortoise_model() -> tuple[Any, Any]:
    """tortoise-orm's twin of the dataclass, over the same table, in a module of its own (tortoise imports it)."""
    from tortoise import Tortoise, fields
    from tortoise.models import Model

    module = types.ModuleType("bench_peers_tortoise")

    class TtIce(Model):
        id = fields.CharField(max_length=64, primary_key=True)
        flavour = fields.TextField()
        amount_kg = fields.BigIntField(db_index=True)
        best_before = fields.DatetimeField()

        class Meta:
            table = TABLE

    TtIce.__module__ = module.__name__
    module.TtIce = TtIce  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    return Tortoise, TtIce


def run_postgres(args: argparse.Namespace, skipped: dict[str, str]) -> tuple[list[list[Result]], list[Contender], str]:
    """``--runs`` runs of raw psycopg 3, PgRowMixin and tortoise-orm (asyncio)."""
    configure(postgres=URL)

    @dataclass
    class PgIce(pa.PgRowMixin):
        __table__ = TABLE
        __indexes__ = ("amount_kg",)
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    loop = asyncio.new_event_loop()
    admin = psycopg.connect(URL, autocommit=True)
    aconn = loop.run_until_complete(psycopg.AsyncConnection.connect(URL, autocommit=True))
    server = f"PostgreSQL {admin.execute('SHOW server_version').fetchone()[0]} at {URL.split('@')[-1]}"  # type: ignore[index]
    n = args.n
    tortoise = None
    try:
        admin.execute(f'DROP TABLE IF EXISTS "{TABLE}"')
        loop.run_until_complete(PgIce.create_table())
        with admin.cursor() as cur, cur.copy(f'COPY "{TABLE}" ({COLUMNS}) FROM STDIN') as cp:
            for i in range(n):
                cp.write_row(tuple(row(i).values()))
        admin.execute(f'VACUUM ANALYZE "{TABLE}"')

        def new(tag: str, k: int) -> dict[str, Any]:
            return {"id": f"x{tag}{k:08d}", "flavour": "new", "amount_kg": -1 - k, "best_before": WHEN}

        def pk(k: int) -> str:
            return f"ice-{k * 7919 % n}"

        async def fetch(sql: str, params: Any, many: bool) -> Any:
            cur = await aconn.execute(sql, params)
            return await (cur.fetchall() if many else cur.fetchone())

        contenders = [
            Contender(
                RAW_P,
                {
                    OP_INSERT: alooped(lambda k: aconn.execute(INSERT, tuple(new("a", k).values()))),
                    OP_GET: alooped(lambda k: fetch(BY_PK, (pk(k),), False)),
                    OP_FILTER: alooped(lambda _k: fetch(RANGE, (LOW,), True)),
                },
                {},
                raw=True,
            ),
            Contender(
                PM_P,
                {
                    OP_INSERT: alooped(lambda k: PgIce(**new("b", k)).set()),
                    OP_GET: alooped(lambda k: PgIce.match_for_pk(pk(k))),
                    OP_FILTER: alooped(lambda _k: PgIce.filter(amount_kg__gte=LOW)),  # awaited: its list
                },
                {},
            ),
        ]
        try:
            tortoise, tt_ice = tortoise_model()
            tt_url = "asyncpg://" + URL.split("://", 1)[1]
            init = tortoise.init(
                db_url=tt_url, modules={"models": ["bench_peers_tortoise"]}, use_tz=True, _enable_global_fallback=True
            )
            loop.run_until_complete(init)
            contenders.append(
                Contender(
                    TT,
                    {
                        OP_INSERT: alooped(lambda k: tt_ice.create(**new("c", k))),
                        OP_GET: alooped(lambda k: tt_ice.get(id=pk(k))),
                        OP_FILTER: alooped(lambda _k: tt_ice.filter(amount_kg__gte=LOW)),  # awaited: a list
                    },
                    {},
                )
            )
        except ImportError as exc:
            skipped["tortoise-orm"] = f"does not import: {exc}"
            tortoise = None
        runner, runs = Runner(loop), []
        clear = lambda: admin.execute(DELETE_NEW)  # noqa: E731
        for run in range(args.runs):
            print(f"PostgreSQL, run {run + 1} of {args.runs}", flush=True)
            ops = (OP_INSERT, OP_GET, OP_FILTER)
            runs.append(time_contenders(runner, contenders, ops, args, flavour="async", after=clear))
            show(runs[-1])
        return runs, contenders, server
    finally:
        if tortoise is not None:
            loop.run_until_complete(tortoise.close_connections())
        loop.run_until_complete(pa.close())
        loop.run_until_complete(aconn.close())
        loop.close()
        admin.execute(f'DROP TABLE IF EXISTS "{TABLE}"')
        admin.close()
        persist_mixins.close()


# --------------------------------------------------------------------------- report
def rate(r: Result) -> str:
    return f"{r.median * 1e3:.3f} ms/query" if r.unit == "ms/query" else f"{1 / r.median:,.0f} ops/s"


def vs_raw(r: Result) -> float:
    """Throughput ratio to raw in this run (raw median / this median)."""
    return r.ref.median / r.median if r.ref else 1.0


def show(results: list[Result]) -> None:
    for r in results:
        print(f"  {r.op:<28} {r.impl:<52} {rate(r):>18}  vs raw {vs_raw(r):.2f}x", flush=True)


@dataclass
class Line:
    """One contender's figures for one operation, over the runs."""

    backend: str
    op: str
    impl: str
    rate: str  # median over the runs
    ratio: float  # median over the runs of the ratio to raw; nan when not measured
    each: str
    raw: bool = False


def summarise(backend: str, runs: list[list[Result]], contenders: list[Contender], ops: tuple[str, ...]) -> list[Line]:
    """Medians over the runs, plus a line per operation a contender could not do."""
    out = []
    for op in ops:
        for c in contenders:
            same = [r for run in runs for r in run if r.op == op and r.impl == c.name]
            if same:
                mid = statistics.median(r.median for r in same)
                shown = f"{mid * 1e3:.3f} ms/query" if same[0].unit == "ms/query" else f"{1 / mid:,.0f} ops/s"
                ratios = [vs_raw(r) for r in same]
                each = ", ".join(f"{x:.2f}" for x in ratios)
                out.append(Line(backend, op, c.name, shown, statistics.median(ratios), each, c.raw))
            elif op in c.missing:
                out.append(Line(backend, op, c.name, "not measured", float("nan"), c.missing[op]))
    return out


HEAD = ("backend", "operation", "contender", "median rate", "vs raw (throughput)", "each run (or why not)")


def table_rows(lines: list[Line]) -> list[list[str]]:
    rows = []
    for x in lines:
        ratio = "reference" if x.raw else ("-" if x.ratio != x.ratio else f"{x.ratio:.2f}x")
        rows.append([x.backend, x.op, x.impl, x.rate, ratio, x.each])
    return rows


def plot(lines: list[Line], png: Path) -> None:
    """Grouped bars per backend: throughput relative to the raw driver, per operation and contender."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    backends = [b for b in ("Redis", "PostgreSQL") if any(x.backend == b for x in lines)]
    bottom = min([0.1, *(x.ratio * 0.8 for x in lines if x.ratio == x.ratio)])  # one scale for both panels
    ticks = [t for t in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5) if t >= bottom]
    fig, axes = plt.subplots(
        1, len(backends), figsize=(7 * len(backends), 4.8), squeeze=False, width_ratios=[2, 1][: len(backends)]
    )
    for ax, backend in zip(axes[0], backends, strict=True):
        mine = [x for x in lines if x.backend == backend and not x.raw and x.ratio == x.ratio]
        ops = list(dict.fromkeys(x.op for x in mine))
        impls = list(dict.fromkeys(x.impl for x in mine))
        width = 0.8 / len(impls)
        for k, impl in enumerate(impls):
            found = [(ops.index(x.op), x.ratio) for x in mine if x.impl == impl]
            xs = [g + (k - (len(impls) - 1) / 2) * width for g, _ in found]
            bars = ax.bar(xs, [v for _, v in found], width, label=impl, color=COLOURS.get(impl, "#777777"))
            ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
        ax.set_yscale("log")
        ax.set_ylim(bottom, 2)
        ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(ops)), ops, fontsize=8)
        flavour = "sync, raw redis-py = 1" if backend == "Redis" else "asyncio, raw psycopg 3 = 1"
        ax.set_title(f"{backend} ({flavour})", fontsize=9)
        ax.legend(fontsize=7, loc="upper right", ncol=2)
    axes[0][0].set_ylabel("throughput / raw driver, same rounds\n(median of runs; higher is better; log scale)")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


def dist(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions(servers: list[str]) -> dict[str, str]:
    """What the figures depend on."""
    dirty = git("status", "--porcelain", "--", "persist_mixins")
    libs = ("redis", "hiredis", "orjson", "redis-om", "walrus", "pydantic-redis", "pydantic", "tortoise-orm")
    libs += ("asyncpg", "psycopg", "psycopg-binary", "psycopg-pool", "matplotlib")
    return {
        "persist_mixins": f"{persist_mixins.__version__}, git {git('rev-parse', '--short', 'HEAD')}"
        + (" + uncommitted changes to persist_mixins/" if dirty else " (persist_mixins/ as committed)"),
        "Libraries": ", ".join(f"{name} {dist(name)}" for name in libs),
        "Servers": "; ".join(servers),
        "Machine": f"{machine()}, {python()}; the servers run on the same cores",
    }


def section(lines: list[Line], info: dict[str, str], skipped: dict[str, str], args: argparse.Namespace) -> str:
    """The Markdown section between the peers markers."""
    image = os.path.relpath(args.plot.resolve(), args.out.resolve().parent) if args.plot else None
    method = (__doc__ or "").split("\n\n", 3)[3].split("Redis keys live under")[0]
    text = [
        START,
        "## The peers: redis-om, walrus, pydantic-redis (Redis) and tortoise-orm (PostgreSQL)",
        "",
        "_Generated by `benchmarks/peers.py` (run in a virtualenv of its own: the peers are not dependencies); "
        "re-run the script to update this section._",
        "",
        f"- Date: {utc_now()}; command: `{' '.join(['python benchmarks/peers.py', *sys.argv[1:]])}` "
        f"(run time {info.pop('seconds')} s)",
        *(f"- {key}: {value}" for key, value in info.items()),
        *(f"- Skipped: {name}: {why}" for name, why in skipped.items()),
        "",
        "Method: " + method.replace("``", "`").strip(),
        "",
        md_table(HEAD, table_rows(lines), text_columns=3, spaced=True),
        "",
        "Notes: walrus' `DateTimeField` stores a timestamp and gives back a naive datetime (the UTC offset "
        "is lost); redis-om, pydantic-redis, tortoise-orm and persist_mixins give back an aware one. walrus and "
        "pydantic-redis keep a set of every pk (walrus also a set per pk value), so a write sends more commands "
        "than the one HSET. redis-schematics and peewee-async are measured in their own sections of this page.",
        *(["", f"![throughput relative to the raw driver, per operation and contender]({image})"] if image else []),
        "",
        END,
    ]
    return "\n".join(text)


def write(out: Path, text: str) -> None:
    """Replace the marked section of ``out``; when absent, insert it before the Schematics section (or append)."""
    old = out.read_text() if out.exists() else ""
    first, last = old.find(START), old.find(END)
    if 0 <= first < last:
        new = old[:first] + text + old[last + len(END) :]
    elif BEFORE in old:
        at = old.find(BEFORE)
        new = old[:at] + text + "\n\n" + old[at:]
    else:
        new = (old.rstrip("\n") + "\n\n" if old else "") + text + "\n"
    out.write_text(new)


def main() -> int:
    args = parse_args()
    started, load_start = time.perf_counter(), load()
    skipped: dict[str, str] = {}
    lines: list[Line] = []
    servers = []
    if args.only != "postgres":
        runs, contenders, server = run_redis(args, skipped)
        lines += summarise("Redis", runs, contenders, (OP_SET, OP_GET, OP_FILTER))
        servers.append(server)
    if args.only != "redis":
        runs, contenders, server = run_postgres(args, skipped)
        lines += summarise("PostgreSQL", runs, contenders, (OP_INSERT, OP_GET, OP_FILTER))
        servers.append(server)
    print()
    print(text_table(HEAD, table_rows(lines), numbers_from=3, split_ops=False))
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    info = versions(servers)
    info["Conditions"] = f"load average {load_start} at start, {load()} at end"
    info["seconds"] = f"{time.perf_counter() - started:.0f}"
    if args.plot:
        plot(lines, args.plot)
        print(f"wrote {args.plot}")
    if args.out:
        write(args.out, section(lines, info, skipped, args))
        print(f"wrote the peers section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "benchmarks"))
    sys.exit(main())
