"""Benchmark persist_mixins' PostgreSQL backend against raw psycopg 3 and peewee-async 2.1 (by hand, not a test).

    python benchmarks/pg_bench.py [--quick] [--out docs/performance.md] [--plot docs/_static/pg_bench.png]
    python benchmarks/pg_bench.py --profile   # only cProfile sync set() / match_for_pk() / the 1% range query

Uses the database of ``PG_BENCH_URL`` (default ``test`` at 127.0.0.1:5432): creates ``bench_item`` and
``bench_bulk``, drops them at the end; about three minutes on 2 cores.  Raw psycopg 3 (sync and async),
``PgRowMixin`` (sync and asyncio) and peewee-async 2.1 are timed in the same rounds at every N of ``--n``
rows preloaded: insert one row, get by pk, a range query returning 1% of the rows, a bulk insert of N rows.
``--out`` rewrites only the part of the file between ``<!-- pg-bench:start -->`` and ``<!-- pg-bench:end -->``
(appended when absent); benchmarks/redis_bench.py owns the rest of docs/performance.md and keeps that part.
"""

import argparse
import asyncio
import collections
import cProfile
import dataclasses
import datetime as dt
import gc
import importlib.metadata
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import peewee
import peewee_async
import psycopg

import persist_mixins
import persist_mixins.asyncio as pa
from persist_mixins import PgRowMixin, configure
from persist_mixins.backends.postgres import plans
from persist_mixins.binding import spec_of

URL = os.environ.get("PG_BENCH_URL", "postgresql://postgres@127.0.0.1:5432/test")
TABLE, BULK_TABLE = "bench_item", "bench_bulk"
REPO = Path(__file__).resolve().parent.parent
START, END = "<!-- pg-bench:start -->", "<!-- pg-bench:end -->"
ALIVE = '("_expires_at" IS NULL OR "_expires_at" > statement_timestamp())'
# The statements the library sends (checked against its plans at start-up); raw reads keep its expiry predicate.
UPSERT = (
    'INSERT INTO "{t}" AS t ("id", "name", "amount", "_expires_at") VALUES (%s, %s, %s, '
    "statement_timestamp() + %s * interval '1 millisecond') "
    'ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", '
    '"amount" = EXCLUDED."amount", "_expires_at" = EXCLUDED."_expires_at"'
)
BY_PK = f'SELECT "id", "name", "amount" FROM "{TABLE}" WHERE "id" = %s AND {ALIVE}'
RANGE = f'SELECT "id", "name", "amount" FROM "{TABLE}" WHERE {ALIVE} AND "amount" BETWEEN %s AND %s'
COPY = 'COPY "{t}" ("id", "name", "amount") FROM STDIN'

RAW, PM, RAW_A, PM_A = "raw psycopg 3", "PgRowMixin", "raw psycopg 3 async", "persist_mixins.asyncio PgRowMixin"
PW, EXECMANY, EXECMANY_A = "peewee-async 2.1", "raw executemany", "raw async executemany"
RAW_COPY, RAW_COPY_A = "raw COPY (reference)", "raw async COPY (reference)"
OPS = ("insert one", "get by pk", "range 1%", "bulk insert")


def row(i: int) -> tuple[str, str, int]:
    """Row number ``i`` of a dataset: pk, name, amount = i (so N/100 consecutive amounts hit 1%)."""
    return f"r{i:07d}", f"name-{i}", i


def model(base: type, table: str, name: str) -> Any:
    """A dataclass model over ``table`` for one flavour of PgRowMixin (sync or asyncio)."""

    @dataclasses.dataclass
    class Row(base):  # type: ignore[misc, valid-type]
        __table__ = table
        __indexes__ = ("amount",)
        id: str | None = None
        name: str | None = None
        amount: int | None = None

    Row.__name__ = Row.__qualname__ = name
    return Row


def peewee_model(db: Any, table: str) -> Any:
    """The peewee-async twin of :func:`model`, mapped onto the table persist_mixins created."""

    class PwRow(peewee_async.AioModel):
        id = peewee.TextField(primary_key=True)
        name = peewee.TextField(null=True)
        amount = peewee.BigIntegerField(null=True)
        expires_at = peewee.DateTimeField(column_name="_expires_at", null=True)

        class Meta:
            database = db
            table_name = table

    PwRow.alive = PwRow.expires_at.is_null() | (PwRow.expires_at > peewee.fn.statement_timestamp())
    PwRow.upsert = {"conflict_target": [PwRow.id], "preserve": [PwRow.name, PwRow.amount, PwRow.expires_at]}
    return PwRow


