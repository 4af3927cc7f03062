"""Clients and drivers per model class, per ``configure()`` generation and per event loop; ``close()``.

One component for every backend.  A URL setting builds a client (or pool) through
the backend's :class:`~persist_mixins.backend.DriverFactory`, shared by every
class with that URL: per process for sync models (a forked child builds its own),
per event loop for asyncio models (a client never crosses loops, and is never
silently swapped).  A client the user passed in is wrapped, used as given and
never closed.  The driver a class resolved is cached on the class until the next
``configure()`` / ``close()`` (or, for asyncio, until it is used on another loop).
"""

from __future__ import annotations

import asyncio
import os
import sys
import warnings
import weakref
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import config
from .backend import Backend, Flavour, Plans
from .errors import BlockingCallError, BlockingCallWarning
from .run import Driver, Route

__all__ = ["aclose", "async_driver", "async_route", "close", "safe_url", "sync_driver", "sync_route"]

_sync_clients: dict[tuple[int, str, str], tuple[Backend[Plans], Any]] = {}
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], tuple[Backend[Plans], Any]]]
_async_clients = weakref.WeakKeyDictionary()
#: Clients a forked child inherited and forgot in close(), never finalized in the child.
_inherited: list[Any] = []
_SYNC_ATTR = "__persist_sync_driver__"
_ASYNC_ATTR = "__persist_async_driver__"


def safe_url(url: str) -> str:
    """A URL with its password masked, for messages (drivers name the server they cannot reach)."""
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def _build(
    cls: type, backend: Backend[Plans], flavour: Flavour, clients: dict[Any, Any], key: tuple[Any, ...]
) -> Driver:
    value = config.setting(backend, cls)
    factory = backend.factory
    if not isinstance(value, str):
        return factory.wrap(value, flavour, cls, None)
    full = (*key, backend.setting, value)  # backends sharing a setting share its clients
    found = clients.get(full)
    if found is None:
        found = clients[full] = (backend, factory.open(value, flavour))
    return factory.wrap(found[1], flavour, cls, value)


def sync_driver(cls: type) -> Driver:
    """The sync driver of a model class (resolved once per ``configure()`` generation).

    Raises:
        BlockingCallError: an event loop runs in this thread and ``configure(sync_in_loop="error")``.
    """
    if asyncio._get_running_loop() is not None:
        _blocking(cls)
    cached = cls.__dict__.get(_SYNC_ATTR)
    pid = os.getpid()
    if cached is not None and cached[0] == config.generation() and cached[1] == pid:
        return cached[2]  # type: ignore[no-any-return]
    driver = _build(cls, cls.__persist_backend__, "sync", _sync_clients, (pid,))  # type: ignore[attr-defined]
    type.__setattr__(cls, _SYNC_ATTR, (config.generation(), pid, driver))  # a forked child builds its own
    return driver


def _blocking(cls: type) -> None:
    """A sync call inside a running event loop blocks every task of that loop: say so, as configured."""
    mode = config.sync_in_loop()
    if mode == "allow":
        return
    message = (
        f"{cls.__name__}: a sync persist_mixins call inside a running event loop blocks the loop until the "
        "server answers; use the model from persist_mixins.asyncio and await it "
        '(configure(sync_in_loop="allow") silences this, "error" raises)'
    )
    if mode == "error":
        raise BlockingCallError(message)
    warnings.warn(message, BlockingCallWarning, stacklevel=_caller_level())


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside this package (the user's call)."""
    package = os.path.dirname(__file__)
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level


def async_driver(cls: type) -> Driver:
    """The asyncio driver of a model class, bound to the running event loop."""
    loop = asyncio.get_running_loop()
    cached = cls.__dict__.get(_ASYNC_ATTR)
    if cached is not None and cached[0] == config.generation() and cached[1]() is loop:
        return cached[2]  # type: ignore[no-any-return]
    clients = _async_clients.setdefault(loop, {})
    driver = _build(cls, cls.__persist_backend__, "async", clients, ())  # type: ignore[attr-defined]
    type.__setattr__(cls, _ASYNC_ATTR, (config.generation(), weakref.ref(loop), driver))
    return driver


def sync_route(cls: type) -> Route:
    """Where the commands of ``cls``'s plans go, for a sync run: its backend's sync driver."""
    return sync_driver(cls).route


def async_route(cls: type) -> Route:
    """Where the commands of ``cls``'s plans go, for an asyncio run: its driver on the running loop."""
    return async_driver(cls).route


def close() -> None:
    """Close every sync client and pool this process built from a URL, for every backend.

    Clients a forked child inherited from its parent are forgotten, not closed: closing
    them would close the parent's connections too.
    """
    pid = os.getpid()
    while _sync_clients:
        (owner, *_), (backend, client) = _sync_clients.popitem()
        if owner == pid:
            backend.factory.close(client)
        else:  # kept alive: finalizing it would end the parent's sessions on the shared sockets
            _inherited.append(client)
    config.reset_generation()


async def aclose() -> None:
    """Close the asyncio clients and pools the library built on the running event loop."""
    clients = _async_clients.pop(asyncio.get_running_loop(), {})
    for backend, client in clients.values():
        await backend.factory.aclose(client)
    config.reset_generation()
