"""aioredis 2 clients on the asyncio mixins (Python 3.10: aioredis imports nowhere newer), against the real Redis."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import redis

import persist_mixins.asyncio
from persist_mixins import ConfigurationError

from .conftest import REDIS_URL

try:
    import aioredis  # type: ignore[import-not-found]
except Exception:  # noqa: BLE001 - on Python 3.11+ importing aioredis raises TypeError, not ImportError
    aioredis = None


@pytest.mark.skipif(aioredis is None, reason="aioredis does not import on this Python (it stops at 3.10)")
@pytest.mark.parametrize("indexed", [False, True])
async def test_an_aioredis_client_works_like_redis_asyncio(
    indexed: bool, prefix: str, redis_client: redis.Redis
) -> None:
    """Legacy code's aioredis.Redis given as __redis__ stores, reads and queries, Lua scripts included."""
    client = aioredis.Redis.from_url(REDIS_URL)
    options: dict[str, Any] = {"__key_prefix__": prefix, "__redis__": client}
    if indexed:
        options["__indexes__"] = ("n",)
    Cone = dataclasses.make_dataclass(
        "Cone", [("id", str), ("n", int, 0)], bases=(persist_mixins.asyncio.SimpleRedisMixin,), namespace=options
    )
    await Cone.set_many([Cone("a", 1), Cone("b", 2)])
    assert (await Cone.match(n=2)).id == "b"
    assert await Cone.filter(n__gte=1).count() == 2
    key = ("{" + prefix + "}" if indexed else prefix) + ":a"
    assert json.loads(redis_client.get(key)) == {"id": "a", "n": 1}  # type: ignore[arg-type]
    assert await Cone.all().delete() == 2
    await client.close()


def test_a_foreign_async_client_names_redis_asyncio() -> None:
    """A client that is not redis.asyncio's (nor aioredis') is refused, naming redis.asyncio as the replacement."""

    @dataclasses.dataclass
    class Cone(persist_mixins.asyncio.SimpleRedisMixin):
        __redis__ = object()
        id: str

    import asyncio

    async def use() -> None:
        await Cone("a").set()

    with pytest.raises(ConfigurationError, match=r"redis\.asyncio\.Redis client .*redis\.asyncio succeeds aioredis"):
        asyncio.run(use())