# --------------------------------------------------------------------------- timing
@dataclasses.dataclass
class Impl:
    """One implementation of one operation: ``fn(first, n)`` runs n ops from op number ``first``."""

    name: str
    flavour: str  # "sync" or "async" (fn is then a coroutine function)
    fn: Callable[[int, int], Any]
    raw: bool = False


@dataclasses.dataclass
class Result:
    """Seconds per op (per row for bulk) of one implementation, one entry per repeat."""

    op: str
    n: int
    impl: Impl
    unit: str
    times: list[float] = dataclasses.field(default_factory=list)
    ref: "Result | None" = None  # the raw driver of the same flavour, same group

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def x_raw(self) -> float:
        return self.best / self.ref.best if self.ref else 1.0

    @property
    def paired(self) -> float:
        """Median over repeats of (this time / raw time in the same repeat): robust to drift."""
        pairs = zip(self.times, self.ref.times, strict=True) if self.ref else [(1.0, 1.0)]
        return statistics.median(t / r for t, r in pairs)


async def _timed(fn: Callable[[int, int], Any], first: int, n: int) -> tuple[float, Any]:
    began = time.perf_counter()
    out = await fn(first, n)
    return time.perf_counter() - began, out


class Runner:
    """Runs the implementations of an operation in rotating turns; async ones on one loop, timed inside it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.results: list[Result] = []

    def call(self, impl: Impl, first: int, n: int) -> tuple[float, Any]:
        if impl.flavour == "async":
            return self.loop.run_until_complete(_timed(impl.fn, first, n))
        began = time.perf_counter()
        out = impl.fn(first, n)
        return time.perf_counter() - began, out

    def group(self, op: str, n_rows: int, impls: list[Impl], count: int, repeats: int, warmup: int, **kw: Any) -> None:
        """Time ``count`` ops of each implementation per repeat, taking turns every ``chunk`` ops.

        Keywords: chunk (ops per turn), per_op (rows per op), unit, before (untimed, before every call),
        after (untimed, after the warm-up and every repeat), check(last result) -> error message or None.
        """
        chunk, per_op = kw.get("chunk", 100), kw.get("per_op", 1)
        before, after = kw.get("before", lambda: None), kw.get("after", lambda: None)
        results = [Result(op, n_rows, impl, kw.get("unit", "ops/s")) for impl in impls]
        refs = {r.impl.flavour: r for r in results if r.impl.raw}
        for r in results:
            r.ref = None if r.impl.raw else refs[r.impl.flavour]
        for impl in impls:
            before()
            problem = kw.get("check", lambda _: None)(self.call(impl, 0, warmup)[1])
            if problem:
                raise SystemExit(f"{op}, N={n_rows:,}, {impl.name}: {problem}")
        after()
        for repeat in range(repeats):
            elapsed = [0.0] * len(impls)
            gc.collect()
            base = (repeat + 1) * max(count, warmup)  # fresh op numbers: inserts write new pks
            for turn, start in enumerate(range(0, count, chunk)):
                for j in [(repeat + turn + k) % len(impls) for k in range(len(impls))]:
                    before()
                    elapsed[j] += self.call(impls[j], base + start, min(chunk, count - start))[0]
            after()
            for r, seconds in zip(results, elapsed, strict=True):
                r.times.append(seconds / (count * per_op))
        for r in results:
            print(f"  {op:<11} N={n_rows:<6,} {r.impl.name:<34} {1 / r.best:>9,.0f} {r.unit:<6} x raw {r.x_raw:5.2f}")
        self.results += results


# --------------------------------------------------------------------------- implementations
#: Connections and model classes shared by every group (model classes: sync, asyncio and peewee twins).
Env = collections.namedtuple("Env", "admin conn aconn item bulk aitem abulk pw_item pw_bulk pw_db")


def looped(name: str, flavour: str, one: Callable[[int], Any]) -> Impl:
    """An implementation running ``one(k)`` for each op number k (awaited when ``flavour`` is async)."""

    def run_sync(first: int, count: int) -> Any:
        out = None
        for k in range(first, first + count):
            out = one(k)
        return out

    async def run_async(first: int, count: int) -> Any:
        out = None
        for k in range(first, first + count):
            out = await one(k)
        return out

    return Impl(name, flavour, run_sync if flavour == "sync" else run_async, raw=name in (RAW, RAW_A))


def single_row_groups(env: Env, n: int) -> dict[str, list[Impl]]:
    """The implementations of insert one, get by pk and range 1%, at N = ``n`` preloaded rows."""
    conn, aconn, Item, AItem, PwItem = env.conn, env.aconn, env.item, env.aitem, env.pw_item
    upsert, width = UPSERT.format(t=TABLE), max(1, n // 100)

    def new(tag: str, k: int) -> tuple[str, str, int, None]:
        return f"x{tag}{k:08d}", f"new-{k}", -1 - k, None  # negative amounts: never in a range query

    def pk(k: int) -> str:
        return row(k * 7919 % n)[0]

    def bounds(k: int) -> tuple[int, int]:
        lo = k * 7919 % (n - width + 1)
        return lo, lo + width - 1

    async def fetch_a(sql: str, params: Any, many: bool) -> Any:
        cur = await aconn.execute(sql, params)
        return await (cur.fetchall() if many else cur.fetchone())

    def pw_upsert(k: int) -> Any:
        i, name, amount, _ = new("e", k)
        return PwItem.insert(id=i, name=name, amount=amount, expires_at=None).on_conflict(**PwItem.upsert)

    ops: dict[str, tuple[Callable[[int], Any], ...]] = {
        "insert one": (
            lambda k: conn.execute(upsert, new("a", k)),
            lambda k: Item(*new("b", k)[:3]).set(),
            lambda k: aconn.execute(upsert, new("c", k)),
            lambda k: AItem(*new("d", k)[:3]).set(),
            lambda k: pw_upsert(k).aio_execute(),
        ),
        "get by pk": (
            lambda k: conn.execute(BY_PK, (pk(k),)).fetchone(),
            lambda k: Item.match_for_pk(pk(k)),
            lambda k: fetch_a(BY_PK, (pk(k),), False),
            lambda k: AItem.match_for_pk(pk(k)),
            lambda k: PwItem.aio_get(PwItem.id == pk(k), PwItem.alive),
        ),
        "range 1%": (
            lambda k: conn.execute(RANGE, bounds(k)).fetchall(),
            lambda k: list(Item.filter(amount__range=bounds(k))),
            lambda k: fetch_a(RANGE, bounds(k), True),
            lambda k: AItem.filter(amount__range=bounds(k)),  # awaiting an async query gives its list
            lambda k: PwItem.select().where(PwItem.alive, PwItem.amount.between(*bounds(k))).aio_execute(),
        ),
    }
    names = ((RAW, "sync"), (PM, "sync"), (RAW_A, "async"), (PM_A, "async"), (PW, "async"))
    return {op: [looped(*nf, one) for nf, one in zip(names, ones, strict=True)] for op, ones in ops.items()}


def bulk_impls(env: Env, n: int) -> list[Impl]:
    """Bulk insert of ``n`` new rows into the empty ``bench_bulk`` table, each flavour."""
    conn, aconn, Bulk, ABulk, PwBulk = env.conn, env.aconn, env.bulk, env.abulk, env.pw_bulk
    rows, upsert, copy_sql = [row(i) for i in range(n)], UPSERT.format(t=BULK_TABLE), COPY.format(t=BULK_TABLE)

    def executemany(first: int, count: int) -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(upsert, [(*r, None) for r in rows])

    def copy(first: int, count: int) -> None:
        with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as cp:
            for r in rows:
                cp.write_row(r)

    async def executemany_a(first: int, count: int) -> None:
        async with aconn.transaction(), aconn.cursor() as cur:
            await cur.executemany(upsert, [(*r, None) for r in rows])

    async def copy_a(first: int, count: int) -> None:
        async with aconn.transaction(), aconn.cursor() as cur, cur.copy(copy_sql) as cp:
            for r in rows:
                await cp.write_row(r)

    async def pw_insert_many(first: int, count: int) -> None:
        fields = [PwBulk.id, PwBulk.name, PwBulk.amount]
        async with env.pw_db.aio_atomic():
            for start in range(0, n, 1000):  # peewee's documented chunked insert_many
                query = PwBulk.insert_many(rows[start : start + 1000], fields=fields).on_conflict(**PwBulk.upsert)
                await query.as_rowcount().aio_execute()

    return [
        Impl(EXECMANY, "sync", executemany, raw=True),
        Impl(PM, "sync", lambda first, count: Bulk.set_many([Bulk(*r) for r in rows])),
        Impl(RAW_COPY, "sync", copy),
        Impl(EXECMANY_A, "async", executemany_a, raw=True),
        Impl(PM_A, "async", lambda first, count: ABulk.set_many([ABulk(*r) for r in rows])),
        Impl(RAW_COPY_A, "async", copy_a),
        Impl(PW, "async", pw_insert_many),
    ]


def check_sql(env: Env) -> None:
    """Stop unless the raw statements are the ones the library's plans send (range: before its LIMIT)."""
    spec = spec_of(env.item)
    sent = {
        UPSERT.format(t=TABLE): plans.save(spec, env.item("r", "n", 1)),
        BY_PK: plans.match_for_pk(spec, "r"),
        RANGE: plans.select_pairs(spec, env.item.filter(amount__range=(1, 2))._state),
    }
    for ours, plan in sent.items():
        theirs = next(plan).text
        if not theirs.startswith(ours):
            raise SystemExit(f"a raw statement differs from the library's:\n  {ours}\n  {theirs}")


