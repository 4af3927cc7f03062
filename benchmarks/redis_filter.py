"""Redis job: ``filter(amount_kg__lt=1)`` without indexes (the scan path), 1% of N objects returned.

Raw = SCAN MATCH/COUNT 1000/TYPE string + MGET per batch + orjson and the
comparison on dicts; persist_mixins and redis-schematics (KEYS + one MGET) read
the same dataset, written once by the caller.  ms per query, at every N.
"""

import argparse

import orjson
import redis
from harness import Impl, Result, Runner
from redis_common import DB, P_FILTER, PM_SCH, RS, Models, show


def run(runner: Runner, client: redis.Redis, m: Models, args: argparse.Namespace, n: int) -> list[Result]:
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
    group = runner.group(
        f"filter N={n:,} ({want} hits)",
        [Impl("raw redis-py SCAN+MGET+orjson", raw_filter, raw=True), Impl(PM_SCH, pm_filter), Impl(RS, rs_filter)],
        queries,
        args.repeats_large if large else args.repeats_slow,
        0 if large else 1,  # at large N the code paths are warm from the smaller sizes
        1,
        unit="ms/query",
        n=n,
    )
    show(group)
    after = client.dbsize() - n
    others = f"{before:,}" if before == after else f"{min(before, after):,} to {max(before, after):,}"
    if max(before, after):
        print(f"  warning: db {DB} also held {others} keys of other clients; SCAN/KEYS walked them too")
    for result in group:
        result.note = others
    return group
