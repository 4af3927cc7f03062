"""Redis job ``--profile``: where persist_mixins spends its time in ``set`` / ``match_for_pk``.

No comparison table: component timings without a profiler (serialization, the
plan run against a stub route with no I/O, the per-call lookups), then cProfile
of raw and library loops, sync and asyncio.  For reading, not for the page.
"""

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import redis
import redis.asyncio
from harness import best_call, self_times
from redis_common import KEYSPACE, P_RAW, P_RAW_ASYNC, Models, make_objects, row_values
from redis_diagnose import package_of, short_path

from persist_mixins import SimpleRedisMixin as PmMixin
from persist_mixins.binding import spec_of
from persist_mixins.connections import async_driver, sync_driver
from persist_mixins.run import DIRECT, run_sync


class _Stub:
    """A driver answering every command with one canned reply: the plan's client-side work, no I/O."""

    rules = DIRECT
    shared = True  # no connection to check out

    def __init__(self, reply: Any) -> None:
        self.reply = reply

    def execute(self, _conn: Any, _command: Any) -> Any:
        return self.reply


class _EveryCommand(dict[type, Any]):
    """A route sending every command type to one driver (the idea of tests/scripted.py's ``through``)."""

    def __init__(self, driver: Any) -> None:
        super().__init__()
        self.driver = driver

    def __missing__(self, _kind: type) -> Any:
        return self.driver


def run(client: redis.Redis, aclient: redis.asyncio.Redis, m: Models, ops: int) -> None:
    """Store what the loops read, then print the component timings and the profiles."""
    for cls in (m.pm_sch, m.pm_dc, m.pm_pyd):
        cls.set_many(make_objects(cls, KEYSPACE))
    pipe = client.pipeline(transaction=False)
    for i in range(KEYSPACE):
        pipe.set(f"{P_RAW}:ice-{i}", orjson.dumps(row_values(i)))
    pipe.execute()
    loop = asyncio.new_event_loop()  # aclient has not connected yet: it binds to this loop
    try:
        components(m, loop)
        profiles(client, aclient, m, ops, loop)
    finally:
        loop.run_until_complete(aclient.aclose())
        loop.close()
    print("\nNote: cProfile counts every resumption of a coroutine as a call, and inflates small functions.")


def components(m: Models, loop: asyncio.AbstractEventLoop) -> None:
    """Best-of timings of the pieces of one op, without the profiler's distortion."""
    print("\n== component timings, no profiler (best of 5 x 2000 calls) ==")
    for label, cls in (("Schematics", m.pm_sch), ("dataclass", m.pm_dc), ("pydantic", m.pm_pyd)):
        spec = spec_of(cls)
        obj = make_objects(cls, 1)[0]
        data = spec.adapter.dump(obj)
        doc = orjson.dumps(data)
        parts: list[tuple[str, Callable[[], Any]]] = [
            ("adapter.dump (validate + to primitives)", lambda spec=spec, obj=obj: spec.adapter.dump(obj)),
            ("orjson.dumps", lambda data=data: orjson.dumps(data)),
            ("orjson.loads", lambda doc=doc: orjson.loads(doc)),
            ("adapter.load (build instance)", lambda spec=spec, data=data: spec.adapter.load(data)),
        ]
        if label == "Schematics":
            rs_obj = make_objects(m.rs, 1)[0]
            parts += [
                ("  of which Model.validate()", obj.validate),
                ("  of which Model.to_primitive()", obj.to_primitive),
                ("redis-schematics: json.dumps(to_primitive())", lambda o=rs_obj: o.__serializer__(o.to_primitive())),
            ]
        for name, fn in parts:
            print(f"  {label:<11} {name:<52} {best_call(fn) * 1e6:7.2f} us/call")
    backend = PmMixin.__persist_backend__
    print("  -- persist_mixins' whole client-side work per op, the Redis call replaced by a stub (no I/O) --")
    for label, cls in (("Schematics", m.pm_sch), ("dataclass", m.pm_dc), ("pydantic", m.pm_pyd)):
        obj = make_objects(cls, 1)[0]
        stored = orjson.dumps(spec_of(cls).adapter.dump(obj))
        plans = cls.__persist_backend__.plans

        def no_io(plan: Callable[[], Any], reply: Any, cls: Any = cls) -> Callable[[], Any]:
            stub = _EveryCommand(_Stub(reply))

            def run() -> Any:
                sync_driver(cls)  # the facade's route lookup, whose route the stub stands in for
                return run_sync(stub, plan())

            return run

        save = no_io(lambda cls=cls, obj=obj, p=plans: p.save(spec_of(cls), obj, None), True)
        match = no_io(lambda cls=cls, p=plans: p.match_for_pk(spec_of(cls), "ice-0"), stored)
        for name, fn in (("set() without I/O", save), ("match_for_pk() without I/O", match)):
            print(f"  {label:<11} {name:<52} {best_call(fn) * 1e6:7.2f} us/call")

    async def async_lookup() -> float:  # async_driver() needs the running loop
        return best_call(lambda: async_driver(m.pm_async_dc).route)

    for name, seconds in (
        ("Backend.plans (an attribute)", best_call(lambda: backend.plans)),
        ("Backend.factory (cached property)", best_call(lambda: backend.factory)),
        ("sync_driver(cls).route (cached per class)", best_call(lambda: sync_driver(m.pm_dc).route)),
        ("async_driver(cls).route (cached per class and loop)", loop.run_until_complete(async_lookup())),
        ("spec_of(cls)", best_call(lambda: spec_of(m.pm_dc))),
    ):
        print(f"  {'lookup':<11} {name:<52} {seconds * 1e6:7.2f} us/call")


