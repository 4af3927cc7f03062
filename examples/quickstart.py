"""The README quickstart, runnable: persists Schematics and dataclass models in the local Redis.

Uses ``PERSIST_REDIS_URL`` (default ``redis://localhost:6379/0``).  Its models keep their keys
under a ``quickstart:`` prefix, and it deletes those keys only: a user's own ``IceCream:*``
keys in the same database are never touched.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

from schematics import models, types

import persist_mixins.asyncio
from persist_mixins import InvalidLookup, SimpleRedisMixin


class IceCream(models.Model, SimpleRedisMixin):
    __key_prefix__ = "quickstart:IceCream"  # keys of this example only; deleted at the end
    __expire__ = 3600  # per-model TTL: this is a cache that cleans itself
    id = types.StringType()
    flavour = types.StringType()
    amount_kg = types.IntType()
    best_before = types.DateTimeType()


soon = datetime.now() + timedelta(days=2)
IceCream(dict(id="vanilla", flavour="Sweet Vanilla", amount_kg=42, best_before=soon)).set()
IceCream(dict(id="chocolate", flavour="Dark Chocolate", amount_kg=12, best_before=soon)).set()

vanilla = IceCream.match(pk="vanilla")
print("match(pk='vanilla')       ->", vanilla.flavour, vanilla.amount_kg, "kg")
print("filter(amount_kg__gte=30) ->", [ice.id for ice in IceCream.filter(amount_kg__gte=30)])
print("order_by('-amount_kg')    ->", [ice.id for ice in IceCream.all().order_by("-amount_kg")])
print("count()                   ->", IceCream.count())
print("ttl()                     ->", round(vanilla.ttl() or 0), "s")
try:
    IceCream.filter(amount__gte=30)
except InvalidLookup as exc:
    print("a typo in a lookup        ->", type(exc).__name__)


@dataclasses.dataclass
class Topping(persist_mixins.asyncio.SimpleRedisMixin):
    __key_prefix__ = "quickstart:Topping"
    id: str | None = None
    name: str = ""
    grams: int = 0


async def toppings() -> None:
    await Topping.set_many([Topping(name="sprinkles", grams=5), Topping(name="fudge", grams=30)])
    heavy = await Topping.filter(grams__gt=10)
    print("asyncio filter(grams__gt=10) ->", [t.name for t in heavy])
    print("asyncio deleted              ->", await Topping.all().delete())
    await persist_mixins.asyncio.close()


asyncio.run(toppings())
print("deleted                   ->", IceCream.all().delete())
