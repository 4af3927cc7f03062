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
"""

import argparse
import asyncio
import cProfile
import datetime as dt
import gc
import hashlib
import importlib.metadata
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pydantic
import redis
import redis.asyncio
from redis_schematics import SimpleRedisMixin as RsMixin
from schematics import models
from schematics import types as st

import persist_mixins
from persist_mixins import SimpleRedisMixin as PmMixin
from persist_mixins.asyncio import SimpleRedisMixin as PmAsyncMixin
from persist_mixins.binding import spec_of
from persist_mixins.run import run_sync

HOST = "127.0.0.1"
PORT = 6379
DB = 15  # the only database this script touches
REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "docs" / "performance.md"

# Every key this script writes lives under one of these prefixes (``{prefix}:{pk}``).
P_RAW = "bench_raw"
P_RAW_ASYNC = "bench_raw_async"
P_RAW_MANY = "bench_raw_many"
P_PM_SCH = "bench_pm_sch"
P_PM_DC = "bench_pm_dc"
P_PM_PYD = "bench_pm_pyd"
P_PM_ASYNC_SCH = "bench_pm_async_sch"
P_PM_ASYNC_DC = "bench_pm_async_dc"
P_RS = "bench_rs_ice"
P_FILTER = "bench_filter"
P_MANY_DC = "bench_many_dc"
PREFIXES = (P_RAW, P_RAW_ASYNC, P_RAW_MANY, P_PM_SCH, P_PM_DC, P_PM_PYD, P_PM_ASYNC_SCH, P_PM_ASYNC_DC, P_RS, P_FILTER)
PREFIXES += (P_MANY_DC,)
# Indexed layout: objects at ``{prefix}:{pk}``, bookkeeping (index sorted sets, per-object
# entries hashes, expiry schedule) at ``{prefix}#...``, braces included.  The raw driver's
# indexed data mimics it, so the same cleanup covers both.
P_RAW_IDX = "bench_raw_idx"
P_IDX = "bench_idx"  # one dataset, read by both the dataclass and the Schematics indexed models
INDEXED_PREFIXES = (P_RAW_IDX, P_IDX)
ALL_PREFIXES = PREFIXES + INDEXED_PREFIXES
RAW_IDX_KEY = f"{{{P_RAW_IDX}}}#i:amount_kg"  # the raw driver's sorted set: score amount_kg, member pk
PM_IDX_KEY = f"{{{P_IDX}}}#i:amount_kg"  # persist_mixins' index of amount_kg (read by the raw range query)

FLAVOURS = ("vanilla", "chocolate", "strawberry", "pistachio")
BASE_DATE = dt.datetime(2030, 1, 1, 12, 0, 0)
KEYSPACE = 1000  # distinct objects cycled through by the set / match_for_pk loops
BATCH = 1000  # raw pipeline batch, same as persist_mixins' set_many

RAW_SYNC = "raw redis-py"
RAW_ASYNC = "raw redis.asyncio"
PM_SCH = "persist_mixins, Schematics"
PM_DC = "persist_mixins, dataclass"
PM_PYD = "persist_mixins, pydantic"
PM_ASYNC_SCH = "persist_mixins.asyncio, Schematics"
PM_ASYNC_DC = "persist_mixins.asyncio, dataclass"
RS = "redis-schematics 0.3.1"
# Index section.
RAW_MULTI = "raw redis-py MULTI SET+ZADD"
RAW_GET = "raw redis-py GET+orjson"
RAW_PIPE = "raw redis-py pipeline SET"
RAW_PIPE_MULTI = "raw redis-py pipeline MULTI SET+ZADD"
RAW_RANGE = "raw ZRANGEBYSCORE+MGET+orjson"
RAW_ZCOUNT = "raw redis-py ZCOUNT"
PM_IDX_DC = "persist_mixins, dataclass, indexed"
PM_IDX_SCH = "persist_mixins, Schematics, indexed"
PM_PLAIN_DC = "persist_mixins, dataclass, no index"


def row_values(i: int) -> dict[str, Any]:
    """The field values of object number ``i`` (amount_kg = i % 100, so ``amount_kg < 1`` hits 1%)."""
    return {
        "id": f"ice-{i}",
        "flavour": FLAVOURS[i % len(FLAVOURS)],
        "amount_kg": i % 100,
        "best_before": BASE_DATE + dt.timedelta(days=i % 365),
    }


# --------------------------------------------------------------------------- models
@dataclass
class Models:
    """The model classes, one definition per library, all with the same four fields."""

    pm_sch: Any
    pm_dc: Any
    pm_pyd: Any
    pm_async_sch: Any
    pm_async_dc: Any
    rs: Any
    pm_filter: Any
    rs_filter: Any
    pm_filter_dc: Any
    pm_idx_dc: Any
    pm_idx_sch: Any
    pm_many_dc: Any


def build_models(client: redis.Redis, aclient: redis.asyncio.Redis) -> Models:
    """Define the model classes, bound to the benchmark's own clients (db 15)."""

    class PmSchIceCream(models.Model, PmMixin):
        __key_prefix__ = P_PM_SCH
        __redis__ = client
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    @dataclass
    class PmDcIceCream(PmMixin):
        __key_prefix__ = P_PM_DC
        __redis__ = client
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    class PmPydIceCream(PmMixin, pydantic.BaseModel):
        __key_prefix__ = P_PM_PYD
        __redis__ = client
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    class PmAsyncSchIceCream(models.Model, PmAsyncMixin):
        __key_prefix__ = P_PM_ASYNC_SCH
        __redis__ = aclient
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    @dataclass
    class PmAsyncDcIceCream(PmAsyncMixin):
        __key_prefix__ = P_PM_ASYNC_DC
        __redis__ = aclient
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    class RsIceCream(models.Model, RsMixin):
        # redis-schematics' match_for_pk() builds cls({"pk": pk}), so it needs a ``pk``
        # field (its own SimpleRedisModel declares one); set() copies id into it.
        __redis_client__ = client
        __prefix__ = P_RS  # overrides BaseRedisMixin's class-name property
        pk = st.StringType()
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    # The filter dataset is written once and read by both libraries (same JSON format).
    class PmFilterIceCream(models.Model, PmMixin):
        __key_prefix__ = P_FILTER
        __redis__ = client
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    class RsFilterIceCream(models.Model, RsMixin):
        __redis_client__ = client
        __prefix__ = P_FILTER
        pk = st.StringType()
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    @dataclass
    class PmDcFilterIceCream(PmMixin):  # writes the filter dataset (much faster than Schematics' set_many)
        __key_prefix__ = P_FILTER
        __redis__ = client
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    @dataclass
    class PmIdxDcIceCream(PmMixin):
        __key_prefix__ = P_IDX
        __redis__ = client
        __indexes__ = ("amount_kg",)
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    class PmIdxSchIceCream(models.Model, PmMixin):
        __key_prefix__ = P_IDX
        __redis__ = client
        __indexes__ = ("amount_kg",)
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    @dataclass
    class PmManyDcIceCream(PmMixin):
        __key_prefix__ = P_MANY_DC
        __redis__ = client
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    return Models(
        PmSchIceCream,
        PmDcIceCream,
        PmPydIceCream,
        PmAsyncSchIceCream,
        PmAsyncDcIceCream,
        RsIceCream,
        PmFilterIceCream,
        RsFilterIceCream,
        PmDcFilterIceCream,
        PmIdxDcIceCream,
        PmIdxSchIceCream,
        PmManyDcIceCream,
    )


def make_objects(cls: Any, count: int, start: int = 0) -> list[Any]:
    """Build ``count`` instances of a model class (Schematics models take a dict)."""
    if issubclass(cls, models.Model):
        return [cls(row_values(i)) for i in range(start, start + count)]
    return [cls(**row_values(i)) for i in range(start, start + count)]


# --------------------------------------------------------------------------- timing
@dataclass
class Result:
    """Per-op times (seconds) of one implementation of one operation, one entry per repeat."""

    op: str
    impl: str
    unit: str  # "ops/s" or "ms/query"
    count: int
    raw: bool
    times: list[float] = field(default_factory=list)
    others: str = ""  # filter only: keys in the database not written by this script
    section: str = "main"  # "main" (set/match/set_many/scan filter) or "index" (secondary indexes)

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def paired_ratio(self, raw: "Result") -> float:
        """Median over repeats of (this time / raw time in the same round-robin round): robust to drift.

        NaN when the two were not timed in the same rounds (redis-schematics' range query).
        """
        if len(self.times) != len(raw.times):
            return float("nan")
        return statistics.median(t / r for t, r in zip(self.times, raw.times, strict=True))

    @property
    def spread(self) -> float:
        """(worst - best) / best over the repeats."""
        return (max(self.times) - self.best) / self.best


