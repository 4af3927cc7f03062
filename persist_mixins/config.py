"""Where connections come from: class option, ``configure()``, environment, localhost.

This module only records and resolves *settings* (a URL or a ready client);
the backend driver modules turn them into clients and cache those.  Calling
:func:`configure` again bumps a generation counter, so the next operation of
every class resolves its connection afresh.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import ConfigurationError

__all__ = ["configure", "generation", "reset_generation", "setting"]

_ENV = {
    "redis": "PERSIST_REDIS_URL",
    "postgres": "PERSIST_POSTGRES_URL",
    "rethinkdb": "PERSIST_RETHINKDB_URL",
}
_DEFAULTS = {
    "redis": "redis://localhost:6379/0",
    "postgres": "postgresql://postgres@localhost:5432/postgres",
    "rethinkdb": "rethinkdb://localhost:28015/test",
}
#: Class options per backend, the first name preferred, the rest aliases.
CLASS_OPTIONS = {
    "redis": ("__redis__", "__redis_client__"),
    "postgres": ("__postgres__",),
    "rethinkdb": ("__rethinkdb__",),
}

_configured: dict[str, Any] = {}
_generation = 0


def configure(*, redis: Any = None, postgres: Any = None, rethinkdb: Any = None) -> None:
    """Set the default connection of each backend, for every model without its own.

    Each argument is a URL (``redis://localhost:6379/0``) or a ready client or pool.
    Arguments left as None keep their current setting.  Models that name a
    connection in a class option (``__redis__`` ...) keep using it.

    Args:
        redis: a URL, a ``redis.Redis`` or a ``redis.asyncio.Redis``.
        postgres: a URL or a psycopg connection/pool.
        rethinkdb: a URL or a RethinkDB connection.

    Example:
        >>> from persist_mixins import configure
        >>> configure(redis="redis://localhost:6379/15")
    """
    global _generation
    for backend, value in (("redis", redis), ("postgres", postgres), ("rethinkdb", rethinkdb)):
        if value is None:
            continue
        if isinstance(value, str) and "://" not in value:
            raise ConfigurationError(f"configure({backend}={value!r}): expected a URL such as {_DEFAULTS[backend]!r}")
        _configured[backend] = value
    _generation += 1


def generation() -> int:
    """A counter that changes whenever :func:`configure` is called (drivers re-resolve)."""
    return _generation


def setting(backend: str, cls: type) -> Any:
    """The connection setting for ``cls``: class option, configure(), env var, or default URL."""
    for name in CLASS_OPTIONS[backend]:
        value = getattr(cls, name, None)
        if value is not None:
            return value
    if backend in _configured:
        return _configured[backend]
    return os.environ.get(_ENV[backend]) or _DEFAULTS[backend]


def reset_generation() -> None:
    """Invalidate every cached driver (after ``close()``)."""
    global _generation
    _generation += 1
