"""Redis job: single-object ``set`` and ``match_for_pk``, sync, against raw redis-py and redis-schematics.

Raw = ``r.set(key, orjson.dumps(d))`` / ``orjson.loads(r.get(key))`` on equivalent
dicts; persist_mixins with a Schematics, a dataclass and a pydantic model;
redis-schematics 0.3.1 with a Schematics model.  Every op cycles over the same
KEYSPACE objects.
"""

import argparse
from typing import Any

import orjson
import redis
from harness import Bench, Impl, Result, Runner
from redis_common import KEYSPACE, P_RAW, PM_DC, PM_PYD, PM_SCH, RAW_SYNC, RS, Models, make_objects, row_values, show


def run(runner: Runner, client: redis.Redis, m: Models, args: argparse.Namespace) -> list[Result]:
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

    def pm_set(items: list[Any]) -> Bench:
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

    def match(cls: Any) -> Bench:
        def run(start: int, n: int) -> None:
            match_for_pk = cls.match_for_pk
            for i in range(start, start + n):
                match_for_pk(pks[i % k])

        return run

    ops, reps, warm = args.ops, args.repeats, args.warmup
    sets = [
        Impl(RAW_SYNC, raw_set, raw=True),
        Impl(PM_SCH, pm_set(objs[PM_SCH])),
        Impl(RS, rs_set),
        Impl(PM_DC, pm_set(objs[PM_DC])),
        Impl(PM_PYD, pm_set(objs[PM_PYD])),
    ]
    results = show(runner.group("set", sets, ops, reps, warm, args.chunk))
    check_match(m)
    matches = [
        Impl(RAW_SYNC, raw_get, raw=True),
        Impl(PM_SCH, match(m.pm_sch)),
        Impl(RS, match(m.rs)),
        Impl(PM_DC, match(m.pm_dc)),
        Impl(PM_PYD, match(m.pm_pyd)),
    ]
    return results + show(runner.group("match_for_pk", matches, ops, reps, warm, args.chunk))


def check_match(m: Models) -> None:
    """Every library reads back what it wrote (a benchmark of broken code is worthless)."""
    want = row_values(7)
    for cls in (m.pm_sch, m.pm_dc, m.pm_pyd, m.rs):
        got = cls.match_for_pk(want["id"])
        for name, value in want.items():
            assert getattr(got, name) == value, (cls.__name__, name, getattr(got, name), value)
