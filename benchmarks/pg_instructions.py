"""Client CPU instructions per operation, PgRowMixin against raw psycopg 3, counted by valgrind (by hand).

    python benchmarks/pg_instructions.py [--ops pk range insert] [--n1 200 --n2 1200]

Wall-clock ratios on a shared 2-core machine move by +-30 % from run to run (the server
and other processes compete for the cores); the client's own work does not.  Each
contender of the issue-12 shape (benchmarks/pg_shape.py: one UNLOGGED table of 5,000 rows,
the dataclass model configured with a URL) runs in its own process under
``valgrind --tool=cachegrind``, once with ``--n1`` and once with ``--n2`` operations; the
difference of the two instruction counts divided by ``n2 - n1`` is the user-space
instructions one operation costs the client, start-up cancelled out.  Server time is not
counted: this measures what the library adds, not the round trip.

Contenders: ``raw`` (psycopg 3, one dedicated autocommit connection, ``conn.execute``),
``rawpool`` (the same through ``psycopg_pool`` getconn / putconn), ``pm`` (PgRowMixin, sync),
and their asyncio twins ``araw``, ``arawpool``, ``apm``.  ``--root LABEL=DIR`` (repeatable)
measures ``pm`` / ``apm`` with persist_mixins imported from another checkout too (say a
``git archive`` of an older commit), to compare commits in one run; otherwise persist_mixins
is imported from the checkout this script is in.  ``--out`` rewrites the
part of a Markdown file between ``<!-- pg-instructions:start -->`` and ``<!-- pg-instructions:end -->``.
Needs valgrind; uses ``PG_BENCH_URL``; creates and drops ``bench_shape_instr``.
"""

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

CONTENDERS = ("raw", "rawpool", "pm", "araw", "arawpool", "apm")
OPS = ("pk", "range", "insert")
TABLE = "bench_shape_instr"
WARM = 50


def child(contender: str, op: str, n: int) -> None:
    """Run ``n`` operations (after a warm-up) of one contender, in this process."""
    # persist_mixins from the checkout this script is in (or PM_ROOT), never from an editable install elsewhere
    root = os.environ.get("PM_ROOT") or str(Path(__file__).resolve().parent.parent)
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, root)
    import psycopg
    import psycopg_pool
    from pg_shape import COLUMNS, URL, WHEN, models

    import persist_mixins
    import persist_mixins.asyncio as pa

    persist_mixins.configure(postgres=URL)
    Item, _, AItem, _ = models()
    Item.__table__ = AItem.__table__ = TABLE  # read when the model is first used
    by_pk = f'SELECT {COLUMNS} FROM "{TABLE}" WHERE "id" = %s'
    range_sql = f'SELECT {COLUMNS} FROM "{TABLE}" WHERE "amount_kg" >= %s'
    insert = f'INSERT INTO "{TABLE}" ({COLUMNS}) VALUES (%s, %s, %s, %s)'
    tag = uuid.uuid4().hex[:6]

    def pk(k: int) -> str:
        return f"r{k * 7919 % 5000:07d}"

    def new(k: int) -> tuple[Any, ...]:
        return f"x{tag}{k:08d}", "new", -1 - k, WHEN

    def statement(k: int) -> tuple[str, Any, str]:
        if op == "pk":
            return by_pk, (pk(k),), "one"
        if op == "range":
            return range_sql, (4950,), "all"
        return insert, new(k), "none"

    def fetch(cur: Any, how: str) -> Any:
        return cur.fetchone() if how == "one" else cur.fetchall() if how == "all" else None

    if contender in ("raw", "rawpool", "pm"):
        pool = conn = None
        if contender == "raw":
            conn = psycopg.connect(URL, autocommit=True)
        elif contender == "rawpool":
            pool = psycopg_pool.ConnectionPool(URL, min_size=1, max_size=10, kwargs={"autocommit": True}, open=True)
        for k in range(n + WARM):
            if contender == "pm":
                if op == "pk":
                    Item.match_for_pk(pk(k))
                elif op == "range":
                    list(Item.filter(amount_kg__gte=4950))
                else:
                    Item(*new(k)).set()
                continue
            sql, params, how = statement(k)
            c = conn if pool is None else pool.getconn()
            try:
                fetch(c.execute(sql, params), how)
            finally:
                if pool is not None:
                    pool.putconn(c)
        if pool is not None:
            pool.close()
        persist_mixins.close()
        return

    async def amain() -> None:
        pool = conn = None
        if contender == "araw":
            conn = await psycopg.AsyncConnection.connect(URL, autocommit=True)
        elif contender == "arawpool":
            kwargs = {"autocommit": True}
            pool = psycopg_pool.AsyncConnectionPool(URL, min_size=1, max_size=10, kwargs=kwargs, open=False)
            await pool.open()
        for k in range(n + WARM):
            if contender == "apm":
                if op == "pk":
                    await AItem.match_for_pk(pk(k))
                elif op == "range":
                    await AItem.filter(amount_kg__gte=4950)
                else:
                    await AItem(*new(k)).set()
                continue
            sql, params, how = statement(k)
            c = conn if pool is None else await pool.getconn()
            try:
                cur = await c.execute(sql, params)
                await (cur.fetchone() if how == "one" else cur.fetchall()) if how != "none" else None
            finally:
                if pool is not None:
                    await pool.putconn(c)
        if pool is not None:
            await pool.close()
        if conn is not None:
            await conn.close()
        await pa.close()

    asyncio.run(amain())


