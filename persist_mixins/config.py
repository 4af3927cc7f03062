"""Where connections come from: class option, ``configure()``, environment, localhost.

This module only records and resolves *settings* (a URL or a ready client) for
any registered backend; :mod:`.connections` turns them into clients and caches
those.  Calling :func:`configure` again bumps a generation counter, so the next
operation of every class resolves its connection afresh.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

from .backend import backends
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .backend import Backend, Plans

__all__ = ["SyncInLoop", "configure", "generation", "reset_generation", "setting", "sync_in_loop"]

_configured: dict[str, Any] = {}
_generation = 0


SyncInLoop = Literal["warn", "error", "allow"]
_sync_in_loop: SyncInLoop = "warn"


def configure(
    *,
    redis: Any = None,
    postgres: Any = None,
    rethinkdb: Any = None,
    sync_in_loop: SyncInLoop | None = None,
    **others: Any,
) -> None:
    """Set the default connection of each backend, for every model without its own.

    Each argument is a URL (``redis://localhost:6379/0``) or a ready client or pool.
    Arguments left as None keep their current setting.  Models that name a
    connection in a class option (``__redis__`` ...) keep using it.

    Args:
        redis: a URL, a ``redis.Redis`` or a ``redis.asyncio.Redis``.
        postgres: a URL, a psycopg connection / pool, or an aiopg pool.
        rethinkdb: a URL or a RethinkDB connection.
        sync_in_loop: what a sync method called while an event loop runs in the same thread
            does (it blocks the loop): ``"warn"`` (the default, a
            :class:`~persist_mixins.errors.BlockingCallWarning`), ``"error"`` (raise
            :class:`~persist_mixins.errors.BlockingCallError`) or ``"allow"``.
        others: the same for any other registered backend, by its name.

    Raises:
        ConfigurationError: an unknown backend name, or a string that is not a URL.

    Example:
        >>> from persist_mixins import configure
        >>> configure(redis="redis://localhost:6379/15")
    """
    global _generation, _sync_in_loop
    if sync_in_loop is not None:
        if sync_in_loop not in ("warn", "error", "allow"):
            raise ConfigurationError(f"configure(sync_in_loop={sync_in_loop!r}): expected 'warn', 'error' or 'allow'")
        _sync_in_loop = sync_in_loop
    known = {backend.setting: backend for backend in backends().values()}
    settings = {"redis": redis, "postgres": postgres, "rethinkdb": rethinkdb, **others}
    for name, value in settings.items():
        if value is None:
            continue
        backend = known.get(name)
        if backend is None:
            raise ConfigurationError(f"configure({name}=...): no backend named {name!r} (known: {', '.join(known)})")
        if isinstance(value, str) and "://" not in value:
            raise ConfigurationError(f"configure({name}={value!r}): expected a URL such as {backend.default_url!r}")
        _configured[name] = value
    _generation += 1


def generation() -> int:
    """A counter that changes whenever :func:`configure` or ``close()`` is called (drivers re-resolve)."""
    return _generation


def setting(backend: Backend[Plans], cls: type) -> Any:
    """The connection setting for ``cls``: class option, configure(), env var, or default URL."""
    for name in backend.connection_options:
        value = getattr(cls, name, None)
        if value is not None:
            return value
    if backend.setting in _configured:
        return _configured[backend.setting]
    return os.environ.get(backend.env) or backend.default_url


def reset_generation() -> None:
    """Invalidate every cached driver (after ``close()``)."""
    global _generation
    _generation += 1


def sync_in_loop() -> SyncInLoop:
    """What a sync call made inside a running event loop does: ``"warn"``, ``"error"`` or ``"allow"``."""
    return _sync_in_loop
