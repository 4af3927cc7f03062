"""The Redis backend: each object one JSON string (``SimpleRedisMixin``), indexes in sorted sets and sets.

This module declares the backend (:data:`REDIS`): its plans, checked by mypy
against :class:`RedisPlans`, its session rules (none of its own: redis-py pools
connections itself), its driver module, and what it can do.  Package shape:
``commands`` (what plans yield, and the reply shapes), ``schema`` (keys and
documents), ``compile`` (lookups to index reads), ``plans`` (+ ``queries``,
``writes``), ``scripts`` (Lua), ``driver_redis`` (redis-py, sync and asyncio).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

from ...backend import Backend, Plans, register
from ...run import DIRECT, Plan
from . import plans as _plans
from .commands import Command, Pipeline

if TYPE_CHECKING:
    from ...spec import ModelSpec

__all__ = ["COMMANDS", "REDIS", "RedisPlans"]

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
        keys=frozenset({"client_uuid"}),
        capabilities=frozenset({"indexes", "expiry", "reindex"}),
    )
)
