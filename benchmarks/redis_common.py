"""What every Redis benchmark shares: the server, its key prefixes, the implementations' names, the models.

All of them write to database 15 only, under the ``bench_*`` prefixes below, and
delete only those keys (SCAN + DEL on their patterns; never FLUSHDB).  Every
library's model has the same four fields and values, so each job times the same
work.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pydantic
import redis
import redis.asyncio
from harness import Result
from redis_schematics import SimpleRedisMixin as RsMixin
from schematics import models
from schematics import types as st

from persist_mixins import SimpleRedisMixin as PmMixin
from persist_mixins.asyncio import SimpleRedisMixin as PmAsyncMixin

HOST = "127.0.0.1"
PORT = 6379
DB = 15  # the only database these scripts touch

# Every key these scripts write lives under one of these prefixes (``{prefix}:{pk}``).
P_RAW = "bench_raw"
P_RAW_ASYNC = "bench_raw_async"
P_RAW_MANY = "bench_raw_many"
P_PM_SCH = "bench_pm_sch"
P_PM_DC = "bench_pm_dc"
P_PM_PYD = "bench_pm_pyd"
P_PM_ASYNC_SCH = "bench_pm_async_sch"
P_PM_ASYNC_DC = "bench_pm_async_dc"
P_RS = "bench_rs_ice"
P_FILTER = "bench_filter"
P_MANY_DC = "bench_many_dc"
PREFIXES = (P_RAW, P_RAW_ASYNC, P_RAW_MANY, P_PM_SCH, P_PM_DC, P_PM_PYD, P_PM_ASYNC_SCH, P_PM_ASYNC_DC, P_RS, P_FILTER)
PREFIXES += (P_MANY_DC,)
# Indexed layout: objects at ``{prefix}:{pk}``, bookkeeping (index sorted sets, per-object
# entries hashes, expiry schedule) at ``{prefix}#...``, braces included.  The raw driver's
# indexed data mimics it, so the same cleanup covers both.
P_RAW_IDX = "bench_raw_idx"
P_IDX = "bench_idx"  # one dataset, read by both the dataclass and the Schematics indexed models
INDEXED_PREFIXES = (P_RAW_IDX, P_IDX)
ALL_PREFIXES = PREFIXES + INDEXED_PREFIXES
RAW_IDX_KEY = f"{{{P_RAW_IDX}}}#i:amount_kg"  # the raw driver's sorted set: score amount_kg, member pk
PM_IDX_KEY = f"{{{P_IDX}}}#i:amount_kg"  # persist_mixins' index of amount_kg (read by the raw range query)

FLAVOURS = ("vanilla", "chocolate", "strawberry", "pistachio")
BASE_DATE = dt.datetime(2030, 1, 1, 12, 0, 0)
KEYSPACE = 1000  # distinct objects cycled through by the set / match_for_pk loops
BATCH = 1000  # raw pipeline batch, same as persist_mixins' set_many

RAW_SYNC = "raw redis-py"
RAW_ASYNC = "raw redis.asyncio"
PM_SCH = "persist_mixins, Schematics"
PM_DC = "persist_mixins, dataclass"
PM_PYD = "persist_mixins, pydantic"
PM_ASYNC_SCH = "persist_mixins.asyncio, Schematics"
PM_ASYNC_DC = "persist_mixins.asyncio, dataclass"
RS = "redis-schematics 0.3.1"
# Index section.
RAW_MULTI = "raw redis-py MULTI SET+ZADD"
RAW_GET = "raw redis-py GET+orjson"
RAW_PIPE = "raw redis-py pipeline SET"
RAW_PIPE_MULTI = "raw redis-py pipeline MULTI SET+ZADD"
RAW_RANGE = "raw ZRANGEBYSCORE+MGET+orjson"
RAW_ZCOUNT = "raw redis-py ZCOUNT"
PM_IDX_DC = "persist_mixins, dataclass, indexed"
PM_IDX_SCH = "persist_mixins, Schematics, indexed"
PM_PLAIN_DC = "persist_mixins, dataclass, no index"


def row_values(i: int) -> dict[str, Any]:
    """The field values of object number ``i`` (amount_kg = i % 100, so ``amount_kg < 1`` hits 1%)."""
    return {
        "id": f"ice-{i}",
        "flavour": FLAVOURS[i % len(FLAVOURS)],
        "amount_kg": i % 100,
        "best_before": BASE_DATE + dt.timedelta(days=i % 365),
    }


# --------------------------------------------------------------------------- models
@dataclass
class Models:
    """The model classes, one definition per library, all with the same four fields."""

    pm_sch: Any
    pm_dc: Any
    pm_pyd: Any
    pm_async_sch: Any
    pm_async_dc: Any
    rs: Any
    pm_filter: Any
    rs_filter: Any
    pm_filter_dc: Any
    pm_idx_dc: Any
    pm_idx_sch: Any
    pm_many_dc: Any


def build_models(client: redis.Redis, aclient: redis.asyncio.Redis) -> Models:
    """Define the model classes, bound to the benchmark's own clients (db 15)."""

    class PmSchIceCream(models.Model, PmMixin):
        __key_prefix__ = P_PM_SCH
        __redis__ = client
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    @dataclass
    class PmDcIceCream(PmMixin):
        __key_prefix__ = P_PM_DC
        __redis__ = client
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    class PmPydIceCream(PmMixin, pydantic.BaseModel):
        __key_prefix__ = P_PM_PYD
        __redis__ = client
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    class PmAsyncSchIceCream(models.Model, PmAsyncMixin):
        __key_prefix__ = P_PM_ASYNC_SCH
        __redis__ = aclient
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    @dataclass
    class PmAsyncDcIceCream(PmAsyncMixin):
        __key_prefix__ = P_PM_ASYNC_DC
        __redis__ = aclient
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    class RsIceCream(models.Model, RsMixin):
        # redis-schematics' match_for_pk() builds cls({"pk": pk}), so it needs a ``pk``
        # field (its own SimpleRedisModel declares one); set() copies id into it.
        __redis_client__ = client
        __prefix__ = P_RS  # overrides BaseRedisMixin's class-name property
        pk = st.StringType()
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    # The filter dataset is written once and read by both libraries (same JSON format).
    class PmFilterIceCream(models.Model, PmMixin):
        __key_prefix__ = P_FILTER
        __redis__ = client
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    class RsFilterIceCream(models.Model, RsMixin):
        __redis_client__ = client
        __prefix__ = P_FILTER
        pk = st.StringType()
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    @dataclass
    class PmDcFilterIceCream(PmMixin):  # writes the filter dataset (much faster than Schematics' set_many)
        __key_prefix__ = P_FILTER
        __redis__ = client
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    @dataclass
    class PmIdxDcIceCream(PmMixin):
        __key_prefix__ = P_IDX
        __redis__ = client
        __indexes__ = ("amount_kg",)
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    class PmIdxSchIceCream(models.Model, PmMixin):
        __key_prefix__ = P_IDX
        __redis__ = client
        __indexes__ = ("amount_kg",)
        id = st.StringType()
        flavour = st.StringType()
        amount_kg = st.IntType()
        best_before = st.DateTimeType()

    @dataclass
    class PmManyDcIceCream(PmMixin):
        __key_prefix__ = P_MANY_DC
        __redis__ = client
        id: str
        flavour: str
        amount_kg: int
        best_before: dt.datetime

    return Models(
        PmSchIceCream,
        PmDcIceCream,
        PmPydIceCream,
        PmAsyncSchIceCream,
        PmAsyncDcIceCream,
        RsIceCream,
        PmFilterIceCream,
        RsFilterIceCream,
        PmDcFilterIceCream,
        PmIdxDcIceCream,
        PmIdxSchIceCream,
        PmManyDcIceCream,
    )


