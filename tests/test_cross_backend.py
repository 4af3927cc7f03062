"""One plan, two backends: a run routes each command to its backend's driver (real PostgreSQL and Redis)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis

import persist_mixins
import persist_mixins.asyncio
from persist_mixins.backends.postgres import POSTGRES
from persist_mixins.backends.postgres.commands import Begin, Commit, Sql
from persist_mixins.backends.redis import REDIS
from persist_mixins.backends.redis.commands import Command
from persist_mixins.binding import spec_of
from persist_mixins.connections import async_driver, sync_driver
from persist_mixins.run import Plan, combine, run_async, run_sync

from .conftest import PG_URL, REDIS_URL


@pytest.fixture
def models(pg_conn: Any, redis_client: redis.Redis) -> Iterator[dict[str, Any]]:
    """A PostgreSQL row model and a Redis cache model of the same fields, sync and async; cleaned up after."""
    tag = uuid.uuid4().hex[:8]
    table, prefix = f"pmtest_cross_{tag}", f"pmtest:cross:{tag}"
    built: dict[str, Any] = {}
    for flavour, module in (("sync", persist_mixins), ("async", persist_mixins.asyncio)):
        pg_base, redis_base = module.PgRowMixin, module.SimpleRedisMixin

        @dataclasses.dataclass
        class Row(pg_base):  # type: ignore[valid-type, misc]
            __table__ = table
            __postgres__ = PG_URL
            id: str
            amount_kg: int = 0

        @dataclasses.dataclass
        class Cached(redis_base):  # type: ignore[valid-type, misc]
            __key_prefix__ = prefix
            __redis__ = REDIS_URL
            id: str
            amount_kg: int = 0

        built[flavour] = (Row, Cached)
    built["sync"][0].create_table()
    yield built
    pg_conn.execute(f'DROP TABLE IF EXISTS "{table}"')
    for key in redis_client.scan_iter(match=f"{prefix}:*"):
        redis_client.delete(key)


def warm_cache(row: type, cached: type, pk: str) -> Plan[Any]:
    """Read one row from PostgreSQL and store it in the Redis cache, in one run."""
    found = yield from POSTGRES.plans.match_for_pk(spec_of(row), pk)
    copy = cached(**dataclasses.asdict(found))
    return (yield from REDIS.plans.save(spec_of(cached), copy, 60))


def write_both_then_fail(row: type, pk: str) -> Plan[None]:
    """Insert a row inside a transaction, then send Redis a command it rejects before committing."""
    yield Begin()
    yield Sql(f'INSERT INTO "{spec_of(row).options.table}" (id, amount_kg) VALUES (%s, %s)', [pk, 1])
    yield Command(("NOT-A-COMMAND",))
    yield Commit()


async def run(flavour: str, plan: Plan[Any], *models: type) -> Any:
    """Run a plan over the drivers of ``models`` in the given flavour."""
    if flavour == "sync":
        return run_sync(combine(*(sync_driver(m) for m in models)), plan)
    return await run_async(combine(*(async_driver(m) for m in models)), plan)


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_plan_reads_postgres_and_writes_redis_in_one_run(
    flavour: str, models: dict[str, Any], redis_client: redis.Redis
) -> None:
    """A cache over PgRowMixin is one plan: the row comes from PostgreSQL, the copy goes to Redis with a TTL."""
    Row, Cached = models[flavour]
    models["sync"][0]("vanilla", 42).set()
    stored = await run(flavour, warm_cache(Row, Cached, "vanilla"), Row, Cached)
    assert (stored.id, stored.amount_kg) == ("vanilla", 42)
    key = f"{spec_of(Cached).options.key_prefix}:vanilla"
    assert orjson.loads(redis_client.get(key)) == {"id": "vanilla", "amount_kg": 42}
    assert 0 < redis_client.pttl(key) <= 60_000
    if flavour == "async":
        await persist_mixins.asyncio.close()


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_failing_redis_step_rolls_back_the_postgres_step(
    flavour: str, models: dict[str, Any], pg_conn: Any
) -> None:
    """When the Redis half of a plan fails, the open PostgreSQL transaction is rolled back and its connection freed."""
    Row, Cached = models[flavour]
    with pytest.raises(redis.ResponseError, match="unknown command"):
        await run(flavour, write_both_then_fail(Row, "ghost"), Row, Cached)
    table = spec_of(Row).options.table
    assert pg_conn.execute(f'SELECT count(*) FROM "{table}"').fetchone() == (0,)
    # The connection went back to the pool clean: the next write on it commits.
    assert (await run(flavour, POSTGRES.plans.count(spec_of(Row), Row._where({})), Row)) == 0
    if flavour == "async":
        await persist_mixins.asyncio.close()


def test_two_drivers_for_one_command_type_are_refused(models: dict[str, Any]) -> None:
    """Combining two drivers of one backend is an error, not a silent choice of one of them."""
    Row, _ = models["sync"]
    other = dataclasses.make_dataclass("Other", [("id", str)], bases=(persist_mixins.PgRowMixin,))
    with pytest.raises(ValueError, match="two drivers execute Sql"):
        combine(sync_driver(Row), sync_driver(other))