# --------------------------------------------------------------------------- run
def preload(admin: psycopg.Connection[Any], n: int) -> None:
    """Fill ``bench_item`` with rows 0..n-1 (COPY) and analyze it."""
    admin.execute(f'TRUNCATE "{TABLE}"')
    with admin.cursor() as cur, cur.copy(COPY.format(t=TABLE)) as cp:
        for i in range(n):
            cp.write_row(row(i))
    admin.execute(f'VACUUM ANALYZE "{TABLE}"')


def run(env: Env, runner: Runner, args: argparse.Namespace, n: int) -> None:
    """Every group at N = ``n`` rows preloaded."""
    admin = env.admin
    preload(admin, n)
    groups, width = single_row_groups(env, n), max(1, n // 100)

    def got_row(out: Any) -> str | None:
        pk = out[0] if isinstance(out, tuple) else getattr(out, "id", None)
        return None if isinstance(pk, str) and pk.startswith("r") else f"expected a preloaded row, got {out!r}"

    def got_range(out: Any) -> str | None:
        return None if len(out) == width else f"expected {width} rows, got {len(out)}"

    def filled(_: Any) -> str | None:
        got = admin.execute(f'SELECT count(*) FROM "{BULK_TABLE}"').fetchone()[0]  # type: ignore[index]
        return None if got == n else f"expected {n} rows in {BULK_TABLE}, found {got}"

    print(f"N = {n:,}")
    reps, warm, chunk = args.repeats, args.warmup, args.chunk
    runner.group("get by pk", n, groups["get by pk"], args.ops, reps, warm, chunk=chunk, check=got_row)
    runner.group("range 1%", n, groups["range 1%"], args.range_ops, reps, warm // 5, chunk=chunk // 4, check=got_range)
    cleanup = lambda: admin.execute(f"DELETE FROM \"{TABLE}\" WHERE id LIKE 'x%'")  # noqa: E731
    runner.group("insert one", n, groups["insert one"], args.ops, reps, warm, chunk=chunk, after=cleanup)
    truncate = lambda: admin.execute(f'TRUNCATE "{BULK_TABLE}"')  # noqa: E731
    bulk = bulk_impls(env, n)
    runner.group("bulk insert", n, bulk, 1, args.repeats_bulk, 1, chunk=1, per_op=n, unit="rows/s", before=truncate,
                 check=filled)  # fmt: skip


async def atomic_probe(env: Env, children: int = 20) -> list[str]:
    """Child tasks gathered inside a transaction block, each writing one row: how many rows are kept?"""
    PwItem, AItem, lines = env.pw_item, env.aitem, []
    pw_child = lambda k: PwItem.insert(id=f"zp{k}", name="child", amount=-1).aio_execute()  # noqa: E731
    pm_child = lambda k: AItem(f"zm{k}", "child", -1).set()  # noqa: E731
    for name, block, child, prefix in (
        ("peewee-async 2.1 `aio_atomic()`", env.pw_db.aio_atomic, pw_child, "zp"),
        ("persist_mixins.asyncio `transaction()`", AItem.transaction, pm_child, "zm"),
    ):
        try:
            async with block():
                await asyncio.gather(*(child(k) for k in range(children)))
            outcome = "no error"
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0][:100]}..."
        kept = env.admin.execute(f"DELETE FROM \"{TABLE}\" WHERE id LIKE '{prefix}%'").rowcount
        lines.append(f"{name}, {children} gathered child tasks each writing one row: {kept} rows kept ({outcome})")
    return lines