def make_objects(cls: Any, count: int, start: int = 0) -> list[Any]:
    """Build ``count`` instances of a model class (Schematics models take a dict)."""
    if issubclass(cls, models.Model):
        return [cls(row_values(i)) for i in range(start, start + count)]
    return [cls(**row_values(i)) for i in range(start, start + count)]


# --------------------------------------------------------------------------- cleanup
def key_patterns(prefix: str) -> tuple[str, ...]:
    """The SCAN patterns of one of these scripts' prefixes (indexed ones: ``{prefix}:*`` and ``{prefix}#*``)."""
    if prefix in INDEXED_PREFIXES:
        return (f"{{{prefix}}}:*", f"{{{prefix}}}#*")
    return (prefix + ":*",)


def delete_prefixes(client: redis.Redis, prefixes: tuple[str, ...] = ALL_PREFIXES) -> int:
    """SCAN + DEL the keys under these scripts' prefixes only (never FLUSHDB)."""
    removed = 0
    for pattern in (pattern for prefix in prefixes for pattern in key_patterns(prefix)):
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                removed += client.delete(*batch)
                batch = []
        if batch:
            removed += client.delete(*batch)
    return removed


# --------------------------------------------------------------------------- progress
def show(results: list[Result]) -> list[Result]:
    """Print one line per implementation as soon as a group is done (progress); return the group."""
    for r in results:
        shown = f"{1 / r.best:>10,.0f} ops/s" if r.unit == "ops/s" else f"{r.best * 1e3:>10.2f} ms/query"
        print(
            f"  {r.op:<26} {r.impl:<36} {shown}  x{r.x_raw:5.2f} (paired x{r.paired:5.2f})"
            f"  spread {r.spread * 100:5.1f}%",
            flush=True,
        )
    return results
