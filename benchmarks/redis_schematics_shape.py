"""Benchmark the issue's Schematics shape on Redis: persist_mixins vs redis-schematics 0.3.1 vs raw redis-py.

Run by hand from the repository root::

    python benchmarks/redis_schematics_shape.py [--runs 3] [--n 10000] [--out docs/performance.md] [--no-write]

The shape (issue 12, part 1): one ``schematics.models.Model`` with ``id`` (StringType),
``flavour`` (StringType), ``amount_kg`` (IntType), ``best_before`` (DateTimeType) and
``__indexes__ = ("amount_kg",)``, N = 10,000 stored objects, Redis on loopback, db 15.
Every operation is timed with the shared harness (benchmarks/harness.py): warm-up, then
the implementations of one operation take turns in a rotating order within each
repeat.  Each run reports the median over its repeats; the script makes ``--runs``
runs and reports, per operation, the median over the runs of each ratio.

What is timed (``row`` = a dict of the four field values, amount_kg = i % 100):

* set: persist_mixins ``Model(row).set()`` (build, validate, write the object and its
  index entry with the save script); redis-schematics ``RsModel(row).set()`` (build,
  ``to_primitive()``, ``json.dumps``, SET; no validation, no index); raw =
  ``MULTI SET ZADD EXEC`` of ``orjson.dumps(row)`` (the indexed write), and raw plain
  ``SET`` shown beside it.
* match_for_pk: ``Model.match_for_pk(pk)`` for both libraries (a model instance);
  raw = ``orjson.loads(r.get(key))`` (a dict).
* range 1%: ``list(Model.filter(amount_kg__gte=99))`` (N/100 objects, through the
  index) vs raw ``ZRANGEBYSCORE`` on persist_mixins' own index + ``MGET`` + orjson.
* set_many: ``Model.set_many(objs)`` of N prebuilt objects (validated, indexed) vs raw
  ``pipeline(transaction=False)`` SETs in batches of 1,000.

Keys live under ``{bench_sch_pm}`` (persist_mixins), ``bench_sch_rs`` (redis-schematics)
and ``bench_sch_raw*`` (raw) and are deleted at the end (SCAN + DEL on those patterns
only, never FLUSHDB).  ``--out`` rewrites only the part of the page between
``<!-- schematics-bench:start -->`` and ``<!-- schematics-bench:end -->`` (appended
when absent).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import redis
from harness import Impl, Result, Runner, delete_matching
from redis_common import DB, HOST, PORT, row_values
from redis_report import SCHEMATICS_END, SCHEMATICS_START, conditions, versions
from redis_schematics import SimpleRedisMixin as RsMixin
from report import REPO, md_table, replace_section, text_table, utc_now
from schematics import models
from schematics import types as st

from persist_mixins import SimpleRedisMixin as PmMixin

START, END = SCHEMATICS_START, SCHEMATICS_END
P_PM, P_RS, P_RAW, P_RAW_MANY = "bench_sch_pm", "bench_sch_rs", "bench_sch_raw", "bench_sch_raw_many"
PATTERNS = (f"{{{P_PM}}}:*", f"{{{P_PM}}}#*", f"{P_RS}:*", f"{P_RAW}:*", f"{P_RAW}#*", f"{P_RAW_MANY}:*")
RAW_IDX = f"{P_RAW}#i:amount_kg"
PM_IDX = f"{{{P_PM}}}#i:amount_kg"
BATCH = 1000

PM = "persist_mixins, Schematics, indexed"
RS = "redis-schematics 0.3.1"
RAW_MULTI = "raw redis-py MULTI SET+ZADD"
RAW_SET = "raw redis-py SET"
RAW_GET = "raw redis-py GET+orjson"
RAW_RANGE = "raw ZRANGEBYSCORE+MGET+orjson"
RAW_PIPE = "raw redis-py pipeline SET"
OP_SET, OP_MATCH, OP_RANGE, OP_MANY = "set: Model(row).set()", "match_for_pk", "range 1%", "set_many"

#: The issue's goals: (operation, ours, reference, minimum throughput ratio ours / reference).
GOALS = (
    (OP_SET, PM, RS, 1.0),
    (OP_MATCH, PM, RS, 1.5),
    (OP_RANGE, PM, RAW_RANGE, 0.3),
    (OP_MANY, PM, RAW_PIPE, 0.3),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10000, help="objects stored (and per set_many call)")
    parser.add_argument("--runs", type=int, default=3, help="whole runs; ratios are the median over runs")
    parser.add_argument("--ops", type=int, default=2000, help="ops per repeat for set / match_for_pk")
    parser.add_argument("--queries", type=int, default=200, help="range queries per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per run (set / match / range)")
    parser.add_argument("--repeats-many", type=int, default=3, help="repeats per run of set_many")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up ops per implementation")
    parser.add_argument("--chunk", type=int, default=100, help="ops per turn when implementations alternate")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "performance.md", help="page to update")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--note", default="", help="a paragraph shown after the goals (earlier figures ...)")
    parser.add_argument("--commit", default="", help="the commit a `git archive` copy being run was made from")
    return parser.parse_args()


def build_models(client: redis.Redis) -> tuple[Any, Any]:
    """The issue's model for persist_mixins, and the same fields for redis-schematics."""

    class PmSchIce(models.Model, PmMixin):
        __key_prefix__ = P_PM
        __redis__ = client
        __indexes__ = ("amount_kg",)
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    class RsSchIce(models.Model, RsMixin):
        # redis-schematics' match_for_pk() builds cls({"pk": pk}), so it needs a ``pk`` field.
        __redis_client__ = client
        __prefix__ = P_RS
        pk = st.StringType()
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    return PmSchIce, RsSchIce