def profile(env: Env, ops: int, n: int) -> list[str]:
    """cProfile ``ops`` sync set(), match_for_pk() and 1% range queries; the top self-time functions."""
    Item, width, lines = env.item, max(1, n // 100), []
    for name, fn in (
        ("set()", lambda: [Item(f"x{k:08d}", "p", -1).set() for k in range(ops)]),
        ("match_for_pk()", lambda: [Item.match_for_pk(row(k * 7919 % n)[0]) for k in range(ops)]),
        (f"range 1% ({width} rows)", lambda: [list(Item.filter(amount__range=(k, k + width - 1))) for k in range(ops)]),
    ):
        prof = cProfile.Profile()
        began = time.perf_counter()
        prof.runcall(fn)
        wall = time.perf_counter() - began
        stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
        total, shares = sum(v[2] for v in stats.values()), dict.fromkeys(("persist_mixins", "psycopg", "other"), 0.0)
        for (file, _, _), v in stats.items():
            shares[next((p for p in ("persist_mixins", "psycopg") if f"/{p}" in file), "other")] += v[2]
        share = ", ".join(f"{k} {v / total:.0%}" for k, v in shares.items())
        lines.append(f"{name}, {ops:,} ops at N={n:,}: {wall / ops * 1e6:.0f} us/op under cProfile; self time: {share}")
        ours = sorted(((v[2], k) for k, v in stats.items() if "/persist_mixins/" in k[0]), reverse=True)[:8]
        for tt, (file, line, func) in ours:
            where = "persist_mixins/" + file.split("/persist_mixins/", 1)[1]
            lines.append(f"    {tt / ops * 1e6:7.2f} us/op {tt / total:6.1%}  {where}:{line}({func})")
    env.admin.execute(f"DELETE FROM \"{TABLE}\" WHERE id LIKE 'x%'")
    return lines


# --------------------------------------------------------------------------- report
HEAD = ("operation", "N", "implementation", "unit", "best", "median", "x raw", "x raw (paired)", "vs raw", "spread")


def table_rows(results: list[Result]) -> list[list[str]]:
    """One row per result; *vs raw* is the throughput ratio (raw time / our time, best vs best)."""
    return [
        [r.op, f"{r.n:,}", r.impl.name + ("" if r.impl.raw else f" ({r.impl.flavour})"), r.unit, f"{1 / r.best:,.0f}",
         f"{1 / statistics.median(r.times):,.0f}", f"{r.x_raw:.2f}", f"{r.paired:.2f}", f"{1 / r.x_raw:.2f}x",
         f"{(max(r.times) - r.best) / r.best:.0%}"]
        for r in results
    ]  # fmt: skip


def targets(results: list[Result]) -> list[list[str]]:
    """The targets: PgRowMixin >= 0.8x raw ops/s on single-row ops; set_many(10,000) no slower than executemany."""
    out = []
    for impl in (PM, PM_A):
        for op in OPS[:3]:
            found = [r for r in results if r.op == op and r.impl.name == impl]
            shown = "; ".join(f"N={r.n:,}: {1 / r.x_raw:.2f}x ({1 / r.paired:.2f}x)" for r in found)
            verdict = "met" if all(1 / r.x_raw >= 0.8 for r in found) else "NOT MET"
            out.append([f"{op}, {impl}: >= 0.8x raw ops/s", shown, verdict])
        bulk = [r for r in results if r.op == "bulk insert" and r.impl.name == impl and r.n >= 10000]
        shown = "; ".join(f"N={r.n:,}: {1 / r.x_raw:.2f}x ({1 / r.paired:.2f}x)" for r in bulk)
        verdict = "not measured" if not bulk else "met" if all(r.x_raw <= 1.0 for r in bulk) else "NOT MET"
        out.append([f"set_many of 10,000, {impl}: >= 1.0x raw executemany rows/s", shown, verdict])
    return out


def text_table(head: tuple[str, ...], rows: list[list[str]]) -> str:
    """A fixed-width table for the terminal."""
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)) for line in [list(head), *rows]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def md_table(head: tuple[str, ...], rows: list[list[str]], text_columns: int = 4) -> str:
    """A Markdown table; columns after the first ``text_columns`` are right-aligned."""
    align = ["---"] * text_columns + ["---:"] * (len(head) - text_columns)
    return "\n".join("| " + " | ".join(line) + " |" for line in [list(head), align, *rows])


