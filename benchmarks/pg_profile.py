"""What the PostgreSQL benchmark reports beside its table: where the time goes, and a transaction probe.

The cProfile summary runs after the timed rounds (the profiler would distort
them); the probe shows what happens to child tasks gathered inside a transaction
block, for peewee-async and for persist_mixins.asyncio.
"""

import asyncio

from harness import self_times
from pg_cases import TABLE, Env, row


async def atomic_probe(env: Env, children: int = 20) -> list[str]:
    """Child tasks gathered inside a transaction block, each writing one row: how many rows are kept?"""
    PwItem, AItem, lines = env.pw_item, env.aitem, []
    pw_child = lambda k: PwItem.insert(id=f"zp{k}", name="child", amount=-1).aio_execute()  # noqa: E731
    pm_child = lambda k: AItem(f"zm{k}", "child", -1).set()  # noqa: E731
    for name, block, child, prefix in (
        ("peewee-async 2.1 `aio_atomic()`", env.pw_db.aio_atomic, pw_child, "zp"),
        ("persist_mixins.asyncio `transaction()`", AItem.transaction, pm_child, "zm"),
    ):
        try:
            async with block():
                await asyncio.gather(*(child(k) for k in range(children)))
            outcome = "no error"
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {str(exc).splitlines()[0][:100]}..."
        kept = env.admin.execute(f"DELETE FROM \"{TABLE}\" WHERE id LIKE '{prefix}%'").rowcount
        lines.append(f"{name}, {children} gathered child tasks each writing one row: {kept} rows kept ({outcome})")
    return lines


def profile(env: Env, ops: int, n: int) -> list[str]:
    """cProfile ``ops`` sync set(), match_for_pk() and 1% range queries; the top self-time functions."""
    Item, width, lines = env.item, max(1, n // 100), []
    for name, fn in (
        ("set()", lambda: [Item(f"x{k:08d}", "p", -1).set() for k in range(ops)]),
        ("match_for_pk()", lambda: [Item.match_for_pk(row(k * 7919 % n)[0]) for k in range(ops)]),
        (f"range 1% ({width} rows)", lambda: [list(Item.filter(amount__range=(k, k + width - 1))) for k in range(ops)]),
    ):
        wall, total, rows = self_times(fn)
        shares = dict.fromkeys(("persist_mixins", "psycopg", "other"), 0.0)
        for (file, _, _), v in rows:
            shares[next((p for p in ("persist_mixins", "psycopg") if f"/{p}" in file), "other")] += v[2]
        share = ", ".join(f"{k} {v / total:.0%}" for k, v in shares.items())
        lines.append(f"{name}, {ops:,} ops at N={n:,}: {wall / ops * 1e6:.0f} us/op under cProfile; self time: {share}")
        ours = sorted(((v[2], k) for k, v in rows if "/persist_mixins/" in k[0]), reverse=True)[:8]
        for tt, (file, line, func) in ours:
            where = "persist_mixins/" + file.split("/persist_mixins/", 1)[1]
            lines.append(f"    {tt / ops * 1e6:7.2f} us/op {tt / total:6.1%}  {where}:{line}({func})")
    env.admin.execute(f"DELETE FROM \"{TABLE}\" WHERE id LIKE 'x%'")
    return lines