#: ``fn(start, n)`` runs ``n`` operations, on objects ``start`` to ``start + n`` (modulo the key space).
SyncBench = Callable[[int, int], Any]
AsyncBench = Callable[[int, int], Awaitable[Any]]


def run_group(
    op: str,
    unit: str,
    impls: list[tuple[str, SyncBench]],
    count: int,
    repeats: int,
    warmup: int,
    chunk: int | None = None,
) -> list[Result]:
    """Time ``count`` operations of each implementation, ``repeats`` times; keep seconds per op.

    Within a repeat the implementations take turns every ``chunk`` operations (in a
    rotating order), so a machine that gets slower or faster mid-run slows all of them
    alike instead of whichever happened to be running.
    """
    results = [Result(op, name, unit, count, raw=i == 0) for i, (name, _) in enumerate(impls)]
    for _, fn in impls:
        fn(0, warmup)
    for repeat in range(repeats):
        elapsed = [0.0] * len(impls)
        gc.collect()
        for turn, (start, n) in enumerate(chunks(count, chunk or count)):
            for j in rotated(len(impls), repeat + turn):
                began = time.perf_counter()
                impls[j][1](start, n)
                elapsed[j] += time.perf_counter() - began
        for result, seconds in zip(results, elapsed, strict=True):
            result.times.append(seconds / count)
    report_group(results)
    return results


async def run_group_async(
    op: str, impls: list[tuple[str, AsyncBench]], count: int, repeats: int, warmup: int, chunk: int
) -> list[Result]:
    """The asyncio twin of :func:`run_group` (sequential awaits, one event loop)."""
    results = [Result(op, name, "ops/s", count, raw=i == 0) for i, (name, _) in enumerate(impls)]
    for _, fn in impls:
        await fn(0, warmup)
    for repeat in range(repeats):
        elapsed = [0.0] * len(impls)
        gc.collect()
        for turn, (start, n) in enumerate(chunks(count, chunk)):
            for j in rotated(len(impls), repeat + turn):
                began = time.perf_counter()
                await impls[j][1](start, n)
                elapsed[j] += time.perf_counter() - began
        for result, seconds in zip(results, elapsed, strict=True):
            result.times.append(seconds / count)
    report_group(results)
    return results


def chunks(count: int, size: int) -> list[tuple[int, int]]:
    """``(start, n)`` slices covering ``count`` operations."""
    return [(start, min(size, count - start)) for start in range(0, count, size)]


def rotated(n: int, turn: int) -> list[int]:
    """0..n-1 starting at ``turn % n``: who goes first changes every turn."""
    return [(turn + j) % n for j in range(n)]


def report_group(results: list[Result]) -> None:
    """Print one line per implementation as soon as a group is done (progress)."""
    raw = results[0]
    for r in results:
        shown = f"{1 / r.best:>10,.0f} ops/s" if r.unit == "ops/s" else f"{r.best * 1e3:>10.2f} ms/query"
        print(
            f"  {r.op:<26} {r.impl:<36} {shown}  x{r.best / raw.best:5.2f} (paired x{r.paired_ratio(raw):5.2f})"
            f"  spread {r.spread * 100:5.1f}%",
            flush=True,
        )


# --------------------------------------------------------------------------- benchmarks
def bench_sync(client: redis.Redis, m: Models, args: argparse.Namespace) -> list[Result]:
    """set and match_for_pk, sync: raw redis-py vs persist_mixins vs redis-schematics."""
    k = KEYSPACE
    dicts = [row_values(i) for i in range(k)]
    raw_keys = [f"{P_RAW}:{d['id']}" for d in dicts]
    pks = [d["id"] for d in dicts]
    objs = {name: make_objects(cls, k) for name, cls in ((PM_SCH, m.pm_sch), (PM_DC, m.pm_dc), (PM_PYD, m.pm_pyd))}
    rs_objs = make_objects(m.rs, k)

    def raw_set(start: int, n: int) -> None:
        r_set, dumps = client.set, orjson.dumps
        for i in range(start, start + n):
            r_set(raw_keys[i % k], dumps(dicts[i % k]))

    def pm_set(items: list[Any]) -> SyncBench:
        def run(start: int, n: int) -> None:
            for i in range(start, start + n):
                items[i % k].set()

        return run

    def rs_set(start: int, n: int) -> None:
        for i in range(start, start + n):
            rs_objs[i % k].set()

    def raw_get(start: int, n: int) -> None:
        r_get, loads = client.get, orjson.loads
        for i in range(start, start + n):
            loads(r_get(raw_keys[i % k]))

    def match(cls: Any) -> SyncBench:
        def run(start: int, n: int) -> None:
            match_for_pk = cls.match_for_pk
            for i in range(start, start + n):
                match_for_pk(pks[i % k])

        return run

    ops, reps, warm = args.ops, args.repeats, args.warmup
    results = run_group(
        "set",
        "ops/s",
        [
            (RAW_SYNC, raw_set),
            (PM_SCH, pm_set(objs[PM_SCH])),
            (RS, rs_set),
            (PM_DC, pm_set(objs[PM_DC])),
            (PM_PYD, pm_set(objs[PM_PYD])),
        ],
        ops,
        reps,
        warm,
        args.chunk,
    )
    check_match(m)
    results += run_group(
        "match_for_pk",
        "ops/s",
        [
            (RAW_SYNC, raw_get),
            (PM_SCH, match(m.pm_sch)),
            (RS, match(m.rs)),
            (PM_DC, match(m.pm_dc)),
            (PM_PYD, match(m.pm_pyd)),
        ],
        ops,
        reps,
        warm,
        args.chunk,
    )
    return results


def check_match(m: Models) -> None:
    """Every library reads back what it wrote (a benchmark of broken code is worthless)."""
    want = row_values(7)
    for cls in (m.pm_sch, m.pm_dc, m.pm_pyd, m.rs):
        got = cls.match_for_pk(want["id"])
        for name, value in want.items():
            assert getattr(got, name) == value, (cls.__name__, name, getattr(got, name), value)


def bench_set_many(client: redis.Redis, m: Models, args: argparse.Namespace) -> list[Result]:
    """set_many vs raw pipelined SET (transaction=False, batches of 1000)."""
    count = args.many
    dicts = [row_values(i) for i in range(count)]
    raw_keys = [f"{P_RAW_MANY}:{d['id']}" for d in dicts]
    objs = {name: make_objects(cls, count) for name, cls in ((PM_SCH, m.pm_sch), (PM_DC, m.pm_dc), (PM_PYD, m.pm_pyd))}

    def raw_many(_start: int, n: int) -> None:
        dumps = orjson.dumps
        for start in range(0, n, BATCH):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(n, start + BATCH)):
                pipe.set(raw_keys[i], dumps(dicts[i]))
            pipe.execute()

    def pm_many(cls: Any, items: list[Any]) -> SyncBench:
        def run(_start: int, n: int) -> None:
            cls.set_many(items[:n])

        return run

    return run_group(
        f"set_many ({count:,} objects)",
        "ops/s",
        [
            (RAW_SYNC + " pipeline", raw_many),
            (PM_SCH, pm_many(m.pm_sch, objs[PM_SCH])),
            (PM_DC, pm_many(m.pm_dc, objs[PM_DC])),
            (PM_PYD, pm_many(m.pm_pyd, objs[PM_PYD])),
        ],
        count,
        args.repeats_slow,
        min(count, BATCH),
    )


def bench_datasets(client: redis.Redis, m: Models, args: argparse.Namespace, findings: "Findings") -> list[Result]:
    """Per dataset size N: the scan-path filter, then every secondary-index measurement."""
    results: list[Result] = []
    for n in args.n:
        delete_prefixes(client, (P_FILTER, P_RAW_MANY, P_MANY_DC, *INDEXED_PREFIXES))
        # The filter dataset is written once and read by both libraries (same JSON format).
        m.pm_filter_dc.set_many(make_objects(m.pm_filter_dc, n))
        results += scan_filter_group(client, m, args, n)
        results += bench_indexes(client, m, args, n, findings)
        delete_prefixes(client, (P_FILTER, *INDEXED_PREFIXES))
    return results


