"""Every backend's asyncio mixin, under its public name (re-exported by :mod:`persist_mixins.asyncio`)."""

from __future__ import annotations

from .postgres.mixins import AsyncPgRowMixin as PgRowMixin
from .redis.mixins import AsyncHashRedisMixin as HashRedisMixin
from .redis.mixins import AsyncSimpleRedisMixin as SimpleRedisMixin
from .rethinkdb.mixins import AsyncRethinkMixin as RethinkMixin

__all__ = ["HashRedisMixin", "PgRowMixin", "RethinkMixin", "SimpleRedisMixin"]