def git(*argv: str) -> str:
    """Output of a git command in the repository ('?' when git is unavailable)."""
    try:
        return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def versions(admin: psycopg.Connection[Any], load_start: str) -> dict[str, str]:
    """What the figures depend on."""
    cpu = next((x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                if x.startswith("model name")), platform.processor())  # fmt: skip
    server = admin.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    dirty = ", ".join(x.split()[-1] for x in git("status", "--porcelain", "--", "persist_mixins").splitlines())
    libpq = psycopg.pq.version()
    return {
        "Machine": f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; "
        "the PostgreSQL server runs on the same machine, so client and server share the cores",
        "persist_mixins": f"{persist_mixins.__version__}, git {git('rev-parse', '--short', 'HEAD')}"
        + (f" + uncommitted changes (at run time) to {dirty}" if dirty else " (persist_mixins/ as committed)"),
        "PostgreSQL server": f"{server} at {URL.split('@')[-1]}, default settings",
        "psycopg": f"{psycopg.__version__} ({psycopg.pq.__impl__}, libpq {libpq // 10000}.{libpq % 10000}), "
        f"psycopg_pool {importlib.metadata.version('psycopg-pool')}",
        "peewee-async": f"{importlib.metadata.version('peewee-async')} with peewee {peewee.__version__}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "Conditions": f"load average {load_start} at start, {os.getloadavg()[0]:.2f} at end (other work on the "
        "machine or the server inflates times and spreads)",
    }


def section(results: list[Result], info: dict[str, str], extra: dict[str, list[str]], args: argparse.Namespace) -> str:
    """The Markdown section between the pg-bench markers."""
    cmd = " ".join(["python benchmarks/pg_bench.py", *sys.argv[1:]])
    image = os.path.relpath(args.plot.resolve(), args.out.resolve().parent) if args.plot else None
    lines = [
        START, "## PostgreSQL: persist_mixins vs raw psycopg 3 and peewee-async", "",
        "_This section is generated by `benchmarks/pg_bench.py`; `benchmarks/redis_bench.py` keeps it when it "
        "regenerates the rest of the page. Edit the script, not the section._", "",
        f"- Date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        *(f"- {name}: {value}" for name, value in info.items()),
        f"- Command: `{cmd}` (run time {extra['seconds'][0]} s)", "", "### Method", "",
        "- Implementations: raw psycopg 3 on one sync autocommit `Connection`; `PgRowMixin` (its own "
        "`psycopg_pool.ConnectionPool`, built from the URL given to `configure()`); raw psycopg 3 on one autocommit "
        "`AsyncConnection`; `persist_mixins.asyncio.PgRowMixin` (its own `AsyncConnectionPool`); peewee-async 2.1 "
        "(`Psycopg3Database`: a psycopg 3 `AsyncConnectionPool` with `AsyncClientCursor`; an `AioModel` mapped onto "
        "the same table). The models are dataclasses `id: str, name: str, amount: int` with "
        '`__indexes__ = ("amount",)`; everything runs on the table made by `create_table()`.',
        "- Equivalent work: the raw statements are the library's own (checked against its plans at start-up): "
        "the same `INSERT ... ON CONFLICT (id) DO UPDATE` upsert, and SELECTs of the same columns with the same "
        'expiry predicate `("_expires_at" IS NULL OR "_expires_at" > statement_timestamp())` (raw and peewee alike). '
        "Raw reads "
        "return tuples, the libraries model instances; objects and parameter tuples are built inside the timed code.",
        f"- Operations, at N = {' and '.join(f'{n:,}' for n in args.n)} rows preloaded by COPY, then "
        "`VACUUM ANALYZE`: *insert one* = `set()` / upsert of a new pk, one autocommit transaction each, so bound "
        "by the server's WAL flush (the new rows are deleted after each repeat, untimed); *get by pk* = "
        "`match_for_pk()` of a preloaded row (peewee: `aio_get`); *range 1%* = "
        "`filter(amount__range=(lo, lo + N/100 - 1))` read in full, N/100 rows (raw: the same SELECT without the "
        "library's `LIMIT 1001` cap); *bulk insert* = N new rows into the empty `bench_bulk` table (`TRUNCATE` "
        "before every call, untimed): `set_many()` (BEGIN, temp table, COPY, `INSERT ... SELECT ... ON CONFLICT`, "
        "COMMIT) vs raw `executemany` of the upsert in one transaction (psycopg pipelines it), raw COPY in one "
        "transaction for reference, peewee-async `insert_many(...).on_conflict(...)` by 1,000 in `aio_atomic()`.",
        f"- Timing: {args.warmup} warm-up ops per implementation ({args.warmup // 5} for range), then "
        f"{args.ops:,} ops per repeat for insert / get and {args.range_ops:,} queries for range, the five "
        f"implementations taking turns every {args.chunk} ops ({args.chunk // 4} queries; every call for bulk) in a "
        "rotating order, sync and async in the same rounds (the async ones on one event loop, timed inside it); "
        f"each implementation's time is summed over its turns. {args.repeats} repeats ({args.repeats_bulk} for "
        "bulk); the **best** repeat is reported, the median alongside. Bulk figures are rows/s.",
        "- *x raw* = best time per op / best time per op of the raw driver of the same flavour (sync or async) "
        "in the same run (higher is slower); *x raw (paired)* = median over repeats of that ratio within one repeat; "
        "*vs raw* = throughput relative to raw (1 / x raw; the targets use it); *spread* = (worst - best) / best.",
        "", "### Results", "", md_table(HEAD, table_rows(results)), "", "### Targets", "",
        md_table(("target", "vs raw, best (paired)", "verdict"), targets(results), 3), "",
        "### Where the time goes (cProfile, sync, after the run)", "", "```", *extra["profile"], "```", "",
        "### Child tasks inside a transaction block", "", *(f"- {p}" for p in extra["probe"]), "",
    ]  # fmt: skip
    if image:
        lines += [f"![throughput relative to the raw driver of the same flavour]({image})", ""]
    return "\n".join([*lines, END])


def write_section(out: Path, text: str) -> None:
    """Replace the pg-bench section of ``out`` (append it when absent); leave the rest untouched."""
    old = out.read_text() if out.exists() else ""
    start, end = old.find(START), old.find(END)
    if 0 <= start < end:
        new = old[:start] + text + old[end + len(END) :]
    else:
        new = (old.rstrip("\n") + "\n\n" if old else "") + text + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(new)


def plot(results: list[Result], png: Path) -> None:
    """Grouped bars: throughput relative to the raw driver of the same flavour, per operation and N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(OPS.index(r.op), r.n) for r in results})
    bars = [(PM, "sync"), (PM_A, "async"), (PW, "async"), (RAW_COPY, "sync"), (RAW_COPY_A, "async")]
    colours = ["#3a78b5", "#7fb0de", "#d9822b", "#888888", "#c8c8c8"]
    fig, ax = plt.subplots(figsize=(12, 5))
    width = 0.8 / len(bars)
    for k, ((name, flavour), colour) in enumerate(zip(bars, colours, strict=True)):
        found = [(g, r) for g, (op, n) in enumerate(groups) for r in results
                 if (r.impl.name, r.impl.flavour, r.op, r.n) == (name, flavour, OPS[op], n)]  # fmt: skip
        xs = [g + (k - (len(bars) - 1) / 2) * width for g, _ in found]
        label = name if "reference" in name else f"{name} ({flavour})"
        drawn = ax.bar(xs, [1 / r.x_raw for _, r in found], width, label=label, color=colour)
        ax.bar_label(drawn, fmt="%.2f", fontsize=6, padding=1)
    ax.set_yscale("log")
    ax.set_ylim(0.1, 30)
    ax.set_yticks([0.2, 0.5, 0.8, 1, 2, 5, 10], ["0.2", "0.5", "0.8", "1", "2", "5", "10"])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(0.8, color="red", linewidth=0.8, linestyle="--", label="target 0.8x (single-row ops)")
    ax.set_xticks(range(len(groups)), [f"{OPS[op]}\nN={n:,}" for op, n in groups], fontsize=8)
    ax.set_ylabel("throughput / raw psycopg 3, same flavour\n(1 = raw; higher is better; log scale)")
    ax.set_title("persist_mixins PgRowMixin and peewee-async vs raw psycopg 3 (best of repeats)", fontsize=10)
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    """Command-line options (``--quick`` shrinks counts and repeats)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000], help="rows preloaded (and bulk size)")
    parser.add_argument("--ops", type=int, default=1000, help="ops per repeat for insert one / get by pk")
    parser.add_argument("--range-ops", type=int, default=400, help="range queries per repeat")
    parser.add_argument("--repeats", type=int, default=7, help="repeats of insert / get / range")
    parser.add_argument("--repeats-bulk", type=int, default=5, help="repeats of bulk insert")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up ops per implementation")
    parser.add_argument("--chunk", type=int, default=100, help="ops per turn when implementations alternate")
    parser.add_argument("--profile-ops", type=int, default=2000, help="ops per cProfile'd operation")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (few ops, 3 repeats)")
    parser.add_argument("--out", type=Path, help="Markdown file whose pg-bench section is rewritten")
    parser.add_argument("--plot", type=Path, help="PNG bar chart (needs matplotlib)")
    parser.add_argument("--profile", action="store_true", help="only cProfile sync set / match_for_pk / range")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(ops=200, range_ops=100, repeats=3, repeats_bulk=2, warmup=50, profile_ops=300)
    if min(args.n) < 100 or args.warmup > args.ops or args.chunk < 4:
        parser.error("--n values must be >= 100, --warmup <= --ops and --chunk >= 4")
    return args