def cleanup(client: redis.Redis) -> int:
    """SCAN + DEL this script's keys only."""
    return delete_matching(client, PATTERNS)


def preload(client: redis.Redis, pm: Any, rs: Any, n: int) -> None:
    """N objects for every implementation: persist_mixins (indexed), redis-schematics, raw (with its index)."""
    pm.set_many([pm(row_values(i)) for i in range(n)])
    for i in range(n):
        rs(row_values(i)).set()
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        row = row_values(i)
        pipe.set(f"{P_RAW}:{row['id']}", orjson.dumps(row))
        pipe.zadd(RAW_IDX, {row["id"]: row["amount_kg"]})
    pipe.execute()


def one_run(runner: Runner, client: redis.Redis, pm: Any, rs: Any, args: argparse.Namespace) -> list[Result]:
    """Every operation once (interleaved within each), at N stored objects."""
    n, k = args.n, args.n
    rows = [row_values(i) for i in range(k)]
    pks = [r["id"] for r in rows]
    raw_keys = [f"{P_RAW}:{pk}" for pk in pks]
    results: list[Result] = []

    def raw_multi(start: int, count: int) -> None:
        dumps = orjson.dumps
        for i in range(start, start + count):
            row = rows[i % k]
            pipe = client.pipeline(transaction=True)
            pipe.set(raw_keys[i % k], dumps(row))
            pipe.zadd(RAW_IDX, {row["id"]: row["amount_kg"]})
            pipe.execute()

    def raw_set(start: int, count: int) -> None:
        r_set, dumps = client.set, orjson.dumps
        for i in range(start, start + count):
            r_set(raw_keys[i % k], dumps(rows[i % k]))

    def pm_set(start: int, count: int) -> None:
        for i in range(start, start + count):
            pm(rows[i % k]).set()

    def rs_set(start: int, count: int) -> None:
        for i in range(start, start + count):
            rs(rows[i % k]).set()

    sets = [Impl(RAW_MULTI, raw_multi, raw=True), Impl(RAW_SET, raw_set), Impl(PM, pm_set), Impl(RS, rs_set)]
    results += runner.group(OP_SET, sets, args.ops, args.repeats, args.warmup, args.chunk)

    def raw_get(start: int, count: int) -> None:
        r_get, loads = client.get, orjson.loads
        for i in range(start, start + count):
            loads(r_get(raw_keys[(i * 7919) % k]))

    def match(cls: Any) -> Any:
        def run(start: int, count: int) -> None:
            match_for_pk = cls.match_for_pk
            for i in range(start, start + count):
                match_for_pk(pks[(i * 7919) % k])

        return run

    matches = [Impl(RAW_GET, raw_get, raw=True), Impl(PM, match(pm)), Impl(RS, match(rs))]
    results += runner.group(OP_MATCH, matches, args.ops, args.repeats, args.warmup, args.chunk)

    def raw_range(_start: int, count: int) -> int:
        hits = 0
        for _ in range(count):
            pks = client.zrangebyscore(PM_IDX, 99, "+inf")
            values = client.mget([f"{{{P_PM}}}:{pk.decode()}" for pk in pks])
            hits += len([orjson.loads(v) for v in values if v is not None])
        return hits

    def pm_range(_start: int, count: int) -> int:
        return sum(len(list(pm.filter(amount_kg__gte=99))) for _ in range(count))

    want = n // 100

    def check(hits: Any) -> str | None:
        return None if hits % want == 0 and hits else f"expected a multiple of {want} hits, got {hits}"

    ranges = [Impl(RAW_RANGE, raw_range, raw=True), Impl(PM, pm_range)]
    results += runner.group(
        OP_RANGE, ranges, args.queries, args.repeats, max(1, args.warmup // 10), max(1, args.queries // 10),
        unit="ms/query", n=n, check=check,
    )  # fmt: skip

    objs = [pm(row) for row in rows]
    many_keys = [f"{P_RAW_MANY}:{pk}" for pk in pks]

    def raw_many(_start: int, count: int) -> None:
        dumps = orjson.dumps
        for start in range(0, count, BATCH):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(count, start + BATCH)):
                pipe.set(many_keys[i], dumps(rows[i]))
            pipe.execute()

    def pm_many(_start: int, count: int) -> None:
        pm.set_many(objs[:count])

    many = [Impl(RAW_PIPE, raw_many, raw=True), Impl(PM, pm_many)]
    results += runner.group(OP_MANY, many, n, args.repeats_many, min(n, BATCH), n=n)
    return results


