"""The PostgreSQL benchmark's cases: tables, statements, models and each implementation of each operation.

Raw psycopg 3 (sync and async) runs the very statements the library sends
(checked against its plans at start-up, ``check_sql``), so the two do the same
work; peewee-async 2.1 maps an ``AioModel`` onto the table persist_mixins created.
"""

import collections
import dataclasses
import os
from collections.abc import Callable
from typing import Any

import peewee
import peewee_async
import psycopg
from harness import Impl

from persist_mixins.binding import spec_of

URL = os.environ.get("PG_BENCH_URL", "postgresql://postgres@127.0.0.1:5432/test")
TABLE, BULK_TABLE = "bench_item", "bench_bulk"
ALIVE = '("_expires_at" IS NULL OR "_expires_at" > statement_timestamp())'
# The statements the library sends (checked against its plans at start-up); raw reads keep its expiry predicate.
UPSERT = (
    'INSERT INTO "{t}" AS t ("id", "name", "amount", "_expires_at") VALUES (%s, %s, %s, '
    "statement_timestamp() + %s * interval '1 millisecond') "
    'ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", '
    '"amount" = EXCLUDED."amount", "_expires_at" = EXCLUDED."_expires_at"'
)
BY_PK = f'SELECT "id", "name", "amount" FROM "{TABLE}" WHERE "id" = %s AND {ALIVE}'
RANGE = f'SELECT "id", "name", "amount" FROM "{TABLE}" WHERE {ALIVE} AND "amount" BETWEEN %s AND %s'
COPY = 'COPY "{t}" ("id", "name", "amount") FROM STDIN'

RAW, PM, RAW_A, PM_A = "raw psycopg 3", "PgRowMixin", "raw psycopg 3 async", "persist_mixins.asyncio PgRowMixin"
PW, EXECMANY, EXECMANY_A = "peewee-async 2.1", "raw executemany", "raw async executemany"
RAW_COPY, RAW_COPY_A = "raw COPY (reference)", "raw async COPY (reference)"
OPS = ("insert one", "get by pk", "range 1%", "bulk insert")


def row(i: int) -> tuple[str, str, int]:
    """Row number ``i`` of a dataset: pk, name, amount = i (so N/100 consecutive amounts hit 1%)."""
    return f"r{i:07d}", f"name-{i}", i


def model(base: type, table: str, name: str) -> Any:
    """A dataclass model over ``table`` for one flavour of PgRowMixin (sync or asyncio)."""

    @dataclasses.dataclass
    class Row(base):  # type: ignore[misc, valid-type]
        __table__ = table
        __indexes__ = ("amount",)
        id: str | None = None
        name: str | None = None
        amount: int | None = None

    Row.__name__ = Row.__qualname__ = name
    return Row


def peewee_model(db: Any, table: str) -> Any:
    """The peewee-async twin of :func:`model`, mapped onto the table persist_mixins created."""

    class PwRow(peewee_async.AioModel):
        id = peewee.TextField(primary_key=True)
        name = peewee.TextField(null=True)
        amount = peewee.BigIntegerField(null=True)
        expires_at = peewee.DateTimeField(column_name="_expires_at", null=True)

        class Meta:
            database = db
            table_name = table

    PwRow.alive = PwRow.expires_at.is_null() | (PwRow.expires_at > peewee.fn.statement_timestamp())
    PwRow.upsert = {"conflict_target": [PwRow.id], "preserve": [PwRow.name, PwRow.amount, PwRow.expires_at]}
    return PwRow


# --------------------------------------------------------------------------- implementations
#: Connections and model classes shared by every group (model classes: sync, asyncio and peewee twins).
Env = collections.namedtuple("Env", "admin conn aconn item bulk aitem abulk pw_item pw_bulk pw_db")


def looped(name: str, flavour: str, one: Callable[[int], Any]) -> Impl:
    """An implementation running ``one(k)`` for each op number k (awaited when ``flavour`` is async)."""

    def run_sync(first: int, count: int) -> Any:
        out = None
        for k in range(first, first + count):
            out = one(k)
        return out

    async def run_async(first: int, count: int) -> Any:
        out = None
        for k in range(first, first + count):
            out = await one(k)
        return out

    return Impl(name, run_sync if flavour == "sync" else run_async, raw=name in (RAW, RAW_A), flavour=flavour)