def git_head() -> str:
    """The short commit of the checkout this script is in (and whether persist_mixins/ differs from it)."""
    here = Path(__file__).resolve().parent.parent

    def run(*argv: str) -> str:
        out = subprocess.run(["git", "-C", str(here), *argv], capture_output=True, text=True, check=False)
        return out.stdout.strip()

    head = run("rev-parse", "--short", "HEAD") or "(not a git checkout)"
    return head + (" + changes" if run("status", "--porcelain", "--", "persist_mixins") else "")


START, END = "<!-- pg-instructions:start -->", "<!-- pg-instructions:end -->"


def instructions(contender: str, op: str, n: int, root: str | None = None) -> int:
    """User-space instructions of a child process running ``n`` operations (persist_mixins from ``root``)."""
    command = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, __file__, "--child", contender, op, str(n),
    ]  # fmt: skip
    env = {**os.environ, "PM_ROOT": root} if root else {k: v for k, v in os.environ.items() if k != "PM_ROOT"}
    out = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if out.returncode or not found:
        raise SystemExit(f"{contender} {op}: valgrind failed:\n{out.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def setup(admin: Any, drop_only: bool = False) -> None:
    """Create and fill the table (5,000 rows, as pg_shape.py), or drop it."""
    from pg_shape import COLUMNS, models, row

    admin.execute(f'DROP TABLE IF EXISTS "{TABLE}"')
    if drop_only:
        return
    item = models()[0]
    item.__table__ = TABLE
    item.create_table()
    admin.execute(f'ALTER TABLE "{TABLE}" SET UNLOGGED')
    with admin.cursor() as cur, cur.copy(f'COPY "{TABLE}" ({COLUMNS}) FROM STDIN') as cp:
        for i in range(5000):
            cp.write_row(row(i))
    admin.execute(f'VACUUM ANALYZE "{TABLE}"')


def main() -> int:
    """Count every contender of every operation (or, with ``--child``, be one measured process)."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", nargs="+", default=list(OPS), choices=OPS)
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    parser.add_argument("--root", action="append", default=[], help="LABEL=DIR: also measure pm/apm from DIR")
    parser.add_argument("--n1", type=int, default=200)
    parser.add_argument("--n2", type=int, default=1200)
    parser.add_argument("--out", type=Path, help="Markdown file whose pg-instructions section is rewritten")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        parser.error("needs valgrind (apt-get install valgrind)")
    roots: list[tuple[str, str | None]] = [(f"git {git_head()}", None)]
    roots += [(label, str(Path(path).resolve())) for label, _, path in (r.partition("=") for r in args.root)]
    import psycopg
    from pg_shape import URL

    import persist_mixins

    admin = psycopg.connect(URL, autocommit=True)
    persist_mixins.configure(postgres=URL)
    started = time.perf_counter()
    rows: list[tuple[str, str, str, float, float | None]] = []
    try:
        setup(admin)
        print(f"instructions per operation (valgrind, ({args.n2:,} ops - {args.n1:,} ops) / {args.n2 - args.n1:,})")
        for op in args.ops:
            counts: dict[str, float] = {}
            for contender in args.contenders:
                mine = contender in ("pm", "apm")
                for label, root in roots if mine else roots[:1]:
                    low = instructions(contender, op, args.n1, root)
                    high = instructions(contender, op, args.n2, root)
                    count = (high - low) / (args.n2 - args.n1)
                    counts.setdefault(contender, count)
                    ref = counts.get("araw" if contender.startswith("a") else "raw")
                    ratio = ref / count if ref and contender not in ("raw", "araw") else None
                    rows.append((op, contender, label if mine else "", count, ratio))
                    shown = f"  {ratio:.2f}x raw" if ratio else ""
                    print(f"  {op:<7} {contender:<9} {label if mine else '':<16} {count:>10,.0f}{shown}", flush=True)
    finally:
        setup(admin, drop_only=True)
        persist_mixins.close()
        admin.close()
    if args.out:
        from report import replace_section

        command = " ".join(["python benchmarks/pg_instructions.py", *sys.argv[1:]])
        table = [
            "| operation | contender | persist_mixins | instructions / op | raw / this |",
            "| --- | --- | --- | ---: | ---: |",
            *(
                f"| {op} | {NAMES[c]} | {label} | {count:,.0f} | {f'{ratio:.2f}x' if ratio else ''} |"
                for op, c, label, count, ratio in rows
            ),
        ]
        lines = [
            START, "### Client instructions per operation (valgrind)", "",
            f"_Generated by `benchmarks/pg_instructions.py` ({command}, {time.perf_counter() - started:.0f} s)._", "",
            "Wall-clock ratios on this shared 2-core machine move by 30 % from run to run; the instructions",
            "the client executes do not. Each contender runs the shape above in its own process under valgrind",
            f"(cachegrind), once with {args.n1:,} and once with {args.n2:,} operations; the difference over",
            f"{args.n2 - args.n1:,} is one operation's user-space instructions, start-up cancelled out. The",
            "server's work, the kernel's and the waits are not in it: this is what the client adds, and",
            "*raw / this* is how many of raw psycopg's instructions the same operation costs through the library",
            "(so 0.75x = the library executes a third more than raw; the round trip is the same).", "",
            *table, "", END,
        ]  # fmt: skip
        replace_section(args.out, "\n".join(lines), START, END)
        print(f"wrote the pg-instructions section of {args.out}")
    return 0


NAMES = {
    "raw": "raw psycopg 3, dedicated connection",
    "rawpool": "raw psycopg 3 through psycopg_pool",
    "pm": "PgRowMixin (sync, URL)",
    "araw": "raw psycopg 3 async, dedicated connection",
    "arawpool": "raw psycopg 3 async through psycopg_pool",
    "apm": "persist_mixins.asyncio PgRowMixin (URL)",
}


if __name__ == "__main__":
    sys.exit(main())