def ratio(results: list[Result], op: str, impl: str, ref: str) -> float:
    """Throughput of ``impl`` / throughput of ``ref`` (median time of ref / median time of impl)."""
    ours = next(r for r in results if r.op == op and r.impl == impl)
    theirs = next(r for r in results if r.op == op and r.impl == ref)
    return theirs.median / ours.median


def rate(r: Result) -> str:
    return f"{r.median * 1e3:.3f} ms/query" if r.unit == "ms/query" else f"{1 / r.median:,.0f}/s"


def summary(runs: list[list[Result]]) -> tuple[list[list[str]], list[list[str]]]:
    """Per operation and implementation: the median over runs; the goals with each run's ratio."""
    rows = []
    for r in runs[0]:
        same = [next(x for x in run if x.op == r.op and x.impl == r.impl) for run in runs]
        medians = sorted(x.median for x in same)
        mid = statistics.median(medians)
        shown = f"{mid * 1e3:.3f} ms/query" if r.unit == "ms/query" else f"{1 / mid:,.0f}/s"
        per_run = ", ".join(rate(x) for x in same)
        vs_raw = statistics.median(x.ref.median / x.median if x.ref else 1.0 for x in same)
        vs_rs = "-"
        if r.op in (OP_SET, OP_MATCH) and r.impl != RS:
            vs_rs = f"{statistics.median(ratio(run, r.op, r.impl, RS) for run in runs):.2f}x"
        rows.append([r.op, r.impl, shown, f"{vs_raw:.2f}x", vs_rs, per_run])
    goals = []
    for op, impl, ref, limit in GOALS:
        each = [ratio(run, op, impl, ref) for run in runs]
        mid = statistics.median(each)
        verdict = "met" if mid >= limit else "NOT MET"
        goals.append([f"{op}: {impl} >= {limit}x {ref}", f"{mid:.2f}x", ", ".join(f"{x:.2f}x" for x in each), verdict])
    return rows, goals


HEAD = ("operation", "implementation", "median (median of runs)", "vs raw", "vs redis-schematics", "each run")
GOAL_HEAD = ("goal (throughput ratio)", "median of runs", "each run", "verdict")


