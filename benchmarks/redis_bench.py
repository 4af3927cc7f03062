"""Benchmark persist_mixins' Redis backend against raw redis-py and redis-schematics 0.3.1.

Run by hand from the repository root::

    python benchmarks/redis_bench.py [--n 1000 10000 100000] [--out docs/performance.md] [--profile]

Everything is measured in one run, on one machine, against the Redis server at
127.0.0.1:6379, database 15 only.  Keys are written under the ``bench_*``
prefixes listed in ``PREFIXES`` (``prefix:pk``) and ``INDEXED_PREFIXES``
(``{prefix}:pk`` objects and ``{prefix}#...`` index bookkeeping, braces
included) and deleted at the end (SCAN + DEL on those patterns only; never
FLUSHDB).  The default run takes about five minutes on 2 cores.

What is timed:

* ``set`` and ``match_for_pk``: sequential single-object writes / reads; raw
  redis-py (``r.set(key, orjson.dumps(d))`` / ``orjson.loads(r.get(key))``) vs
  persist_mixins (Schematics, dataclass and pydantic models) vs redis-schematics;
  the same for the asyncio flavour vs raw ``redis.asyncio``.
* ``set_many``: persist_mixins vs raw ``pipeline(transaction=False)`` SETs in
  batches of 1000.
* ``filter`` returning 1% of N objects (scan path, no indexes): raw SCAN + MGET +
  orjson vs persist_mixins ``filter(amount_kg__lt=1)`` vs redis-schematics
  ``filter(amount_kg__lt=1)`` (KEYS + one MGET), in ms per query, at every ``--n``.
* Secondary indexes (a dataclass model with ``__indexes__ = ("amount_kg",)``), at
  every N of ``--n``: ``set`` vs raw ``MULTI SET + ZADD EXEC``; ``match_for_pk`` vs
  raw ``GET`` + orjson; ``set_many`` of N objects (also unindexed) vs raw pipelined
  SET and pipelined ``MULTI SET+ZADD``; a range query returning 1% of N
  (``filter(amount_kg__gte=lo, amount_kg__lt=hi)``, dataclass and Schematics) vs
  raw ``ZRANGEBYSCORE`` + ``MGET`` + orjson and vs redis-schematics' scan; its
  ``count()`` vs raw ``ZCOUNT``.  The issue's targets are checked at every N, and
  a missed one is profiled on the spot (wall / client CPU / Redis CPU per op, the
  commands sent, cProfile) and explained in the report's Targets table.

Method: each implementation is warmed up, then a fixed number of sequential
operations is timed with ``time.perf_counter``.  Within a repeat the
implementations of one operation take turns every ``--chunk`` operations (so
drift in machine speed hits them alike); each repeat gives a time per op, the
best repeat is reported (the median alongside).  Groups that take seconds per
call at N >= ``--large`` (scan filter, redis-schematics' range query) run
``--repeats-large`` repeats there.  The ratio is time per op
relative to the raw driver measured in the same run (raw = 1.00, higher is slower).

The Markdown file given by ``--out`` is regenerated on every run; a PNG chart
is written next to it when matplotlib is importable (it is not a dependency).

This file is the entry point: options, the order of the jobs, cleanup.  Each job
is a module (redis_single, redis_async, redis_set_many, redis_filter,
redis_indexes, redis_profile); the timing method is harness.py, the page
redis_report.py and report.py, shared with benchmarks/pg_bench.py.
"""

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import redis
import redis.asyncio
import redis_async
import redis_filter
import redis_indexes
import redis_profile
import redis_set_many
import redis_single
from harness import Result, Runner
from redis_common import (
    DB,
    HOST,
    INDEXED_PREFIXES,
    P_FILTER,
    P_MANY_DC,
    P_RAW_MANY,
    PORT,
    Models,
    build_models,
    delete_prefixes,
    make_objects,
)
from redis_indexes import Findings
from redis_report import (
    FILTER_HEAD,
    INDEX_QUERY_HEAD,
    THROUGHPUT_HEAD,
    conditions,
    filter_rows,
    index_query_rows,
    target_rows,
    throughput_rows,
    versions,
    write_markdown,
)
from report import REPO, text_table

