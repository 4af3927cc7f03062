"""Redis job: ``set`` and ``match_for_pk`` with persist_mixins.asyncio against raw redis.asyncio.

The asyncio twin of redis_single: sequential awaits on the runner's one event
loop (the client binds to it on first use), timed inside the loop.
"""

import argparse
from typing import Any

import orjson
import redis.asyncio
from harness import Bench, Impl, Result, Runner
from redis_common import (
    KEYSPACE,
    P_RAW_ASYNC,
    PM_ASYNC_DC,
    PM_ASYNC_SCH,
    RAW_ASYNC,
    Models,
    make_objects,
    row_values,
    show,
)


def run(runner: Runner, aclient: redis.asyncio.Redis, m: Models, args: argparse.Namespace) -> list[Result]:
    """set and match_for_pk, asyncio: raw redis.asyncio vs persist_mixins.asyncio."""
    assert runner.loop is not None
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

    def pm_set(items: list[Any]) -> Bench:
        async def run(start: int, n: int) -> None:
            for i in range(start, start + n):
                await items[i % k].set()

        return run

    async def raw_get(start: int, n: int) -> None:
        r_get, loads = aclient.get, orjson.loads
        for i in range(start, start + n):
            loads(await r_get(raw_keys[i % k]))

    def match(cls: Any) -> Bench:
        async def run(start: int, n: int) -> None:
            match_for_pk = cls.match_for_pk
            for i in range(start, start + n):
                await match_for_pk(pks[i % k])

        return run

    ops, reps, warm = args.ops, args.repeats, args.warmup
    sets = [
        Impl(RAW_ASYNC, raw_set, raw=True, flavour="async"),
        Impl(PM_ASYNC_SCH, pm_set(sch_objs), flavour="async"),
        Impl(PM_ASYNC_DC, pm_set(dc_objs), flavour="async"),
    ]
    results = show(runner.group("set (asyncio)", sets, ops, reps, warm, args.chunk))
    got = runner.loop.run_until_complete(m.pm_async_dc.match_for_pk("ice-7"))
    assert got.best_before == row_values(7)["best_before"]
    matches = [
        Impl(RAW_ASYNC, raw_get, raw=True, flavour="async"),
        Impl(PM_ASYNC_SCH, match(m.pm_async_sch), flavour="async"),
        Impl(PM_ASYNC_DC, match(m.pm_async_dc), flavour="async"),
    ]
    return results + show(runner.group("match_for_pk (asyncio)", matches, ops, reps, warm, args.chunk))
