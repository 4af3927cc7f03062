"""Every backend's sync mixin, under its public name (re-exported by :mod:`persist_mixins`)."""

from __future__ import annotations

from .postgres.mixins import PgRowMixin
from .redis.mixins import HashRedisMixin, SimpleRedisMixin
from .rethinkdb.mixins import RethinkMixin

__all__ = ["HashRedisMixin", "PgRowMixin", "RethinkMixin", "SimpleRedisMixin"]
