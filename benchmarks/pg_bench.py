"""Benchmark persist_mixins' PostgreSQL backend against raw psycopg 3 and peewee-async 2.1 (by hand, not a test).

    python benchmarks/pg_bench.py [--quick] [--out docs/performance.md] [--plot docs/_static/pg_bench.png]
    python benchmarks/pg_bench.py --profile   # only cProfile sync set() / match_for_pk() / the 1% range query

Uses the database of ``PG_BENCH_URL`` (default ``test`` at 127.0.0.1:5432): creates ``bench_item`` and
``bench_bulk``, drops them at the end; about three minutes on 2 cores.  Raw psycopg 3 (sync and async),
``PgRowMixin`` (sync and asyncio) and peewee-async 2.1 are timed in the same rounds at every N of ``--n``
rows preloaded: insert one row, get by pk, a range query returning 1% of the rows, a bulk insert of N rows.
``--out`` rewrites only the part of the file between ``<!-- pg-bench:start -->`` and ``<!-- pg-bench:end -->``
(appended when absent); benchmarks/redis_bench.py owns the rest of docs/performance.md and keeps that part.

This file is the entry point: options, the run at each N, output.  The cases
are in pg_cases.py, the profile and transaction probe in pg_profile.py, the
section in pg_report.py; the timing method (harness.py) and the page writer
(report.py) are shared with benchmarks/redis_bench.py.
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import peewee_async
import psycopg
from harness import Impl, Result, Runner
from pg_cases import (
    BULK_TABLE,
    TABLE,
    URL,
    Env,
    bulk_impls,
    check_sql,
    model,
    peewee_model,
    preload,
    single_row_groups,
)
from pg_profile import atomic_probe, profile
from pg_report import HEAD, plot, section, table_rows, targets, versions
from report import PG_END, PG_START, have_matplotlib, load, replace_section, text_table

import persist_mixins
import persist_mixins.asyncio as pa
from persist_mixins import PgRowMixin, configure


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
    if args.plot and not have_matplotlib():  # refused now rather than after minutes of measuring
        parser.error("--plot needs matplotlib (not a dependency of the project): pip install matplotlib")
    return args


def main() -> int:
    args = parse_args()
    load_start, started = load(), time.perf_counter()
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
        table = text_table(HEAD, table_rows(runner.results), numbers_from=None, split_ops=False)
        print("\n" + table + "\n\ntargets (vs raw ops/s, best (paired)):")
        print("\n".join(f"  {verdict:<8} {target}: {shown}" for target, shown, verdict in targets(runner.results)))
        print("\n".join(["", *extra["profile"], "", *extra["probe"], f"run time {extra['seconds'][0]} s"]))
        if args.plot:
            plot(runner.results, args.plot)
            print(f"wrote {args.plot}")
        if args.out:
            text = section(runner.results, versions(admin, load_start), extra, args)
            replace_section(args.out, text, PG_START, PG_END)
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


def show(results: list[Result]) -> None:
    """Print one line per implementation as soon as a group is done (progress)."""
    for r in results:
        print(f"  {r.op:<11} N={r.n:<6,} {r.impl:<34} {1 / r.best:>9,.0f} {r.unit:<6} x raw {r.x_raw:5.2f}")


def group(runner: Runner, op: str, n: int, impls: list[Impl], count: int, repeats: int, warmup: int, **kw: Any) -> None:
    """One operation at N = ``n``, every implementation in the same rounds; ops numbered anew per repeat."""
    show(runner.group(op, impls, count, repeats, warmup, n=n, fresh=True, **kw))


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
    group(runner, "get by pk", n, groups["get by pk"], args.ops, reps, warm, chunk=chunk, check=got_row)
    group(runner, "range 1%", n, groups["range 1%"], args.range_ops, reps, warm // 5, chunk=chunk // 4, check=got_range)
    cleanup = lambda: admin.execute(f"DELETE FROM \"{TABLE}\" WHERE id LIKE 'x%'")  # noqa: E731
    group(runner, "insert one", n, groups["insert one"], args.ops, reps, warm, chunk=chunk, after=cleanup)
    truncate = lambda: admin.execute(f'TRUNCATE "{BULK_TABLE}"')  # noqa: E731
    bulk = bulk_impls(env, n)
    group(runner, "bulk insert", n, bulk, 1, args.repeats_bulk, 1, chunk=1, per_op=n, unit="rows/s", before=truncate,
          check=filled)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
