"""The PostgreSQL shape of issue 12: PgRowMixin against raw psycopg 3 on one dedicated connection (by hand, not a test).

    python benchmarks/pg_shape.py [--n 5000] [--runs 3] [--chunk 250]

Raw = psycopg 3 on one dedicated autocommit connection (async, and sync for the sync
flavour) sending plain statements: ``INSERT``, ``SELECT ... WHERE id = %s``,
``SELECT ... WHERE amount_kg >= %s`` (1% of the rows), ``executemany`` of an ``INSERT``.
persist_mixins = a dataclass (``id: str, flavour: str, amount_kg: int, best_before:
datetime`` aware, ``__indexes__ = ("amount_kg",)``) configured with a URL, so through the
pool the library builds, as users do: ``set()``, ``match_for_pk()``,
``filter(amount_kg__gte=x)`` read in full, ``set_many()`` of prebuilt objects.

One UNLOGGED table of N rows (btree on ``amount_kg``) serves both; a second one takes the
bulk inserts (truncated before each).  Each run times N operations of every contender,
taking turns every ``--chunk`` operations in a rotating order (benchmarks/harness.py); the
ratio of a run is raw's time / the library's time (ops/s ratio, higher is better) of the
same flavour in that run, and the median of the runs is what the goals are read against.
Uses ``PG_BENCH_URL`` (default database ``test`` at 127.0.0.1:5432); drops its tables.
``--out`` rewrites the part of a Markdown file between ``<!-- pg-shape:start -->`` and
``<!-- pg-shape:end -->`` (appended when absent).
"""

import argparse
import asyncio
import datetime as dt
import importlib.metadata
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from harness import Impl, Result, Runner

import persist_mixins
import persist_mixins.asyncio as pa
from persist_mixins import PgRowMixin, configure

URL = os.environ.get("PG_BENCH_URL", "postgresql://postgres@127.0.0.1:5432/test")
TABLE, BULK = "bench_shape", "bench_shape_bulk"
COLUMNS = '"id", "flavour", "amount_kg", "best_before"'
INSERT = 'INSERT INTO "{t}" (' + COLUMNS + ") VALUES (%s, %s, %s, %s)"
BY_PK = f'SELECT {COLUMNS} FROM "{TABLE}" WHERE "id" = %s'
RANGE = f'SELECT {COLUMNS} FROM "{TABLE}" WHERE "amount_kg" >= %s'
WHEN = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
DELETE_NEW = f"DELETE FROM \"{TABLE}\" WHERE id LIKE 'x%'"
START, END = "<!-- pg-shape:start -->", "<!-- pg-shape:end -->"
GOALS = {"insert one": 0.80, "get by pk": 0.85, "range 1%": 0.75, "bulk insert": 1.10}


def models() -> tuple[Any, Any, Any, Any]:
    """The issue's dataclass over each table, sync and asyncio."""

    def make(base: type, table: str) -> Any:
        @dataclass
        class IceCream(base):  # type: ignore[misc, valid-type]
            __table__ = table
            __indexes__ = ("amount_kg",)
            id: str
            flavour: str
            amount_kg: int
            best_before: dt.datetime

        return IceCream

    return make(PgRowMixin, TABLE), make(PgRowMixin, BULK), make(pa.PgRowMixin, TABLE), make(pa.PgRowMixin, BULK)


def row(i: int) -> tuple[str, str, int, dt.datetime]:
    """Preloaded row ``i``: amount_kg = i, so ``amount_kg >= n - n // 100`` is 1% of the rows."""
    return f"r{i:07d}", f"flavour-{i}", i, WHEN


def new(tag: str, k: int) -> tuple[str, str, int, dt.datetime]:
    """A new row (negative amounts: never in a range read)."""
    return f"x{tag}{k:08d}", f"new-{k}", -1 - k, WHEN