def single_row_groups(env: Env, n: int) -> dict[str, list[Impl]]:
    """The implementations of insert one, get by pk and range 1%, at N = ``n`` preloaded rows."""
    conn, aconn, Item, AItem, PwItem = env.conn, env.aconn, env.item, env.aitem, env.pw_item
    upsert, width = UPSERT.format(t=TABLE), max(1, n // 100)

    def new(tag: str, k: int) -> tuple[str, str, int, None]:
        return f"x{tag}{k:08d}", f"new-{k}", -1 - k, None  # negative amounts: never in a range query

    def pk(k: int) -> str:
        return row(k * 7919 % n)[0]

    def bounds(k: int) -> tuple[int, int]:
        lo = k * 7919 % (n - width + 1)
        return lo, lo + width - 1

    async def fetch_a(sql: str, params: Any, many: bool) -> Any:
        cur = await aconn.execute(sql, params)
        return await (cur.fetchall() if many else cur.fetchone())

    def pw_upsert(k: int) -> Any:
        i, name, amount, _ = new("e", k)
        return PwItem.insert(id=i, name=name, amount=amount, expires_at=None).on_conflict(**PwItem.upsert)

    ops: dict[str, tuple[Callable[[int], Any], ...]] = {
        "insert one": (
            lambda k: conn.execute(upsert, new("a", k)),
            lambda k: Item(*new("b", k)[:3]).set(),
            lambda k: aconn.execute(upsert, new("c", k)),
            lambda k: AItem(*new("d", k)[:3]).set(),
            lambda k: pw_upsert(k).aio_execute(),
        ),
        "get by pk": (
            lambda k: conn.execute(BY_PK, (pk(k),)).fetchone(),
            lambda k: Item.match_for_pk(pk(k)),
            lambda k: fetch_a(BY_PK, (pk(k),), False),
            lambda k: AItem.match_for_pk(pk(k)),
            lambda k: PwItem.aio_get(PwItem.id == pk(k), PwItem.alive),
        ),
        "range 1%": (
            lambda k: conn.execute(RANGE, bounds(k)).fetchall(),
            lambda k: list(Item.filter(amount__range=bounds(k))),
            lambda k: fetch_a(RANGE, bounds(k), True),
            lambda k: AItem.filter(amount__range=bounds(k)),  # awaiting an async query gives its list
            lambda k: PwItem.select().where(PwItem.alive, PwItem.amount.between(*bounds(k))).aio_execute(),
        ),
    }
    names = ((RAW, "sync"), (PM, "sync"), (RAW_A, "async"), (PM_A, "async"), (PW, "async"))
    return {op: [looped(*nf, one) for nf, one in zip(names, ones, strict=True)] for op, ones in ops.items()}


def bulk_impls(env: Env, n: int) -> list[Impl]:
    """Bulk insert of ``n`` new rows into the empty ``bench_bulk`` table, each flavour."""
    conn, aconn, Bulk, ABulk, PwBulk = env.conn, env.aconn, env.bulk, env.abulk, env.pw_bulk
    rows, upsert, copy_sql = [row(i) for i in range(n)], UPSERT.format(t=BULK_TABLE), COPY.format(t=BULK_TABLE)

    def executemany(first: int, count: int) -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(upsert, [(*r, None) for r in rows])

    def copy(first: int, count: int) -> None:
        with conn.transaction(), conn.cursor() as cur, cur.copy(copy_sql) as cp:
            for r in rows:
                cp.write_row(r)

    async def executemany_a(first: int, count: int) -> None:
        async with aconn.transaction(), aconn.cursor() as cur:
            await cur.executemany(upsert, [(*r, None) for r in rows])

    async def copy_a(first: int, count: int) -> None:
        async with aconn.transaction(), aconn.cursor() as cur, cur.copy(copy_sql) as cp:
            for r in rows:
                await cp.write_row(r)

    async def pw_insert_many(first: int, count: int) -> None:
        fields = [PwBulk.id, PwBulk.name, PwBulk.amount]
        async with env.pw_db.aio_atomic():
            for start in range(0, n, 1000):  # peewee's documented chunked insert_many
                query = PwBulk.insert_many(rows[start : start + 1000], fields=fields).on_conflict(**PwBulk.upsert)
                await query.as_rowcount().aio_execute()

    return [
        Impl(EXECMANY, executemany, raw=True),
        Impl(PM, lambda first, count: Bulk.set_many([Bulk(*r) for r in rows])),
        Impl(RAW_COPY, copy),
        Impl(EXECMANY_A, executemany_a, raw=True, flavour="async"),
        Impl(PM_A, lambda first, count: ABulk.set_many([ABulk(*r) for r in rows]), flavour="async"),
        Impl(RAW_COPY_A, copy_a, flavour="async"),
        Impl(PW, pw_insert_many, flavour="async"),
    ]


def check_sql(env: Env) -> None:
    """Stop unless the raw statements are the ones the library's plans send (range: before its LIMIT)."""
    spec, plans = spec_of(env.item), env.item.__persist_backend__.plans  # what the facade calls
    sent = {
        UPSERT.format(t=TABLE): plans.save(spec, env.item("r", "n", 1), None),
        BY_PK: plans.match_for_pk(spec, "r"),
        RANGE: plans.select_pairs(spec, env.item.filter(amount__range=(1, 2))._state),
    }
    for ours, plan in sent.items():
        theirs = next(plan).text
        if not theirs.startswith(ours):
            raise SystemExit(f"a raw statement differs from the library's:\n  {ours}\n  {theirs}")


def preload(admin: psycopg.Connection[Any], n: int) -> None:
    """Fill ``bench_item`` with rows 0..n-1 (COPY) and analyze it."""
    admin.execute(f'TRUNCATE "{TABLE}"')
    with admin.cursor() as cur, cur.copy(COPY.format(t=TABLE)) as cp:
        for i in range(n):
            cp.write_row(row(i))
    admin.execute(f'VACUUM ANALYZE "{TABLE}"')