def scan_filter_group(client: redis.Redis, m: Models, args: argparse.Namespace, n: int) -> list[Result]:
    """filter(amount_kg__lt=1) over the N objects of the filter dataset (1% match), scan path, ms per query."""
    pattern = P_FILTER + ":*"
    want = (n + 99) // 100  # ids 0, 100, 200, ... have amount_kg 0

    def raw_filter(_start: int, queries: int) -> None:
        for _ in range(queries):
            found, cursor = [], 0
            while True:
                cursor, keys = client.scan(cursor, match=pattern, count=1000, _type="STRING")
                if keys:
                    for raw in client.mget(keys):
                        if raw is not None:
                            doc = orjson.loads(raw)
                            if doc["amount_kg"] is not None and doc["amount_kg"] < 1:
                                found.append(doc)
                if cursor == 0:
                    break
            assert len(found) == want, (len(found), want)

    def pm_filter(_start: int, queries: int) -> None:
        for _ in range(queries):
            found = list(m.pm_filter.filter(amount_kg__lt=1))
            assert len(found) == want, (len(found), want)

    def rs_filter(_start: int, queries: int) -> None:
        for _ in range(queries):
            found = m.rs_filter.filter(amount_kg__lt=1)
            assert len(found) == want, (len(found), want)

    queries = max(1, args.filter_budget // n)
    large = n >= args.large
    before = client.dbsize() - n
    group = run_group(
        f"filter N={n:,} ({want} hits)",
        "ms/query",
        [("raw redis-py SCAN+MGET+orjson", raw_filter), (PM_SCH, pm_filter), (RS, rs_filter)],
        queries,
        args.repeats_large if large else args.repeats_slow,
        0 if large else 1,  # at large N the code paths are warm from the smaller sizes
        1,
    )
    after = client.dbsize() - n
    others = f"{before:,}" if before == after else f"{min(before, after):,} to {max(before, after):,}"
    if max(before, after):
        print(f"  warning: db {DB} also held {others} keys of other clients; SCAN/KEYS walked them too")
    for result in group:
        result.others = others
    return group


# --------------------------------------------------------------------------- secondary indexes
@dataclass(frozen=True)
class Target:
    """A performance target of the secondary-index issue, checked at every N (or one N)."""

    text: str
    op: str  # operation name without its ", N=..." suffix
    impl: str
    ref: str  # the implementation it is compared with
    kind: str  # "slower" (time / ref time <= limit), "share" (ref time / time >= limit), "faster" (same, a factor)
    limit: float
    only_n: int | None = None
    profile_ref: str = ""  # the raw implementation the quick profile compares with (default: ref)

    def figure(self, result: Result, ref: Result) -> float:
        return result.best / ref.best if self.kind == "slower" else ref.best / result.best

    def met(self, figure: float) -> bool:
        return figure <= self.limit if self.kind == "slower" else figure >= self.limit

    def show(self, figure: float) -> str:
        if self.kind == "slower":
            return f"x{figure:.2f}"
        if self.kind == "share":
            return f"{figure * 100:.0f}%"
        return f"{figure:,.0f}x"


OP_SET, OP_MATCH, OP_MANY, OP_RANGE, OP_COUNT = (
    "set, 1 index",
    "match_for_pk, 1 index",
    "set_many",
    "range 1%",
    "count 1%",
)
#: A variant of an implementation that a quick profile also times (key suffix in ``fns``), and what it is.
VARIANT = " / variant"
VARIANT_LABEL = "the same hits asked with one bound, `filter(amount_kg__range=(lo, lo))`"
PER = {OP_SET: "op", OP_MATCH: "op", OP_MANY: "object", OP_RANGE: "query", OP_COUNT: "query"}
TARGETS = (
    Target(
        "set(), indexed dataclass model: within 1.3x raw MULTI SET+ZADD", OP_SET, PM_IDX_DC, RAW_MULTI, "slower", 1.3
    ),
    Target("match_for_pk(), indexed model: within 1.2x raw GET+orjson", OP_MATCH, PM_IDX_DC, RAW_GET, "slower", 1.2),
    Target("range query, indexed dataclass model: within 1.5x raw", OP_RANGE, PM_IDX_DC, RAW_RANGE, "slower", 1.5),
    Target("range query, indexed Schematics model: within 1.5x raw", OP_RANGE, PM_IDX_SCH, RAW_RANGE, "slower", 1.5),
    Target(
        "range query, indexed dataclass model: >= 500x faster than redis-schematics at N=100,000",
        OP_RANGE,
        PM_IDX_DC,
        RS,
        "faster",
        500,
        only_n=100_000,
        profile_ref=RAW_RANGE,
    ),
    Target(
        "set_many(), dataclass, no index: >= 50% of raw pipelined SET throughput",
        OP_MANY,
        PM_PLAIN_DC,
        RAW_PIPE,
        "share",
        0.5,
    ),
    Target(
        "set_many(), dataclass, indexed: >= 50% of raw pipelined SET throughput",
        OP_MANY,
        PM_IDX_DC,
        RAW_PIPE,
        "share",
        0.5,
    ),
)


@dataclass
class Findings:
    """Per target: the figure at each N, and the quick profile of the largest N where it was missed."""

    figures: dict[Target, dict[int, tuple[float, float]]] = field(default_factory=dict)  # N -> (figure, paired)
    profiles: dict[Target, tuple[int, str]] = field(default_factory=dict)


def op_name(op: str, n: int) -> str:
    return f"{op}, N={n:,}"


def check_targets(
    client: redis.Redis,
    n: int,
    ops: tuple[str, ...],
    results: list[Result],
    fns: dict[tuple[str, str], tuple[SyncBench, int]],
    findings: Findings,
) -> None:
    """Record the targets of ``ops`` at N; profile the misses now, while their data is still stored."""
    by_name = {(r.op, r.impl): r for r in results}
    for target in TARGETS:
        if target.op not in ops or (target.only_n is not None and target.only_n != n):
            continue
        name = op_name(target.op, n)
        result, ref = by_name[(name, target.impl)], by_name[(name, target.ref)]
        paired = result.paired_ratio(ref)
        if target.kind != "slower":
            paired = 1 / paired
        figure = target.figure(result, ref)
        findings.figures.setdefault(target, {})[n] = (figure, paired)
        print(
            f"  target: {target.text} at N={n:,}: {target.show(figure)} -> {'met' if target.met(figure) else 'NOT MET'}"
        )
        if not target.met(figure):
            fn, k = fns[(target.op, target.impl)]
            ref_fn, _ = fns[(target.op, target.profile_ref or target.ref)]
            variant = fns.get((target.op, target.impl + VARIANT))
            explanation = quick_profile(client, fn, ref_fn, k, PER[target.op], variant and variant[0])
            print(f"    profile: {explanation}")
            findings.profiles[target] = (n, explanation)


def bench_indexes(client: redis.Redis, m: Models, args: argparse.Namespace, n: int, findings: Findings) -> list[Result]:
    """The secondary-index section at one N: set_many, set, match_for_pk, range query, count."""
    dicts = [row_values(i) for i in range(n)]
    pks = [d["id"] for d in dicts]
    raw_keys = [f"{{{P_RAW_IDX}}}:{pk}" for pk in pks]  # the raw driver's indexed data, same layout
    plain_keys = [f"{P_RAW_MANY}:{pk}" for pk in pks]
    idx_objs = make_objects(m.pm_idx_dc, n)
    plain_objs = make_objects(m.pm_many_dc, n)
    large = n >= args.large
    fns: dict[tuple[str, str], tuple[SyncBench, int]] = {}  # what check_targets profiles, and how many ops

    # -- set_many of all N objects (the first call writes them, the repeats overwrite them)
    def raw_pipe(_start: int, count: int) -> None:
        dumps = orjson.dumps
        for start in range(0, count, BATCH):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(count, start + BATCH)):
                pipe.set(plain_keys[i], dumps(dicts[i]))
            pipe.execute()

    def raw_pipe_multi(_start: int, count: int) -> None:
        dumps = orjson.dumps
        for start in range(0, count, BATCH):
            pipe = client.pipeline(transaction=True)
            for i in range(start, min(count, start + BATCH)):
                d = dicts[i]
                pipe.set(raw_keys[i], dumps(d))
                pipe.zadd(RAW_IDX_KEY, {d["id"]: d["amount_kg"]})
            pipe.execute()

    def many(cls: Any, items: list[Any]) -> SyncBench:
        def run(_start: int, count: int) -> None:
            cls.set_many(items[:count])

        return run

    many_impls = [
        (RAW_PIPE, raw_pipe),
        (RAW_PIPE_MULTI, raw_pipe_multi),
        (PM_PLAIN_DC, many(m.pm_many_dc, plain_objs)),
        (PM_IDX_DC, many(m.pm_idx_dc, idx_objs)),
    ]
    results = run_group(
        op_name(OP_MANY, n),
        "ops/s",
        many_impls,
        n,
        args.repeats_slow,
        min(n, BATCH),
    )
    assert client.zcard(PM_IDX_KEY) == n, f"{PM_IDX_KEY} holds {client.zcard(PM_IDX_KEY)} entries, not {n}"
    assert client.zcard(RAW_IDX_KEY) == n
    fns.update({(OP_MANY, name): (fn, min(n, 10_000)) for name, fn in many_impls})
    check_targets(client, n, (OP_MANY,), results, fns, findings)
    delete_prefixes(client, (P_RAW_MANY, P_MANY_DC))

    # -- set and match_for_pk, cycling over the first KEYSPACE of the N stored objects
    k = min(KEYSPACE, n)

    def raw_set(start: int, count: int) -> None:
        dumps = orjson.dumps
        for i in range(start, start + count):
            d = dicts[i % k]
            pipe = client.pipeline(transaction=True)
            pipe.set(raw_keys[i % k], dumps(d))
            pipe.zadd(RAW_IDX_KEY, {d["id"]: d["amount_kg"]})
            pipe.execute()

    def pm_set(start: int, count: int) -> None:
        for i in range(start, start + count):
            idx_objs[i % k].set()

    def raw_get(start: int, count: int) -> None:
        r_get, loads = client.get, orjson.loads
        for i in range(start, start + count):
            loads(r_get(raw_keys[i % k]))

    def pm_match(start: int, count: int) -> None:
        match_for_pk = m.pm_idx_dc.match_for_pk
        for i in range(start, start + count):
            match_for_pk(pks[i % k])

    ops, reps, warm = args.ops, args.repeats, args.warmup
    results += run_group(
        op_name(OP_SET, n), "ops/s", [(RAW_MULTI, raw_set), (PM_IDX_DC, pm_set)], ops, reps, warm, args.chunk
    )
    want = row_values(7)
    for cls in (m.pm_idx_dc, m.pm_idx_sch):
        got = cls.match_for_pk(want["id"])
        for name, value in want.items():
            assert getattr(got, name) == value, (cls.__name__, name, getattr(got, name), value)
    results += run_group(
        op_name(OP_MATCH, n), "ops/s", [(RAW_GET, raw_get), (PM_IDX_DC, pm_match)], ops, reps, warm, args.chunk
    )
    fns.update({(OP_SET, RAW_MULTI): (raw_set, ops), (OP_SET, PM_IDX_DC): (pm_set, ops)})
    fns.update({(OP_MATCH, RAW_GET): (raw_get, ops), (OP_MATCH, PM_IDX_DC): (pm_match, ops)})
    check_targets(client, n, (OP_SET, OP_MATCH), results, fns, findings)
    delete_prefixes(client, (P_RAW_IDX,))  # redis-schematics' KEYS walks every key: keep only what it needs

    # -- range query returning 1% of N, and its count; query j asks for amount_kg in [j % 100, j % 100 + 1)
    wants = [len(range(lo, n, 100)) for lo in range(100)]
    object_prefix = f"{{{P_IDX}}}:".encode()

    def raw_range(start: int, count: int) -> None:
        for j in range(start, start + count):
            lo = j % 100
            members = client.zrangebyscore(PM_IDX_KEY, lo, f"({lo + 1}")
            docs = [orjson.loads(raw) for raw in client.mget([object_prefix + pk for pk in members]) if raw is not None]
            assert len(docs) == wants[lo], (len(docs), wants[lo])

    def pm_range(cls: Any) -> SyncBench:
        def run(start: int, count: int) -> None:
            query = cls.filter
            for j in range(start, start + count):
                lo = j % 100
                found = list(query(amount_kg__gte=lo, amount_kg__lt=lo + 1))
                assert len(found) == wants[lo], (len(found), wants[lo])

        return run

    def pm_range_one_bound(cls: Any) -> SyncBench:
        def run(start: int, count: int) -> None:
            query = cls.filter
            for j in range(start, start + count):
                lo = j % 100
                found = list(query(amount_kg__range=(lo, lo)))
                assert len(found) == wants[lo], (len(found), wants[lo])

        return run

    def rs_range(start: int, count: int) -> None:
        for j in range(start, start + count):
            lo = j % 100
            found = m.rs_filter.filter(amount_kg__gte=lo, amount_kg__lt=lo + 1)
            assert len(found) == wants[lo], (len(found), wants[lo])

    def raw_count(start: int, count: int) -> None:
        for j in range(start, start + count):
            lo = j % 100
            assert client.zcount(PM_IDX_KEY, lo, f"({lo + 1}") == wants[lo]

    def pm_count(start: int, count: int) -> None:
        for j in range(start, start + count):
            lo = j % 100
            assert m.pm_idx_dc.count(amount_kg__gte=lo, amount_kg__lt=lo + 1) == wants[lo]

    hits = max(1, n // 100)
    queries = max(1, args.index_budget // hits)
    chunk, warm = max(1, queries // 10), max(1, queries // 10)
    range_impls = [(RAW_RANGE, raw_range), (PM_IDX_DC, pm_range(m.pm_idx_dc)), (PM_IDX_SCH, pm_range(m.pm_idx_sch))]
    name = op_name(OP_RANGE, n)
    group = run_group(name, "ms/query", range_impls, queries, args.repeats_slow, warm, chunk)
    # redis-schematics lists every key with KEYS and decodes them all: seconds per query at large N, so it
    # runs on its own (not in the rounds above), with fewer queries and, at large N, fewer repeats.
    foreign = client.dbsize() - (n + 2 * n + 1)  # filter dataset; indexed objects, entries hashes, index
    if foreign:
        print(f"  warning: db {DB} holds {foreign:,} keys not written by this script; KEYS walks them too")
    rs = time_alone(
        name,
        RS,
        rs_range,
        max(1, args.filter_budget // n),
        args.repeats_large if large else args.repeats_slow,
        0 if large else 1,
        group[0],
    )
    results += [*group, rs]
    results += run_group(
        op_name(OP_COUNT, n),
        "ms/query",
        [(RAW_ZCOUNT, raw_count), (PM_IDX_DC, pm_count)],
        queries,
        args.repeats_slow,
        warm,
        chunk,
    )
    fns.update({(OP_RANGE, impl): (fn, max(1, queries // 5)) for impl, fn in range_impls})
    for impl, cls in ((PM_IDX_DC, m.pm_idx_dc), (PM_IDX_SCH, m.pm_idx_sch)):
        fns[(OP_RANGE, impl + VARIANT)] = (pm_range_one_bound(cls), 0)
    check_targets(client, n, (OP_RANGE,), results, fns, findings)
    for result in results:
        result.section = "index"
    return results


def time_alone(op: str, impl: str, fn: SyncBench, count: int, repeats: int, warmup: int, raw: Result) -> Result:
    """Time one slow implementation by itself (``count`` queries per repeat); print it against ``raw``."""
    result = Result(op, impl, raw.unit, count, raw=False)
    if warmup:
        fn(0, warmup)
    for _ in range(repeats):
        gc.collect()
        began = time.perf_counter()
        fn(0, count)
        result.times.append((time.perf_counter() - began) / count)
    report_group([raw, result])
    return result


# --------------------------------------------------------------------------- quick profile of a missed target
def quick_profile(
    client: redis.Redis, fn: SyncBench, ref_fn: SyncBench, k: int, per: str, variant: SyncBench | None = None
) -> str:
    """Where the time of ``k`` operations goes, against the raw reference: one line.

    Wall time, this process's CPU time and the Redis server's CPU time (INFO cpu) per
    operation, the commands sent and how many items their replies held, then
    cProfile's self time by package and persist_mixins' heaviest functions; with a
    ``variant`` (the same work asked another way), its wall time too.
    """
    ours, raw = measure(client, fn, k), measure(client, ref_fn, k)
    cost = ", ".join(
        f"{what} {fmt_seconds(a)} vs {fmt_seconds(b)}" for what, a, b in zip(COSTS, ours, raw, strict=True)
    )
    if variant is not None:
        variant(0, k)  # warm
        wall = measure(client, variant, k)[0]
        cost += f"; {VARIANT_LABEL}: wall {fmt_seconds(wall)} (x{wall / raw[0]:.1f} raw)"
    profiler = cProfile.Profile()
    profiler.enable()
    fn(0, k)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    by_package: dict[str, float] = {}
    for (filename, _line, name), (_, _, tottime, _, _) in rows:
        package = package_of(filename, name)
        by_package[package] = by_package.get(package, 0.0) + tottime
    packages = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:4]
    ours_top = [row for row in rows if package_of(row[0][0], row[0][2]) == "persist_mixins"][:3]
    shares = ", ".join(f"{package} {seconds / total * 100:.0f}%" for package, seconds in packages)
    top = ", ".join(f"{short_name(*where)} {row[2] / total * 100:.0f}%" for where, row in ours_top)
    plural = {"op": "ops", "object": "objects", "query": "queries"}[per]
    return (
        f"per {per}, ours vs raw: {cost}; commands for {k:,} {plural}: {trace_commands(client, lambda: fn(0, k))} "
        f"(raw: {trace_commands(client, lambda: ref_fn(0, k))}); cProfile self time: {shares}; "
        f"heaviest in persist_mixins: {top}"
    )


COSTS = ("wall", "client CPU", "Redis CPU")


def measure(client: redis.Redis, fn: SyncBench, k: int) -> tuple[float, float, float]:
    """Seconds per op: wall, this process's CPU, the Redis server's CPU."""
    before = server_cpu(client)
    wall, cpu = time.perf_counter(), time.process_time()
    fn(0, k)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall / k, cpu / k, (server_cpu(client) - before) / k


def server_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"


def short_name(filename: str, line: int, name: str) -> str:
    return f"{Path(filename).name}:{line}({name})" if line else name


def trace_commands(client: redis.Redis, fn: Callable[[], Any]) -> str:
    """Run ``fn`` with the client's commands recorded: ``NAME xcalls -> reply items`` per kind of command."""
    seen: dict[str, list[int]] = {}

    def note(label: str, items: int) -> None:
        entry = seen.setdefault(label, [0, 0])
        entry[0] += 1
        entry[1] += items

    def size(reply: Any) -> int:
        return len(reply) if isinstance(reply, (list, tuple, set)) else 1

    execute_command, pipeline = client.execute_command, client.pipeline

    def traced_command(*args: Any, **options: Any) -> Any:
        reply = execute_command(*args, **options)
        note(str(args[0]).upper(), size(reply))
        return reply

    def traced_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = pipeline(*args, **kwargs)
        run = pipe.execute

        def execute(*a: Any, **kw: Any) -> Any:
            names: dict[str, int] = {}
            for command_args, _options in pipe.command_stack:
                names[str(command_args[0]).upper()] = names.get(str(command_args[0]).upper(), 0) + 1
            replies = run(*a, **kw)
            inner = " + ".join(f"{name} x{calls:,}" for name, calls in names.items())
            note(("MULTI " if pipe.transaction else "") + f"pipeline[{inner}]", sum(size(r) for r in replies))
            return replies

        pipe.execute = execute
        return pipe

    client.execute_command = traced_command  # type: ignore[method-assign]
    client.pipeline = traced_pipeline  # type: ignore[method-assign]
    try:
        fn()
    finally:
        del client.execute_command, client.pipeline
    return ", ".join(f"{label} x{calls:,} -> {items:,} reply items" for label, (calls, items) in seen.items())


async def bench_async(aclient: redis.asyncio.Redis, m: Models, args: argparse.Namespace) -> list[Result]:
    """set and match_for_pk, asyncio: raw redis.asyncio vs persist_mixins.asyncio."""
    k = KEYSPACE
    dicts = [row_values(i) for i in range(k)]
    raw_keys = [f"{P_RAW_ASYNC}:{d['id']}" for d in dicts]
    pks = [d["id"] for d in dicts]
    sch_objs = make_objects(m.pm_async_sch, k)
    dc_objs = make_objects(m.pm_async_dc, k)

    async def raw_set(start: int, n: int) -> None:
        r_set, dumps = aclient.set, orjson.dumps
        for i in range(start, start + n):
            await r_set(raw_keys[i % k], dumps(dicts[i % k]))

    def pm_set(items: list[Any]) -> AsyncBench:
        async def run(start: int, n: int) -> None:
            for i in range(start, start + n):
                await items[i % k].set()

        return run

    async def raw_get(start: int, n: int) -> None:
        r_get, loads = aclient.get, orjson.loads
        for i in range(start, start + n):
            loads(await r_get(raw_keys[i % k]))

    def match(cls: Any) -> AsyncBench:
        async def run(start: int, n: int) -> None:
            match_for_pk = cls.match_for_pk
            for i in range(start, start + n):
                await match_for_pk(pks[i % k])

        return run

    ops, reps, warm = args.ops, args.repeats, args.warmup
    results = await run_group_async(
        "set (asyncio)",
        [(RAW_ASYNC, raw_set), (PM_ASYNC_SCH, pm_set(sch_objs)), (PM_ASYNC_DC, pm_set(dc_objs))],
        ops,
        reps,
        warm,
        args.chunk,
    )
    got = await m.pm_async_dc.match_for_pk("ice-7")
    assert got.best_before == row_values(7)["best_before"]
    results += await run_group_async(
        "match_for_pk (asyncio)",
        [(RAW_ASYNC, raw_get), (PM_ASYNC_SCH, match(m.pm_async_sch)), (PM_ASYNC_DC, match(m.pm_async_dc))],
        ops,
        reps,
        warm,
        args.chunk,
    )
    return results


# --------------------------------------------------------------------------- profiling
def profile_ops(client: redis.Redis, aclient: redis.asyncio.Redis, m: Models, ops: int) -> None:
    """Print where persist_mixins spends its time in set / match_for_pk (component timings, then cProfile)."""
    k = KEYSPACE
    print("\n== component timings, no profiler (best of 5 x 2000 calls) ==")
    for label, cls in (("Schematics", m.pm_sch), ("dataclass", m.pm_dc), ("pydantic", m.pm_pyd)):
        spec = spec_of(cls)
        obj = make_objects(cls, 1)[0]
        data = spec.adapter.dump(obj)
        doc = orjson.dumps(data)
        parts: list[tuple[str, Callable[[], Any]]] = [
            ("adapter.dump (validate + to primitives)", lambda spec=spec, obj=obj: spec.adapter.dump(obj)),
            ("orjson.dumps", lambda data=data: orjson.dumps(data)),
            ("orjson.loads", lambda doc=doc: orjson.loads(doc)),
            ("adapter.load (build instance)", lambda spec=spec, data=data: spec.adapter.load(data)),
        ]
        if label == "Schematics":
            rs_obj = make_objects(m.rs, 1)[0]
            parts += [
                ("  of which Model.validate()", obj.validate),
                ("  of which Model.to_primitive()", obj.to_primitive),
                ("redis-schematics: json.dumps(to_primitive())", lambda o=rs_obj: o.__serializer__(o.to_primitive())),
            ]
        for name, fn in parts:
            print(f"  {label:<11} {name:<52} {best_call(fn) * 1e6:7.2f} us/call")
    backend = PmMixin.__persist_backend__
    print("  -- persist_mixins' whole client-side work per op, the Redis call replaced by a stub (no I/O) --")
    for label, cls in (("Schematics", m.pm_sch), ("dataclass", m.pm_dc), ("pydantic", m.pm_pyd)):
        obj = make_objects(cls, 1)[0]
        stored = orjson.dumps(spec_of(cls).adapter.dump(obj))

        def no_io(name: str, args: tuple[Any, ...], reply: Any, cls: Any = cls) -> Callable[[], Any]:
            def run() -> Any:
                plan = getattr(cls.__persist_backend__.plans, name)(spec_of(cls), *args)
                cls._persist_driver()
                return run_sync(lambda _command: reply, plan)

            return run

        for name, fn in (
            ("set() without I/O", no_io("save", (obj, None), True)),
            ("match_for_pk() without I/O", no_io("match_for_pk", ("ice-0",), stored)),
        ):
            print(f"  {label:<11} {name:<52} {best_call(fn) * 1e6:7.2f} us/call")
    for name, fn in (
        ("Backend.plans (importlib.import_module per call)", lambda: backend.plans),
        ("Backend.drivers (importlib.import_module per call)", lambda: backend.drivers),
        ("sync _persist_driver() (cached per class)", m.pm_dc._persist_driver),
        ("async _persist_driver() (resolved per call)", m.pm_async_dc._persist_driver),
        ("spec_of(cls)", lambda: spec_of(m.pm_dc)),
    ):
        print(f"  {'lookup':<11} {name:<52} {best_call(fn) * 1e6:7.2f} us/call")

    dicts = [row_values(i) for i in range(k)]
    raw_keys = [f"{P_RAW}:{d['id']}" for d in dicts]

    def raw_set() -> None:
        for i in range(ops):
            client.set(raw_keys[i % k], orjson.dumps(dicts[i % k]))

    def raw_get() -> None:
        for i in range(ops):
            orjson.loads(client.get(raw_keys[i % k]))

    targets: list[tuple[str, Callable[[], Any]]] = [("raw redis-py set", raw_set), ("raw redis-py get", raw_get)]
    for label, cls in (("Schematics", m.pm_sch), ("dataclass", m.pm_dc), ("pydantic", m.pm_pyd)):
        objs = make_objects(cls, k)

        def do_set(objs: list[Any] = objs) -> None:
            for i in range(ops):
                objs[i % k].set()

        def do_match(cls: Any = cls) -> None:
            for i in range(ops):
                cls.match_for_pk(f"ice-{i % k}")

        targets += [(f"persist_mixins set, {label}", do_set), (f"persist_mixins match_for_pk, {label}", do_match)]
    for label, fn in targets:
        fn()  # warm
        print_profile(label, fn, ops)

    async_objs = make_objects(m.pm_async_dc, k)
    async_keys = [f"{P_RAW_ASYNC}:{d['id']}" for d in dicts]

    async def raw_aset() -> None:
        for i in range(ops):
            await aclient.set(async_keys[i % k], orjson.dumps(dicts[i % k]))

    async def pm_aset() -> None:
        for i in range(ops):
            await async_objs[i % k].set()

    async def pm_amatch() -> None:
        for i in range(ops):
            await m.pm_async_dc.match_for_pk(f"ice-{i % k}")

    loop = asyncio.new_event_loop()  # aclient has not connected yet: it binds to this loop
    try:
        for label, afn in (
            ("raw redis.asyncio set", raw_aset),
            ("persist_mixins.asyncio set, dataclass", pm_aset),
            ("persist_mixins.asyncio match_for_pk, dataclass", pm_amatch),
        ):
            loop.run_until_complete(afn())  # warm (and store what pm_amatch reads)
            print_profile(label, lambda afn=afn: loop.run_until_complete(afn()), ops)
    finally:
        loop.run_until_complete(aclient.aclose())
        loop.close()
    print("\nNote: cProfile counts every resumption of a coroutine as a call, and inflates small functions.")


def best_call(fn: Callable[[], Any], calls: int = 2000, repeats: int = 5) -> float:
    """Best-of-``repeats`` seconds per call of ``fn``."""
    return min(timeit_loop(fn, calls) for _ in range(repeats))


def timeit_loop(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def print_profile(label: str, fn: Callable[[], Any], ops: int, top: int = 8) -> None:
    """cProfile ``fn`` (``ops`` operations): self time per op by package, then the heaviest functions."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    print(f"\n== cProfile: {label} ({ops} ops, {total / ops * 1e6:.1f} us/op under the profiler) ==")
    by_package: dict[str, float] = {}
    for (filename, _line, name), (_cc, _ncalls, tottime, _cumtime, _callers) in rows:
        package = package_of(filename, name)
        by_package[package] = by_package.get(package, 0.0) + tottime
    shares = sorted(by_package.items(), key=lambda item: item[1], reverse=True)
    print("  self time by package: " + ", ".join(f"{p} {t / ops * 1e6:.1f}" for p, t in shares) + " (us/op)")
    print(f"  {'calls/op':>8} {'self us/op':>10} {'cum us/op':>10} {'us/call':>8}  function")
    heaviest = rows[:top]
    own = [row for row in rows if package_of(row[0][0], row[0][2]) == "persist_mixins"][:top]
    for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in heaviest + [
        row for row in own if row not in heaviest
    ]:
        where = f"{short_path(filename)}:{line}({name})" if line else name
        print(
            f"  {ncalls / ops:8.2f} {tottime / ops * 1e6:10.2f} {cumtime / ops * 1e6:10.2f} "
            f"{tottime / ncalls * 1e6:8.2f}  {where}"
        )


def package_of(filename: str, name: str) -> str:
    """A coarse owner for a profiled function, to sum self time per package."""
    if "persist_mixins/" in filename:
        return "persist_mixins"
    if "redis_bench" in filename:
        return "benchmark loop"
    if "socket" in name or "epoll" in name:
        return "socket/epoll syscalls"
    for package in ("redis_schematics", "redis", "schematics", "pydantic", "asyncio", "importlib"):
        if f"/{package}/" in filename:
            return {"redis": "redis-py"}.get(package, package)
    if "selectors.py" in filename:
        return "asyncio"
    return "other (builtins, stdlib)"


def short_path(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "/lib/python3."):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# --------------------------------------------------------------------------- report
def versions(client: redis.Redis) -> dict[str, str]:
    def dist(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        diff = subprocess.run(
            ["git", "-C", str(REPO), "diff", "HEAD", "--", "persist_mixins"], capture_output=True, check=True
        ).stdout
        if diff:
            commit += f" + uncommitted changes to persist_mixins/, diff sha1 {hashlib.sha1(diff).hexdigest()[:10]}"
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    info = client.info("server")
    conn = client.connection_pool.get_connection()
    try:
        parser = type(conn._parser).__name__
        protocol = str(getattr(conn, "protocol", "2"))
    finally:
        client.connection_pool.release(conn)
    return {
        "persist_mixins": f"{persist_mixins.__version__} (git {commit})",
        "Redis server": f"{info['redis_version']} at {HOST}:{PORT}, db {DB}, same machine",
        "redis-py": f"{redis.__version__}, parser {parser}, RESP{protocol}",
        "hiredis": dist("hiredis"),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "orjson": dist("orjson"),
        "schematics": dist("schematics"),
        "redis-schematics": dist("redis-schematics"),
        "pydantic": dist("pydantic"),
    }


def conditions(client: redis.Redis) -> str:
    """Load average and other Redis clients: how quiet the machine was."""
    others = int(client.info("clients")["connected_clients"]) - 1
    return f"load average {os.getloadavg()[0]:.2f}, {others} other Redis client connection(s)"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt_paired(ratio: float) -> str:
    return "-" if math.isnan(ratio) else f"{ratio:.2f}"


def throughput_rows(results: list[Result], section: str) -> list[list[str]]:
    rows, raw = [], None
    for r in results:
        if r.unit != "ops/s" or r.section != section:
            continue
        if r.raw:
            raw = r
        assert raw is not None
        rows.append(
            [
                r.op,
                r.impl,
                f"{1 / r.best:,.0f}",
                f"{1 / r.median:,.0f}",
                f"{r.best / raw.best:.2f}",
                fmt_paired(r.paired_ratio(raw)),
                f"{(r.best - raw.best) * 1e6:+.1f}" if not r.raw else "0",
                f"{r.spread * 100:.1f}%",
            ]
        )
    return rows


def filter_rows(results: list[Result]) -> list[list[str]]:
    rows, raw = [], None
    for r in results:
        if r.unit != "ms/query" or r.section != "main":
            continue
        if r.raw:
            raw = r
        assert raw is not None
        rows.append(
            [
                r.op,
                r.impl,
                f"{r.best * 1e3:.2f}",
                f"{r.median * 1e3:.2f}",
                f"{r.best / raw.best:.2f}",
                f"{r.paired_ratio(raw):.2f}",
                f"{(r.best - raw.best) * 1e3:+.2f}" if not r.raw else "0",
                f"{r.spread * 100:.1f}%",
                r.others,
            ]
        )
    return rows


def index_query_rows(results: list[Result]) -> list[list[str]]:
    """Range query and count rows, with the speed-up over redis-schematics where it was measured."""
    rows = []
    queries = [r for r in results if r.unit == "ms/query" and r.section == "index"]
    for r in queries:
        group = [q for q in queries if q.op == r.op]
        raw = next(q for q in group if q.raw)
        rs = next((q for q in group if q.impl == RS), None)
        rows.append(
            [
                r.op,
                r.impl,
                f"{r.best * 1e3:.3f}",
                f"{r.median * 1e3:.3f}",
                f"{r.best / raw.best:.2f}",
                fmt_paired(r.paired_ratio(raw)),
                f"{(r.best - raw.best) * 1e3:+.3f}" if not r.raw else "0",
                f"{r.spread * 100:.1f}%",
                "-" if rs is None or r is rs else f"{rs.best / r.best:,.0f}x",
            ]
        )
    return rows


def target_rows(findings: Findings, args: argparse.Namespace) -> list[list[str]]:
    """Per target: what it asks, the figure at each N, met or not, and where the time goes when missed."""
    rows = []
    for target in TARGETS:
        figures = findings.figures.get(target, {})
        measured = "; ".join(
            f"N={n:,}: {target.show(figure)}" + ("" if math.isnan(paired) else f" (paired {target.show(paired)})")
            for n, (figure, paired) in figures.items()
        )
        missed = [n for n, (figure, _) in figures.items() if not target.met(figure)]
        if not figures:
            wanted = f"N={target.only_n:,}" if target.only_n else "any N"
            verdict, measured = "not measured", f"({wanted} not in --n {' '.join(map(str, args.n))})"
        elif missed:
            verdict = "NOT MET at N=" + ", ".join(f"{n:,}" for n in missed)
        else:
            verdict = "met"
        why = ""
        if target in findings.profiles:
            n, explanation = findings.profiles[target]
            why = f"N={n:,}: {explanation}"
        rows.append([target.text, measured, verdict, why])
    return rows


INDEX_QUERY_HEAD = ["operation", "implementation", "ms/query (best)", "ms/query (median)", "x raw", "x raw (paired)"]
INDEX_QUERY_HEAD += ["extra ms", "spread", "x faster than redis-schematics"]
TARGET_HEAD = ["target", "measured (best / raw best; paired in brackets)", "verdict", "where the time goes (misses)"]

THROUGHPUT_HEAD = ["operation", "implementation", "ops/s (best)", "ops/s (median)"]
THROUGHPUT_HEAD += ["x raw", "x raw (paired)", "extra us/op", "spread"]
FILTER_HEAD = ["operation", "implementation", "ms/query (best)", "ms/query (median)"]
FILTER_HEAD += ["x raw", "x raw (paired)", "extra ms", "spread", "other keys"]


def text_table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    previous = None
    for row in rows:
        if previous is not None and row[0] != previous:
            lines.append("")
        previous = row[0]
        cells = [c.rjust(w) if i >= 2 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def md_table(head: list[str], rows: list[list[str]], text_columns: int = 2) -> str:
    aligns = ["---" if i < text_columns else "---:" for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def plot(results: list[Result], png: Path) -> str | None:
    """Write a bar chart of time per op relative to raw; return None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    labels, values, raw = [], [], None
    for r in results:
        if r.raw:
            raw = r
        assert raw is not None
        labels.append(f"{r.op}: {r.impl}")
        values.append(r.best / raw.best)
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(labels) + 1.2))
    ax.barh(range(len(labels)), values, color=["#999999" if r.raw else "#3a78b5" for r in results])
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("time per operation relative to the raw driver (1.0 = raw; lower is better)")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png.name


def write_markdown(
    out: Path, results: list[Result], findings: Findings, info: dict[str, str], args: argparse.Namespace, seconds: float
) -> str | None:
    out.parent.mkdir(parents=True, exist_ok=True)
    chart = plot([r for r in results if r.section == "main"], out.with_suffix(".png"))
    sizes = ", ".join(f"{n:,}" for n in args.n)
    cmd = "python benchmarks/redis_bench.py " + " ".join(sys.argv[1:])
    lines = [
        "# Performance: persist_mixins on Redis vs redis-py and redis-schematics",
        "",
        "<!-- generated by benchmarks/redis_bench.py: do not edit by hand, re-run the script -->",
        "_This file is generated by `benchmarks/redis_bench.py`; edit the script, not this page._",
        "",
        f"- Date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {os.cpu_count()} cores ({cpu_model()}), {platform.system()} {platform.release()}; "
        "the Redis server runs on the same machine, so client and server share the cores.",
    ]
    lines += [f"- {name}: {value}" for name, value in info.items()]
    lines += [
        f"- Command: `{cmd.strip()}` (run time {seconds:.0f} s, all sections)",
        "",
        "## Method",
        "",
        f"- Every implementation is warmed up ({args.warmup} ops), then a fixed number of sequential operations "
        f"is timed with `time.perf_counter` ({args.ops:,} ops per repeat for set / match_for_pk, "
        f"{args.many:,} objects per set_many call, about {args.filter_budget:,} scanned objects per filter repeat).",
        f"- Within one repeat the implementations of an operation take turns every {args.chunk} set / "
        "match_for_pk operations (every call for set_many and filter), in a rotating order, and each "
        "implementation's time is summed over its turns: a machine that gets slower or faster during the run "
        "slows every implementation alike. "
        f"set / match_for_pk are repeated {args.repeats} times, set_many and filter {args.repeats_slow} times "
        f"(filter at N >= {args.large:,}: {args.repeats_large} times, without warm-up: one redis-schematics query "
        "takes seconds there). "
        "**The table reports the best repeat** (the median is shown alongside); *spread* is "
        "(worst - best) / best over the repeats.",
        "- *x raw* = best time per operation / best time per operation of the raw driver measured in the same run "
        "(raw = 1.00; higher is slower). *x raw (paired)* = the median, over the repeats, of the same ratio taken "
        "within one repeat (raw and the library timed in alternation), the figure least sensitive to noise. "
        "*extra* = best time minus raw best time, in microseconds per op (ms per query for filter).",
        "- One client per flavour (`redis.Redis` / `redis.asyncio.Redis`, db 15) is shared by the raw loop and "
        "both libraries (persist_mixins gets it as `__redis__`, redis-schematics as `__redis_client__`), so every "
        "implementation talks over the same connection.",
        "- Models: one per library with the same fields (`id: str, flavour: str, amount_kg: int, "
        "best_before: datetime`). persist_mixins is measured with a Schematics model (like-for-like with "
        "redis-schematics), a dataclass and a pydantic v2 model. The redis-schematics model also declares "
        "`pk = StringType()`, because its `match_for_pk()` builds `cls({'pk': pk})` and fails on a model "
        "without one (its own `SimpleRedisModel` declares it).",
        "- set: raw = `r.set(key, orjson.dumps(d))` on an equivalent dict (datetime included); persist_mixins "
        "validates the object, dumps it to primitives and writes it with one `SET`; redis-schematics calls "
        "`to_primitive()` (no validation) and `json.dumps`. match_for_pk: raw = `orjson.loads(r.get(key))`, "
        "returning a dict; the libraries return a model instance.",
        f"- set_many: raw = `pipeline(transaction=False)` with {BATCH} SETs per `execute()`; persist_mixins "
        "`set_many()` validates every object first, then pipelines the same batches.",
        f"- filter: `filter(amount_kg__lt=1)` hits exactly 1% of N objects (N = {sizes}), no indexes (scan path). "
        "Both libraries read the same dataset (written once by a persist_mixins dataclass model); raw = SCAN "
        "MATCH/COUNT 1000/TYPE string + MGET per batch + orjson + the comparison on dicts. redis-schematics uses "
        "`KEYS` plus one MGET of every key and builds a model from every object; persist_mixins uses SCAN + MGET "
        "per batch, decodes every document and checks the conditions. *other keys* = keys in db 15 not written by "
        "this script while the filter ran (other clients'); SCAN and KEYS walk them too, so a non-zero count "
        "inflates every filter figure, the raw one most in relative terms.",
        "",
        "## Results: single-object and batched operations",
        "",
        md_table(THROUGHPUT_HEAD, throughput_rows(results, "main")),
        "",
        "## Results: filter (scan path, 1% of N returned)",
        "",
        md_table(FILTER_HEAD, filter_rows(results)),
        "",
        *index_markdown(results, findings, args),
        "## Chart",
        "",
    ]
    if chart:
        lines.append(f"![time per operation relative to raw]({chart})")
    else:
        lines.append(
            "Skipped: matplotlib is not importable in this environment (it is deliberately not a dependency). "
            "Install it and re-run the script to get `performance.png` next to this file."
        )
    lines.append("")
    text = "\n".join(lines)
    old = out.read_text() if out.exists() else ""
    start, end = old.find("<!-- pg-bench:start -->"), old.find("<!-- pg-bench:end -->")
    if 0 <= start < end:  # benchmarks/pg_bench.py's section: kept verbatim
        text += "\n" + old[start : end + len("<!-- pg-bench:end -->")] + "\n"
    out.write_text(text)
    return chart


def index_markdown(results: list[Result], findings: Findings, args: argparse.Namespace) -> list[str]:
    """The secondary-index section of the report: method, tables, targets."""
    sizes = ", ".join(f"{n:,}" for n in args.n)
    slow = f"{args.repeats_slow} times ({args.repeats_large} at N >= {args.large:,})"
    return [
        "## Secondary indexes: persist_mixins vs the raw driver doing the same work",
        "",
        "Issue: *Redis secondary indexes ... at raw-driver speed*. Measured at N = "
        f"{sizes} stored objects, one model with `__indexes__ = ('amount_kg',)` "
        "(dataclass; the range query also with a Schematics model reading the same data), same fields and values "
        "as above (`amount_kg = i % 100`). Same method as above: warm-up, implementations of one operation taking "
        "turns in a rotating order within each repeat, best repeat reported with the median, *x raw* = best / raw "
        "best, *x raw (paired)* = median of the per-repeat ratios.",
        "",
        "What each raw implementation does (redis-py 8 with hiredis, same client and connection as the library):",
        "",
        f"- set, 1 index: raw = `pipeline(transaction=True)` with `SET key orjson.dumps(d)` and "
        "`ZADD idx {pk: amount_kg}`, i.e. `MULTI SET ZADD EXEC` in one round trip, on an equivalent dict; "
        "persist_mixins validates the object and runs its save script (`EVALSHA`: drop the object's old index "
        "entries recorded in its entries hash, `ZADD` + `HSET` the new one, `SET` the value, clear any expiry "
        "schedule entry), also one round trip. Both overwrite objects already stored and indexed (the first "
        f"{KEYSPACE:,} of the N, cycled: {args.ops:,} ops per repeat, {args.repeats} repeats, turns of "
        f"{args.chunk} ops), in indexes holding N members.",
        "- match_for_pk, 1 index: raw = `orjson.loads(r.get(key))` (a dict); persist_mixins = one `GET` and a "
        "dataclass instance.",
        f"- set_many of all N objects (per-object throughput; the warm-up call writes the first {BATCH:,}, every "
        f"repeat then overwrites all N; {args.repeats_slow} repeats): raw pipelined SET = "
        f"`pipeline(transaction=False)` with {BATCH:,} SETs per `execute()`, no index; raw pipelined MULTI "
        f"SET+ZADD = `pipeline(transaction=True)`, {BATCH:,} objects (SET + ZADD each) per `MULTI ... EXEC`; "
        "persist_mixins `set_many()` with the same dataclass without indexes (pipelined SETs) and with the index "
        f"(pipelined save scripts, {BATCH:,} per round trip). Targets compare both with raw pipelined SET.",
        "- range 1%: query j asks for `lo = j % 100`, `hi = lo + 1`, i.e. exactly N/100 objects. Raw = "
        "`ZRANGEBYSCORE idx lo (hi` on persist_mixins' own index sorted set, then one `MGET` of those keys, "
        "`orjson.loads` of each value (dicts; no None check beyond skipping missing values, no re-check of the "
        "condition, no model instances). persist_mixins = `list(Model.filter(amount_kg__gte=lo, amount_kg__lt=hi))`"
        ": plans the query from the index, reads the candidates with `MGET`, drops values gone meanwhile, re-checks "
        f"every condition and builds instances. {args.index_budget:,} hits per repeat (so N/100 hits x queries), "
        f"{args.repeats_slow} repeats, turns of a tenth of the queries.",
        "- redis-schematics 0.3.1 runs the same `filter(amount_kg__gte=lo, amount_kg__lt=hi)` on its own layout "
        "(the filter dataset above, same N): `KEYS prefix:*`, one `MGET` of every key, a Schematics model per "
        "object, then the comparison. It takes seconds per query at large N, so it is timed on its own, after the "
        f"others ({args.filter_budget:,} / N queries per repeat, at least 1; {slow}), not in their rounds: "
        "its *x raw* is against the raw best of the rounds above and has no paired figure. `KEYS` walks the whole "
        "database, which then holds the filter dataset (N keys) and the indexed dataset (N objects, N entries "
        "hashes, 1 index): about 3N keys, a few ms of its seconds.",
        "- count 1%: raw = `ZCOUNT idx lo (hi` (one command, the server counts); persist_mixins = "
        "`Model.count(amount_kg__gte=lo, amount_kg__lt=hi)`, which is exact under expiry: it lists the candidates "
        "from the index and checks their keys with `EXISTS` (an expired object's index entries stay until "
        "`purge_expired()`, and `ZCOUNT` would count them). No target; shown for the price of exactness.",
        "- Targets are judged on *x raw* (best / raw best) at every N; a miss gets a quick profile of persist_mixins "
        "against its raw reference at that N, run right after the measurement: wall, client CPU "
        "(`time.process_time`) and Redis server CPU (`INFO cpu`, the server shares the 2 cores) per op, the "
        "commands sent with the number of items in their replies, and the top self-time functions under cProfile; "
        "for the range query also the wall time of the same hits asked with one bound, "
        "`filter(amount_kg__range=(lo, lo))` (one index range instead of one per condition).",
        "",
        "### Results: set, match_for_pk and set_many with one index",
        "",
        md_table(THROUGHPUT_HEAD, throughput_rows(results, "index")),
        "",
        "### Results: range query and count (1% of N)",
        "",
        md_table(INDEX_QUERY_HEAD, index_query_rows(results)),
        "",
        "### Targets",
        "",
        md_table(TARGET_HEAD, target_rows(findings, args), text_columns=4),
        "",
    ]


# --------------------------------------------------------------------------- cleanup
def key_patterns(prefix: str) -> tuple[str, ...]:
    """The SCAN patterns of one of this script's prefixes (indexed ones: ``{prefix}:*`` and ``{prefix}#*``)."""
    if prefix in INDEXED_PREFIXES:
        return (f"{{{prefix}}}:*", f"{{{prefix}}}#*")
    return (prefix + ":*",)


def delete_prefixes(client: redis.Redis, prefixes: tuple[str, ...] = ALL_PREFIXES) -> int:
    """SCAN + DEL the keys under this script's prefixes only (never FLUSHDB)."""
    removed = 0
    for pattern in (pattern for prefix in prefixes for pattern in key_patterns(prefix)):
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                removed += client.delete(*batch)
                batch = []
        if batch:
            removed += client.delete(*batch)
    return removed


# --------------------------------------------------------------------------- main
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
            for cls in (m.pm_sch, m.pm_dc, m.pm_pyd):
                cls.set_many(make_objects(cls, KEYSPACE))
            pipe = client.pipeline(transaction=False)
            for i in range(KEYSPACE):
                pipe.set(f"{P_RAW}:ice-{i}", orjson.dumps(row_values(i)))
            pipe.execute()
            profile_ops(client, aclient, m, args.ops)
            return 0
        print(f"persist_mixins Redis benchmark: db {DB}, {os.cpu_count()} cores; best of repeats; x = time / raw time")
        results = bench_sync(client, m, args)
        results += asyncio.run(async_part(aclient, m, args))
        results += bench_set_many(client, m, args)
        delete_prefixes(client)  # filters scan the database: leave only their own dataset in it
        findings = Findings()
        results += bench_datasets(client, m, args, findings)
        seconds = time.perf_counter() - started
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


async def async_part(aclient: redis.asyncio.Redis, m: Models, args: argparse.Namespace) -> list[Result]:
    try:
        return await bench_async(aclient, m, args)
    finally:
        await aclient.aclose()


if __name__ == "__main__":
    sys.exit(main())