def profiles(client: redis.Redis, aclient: redis.asyncio.Redis, m: Models, ops: int, loop: Any) -> None:
    """cProfile ``ops`` sets and reads: raw, then persist_mixins per model library, then asyncio."""
    k = KEYSPACE
    dicts = [row_values(i) for i in range(k)]
    raw_keys = [f"{P_RAW}:{d['id']}" for d in dicts]

    def raw_set() -> None:
        for i in range(ops):
            client.set(raw_keys[i % k], orjson.dumps(dicts[i % k]))

    def raw_get() -> None:
        for i in range(ops):
            orjson.loads(client.get(raw_keys[i % k]))

    targets: list[tuple[str, Callable[[], Any]]] = [("raw redis-py set", raw_set), ("raw redis-py get", raw_get)]
    for label, cls in (("Schematics", m.pm_sch), ("dataclass", m.pm_dc), ("pydantic", m.pm_pyd)):
        objs = make_objects(cls, k)

        def do_set(objs: list[Any] = objs) -> None:
            for i in range(ops):
                objs[i % k].set()

        def do_match(cls: Any = cls) -> None:
            for i in range(ops):
                cls.match_for_pk(f"ice-{i % k}")

        targets += [(f"persist_mixins set, {label}", do_set), (f"persist_mixins match_for_pk, {label}", do_match)]
    for label, fn in targets:
        fn()  # warm
        print_profile(label, fn, ops)

    async_objs = make_objects(m.pm_async_dc, k)
    async_keys = [f"{P_RAW_ASYNC}:{d['id']}" for d in dicts]

    async def raw_aset() -> None:
        for i in range(ops):
            await aclient.set(async_keys[i % k], orjson.dumps(dicts[i % k]))

    async def pm_aset() -> None:
        for i in range(ops):
            await async_objs[i % k].set()

    async def pm_amatch() -> None:
        for i in range(ops):
            await m.pm_async_dc.match_for_pk(f"ice-{i % k}")

    for label, afn in (
        ("raw redis.asyncio set", raw_aset),
        ("persist_mixins.asyncio set, dataclass", pm_aset),
        ("persist_mixins.asyncio match_for_pk, dataclass", pm_amatch),
    ):
        loop.run_until_complete(afn())  # warm (and store what pm_amatch reads)
        print_profile(label, lambda afn=afn: loop.run_until_complete(afn()), ops)


def print_profile(label: str, fn: Callable[[], Any], ops: int, top: int = 8) -> None:
    """cProfile ``fn`` (``ops`` operations): self time per op by package, then the heaviest functions."""
    _, total, rows = self_times(fn)
    print(f"\n== cProfile: {label} ({ops} ops, {total / ops * 1e6:.1f} us/op under the profiler) ==")
    by_package: dict[str, float] = {}
    for (filename, _line, name), (_cc, _ncalls, tottime, _cumtime, _callers) in rows:
        package = package_of(filename, name)
        by_package[package] = by_package.get(package, 0.0) + tottime
    shares = sorted(by_package.items(), key=lambda item: item[1], reverse=True)
    print("  self time by package: " + ", ".join(f"{p} {t / ops * 1e6:.1f}" for p, t in shares) + " (us/op)")
    print(f"  {'calls/op':>8} {'self us/op':>10} {'cum us/op':>10} {'us/call':>8}  function")
    heaviest = rows[:top]
    own = [row for row in rows if package_of(row[0][0], row[0][2]) == "persist_mixins"][:top]
    for (filename, line, name), (_cc, ncalls, tottime, cumtime, _callers) in heaviest + [
        row for row in own if row not in heaviest
    ]:
        where = f"{short_path(filename)}:{line}({name})" if line else name
        print(
            f"  {ncalls / ops:8.2f} {tottime / ops * 1e6:10.2f} {cumtime / ops * 1e6:10.2f} "
            f"{tottime / ncalls * 1e6:8.2f}  {where}"
        )
