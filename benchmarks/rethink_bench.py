"""Benchmark persist_mixins' RethinkDB backend against the official driver, in the same run (by hand, not a test).

    python benchmarks/rethink_bench.py [--url rethinkdb://127.0.0.1:28015/bench] [--n 5000] [--quick]

Without ``--url`` (or ``PERSIST_TEST_RETHINKDB_URL``) it starts reqlite (``PERSIST_REQLITE``, or
``.ci/reqlite`` where ``.ci/run`` installs it) on a free port of 127.0.0.1 and says so: reqlite is
a JavaScript server, far slower than RethinkDB, so its figures tell the library's share of the time,
not what a real server does.  The table ``bench_scoop`` is created in the URL's database and dropped
at the end.

Operations, each raw driver and RethinkMixin (sync and asyncio) timed in the same rounds, taking
turns (benchmarks/harness.py): insert one document (``insert(conflict="replace")`` vs ``set()``),
get by pk (``get`` vs ``match_for_pk()``), an indexed range returning 1% of N documents (``between``
on the ``amount_kg`` index, read in full, vs ``filter(amount_kg__gte=, amount_kg__lt=)``), and a bulk
insert of N documents (batched ``insert`` of 1,000 vs ``set_many()``).  Ratios: best time / raw best
time, and the median of per-round ratios ("paired").  Also peak memory per object of a
``set_many()`` of N objects and of reading them back (tracemalloc, Python allocations only).
"""

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

from harness import Impl, Runner
from report import machine, text_table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "docs"))

from check_examples import start_reqlite

import persist_mixins
import persist_mixins.asyncio as pa

TABLE = "bench_scoop"
BATCH = 1000
BASE = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


def models() -> tuple[type, type]:
    """The benchmark's dataclass model, sync and asyncio."""

    @dataclasses.dataclass
    class Scoop(persist_mixins.RethinkMixin):
        __table__ = TABLE
        __indexes__ = ("amount_kg",)
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    @dataclasses.dataclass
    class AsyncScoop(pa.RethinkMixin):
        __table__ = TABLE
        __indexes__ = ("amount_kg",)
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    return Scoop, AsyncScoop


