"""Redis job: secondary indexes at one N, against the raw driver doing the same work, and the issue's targets.

A dataclass model with ``__indexes__ = ("amount_kg",)`` (the range query also
with a Schematics model over the same data): ``set_many`` of N objects (also
unindexed) vs raw pipelined SET and pipelined ``MULTI SET+ZADD``; ``set`` vs raw
``MULTI SET ZADD EXEC``; ``match_for_pk`` vs raw ``GET`` + orjson; a range query
returning 1% of N vs raw ``ZRANGEBYSCORE`` + ``MGET`` + orjson and vs
redis-schematics' scan; ``count()`` vs raw ``ZCOUNT``.  A missed target is
profiled on the spot, while its data is still stored (redis_diagnose).
"""

import argparse
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
from harness import Bench, Impl, Result, Runner
from redis_common import (
    BATCH,
    DB,
    KEYSPACE,
    P_IDX,
    P_MANY_DC,
    P_RAW_IDX,
    P_RAW_MANY,
    PM_IDX_DC,
    PM_IDX_KEY,
    PM_IDX_SCH,
    PM_PLAIN_DC,
    RAW_GET,
    RAW_IDX_KEY,
    RAW_MULTI,
    RAW_PIPE,
    RAW_PIPE_MULTI,
    RAW_RANGE,
    RAW_ZCOUNT,
    RS,
    Models,
    delete_prefixes,
    make_objects,
    row_values,
    show,
)
from redis_diagnose import quick_profile


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
    fns: dict[tuple[str, str], tuple[Bench, int]],
    findings: Findings,
) -> None:
    """Record the targets of ``ops`` at N; profile the misses now, while their data is still stored."""
    by_name = {(r.op, r.impl): r for r in results}
    for target in TARGETS:
        if target.op not in ops or (target.only_n is not None and target.only_n != n):
            continue
        name = op_name(target.op, n)
        result, ref = by_name[(name, target.impl)], by_name[(name, target.ref)]
        paired = result.paired_to(ref)
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
            explanation = quick_profile(client, fn, ref_fn, k, PER[target.op], variant and (VARIANT_LABEL, variant[0]))
            print(f"    profile: {explanation}")
            findings.profiles[target] = (n, explanation)


def run(
    runner: Runner, client: redis.Redis, m: Models, args: argparse.Namespace, n: int, findings: Findings
) -> list[Result]:
    """The secondary-index section at one N: set_many, set, match_for_pk, range query, count."""
    dicts = [row_values(i) for i in range(n)]
    pks = [d["id"] for d in dicts]
    raw_keys = [f"{{{P_RAW_IDX}}}:{pk}" for pk in pks]  # the raw driver's indexed data, same layout
    plain_keys = [f"{P_RAW_MANY}:{pk}" for pk in pks]
    idx_objs = make_objects(m.pm_idx_dc, n)
    plain_objs = make_objects(m.pm_many_dc, n)
    large = n >= args.large
    fns: dict[tuple[str, str], tuple[Bench, int]] = {}  # what check_targets profiles, and how many ops

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

    def many(cls: Any, items: list[Any]) -> Bench:
        def run(_start: int, count: int) -> None:
            cls.set_many(items[:count])

        return run

    many_impls = [
        Impl(RAW_PIPE, raw_pipe, raw=True),
        Impl(RAW_PIPE_MULTI, raw_pipe_multi),
        Impl(PM_PLAIN_DC, many(m.pm_many_dc, plain_objs)),
        Impl(PM_IDX_DC, many(m.pm_idx_dc, idx_objs)),
    ]
    results = show(runner.group(op_name(OP_MANY, n), many_impls, n, args.repeats_slow, min(n, BATCH), n=n))
    assert client.zcard(PM_IDX_KEY) == n, f"{PM_IDX_KEY} holds {client.zcard(PM_IDX_KEY)} entries, not {n}"
    assert client.zcard(RAW_IDX_KEY) == n
    fns.update({(OP_MANY, impl.name): (impl.fn, min(n, 10_000)) for impl in many_impls})
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
    sets = [Impl(RAW_MULTI, raw_set, raw=True), Impl(PM_IDX_DC, pm_set)]
    results += show(runner.group(op_name(OP_SET, n), sets, ops, reps, warm, args.chunk, n=n))
    want = row_values(7)
    for cls in (m.pm_idx_dc, m.pm_idx_sch):
        got = cls.match_for_pk(want["id"])
        for name, value in want.items():
            assert getattr(got, name) == value, (cls.__name__, name, getattr(got, name), value)
    matches = [Impl(RAW_GET, raw_get, raw=True), Impl(PM_IDX_DC, pm_match)]
    results += show(runner.group(op_name(OP_MATCH, n), matches, ops, reps, warm, args.chunk, n=n))
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

    def pm_range(cls: Any) -> Bench:
        def run(start: int, count: int) -> None:
            query = cls.filter
            for j in range(start, start + count):
                lo = j % 100
                found = list(query(amount_kg__gte=lo, amount_kg__lt=lo + 1))
                assert len(found) == wants[lo], (len(found), wants[lo])

        return run

    def pm_range_one_bound(cls: Any) -> Bench:
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
    range_impls = [
        Impl(RAW_RANGE, raw_range, raw=True),
        Impl(PM_IDX_DC, pm_range(m.pm_idx_dc)),
        Impl(PM_IDX_SCH, pm_range(m.pm_idx_sch)),
    ]
    name = op_name(OP_RANGE, n)
    group = show(runner.group(name, range_impls, queries, args.repeats_slow, warm, chunk, unit="ms/query", n=n))
    # redis-schematics lists every key with KEYS and decodes them all: seconds per query at large N, so it
    # runs on its own (not in the rounds above), with fewer queries and, at large N, fewer repeats.
    foreign = client.dbsize() - (n + 2 * n + 1)  # filter dataset; indexed objects, entries hashes, index
    if foreign:
        print(f"  warning: db {DB} holds {foreign:,} keys not written by this script; KEYS walks them too")
    rs = runner.alone(
        name,
        Impl(RS, rs_range),
        max(1, args.filter_budget // n),
        args.repeats_large if large else args.repeats_slow,
        0 if large else 1,
        group[0],
    )
    show([group[0], rs])
    results += [*group, rs]
    counts = [Impl(RAW_ZCOUNT, raw_count, raw=True), Impl(PM_IDX_DC, pm_count)]
    results += show(
        runner.group(op_name(OP_COUNT, n), counts, queries, args.repeats_slow, warm, chunk, unit="ms/query", n=n)
    )
    fns.update({(OP_RANGE, impl.name): (impl.fn, max(1, queries // 5)) for impl in range_impls})
    for impl, cls in ((PM_IDX_DC, m.pm_idx_dc), (PM_IDX_SCH, m.pm_idx_sch)):
        fns[(OP_RANGE, impl + VARIANT)] = (pm_range_one_bound(cls), 0)
    check_targets(client, n, (OP_RANGE,), results, fns, findings)
    for result in results:
        result.section = "index"
    return results
