"""redis-py drivers: run Redis plan commands on ``redis.Redis`` or ``redis.asyncio.Redis``.

Each driver has one method, ``execute(command)``; the mirror-image classes
:class:`RedisDriver` and :class:`AsyncRedisDriver` differ only by ``await``.
Clients built from a URL are cached per process (sync) and per event loop
(asyncio: a client never crosses loops), and closed by ``close()``.  Connection
failures become :class:`~persist_mixins.errors.BackendConnectionError` naming the server's URL.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio

from ... import config
from ...errors import BackendConnectionError, ConfigurationError
from ...run import Plan, iter_async, iter_sync, run_async, run_sync
from .commands import Command, Pipeline, ScriptMissing

__all__ = ["AsyncRedisDriver", "RedisDriver", "aclose", "async_driver", "close", "sync_driver"]

_FAILURES = (redis.ConnectionError, redis.TimeoutError)
#: Fail fast instead of hanging when a server does not answer (a URL may override it).
_CLIENT_DEFAULTS = {"socket_connect_timeout": 5.0}


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def _client_url(client: Any) -> str:
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def _failure(url: str, exc: Exception) -> BackendConnectionError:
    return BackendConnectionError(f"cannot reach Redis at {url}: {exc}")


class RedisDriver:
    """Executes plan commands on a blocking ``redis.Redis`` client."""

    __slots__ = ("client", "url")

    def __init__(self, client: redis.Redis, url: str) -> None:
        """Wrap a client; ``url`` names the server in error messages."""
        self.client = client
        self.url = url

    def execute(self, command: Command | Pipeline) -> Any:
        """Send one command (or one pipeline) and return its reply."""
        try:
            if type(command) is Command:
                return self.client.execute_command(*command.args)  # type: ignore[no-untyped-call]
            pipe = self.client.pipeline(transaction=command.transaction)  # type: ignore[union-attr]
            for cmd in command.commands:  # type: ignore[union-attr]
                pipe.execute_command(*cmd.args)  # type: ignore[no-untyped-call]
            return pipe.execute()
        except _FAILURES as exc:
            raise _failure(self.url, exc) from exc
        except redis.exceptions.NoScriptError as exc:
            raise ScriptMissing(str(exc)) from exc

    def run(self, plan: Plan[Any]) -> Any:
        """Run a plan to completion."""
        return run_sync(self.execute, plan)

    def iter(self, plan: Plan[Any]) -> Iterator[Any]:
        """Stream the items a plan emits."""
        return iter_sync(self.execute, plan)


class AsyncRedisDriver:
    """Executes plan commands on a ``redis.asyncio.Redis`` client."""

    __slots__ = ("client", "url")

    def __init__(self, client: redis.asyncio.Redis, url: str) -> None:
        """Wrap a client; ``url`` names the server in error messages."""
        self.client = client
        self.url = url

    async def execute(self, command: Command | Pipeline) -> Any:
        """Send one command (or one pipeline) and return its reply."""
        try:
            if type(command) is Command:
                return await self.client.execute_command(*command.args)  # type: ignore[no-untyped-call]
            pipe = self.client.pipeline(transaction=command.transaction)  # type: ignore[union-attr]
            for cmd in command.commands:  # type: ignore[union-attr]
                pipe.execute_command(*cmd.args)
            return await pipe.execute()
        except _FAILURES as exc:
            raise _failure(self.url, exc) from exc
        except redis.exceptions.NoScriptError as exc:
            raise ScriptMissing(str(exc)) from exc

    async def run(self, plan: Plan[Any]) -> Any:
        """Run a plan to completion."""
        return await run_async(self.execute, plan)

    def iter(self, plan: Plan[Any]) -> AsyncIterator[Any]:
        """Stream the items a plan emits."""
        return iter_async(self.execute, plan)


_sync_clients: dict[str, redis.Redis] = {}
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, redis.asyncio.Redis]] = (
    weakref.WeakKeyDictionary()
)
_DRIVER_ATTR = "__persist_redis_driver__"
_ASYNC_DRIVER_ATTR = "__persist_redis_async_driver__"


def _bad_setting(cls: type, value: Any, wanted: str) -> ConfigurationError:
    return ConfigurationError(
        f"{cls.__name__}: the Redis connection must be a redis:// URL or a {wanted}, "
        f"not {type(value).__module__}.{type(value).__name__}"
    )


def sync_driver(cls: type) -> RedisDriver:
    """The driver for a sync model class (resolved once per ``configure()`` generation)."""
    cached = cls.__dict__.get(_DRIVER_ATTR)
    if cached is not None and cached[0] == config.generation():
        return cached[1]  # type: ignore[no-any-return]
    value = config.setting("redis", cls)
    if isinstance(value, str):
        client = _sync_clients.get(value)
        if client is None:
            client = _sync_clients[value] = redis.Redis.from_url(value, **_CLIENT_DEFAULTS)
        driver = RedisDriver(client, _safe_url(value))
    elif isinstance(value, redis.Redis):
        driver = RedisDriver(value, _client_url(value))
    else:
        raise _bad_setting(cls, value, "redis.Redis client (async models take redis.asyncio.Redis)")
    setattr(cls, _DRIVER_ATTR, (config.generation(), driver))
    return driver


def async_driver(cls: type) -> AsyncRedisDriver:
    """The driver for an asyncio model class, bound to the running event loop.

    Cached per class for one loop and one ``configure()`` generation.
    """
    loop = asyncio.get_running_loop()
    cached = cls.__dict__.get(_ASYNC_DRIVER_ATTR)
    if cached is not None and cached[0] == config.generation() and cached[1]() is loop:
        return cached[2]  # type: ignore[no-any-return]
    driver = _new_async_driver(cls, loop)
    setattr(cls, _ASYNC_DRIVER_ATTR, (config.generation(), weakref.ref(loop), driver))
    return driver


def _new_async_driver(cls: type, loop: asyncio.AbstractEventLoop) -> AsyncRedisDriver:
    value = config.setting("redis", cls)
    if isinstance(value, str):
        clients = _async_clients.setdefault(loop, {})
        client = clients.get(value)
        if client is None:
            client = clients[value] = redis.asyncio.Redis.from_url(value, **_CLIENT_DEFAULTS)  # type: ignore[arg-type]
        return AsyncRedisDriver(client, _safe_url(value))
    if isinstance(value, redis.asyncio.Redis):
        return AsyncRedisDriver(value, _client_url(value))
    raise _bad_setting(cls, value, "redis.asyncio.Redis client (sync models take redis.Redis)")


def close() -> None:
    """Close the sync clients persist_mixins built from URLs."""
    while _sync_clients:
        _, client = _sync_clients.popitem()
        client.close()
    config.reset_generation()


async def aclose() -> None:
    """Close the asyncio clients persist_mixins built from URLs on the running loop."""
    clients = _async_clients.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.aclose()
    config.reset_generation()  # drivers cached on classes must not hand out closed clients
