"""Client and driver caching (``persist_mixins.connections``) and ``configure()``, against the real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
import redis

import persist_mixins
import persist_mixins.asyncio
from persist_mixins import ConfigurationError
from persist_mixins.connections import async_driver, sync_driver

from .conftest import REDIS_URL


def model(module: Any, **options: Any) -> type:
    """A throwaway Redis model class of the given flavour module."""
    return dataclasses.make_dataclass(
        "Cone", [("id", str)], bases=(module.SimpleRedisMixin,), namespace={"__key_prefix__": "pmtest:conn", **options}
    )


def test_a_class_keeps_its_driver_until_configure_is_called_again() -> None:
    """The driver is resolved once; configure() makes every class resolve its connection afresh."""
    Cone = model(persist_mixins, __redis__=REDIS_URL)
    first = sync_driver(Cone)
    assert sync_driver(Cone) is first
    persist_mixins.configure(redis=REDIS_URL)
    again = sync_driver(Cone)
    assert again is not first
    assert again.shared is first.shared  # the same URL still shares one client


def test_close_closes_clients_built_from_urls_but_never_a_users_client() -> None:
    """close() closes what the library opened from a URL; a client the user passed in stays usable."""
    mine = redis.Redis.from_url(REDIS_URL)
    Mine, Ours = model(persist_mixins, __redis__=mine), model(persist_mixins, __redis__=REDIS_URL)
    ours = sync_driver(Ours).shared
    assert sync_driver(Mine).shared is mine
    persist_mixins.close()
    assert mine.ping()
    assert sync_driver(Ours).shared is not ours  # a fresh client after close()
    mine.close()


def test_async_clients_belong_to_their_event_loop() -> None:
    """An asyncio model used on two event loops gets one client per loop, never one swapped between them."""
    Cone = model(persist_mixins.asyncio, __redis__=REDIS_URL)

    async def client() -> Any:
        shared = async_driver(Cone).shared
        assert async_driver(Cone).shared is shared  # cached within the loop
        await shared.ping()
        await persist_mixins.asyncio.close()
        return shared

    first, second = asyncio.run(client()), asyncio.run(client())
    assert first is not second


def test_configure_refuses_unknown_backends_and_non_urls() -> None:
    """configure() names the mistake: a backend that does not exist, or a string that is not a URL."""
    with pytest.raises(ConfigurationError, match="no backend named 'mongo'"):
        persist_mixins.configure(mongo="mongodb://localhost")
    with pytest.raises(ConfigurationError, match="expected a URL such as 'redis://"):
        persist_mixins.configure(redis="localhost:6379")


def test_a_client_of_the_wrong_flavour_is_a_configuration_error() -> None:
    """A sync model given an asyncio client (or the reverse) fails on first use, naming the class and the type."""
    Cone = model(persist_mixins, __redis__=redis.asyncio.Redis.from_url(REDIS_URL))
    with pytest.raises(ConfigurationError, match=r"Cone: the Redis connection must be .* not redis\.asyncio"):
        sync_driver(Cone)


def test_a_forked_child_builds_its_own_clients_and_never_closes_its_parents(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a fork (another pid), a class resolves a new client; close() there forgets the parent's without closing."""
    import os

    Cone = model(persist_mixins, __redis__=REDIS_URL)
    parent = sync_driver(Cone).shared
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as seen from a forked child
    child = sync_driver(Cone).shared
    assert child is not parent
    persist_mixins.close()
    assert parent.ping()  # the parent's client was not closed
    monkeypatch.undo()
    persist_mixins.close()


def test_a_sync_call_inside_a_running_loop_warns_at_the_callers_line_or_raises_as_configured() -> None:
    """A sync method called from a coroutine blocks the loop: a BlockingCallWarning by default, an error on request."""
    from persist_mixins import BlockingCallError, BlockingCallWarning

    Cone = model(persist_mixins, __redis__=REDIS_URL)

    async def blocking() -> None:
        Cone.count()

    try:
        persist_mixins.configure(sync_in_loop="warn")
        with pytest.warns(
            BlockingCallWarning, match=r"Cone: a sync persist_mixins call .* persist_mixins\.asyncio"
        ) as seen:
            asyncio.run(blocking())
        assert seen[0].filename == __file__  # points at the user's line, not the library's
        persist_mixins.configure(sync_in_loop="error")
        with pytest.raises(BlockingCallError, match="blocks the loop"):
            asyncio.run(blocking())
        Cone.count()  # outside a loop: no warning, no error
        with pytest.raises(ConfigurationError, match="sync_in_loop"):
            persist_mixins.configure(sync_in_loop="sometimes")  # type: ignore[arg-type]
    finally:
        persist_mixins.configure(sync_in_loop="allow")


def test_a_bad_lookup_fails_before_any_client_or_pool_is_built() -> None:
    """match/count/match_for_values with a typo raise InvalidLookup without building a driver (a pool would connect)."""
    from persist_mixins import InvalidLookup

    Cone = model(persist_mixins, __redis__="redis://127.0.0.1:1/0")
    for call in (Cone.match, Cone.match_for_values, Cone.count):
        with pytest.raises(InvalidLookup):
            call(idd="x")
    assert "__persist_sync_driver__" not in Cone.__dict__