def section(rows: list[list[str]], goals: list[list[str]], args: argparse.Namespace, info: dict[str, str]) -> str:
    """The Markdown section of docs/performance.md."""
    shown = [("'...'" if sys.argv[i] == "--note" else a) for i, a in enumerate(sys.argv[1:])]  # argv[i] precedes a
    lines = [
        START,
        "",
        "## Schematics models: the issue's shape vs redis-schematics and raw redis-py",
        "",
        "_Generated by `benchmarks/redis_schematics_shape.py`; re-run the script to update this section._",
        "",
        f"- Date: {utc_now()}; command: `{' '.join(['python benchmarks/redis_schematics_shape.py', *shown])}`",
        *(f"- {key}: {value}" for key, value in info.items()),
        "",
        "Method: one `schematics.models.Model` with `id` (StringType), `flavour` (StringType), `amount_kg` "
        "(IntType), `best_before` (DateTimeType), `__indexes__ = ('amount_kg',)` (persist_mixins; the "
        f"redis-schematics model has the same fields plus `pk`), N = {args.n:,} objects stored, "
        "`amount_kg = i % 100`. Implementations of one operation take turns in a rotating order within each "
        f"repeat (every {args.chunk} set / match_for_pk ops, every {max(1, args.queries // 10)} range queries, "
        f"every set_many call); {args.repeats} repeats per run ({args.repeats_many} for set_many) after a warm-up; "
        f"each run keeps the median repeat; {args.runs} runs; every figure below is the median over the runs, "
        "ratios are throughput ratios (higher is better for persist_mixins). set = `Model(row).set()` (build the "
        "instance from a dict, then write it: persist_mixins validates it and updates the index in the same "
        "script call; redis-schematics' `set()` serializes without validating and keeps no index); raw = "
        "`MULTI SET ZADD EXEC` of `orjson.dumps(row)` (plain `SET` beside it). match_for_pk: raw = "
        "`orjson.loads(r.get(key))`. range 1% = `list(Model.filter(amount_kg__gte=99))` "
        f"({args.n // 100} objects) vs raw `ZRANGEBYSCORE` on persist_mixins' index + `MGET` + orjson. "
        f"set_many = `Model.set_many(objs)` of {args.n:,} prebuilt objects (validated, indexed) vs raw "
        "`pipeline(transaction=False)` SETs, 1,000 per `execute()`.",
        "",
        md_table(HEAD, rows),
        "",
        "### Goals (issue 12)",
        "",
        md_table(GOAL_HEAD, goals),
        "",
        *([args.note, ""] if args.note else []),
        END,
    ]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    client = redis.Redis(host=HOST, port=PORT, db=DB)
    client.ping()
    pm, rs = build_models(client)
    at_start = conditions(client)
    began = time.perf_counter()
    try:
        cleanup(client)
        preload(client, pm, rs, args.n)
        runner = Runner()
        runs = []
        for run in range(args.runs):
            print(f"run {run + 1} of {args.runs}", flush=True)
            results = one_run(runner, client, pm, rs, args)
            for r in results:
                print(f"  {r.op:<24} {r.impl:<38} {rate(r):>18}  vs raw {r.ref.median / r.median if r.ref else 1:.2f}x")
            runs.append(results)
        rows, goals = summary(runs)
        print()
        print(text_table(HEAD, rows))
        print()
        print(text_table(GOAL_HEAD, goals, numbers_from=None, split_ops=False))
        info = versions(client)
        if args.commit:
            info["persist_mixins"] = f"git {args.commit}, run from a `git archive` copy (committed code only)"
        info["Conditions"] = f"at start {at_start}; at end {conditions(client)}"
        info["Run time"] = f"{time.perf_counter() - began:.0f} s"
        if not args.no_write:
            replace_section(args.out, section(rows, goals, args, info), START, END)
            print(f"wrote the Schematics section of {args.out}")
        return 0
    finally:
        print(f"cleanup: deleted {cleanup(client)} keys", flush=True)
        client.close()


if __name__ == "__main__":
    sys.exit(main())
