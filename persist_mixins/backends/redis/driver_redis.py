"""redis-py drivers: execute Redis plan commands on ``redis.Redis`` or ``redis.asyncio.Redis``.

A driver executes one command (or one pipeline) and normalizes the reply
(:func:`.commands.normalize`); nothing else.  redis-py pools connections itself,
so a run uses the client as is (:data:`~persist_mixins.run.DIRECT` rules).  Clients
built from URLs are cached and closed by :mod:`persist_mixins.connections` through
:data:`FACTORY`.  Connection failures become
:class:`~persist_mixins.errors.BackendConnectionError` naming the server's URL.

A client built from a URL has a *blocking* pool (``redis.BlockingConnectionPool``, sync
or asyncio): a call that finds every connection busy waits for one to come back, up to
the pool's ``timeout``, instead of failing at once as redis-py's default pool does past
its size.  Both come from the URL, ``?max_connections=100&timeout=10`` being the
defaults; a wait that runs out is a :class:`~persist_mixins.errors.PoolTimeoutError`,
never a connection error, since the server is up.
"""

from __future__ import annotations

import asyncio
import queue
from typing import Any

import redis
import redis.asyncio

from ...backend import Flavour
from ...connections import safe_url
from ...errors import BackendConnectionError, ConfigurationError, PoolTimeoutError
from ...run import DIRECT, DirectRoute
from .commands import Command, Pipeline, ScriptMissing, normalize

__all__ = ["FACTORY", "AsyncRedisDriver", "RedisDriver"]

#: Pools built from URLs (a URL's query string overrides each): fail fast when a server does not
#: answer; at most ``max_connections`` connections, a call waiting up to ``timeout`` seconds for one.
_CLIENT_DEFAULTS: dict[str, Any] = {"socket_connect_timeout": 5.0, "max_connections": 100, "timeout": 10.0}


def _pool_wait_ran_out(exc: Exception) -> bool:
    """True when redis-py's blocking pool gave up waiting for a free connection (no server was asked).

    redis-py raises its ``ConnectionError("No connection available.")`` for it: the sync pool
    while handling the ``queue.Empty`` of its wait, the asyncio pool ``from`` the wait's timeout.
    """
    waited = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    return isinstance(waited, (queue.Empty, asyncio.TimeoutError)) and "No connection available" in str(exc)


def _client_url(client: Any) -> str:
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


class _Base:
    """What both flavours share: the client, the URL for messages, routing, error translation."""

    __slots__ = ("client", "lost", "noscript", "route", "shared", "url")
    rules = DIRECT

    def __init__(self, client: Any, url: str, errors: Any = redis.exceptions) -> None:
        """Wrap a client; ``errors`` is the module of its library's exceptions (redis-py's, or aioredis')."""
        self.client = self.shared = client
        self.url = url
        self.route = DirectRoute(self, (Command, Pipeline))
        self.lost: tuple[type[Exception], ...] = (errors.ConnectionError, errors.TimeoutError)
        self.noscript: type[Exception] = errors.NoScriptError

    def _lost(self, exc: Exception) -> BackendConnectionError | PoolTimeoutError:
        if _pool_wait_ran_out(exc):
            pool = self.client.connection_pool
            return PoolTimeoutError(
                f"no free connection to Redis at {self.url} within {getattr(pool, 'timeout', None)} s: all "
                f"{getattr(pool, 'max_connections', '?')} connections of the pool stayed busy (the server is up); "
                "raise ?max_connections= or ?timeout= in the URL, or send fewer calls at once"
            )
        return BackendConnectionError(f"cannot reach Redis at {self.url}: {exc}")


class RedisDriver(_Base):
    """Executes plan commands on a blocking ``redis.Redis`` client."""

    __slots__ = ()

    def execute(self, client: Any, command: Command | Pipeline) -> Any:
        """Send one command (or one pipeline) and return its normalized reply."""
        try:
            if type(command) is Command:
                return normalize(command, client.execute_command(*command.args))
            pipe = client.pipeline(transaction=command.transaction)  # type: ignore[union-attr]
            for cmd in command.commands:  # type: ignore[union-attr]
                pipe.execute_command(*cmd.args)
            return [normalize(c, r) for c, r in zip(command.commands, pipe.execute(), strict=True)]  # type: ignore[union-attr]
        except self.noscript as exc:
            raise ScriptMissing(str(exc)) from exc
        except self.lost as exc:
            raise self._lost(exc) from exc


class AsyncRedisDriver(_Base):
    """Executes plan commands on a ``redis.asyncio.Redis`` client."""

    __slots__ = ()

    async def execute(self, client: Any, command: Command | Pipeline) -> Any:
        """Send one command (or one pipeline) and return its normalized reply."""
        try:
            if type(command) is Command:
                return normalize(command, await client.execute_command(*command.args))
            pipe = client.pipeline(transaction=command.transaction)  # type: ignore[union-attr]
            for cmd in command.commands:  # type: ignore[union-attr]
                pipe.execute_command(*cmd.args)
            return [normalize(c, r) for c, r in zip(command.commands, await pipe.execute(), strict=True)]  # type: ignore[union-attr]
        except self.noscript as exc:
            raise ScriptMissing(str(exc)) from exc
        except self.lost as exc:
            raise self._lost(exc) from exc


class RedisFactory:
    """Builds, wraps and closes redis-py clients for :mod:`persist_mixins.connections`."""

    def open(self, url: str, flavour: Flavour) -> Any:
        """A client from a URL (async: for the running loop), over a blocking pool (see the module's docstring)."""
        if flavour == "sync":
            return redis.Redis.from_pool(redis.BlockingConnectionPool.from_url(url, **_CLIENT_DEFAULTS))
        return redis.asyncio.Redis.from_pool(redis.asyncio.BlockingConnectionPool.from_url(url, **_CLIENT_DEFAULTS))

    def wrap(self, source: Any, flavour: Flavour, model: type, url: str | None) -> Any:
        """The driver over a client of the right flavour."""
        wanted, driver = (redis.Redis, RedisDriver) if flavour == "sync" else (redis.asyncio.Redis, AsyncRedisDriver)
        if flavour == "async" and type(source).__module__.split(".")[0] == "aioredis":
            # aioredis 2 (importable up to Python 3.10) is redis.asyncio's predecessor, with the same API.
            import aioredis.exceptions  # type: ignore[import-not-found]

            url = url or _client_url(source)
            return AsyncRedisDriver(source, url, aioredis.exceptions)
        if not isinstance(source, wanted):
            hint = "redis.Redis client (async models take redis.asyncio.Redis)"
            if flavour == "async":
                hint = "redis.asyncio.Redis client (sync models take redis.Redis; redis.asyncio succeeds aioredis)"
            raise ConfigurationError(
                f"{model.__name__}: the Redis connection must be a redis:// URL or a {hint}, "
                f"not {type(source).__module__}.{type(source).__name__}"
            )
        return driver(source, safe_url(url) if url is not None else _client_url(source))

    def close(self, client: Any) -> None:
        """Close a sync client."""
        client.close()

    async def aclose(self, client: Any) -> None:
        """Close an asyncio client."""
        await client.aclose()


FACTORY = RedisFactory()
