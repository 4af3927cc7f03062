"""PostgreSQL job: memory per object of 100,000-object writes and reads, PgRowMixin beside raw psycopg 3.

Every measurement runs in a fresh subprocess (``ru_maxrss`` is a process's lifetime peak):

1. import, connect, build the model (RSS ``start``);
2. build the N objects (writes) or nothing (reads) (RSS ``built``);
3. the job; the peak RSS of the process is the peak of the job;

Per object: ``(peak - built) / N`` is what the job itself holds beyond its input.  Jobs:

- ``write pm``: ``Model.set_many(objs)`` (COPY into a staging table, then one upsert);
- ``write raw``: ``cursor.executemany(INSERT ...)`` of the same rows as tuples;
- ``read pm list``: ``list(Model.all())``: every object held at once;
- ``read pm stream``: ``for obj in Model.all()``: a server-side cursor, 1,000 rows a fetch;
- ``read raw list``: ``cursor.execute(SELECT ...).fetchall()``: every row tuple held at once.

The model is issue 12's dataclass (``id: str, flavour: str, amount_kg: int, best_before:
datetime``), one UNLOGGED table in database ``test`` (``PG_BENCH_URL``), dropped afterwards.

    python benchmarks/pg_memory.py [--many 100000]
"""

import argparse
import datetime as dt
import gc
import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import psycopg

URL = os.environ.get("PG_BENCH_URL", "postgresql://postgres@127.0.0.1:5432/test")
TABLE = "bench_memory"
JOBS = ("write pm", "write raw", "read pm list", "read pm stream", "read raw list")
WHEN = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def rss_kb() -> int:
    """The process's resident set size now, in KiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def model() -> Any:
    """Issue 12's dataclass on the benchmark table."""
    from persist_mixins import PgRowMixin

    @dataclass
    class IceCream(PgRowMixin):
        __table__ = TABLE
        __postgres__ = URL
        __indexes__ = ("amount_kg",)
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    return IceCream


def measure(job: str, many: int) -> dict[str, float]:
    """One measurement (run in a child process): RSS in KiB at each step."""
    IceCream = model()
    conn = psycopg.connect(URL, autocommit=True)
    IceCream.count()  # the pool and the table's SQL are built before the baseline
    gc.collect()
    start = rss_kb()
    objs: list[Any] = []
    rows: list[tuple[Any, ...]] = []
    if job == "write pm":
        objs = [IceCream(f"k{i:08d}", f"flavour number {i % 97}", i % 100, WHEN) for i in range(many)]
    elif job == "write raw":
        rows = [(f"r{i:08d}", f"flavour number {i % 97}", i % 100, WHEN) for i in range(many)]
    gc.collect()
    built = rss_kb()
    if job == "write pm":
        IceCream.set_many(objs)
    elif job == "write raw":
        with conn.cursor() as cur:
            cur.executemany(
                f'INSERT INTO "{TABLE}" ("id", "flavour", "amount_kg", "best_before") VALUES (%s, %s, %s, %s)', rows
            )
    elif job == "read pm list":
        assert len(list(IceCream.all())) == many
    elif job == "read pm stream":
        assert sum(1 for _ in IceCream.all()) == many
    elif job == "read raw list":
        got = conn.execute(f'SELECT "id", "flavour", "amount_kg", "best_before" FROM "{TABLE}"').fetchall()
        assert len(got) == many
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conn.close()
    return {"start": start, "built": built, "peak": peak}


def main() -> None:
    """Prepare the table, run each job in a child process, print the figures, drop the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--many", type=int, default=100_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.many)))
        return
    IceCream = model()
    IceCream.drop_table()
    IceCream.create_table()
    admin = psycopg.connect(URL, autocommit=True)
    admin.execute(f'ALTER TABLE "{TABLE}" SET UNLOGGED')
    print(f"PostgreSQL, {args.many:,} objects of issue 12's dataclass; RSS in MiB, per object in KiB")
    print(f"{'job':<15} {'start':>7} {'built':>7} {'peak':>7} {'KiB/obj':>8}")
    try:
        for job in JOBS:
            if job.startswith("read"):  # the table holds exactly the N rows set_many() wrote
                admin.execute(f"DELETE FROM \"{TABLE}\" WHERE id LIKE 'r%'")
            out = subprocess.run(
                [sys.executable, __file__, "--child", job, "--many", str(args.many)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            r = json.loads(out.stdout)
            per = (r["peak"] - r["built"]) / args.many
            mib = {k: v / 1024 for k, v in r.items()}
            print(f"{job:<15} {mib['start']:>7.1f} {mib['built']:>7.1f} {mib['peak']:>7.1f} {per:>8.2f}")
    finally:
        admin.execute(f'DROP TABLE IF EXISTS "{TABLE}"')
        admin.close()


if __name__ == "__main__":
    main()