def looped(name: str, flavour: str, one: Any, raw: bool) -> Impl:
    """``one(k)`` for each op number k, awaited on the async flavour."""

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

    return Impl(name, run_sync if flavour == "sync" else run_async, raw=raw, flavour=flavour)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="rows preloaded, ops per run, rows per bulk insert")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=250, help="ops per turn")
    parser.add_argument("--only", nargs="*", default=list(GOALS), help="operations to time")
    parser.add_argument("--out", type=Path, help="Markdown file whose pg-shape section is rewritten")
    args = parser.parse_args()
    started, load_start = time.perf_counter(), f"{os.getloadavg()[0]:.2f}"
    n, width = args.n, max(1, args.n // 100)
    configure(postgres=URL)
    Item, Bulk, AItem, ABulk = models()
    loop = asyncio.new_event_loop()
    admin = psycopg.connect(URL, autocommit=True)
    conn = psycopg.connect(URL, autocommit=True)
    aconn = loop.run_until_complete(psycopg.AsyncConnection.connect(URL, autocommit=True))
    try:
        for model in (Item, Bulk):
            admin.execute(f'DROP TABLE IF EXISTS "{model.__table__}"')
            model.create_table()
            admin.execute(f'ALTER TABLE "{model.__table__}" SET UNLOGGED')
        with admin.cursor() as cur, cur.copy(f'COPY "{TABLE}" ({COLUMNS}) FROM STDIN') as cp:
            for i in range(n):
                cp.write_row(row(i))
        admin.execute(f'VACUUM ANALYZE "{TABLE}"')
        insert = INSERT.format(t=TABLE)

        async def fetch(sql: str, params: Any, many: bool) -> Any:
            cur = await aconn.execute(sql, params)
            return await (cur.fetchall() if many else cur.fetchone())

        def pk(k: int) -> str:
            return row(k * 7919 % n)[0]

        low = n - width
        ops: dict[str, tuple[Any, Any, Any, Any]] = {
            "insert one": (
                lambda k: aconn.execute(insert, new("a", k)),
                lambda k: AItem(*new("b", k)).set(),
                lambda k: conn.execute(insert, new("c", k)),
                lambda k: Item(*new("d", k)).set(),
            ),
            "get by pk": (
                lambda k: fetch(BY_PK, (pk(k),), False),
                lambda k: AItem.match_for_pk(pk(k)),
                lambda k: conn.execute(BY_PK, (pk(k),)).fetchone(),
                lambda k: Item.match_for_pk(pk(k)),
            ),
            "range 1%": (
                lambda k: fetch(RANGE, (low,), True),
                lambda k: AItem.filter(amount_kg__gte=low),  # awaiting an async query gives its list
                lambda k: conn.execute(RANGE, (low,)).fetchall(),
                lambda k: list(Item.filter(amount_kg__gte=low)),
            ),
        }
        names = (("raw async", "async", True), ("pm async", "async", False))
        names += (("raw sync", "sync", True), ("pm sync", "sync", False))
        runner = Runner(loop)
        report: list[tuple[str, list[Result]]] = []
        for op, ones in ops.items():
            if op not in args.only:
                continue
            impls = [looped(name, flavour, one, raw) for (name, flavour, raw), one in zip(names, ones, strict=True)]
            kw = {"after": lambda: admin.execute(DELETE_NEW)} if op == "insert one" else {}
            report.append((op, runner.group(op, impls, n, args.runs, 200, args.chunk, fresh=True, **kw)))
        if "bulk insert" in args.only:
            rows = [row(i) for i in range(n)]
            objects, aobjects = [Bulk(*r) for r in rows], [ABulk(*r) for r in rows]
            bulk_insert = INSERT.format(t=BULK)

            def executemany(first: int, count: int) -> None:
                with conn.cursor() as cur:
                    cur.executemany(bulk_insert, rows)

            async def aexecutemany(first: int, count: int) -> None:
                async with aconn.cursor() as cur:
                    await cur.executemany(bulk_insert, rows)

            async def aset_many(first: int, count: int) -> None:
                await ABulk.set_many(aobjects)

            impls = [
                Impl("raw async executemany", aexecutemany, raw=True, flavour="async"),
                Impl("pm async set_many", aset_many, flavour="async"),
                Impl("raw sync executemany", executemany, raw=True),
                Impl("pm sync set_many", lambda first, count: Bulk.set_many(objects)),
            ]
            truncate = lambda: admin.execute(f'TRUNCATE "{BULK}"')  # noqa: E731
            report.append(
                ("bulk insert", runner.group("bulk insert", impls, 1, args.runs, 1, 1, per_op=n, before=truncate))
            )
        cores = os.cpu_count()
        print(f"issue-12 PostgreSQL shape: N = {n:,}, {args.runs} runs, turns of {args.chunk} ops, {cores} cores")
        head = "ratio per run (raw time / time)  median  goal"
        print(f"{'operation':<12} {'contender':<24} {'ops/s (median)':>15}  {head}")
        table = []
        for op, results in report:
            for r in results:
                rate = 1 / r.median
                unit = "rows/s" if op == "bulk insert" else "ops/s"
                if r.raw:
                    print(f"{op:<12} {r.impl:<24} {rate:>15,.0f}")
                    table.append(f"| {op} | {r.impl} | {rate:,.0f} {unit} | | | |")
                    continue
                assert r.ref is not None
                ratios = [ref / t for t, ref in zip(r.times, r.ref.times, strict=True)]
                shown = " ".join(f"{x:.2f}" for x in ratios)
                median = statistics.median(ratios)
                verdict = "met" if median >= GOALS[op] else "not met"
                print(f"{op:<12} {r.impl:<24} {rate:>15,.0f}  {shown:<32} {median:5.2f}x  {GOALS[op]:.2f} {verdict}")
                goal = f">= {GOALS[op]:.2f}x {verdict}"
                table.append(f"| {op} | {r.impl} | {rate:,.0f} {unit} | {shown} | **{median:.2f}x** | {goal} |")
        if args.out:
            write(args, table, admin, load_start, time.perf_counter() - started)
        return 0
    finally:
        for table in (TABLE, BULK):
            admin.execute(f'DROP TABLE IF EXISTS "{table}"')
        persist_mixins.close()
        loop.run_until_complete(pa.close())
        loop.run_until_complete(aconn.close())
        loop.close()
        conn.close()
        admin.close()


def write(args: argparse.Namespace, table: list[str], admin: Any, load_start: str, seconds: float) -> None:
    """The pg-shape section of ``args.out``."""
    from report import git, machine, python, replace_section, utc_now

    server = admin.execute("SHOW server_version").fetchone()[0]
    command = " ".join(["python benchmarks/pg_shape.py", *sys.argv[1:]])
    pool = importlib.metadata.version("psycopg-pool")
    lines = [
        START, "## PostgreSQL: the issue-12 shape (raw psycopg 3 on a dedicated connection)", "",
        "_Generated by `benchmarks/pg_shape.py`; re-run the script to update this section._", "",
        f"- Date: {utc_now()}; command: `{command}` (run time {seconds:.0f} s)",
        f"- persist_mixins: git {git('rev-parse', '--short', 'HEAD')}",
        f"- Machine: {machine()}, the server on the same cores",
        f"- PostgreSQL {server}; psycopg {psycopg.__version__} ({psycopg.pq.__impl__}), psycopg_pool {pool}",
        f"- {python()}",
        f"- Conditions: load average {load_start} at start, {os.getloadavg()[0]:.2f} at end",
        "", (__doc__ or "").split("\n\n", 2)[2].split("Uses ``PG_BENCH_URL``")[0].replace("``", "`").strip(), "",
        "| operation | contender | median rate | library / raw throughput, per run | median | goal |",
        "| --- | --- | ---: | ---: | ---: | --- |",
        *table, "", END,
    ]  # fmt: skip
    replace_section(args.out, "\n".join(lines), START, END)
    print(f"wrote the pg-shape section of {args.out}")


if __name__ == "__main__":
    sys.exit(main())
