"""Redis job: ``set_many`` of ``--many`` objects against raw pipelined SETs.

Raw = ``pipeline(transaction=False)`` with BATCH SETs per ``execute()``, the batch
size persist_mixins uses; persist_mixins validates every object first.  One call
per turn, so the figure is per object.
"""

import argparse
from typing import Any

import orjson
import redis
from harness import Bench, Impl, Result, Runner
from redis_common import BATCH, P_RAW_MANY, PM_DC, PM_PYD, PM_SCH, RAW_SYNC, Models, make_objects, row_values, show


def run(runner: Runner, client: redis.Redis, m: Models, args: argparse.Namespace) -> list[Result]:
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

    def pm_many(cls: Any, items: list[Any]) -> Bench:
        def run(_start: int, n: int) -> None:
            cls.set_many(items[:n])

        return run

    impls = [
        Impl(RAW_SYNC + " pipeline", raw_many, raw=True),
        Impl(PM_SCH, pm_many(m.pm_sch, objs[PM_SCH])),
        Impl(PM_DC, pm_many(m.pm_dc, objs[PM_DC])),
        Impl(PM_PYD, pm_many(m.pm_pyd, objs[PM_PYD])),
    ]
    return show(runner.group(f"set_many ({count:,} objects)", impls, count, args.repeats_slow, min(count, BATCH)))