DEFAULT_OUT = REPO / "docs" / "performance.md"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, nargs="+", default=[1000, 10000, 100000], help="dataset sizes N (filter and index sections)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="Markdown report (regenerated)")
    parser.add_argument("--ops", type=int, default=2000, help="sequential ops per repeat for set / match_for_pk")
    parser.add_argument("--repeats", type=int, default=7, help="repeats for set / match_for_pk")
    parser.add_argument("--repeats-slow", type=int, default=5, help="repeats for set_many and filter")
    parser.add_argument("--warmup", type=int, default=500, help="warm-up ops per implementation")
    parser.add_argument("--chunk", type=int, default=100, help="ops per turn when set/match implementations alternate")
    parser.add_argument("--many", type=int, default=10000, help="objects per set_many call")
    parser.add_argument("--filter-budget", type=int, default=20000, help="objects scanned per filter repeat")
    parser.add_argument("--index-budget", type=int, default=10000, help="index hits read per range/count repeat")
    parser.add_argument("--large", type=int, default=100000, help="from this N on, slow groups use --repeats-large")
    parser.add_argument(
        "--repeats-large",
        type=int,
        default=2,
        help="repeats at N >= --large: scan filter, redis-schematics' range query",
    )
    parser.add_argument("--profile", action="store_true", help="only cProfile persist_mixins set / match_for_pk")
    parser.add_argument("--no-write", action="store_true", help="print the tables but do not write --out")
    args = parser.parse_args()
    if any(n < 100 for n in args.n):
        parser.error("--n values must be >= 100 (the filter returns 1% of N)")
    return args


def main() -> int:
    args = parse_args()
    client = redis.Redis(host=HOST, port=PORT, db=DB)
    aclient = redis.asyncio.Redis(host=HOST, port=PORT, db=DB)
    client.ping()
    m = build_models(client, aclient)
    started = time.perf_counter()
    conditions_start = conditions(client)
    try:
        delete_prefixes(client)  # leftovers of an interrupted run
        foreign = client.dbsize()
        if foreign:
            print(f"note: db {DB} holds {foreign} keys not written by this script; SCAN/KEYS timings include them")
        if args.profile:
            redis_profile.run(client, aclient, m, args.ops)
            return 0
        print(f"persist_mixins Redis benchmark: db {DB}, {os.cpu_count()} cores; best of repeats; x = time / raw time")
        loop = asyncio.new_event_loop()  # the async job's: aclient binds to it on first use
        try:
            runner = Runner(loop)
            results = redis_single.run(runner, client, m, args)
            results += redis_async.run(runner, aclient, m, args)
        finally:
            loop.run_until_complete(aclient.aclose())
            loop.close()
        results += redis_set_many.run(runner, client, m, args)
        delete_prefixes(client)  # filters scan the database: leave only their own dataset in it
        findings = Findings()
        results += datasets(runner, client, m, args, findings)
        seconds = time.perf_counter() - started
        print_tables(results, findings, args)
        print(
            f"\nbest of {args.repeats} (set/match) / {args.repeats_slow} (set_many/filter/index queries) repeats, "
            f"{args.repeats_large} at N >= {args.large:,} (scan filter, redis-schematics range); {seconds:.0f} s"
        )
        info = versions(client)
        info["Conditions"] = (
            f"at start {conditions_start}; at end {conditions(client)} (a busy machine inflates times and spreads)"
        )
        print(f"conditions: {info['Conditions']}")
        if not args.no_write:
            chart = write_markdown(args.out, results, findings, info, args, seconds)
            print(f"wrote {args.out}" + (f" and {chart}" if chart else " (chart skipped: matplotlib not importable)"))
        return 0
    finally:
        removed = delete_prefixes(client)
        print(f"cleanup: deleted {removed} keys under this script's prefixes from db {DB}")
        client.close()


def datasets(
    runner: Runner, client: redis.Redis, m: Models, args: argparse.Namespace, findings: Findings
) -> list[Result]:
    """Per dataset size N: the scan-path filter, then every secondary-index measurement."""
    results: list[Result] = []
    for n in args.n:
        delete_prefixes(client, (P_FILTER, P_RAW_MANY, P_MANY_DC, *INDEXED_PREFIXES))
        # The filter dataset is written once and read by both libraries (same JSON format); redis-schematics'
        # range query in the index job reads it too.
        m.pm_filter_dc.set_many(make_objects(m.pm_filter_dc, n))
        results += redis_filter.run(runner, client, m, args, n)
        results += redis_indexes.run(runner, client, m, args, n, findings)
        delete_prefixes(client, (P_FILTER, *INDEXED_PREFIXES))
    return results


def print_tables(results: list[Result], findings: Findings, args: argparse.Namespace) -> None:
    """The run's tables and targets, as the page shows them."""
    print()
    print(text_table(THROUGHPUT_HEAD, throughput_rows(results, "main")))
    print()
    print(text_table(FILTER_HEAD, filter_rows(results)))
    print()
    print("secondary indexes:")
    print(text_table(THROUGHPUT_HEAD, throughput_rows(results, "index")))
    print()
    print(text_table(INDEX_QUERY_HEAD, index_query_rows(results)))
    print()
    print("targets:")
    for target, measured, verdict, why in target_rows(findings, args):
        print(f"  {verdict:<24} {target}: {measured}")
        if why:
            print(f"    {why}")


if __name__ == "__main__":
    sys.exit(main())