def doc(i: int) -> dict[str, Any]:
    return {"id": f"s{i}", "flavour": "mint", "amount_kg": i, "best_before": BASE + dt.timedelta(seconds=i)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PERSIST_TEST_RETHINKDB_URL", ""))
    parser.add_argument("--n", type=int, default=5000, help="documents preloaded, and the bulk size")
    parser.add_argument("--ops", type=int, default=500, help="ops per repeat for insert / get")
    parser.add_argument("--range-ops", type=int, default=100, help="range queries per repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small counts, to check the script runs")
    args = parser.parse_args()
    if args.quick:
        args.n, args.ops, args.range_ops, args.repeats = 1000, 50, 10, 2
    server_proc = None
    server = "RethinkDB at " + args.url
    if not args.url:
        started = start_reqlite()
        if started is None:
            raise SystemExit("no server: pass --url, set PERSIST_TEST_RETHINKDB_URL, or install reqlite")
        args.url, server_proc = started
        server = "reqlite 2.3.0 (a JavaScript server, not RethinkDB: its figures are the library's share)"
    try:
        run(args, server)
    finally:
        if server_proc is not None:
            server_proc.terminate()


def run(args: argparse.Namespace, server: str) -> None:
    from rethinkdb import RethinkDB

    from persist_mixins.backends.rethinkdb.driver_rethinkdb import parse_url

    settings = parse_url(args.url)
    connect = {k: settings[k] for k in ("host", "port", "db", "user", "password")}
    r = RethinkDB()
    conn = r.connect(**connect)
    ra = RethinkDB()
    ra.set_loop_type("asyncio")
    loop = asyncio.new_event_loop()
    aconn = loop.run_until_complete(ra.connect(**connect))
    persist_mixins.configure(rethinkdb=args.url)
    Scoop, AsyncScoop = models()
    if settings["db"] not in r.db_list().run(conn):
        r.db_create(settings["db"]).run(conn)
    if TABLE in r.table_list().run(conn):
        r.table_drop(TABLE).run(conn)
    Scoop.create_table()
    table, atable = r.table(TABLE), ra.table(TABLE)
    n = args.n
    for start in range(0, n, BATCH):
        table.insert([doc(i) for i in range(start, min(n, start + BATCH))], conflict="replace").run(conn)
    span = max(1, n // 100)

    def raw_insert(first: int, k: int) -> None:
        for i in range(first, first + k):
            table.insert(doc(n + i), conflict="replace").run(conn)

    def lib_insert(first: int, k: int) -> None:
        for i in range(first, first + k):
            Scoop(**doc(n + i)).set()

    async def araw_insert(first: int, k: int) -> None:
        for i in range(first, first + k):
            await atable.insert(doc(n + i), conflict="replace").run(aconn)

    async def alib_insert(first: int, k: int) -> None:
        for i in range(first, first + k):
            await AsyncScoop(**doc(n + i)).set()

    def raw_get(first: int, k: int) -> None:
        for i in range(first, first + k):
            assert table.get(f"s{i % n}").run(conn) is not None

    def lib_get(first: int, k: int) -> None:
        for i in range(first, first + k):
            Scoop.match_for_pk(f"s{i % n}")

    async def araw_get(first: int, k: int) -> None:
        for i in range(first, first + k):
            assert await atable.get(f"s{i % n}").run(aconn) is not None

    async def alib_get(first: int, k: int) -> None:
        for i in range(first, first + k):
            await AsyncScoop.match_for_pk(f"s{i % n}")

    def low(i: int) -> int:
        return (i * 7919) % (n - span)

    def raw_range(first: int, k: int) -> None:
        for i in range(first, first + k):
            found = table.between(low(i), low(i) + span, index="amount_kg").run(conn)
            assert len(list(found)) == span

    def lib_range(first: int, k: int) -> None:
        for i in range(first, first + k):
            assert len(Scoop.filter(amount_kg__gte=low(i), amount_kg__lt=low(i) + span)) == span

    async def araw_range(first: int, k: int) -> None:
        for i in range(first, first + k):
            found = await atable.between(low(i), low(i) + span, index="amount_kg").run(aconn)
            rows = found if isinstance(found, list) else [row async for row in found]
            assert len(rows) == span

    async def alib_range(first: int, k: int) -> None:
        for i in range(first, first + k):
            assert len(await AsyncScoop.filter(amount_kg__gte=low(i), amount_kg__lt=low(i) + span)) == span

    def raw_bulk(first: int, k: int) -> None:
        for _ in range(k):
            for start in range(0, n, BATCH):
                table.insert([doc(i) for i in range(start, min(n, start + BATCH))], conflict="replace").run(conn)

    def lib_bulk(first: int, k: int) -> None:
        for _ in range(k):
            Scoop.set_many([Scoop(**doc(i)) for i in range(n)])

    runner = Runner(loop)
    w = max(10, args.ops // 10)
    runner.group(
        "insert one",
        [
            Impl("raw driver", raw_insert, raw=True),
            Impl("RethinkMixin", lib_insert),
            Impl("raw driver (async)", araw_insert, raw=True, flavour="async"),
            Impl("RethinkMixin (async)", alib_insert, flavour="async"),
        ],
        args.ops, args.repeats, w, chunk=max(10, args.ops // 5), fresh=True,
    )  # fmt: skip
    runner.group(
        "get by pk",
        [
            Impl("raw driver", raw_get, raw=True),
            Impl("RethinkMixin", lib_get),
            Impl("raw driver (async)", araw_get, raw=True, flavour="async"),
            Impl("RethinkMixin (async)", alib_get, flavour="async"),
        ],
        args.ops, args.repeats, w, chunk=max(10, args.ops // 5),
    )  # fmt: skip
    runner.group(
        f"range 1% ({span} docs)",
        [
            Impl("raw driver", raw_range, raw=True),
            Impl("RethinkMixin", lib_range),
            Impl("raw driver (async)", araw_range, raw=True, flavour="async"),
            Impl("RethinkMixin (async)", alib_range, flavour="async"),
        ],
        args.range_ops, args.repeats, max(2, args.range_ops // 10), unit="ms/query",
    )  # fmt: skip
    runner.group(
        f"bulk insert of {n:,}",
        [Impl("raw driver", raw_bulk, raw=True), Impl("RethinkMixin", lib_bulk)],
        1, max(2, args.repeats // 2), 1, unit="rows/s", per_op=n,
    )  # fmt: skip
    rows = []
    for res in runner.results:
        if res.unit == "ms/query":
            speed = f"{res.best * 1000:.2f} ms"
        else:
            speed = f"{1 / res.best:,.0f}/s"
        rows.append([res.op, res.impl, speed, f"{1 / res.x_raw:.2f}x", f"{1 / res.paired:.2f}x"])
    print(f"server: {server}\nmachine: {machine()}\n")
    print(text_table(["operation", "implementation", "best", "vs raw (best)", "vs raw (paired)"], rows))

    tracemalloc.start()
    objs = [Scoop(**doc(i)) for i in range(n)]
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    Scoop.set_many(objs)
    write_peak = tracemalloc.get_traced_memory()[1] - base
    del objs
    base = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    loaded = list(Scoop.all())
    read_peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    assert len(loaded) >= n
    print(
        f"\nmemory (tracemalloc peak above the objects themselves): set_many of {n:,} "
        f"{write_peak / n / 1024:.2f} KB/object; "
        f"reading {len(loaded):,} back {read_peak / len(loaded) / 1024:.2f} KB/object"
    )
    Scoop.drop_table()
    persist_mixins.close()
    loop.run_until_complete(pa.close())
    loop.run_until_complete(aconn.close(noreply_wait=False))
    conn.close(noreply_wait=False)
    loop.close()


if __name__ == "__main__":
    main()