def main() -> int:
    args = parse_args()
    load_start, started = f"{os.getloadavg()[0]:.2f}", time.perf_counter()
    configure(postgres=URL)
    params = psycopg.conninfo.conninfo_to_dict(URL)
    loop = asyncio.new_event_loop()
    admin = psycopg.connect(URL, autocommit=True)
    pw_db = peewee_async.Psycopg3Database(
        params["dbname"], host=params.get("host", "localhost"), port=int(params.get("port", 5432)),
        user=params.get("user"), password=params.get("password", ""), pool_params={"min_size": 1, "max_size": 10},
    )  # fmt: skip
    env = Env(
        admin, psycopg.connect(URL, autocommit=True),
        loop.run_until_complete(psycopg.AsyncConnection.connect(URL, autocommit=True)),
        model(PgRowMixin, TABLE, "BenchItem"), model(PgRowMixin, BULK_TABLE, "BenchBulk"),
        model(pa.PgRowMixin, TABLE, "AsyncBenchItem"), model(pa.PgRowMixin, BULK_TABLE, "AsyncBenchBulk"),
        peewee_model(pw_db, TABLE), peewee_model(pw_db, BULK_TABLE), pw_db,
    )  # fmt: skip
    drop = lambda: [admin.execute(f'DROP TABLE IF EXISTS "{t}"') for t in (TABLE, BULK_TABLE)]  # noqa: E731
    try:
        drop()  # leftovers of an interrupted run
        env.item.create_table()
        env.bulk.create_table()
        check_sql(env)
        if args.profile:
            preload(admin, max(args.n))
            print("\n".join(profile(env, args.profile_ops, max(args.n))))
            return 0
        print(f"persist_mixins PostgreSQL benchmark, {os.cpu_count()} cores; x raw = time / raw time, same flavour")
        runner = Runner(loop)
        for n in args.n:
            run(env, runner, args, n)
        extra = {"probe": loop.run_until_complete(atomic_probe(env))}
        extra["profile"] = profile(env, args.profile_ops, args.n[-1])
        extra["seconds"] = [f"{time.perf_counter() - started:.0f}"]
        print("\n" + text_table(HEAD, table_rows(runner.results)) + "\n\ntargets (vs raw ops/s, best (paired)):")
        print("\n".join(f"  {verdict:<8} {target}: {shown}" for target, shown, verdict in targets(runner.results)))
        print("\n".join(["", *extra["profile"], "", *extra["probe"], f"run time {extra['seconds'][0]} s"]))
        if args.plot:
            plot(runner.results, args.plot)
            print(f"wrote {args.plot}")
        if args.out:
            write_section(args.out, section(runner.results, versions(admin, load_start), extra, args))
            print(f"wrote the pg-bench section of {args.out}")
        return 0
    finally:
        drop()
        persist_mixins.close()
        loop.run_until_complete(pa.close())
        loop.run_until_complete(pw_db.aio_close())
        loop.run_until_complete(env.aconn.close())
        loop.close()
        env.conn.close()
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
