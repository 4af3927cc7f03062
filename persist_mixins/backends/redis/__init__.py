"""The Redis backends: one JSON string per object (``SimpleRedisMixin``), or one hash field (``HashRedisMixin``).

This module declares the two layouts as two backends sharing the ``redis`` connection
setting and driver: :data:`REDIS` (``plans``; indexes in sorted sets) and
:data:`REDIS_HASH` (``hash_plans``; redis-schematics' hash layout).  Each declares its plans, checked by mypy
against a protocol, its session rules (none of its own: redis-py pools
connections itself), its driver module, and what it can do.  Package shape:
``commands`` (what plans yield, and the reply shapes), ``schema`` (keys and
documents), ``compile`` (lookups to index reads), ``plans`` (+ ``queries``,
``writes``), ``scripts`` (Lua), ``driver_redis`` (redis-py, sync and asyncio).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

from ...backend import Backend, Plans, register
from ...run import DIRECT, Plan
from . import hash_plans as _hash_plans
from . import plans as _plans
from .commands import Command, Pipeline

if TYPE_CHECKING:
    from ...spec import ModelSpec

__all__ = ["COMMANDS", "REDIS", "REDIS_HASH", "HashPlans", "RedisPlans"]

M = TypeVar("M")

#: The command types Redis plans yield (a run routes them to the Redis driver).
COMMANDS: tuple[type, ...] = (Command, Pipeline)


class RedisPlans(Plans, Protocol):
    """The common plans, plus ``reindex``."""

    def reindex(self, spec: ModelSpec[M], /) -> Plan[int]:
        """``Model.reindex()``."""
        ...


_checked: RedisPlans = _plans  # mypy checks the plans module against the protocol here

REDIS: Backend[RedisPlans] = register(
    Backend(
        name="redis",
        plans=_checked,
        session=DIRECT,
        drivers=".backends.redis.driver_redis",
        default_url="redis://localhost:6379/0",
        env="PERSIST_REDIS_URL",
        connection_options=("__redis__", "__redis_client__"),
        options=("__version_field__",),
        keys=frozenset({"client_uuid"}),
        capabilities=frozenset({"indexes", "expiry", "reindex", "unique", "db_defaults"}),
        check=_plans.check,
    )
)


class HashPlans(Plans, Protocol):
    """The common plans, plus ``delete_all`` (drop the hash)."""

    def delete_all(self, spec: ModelSpec[M], /) -> Plan[int]:
        """``Model.delete_all()``."""
        ...


_hash_checked: HashPlans = _hash_plans

#: The hash layout: the same connection setting, driver and session rules as :data:`REDIS`.
REDIS_HASH: Backend[HashPlans] = register(
    dataclasses.replace(
        cast("Backend[HashPlans]", REDIS),  # its plans are replaced just below
        name="redis_hash",
        plans=_hash_checked,
        options=("__set_key__", "__version_field__"),
        capabilities=frozenset({"class_expiry", "unique", "db_defaults"}),
        check=_hash_plans.check,
        connection="redis",
    )
)
