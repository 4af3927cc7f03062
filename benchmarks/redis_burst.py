"""Redis job: a burst of concurrent ``set()`` calls on a model configured by URL; how many fail, and with what.

- asyncio: ``--tasks`` (500) coroutines each ``await obj.set()``, all started at once with ``asyncio.gather``;
- sync: ``--threads`` (300) threads each ``obj.set()``, released together by a barrier.

Each failure is counted by its exception type and message.  The URL's query string is the
pool's settings (``?max_connections=...``); writes go to database 15 under ``bench_burst*``
and are deleted afterwards.

    python benchmarks/redis_burst.py [--tasks 500] [--threads 300] [--query "max_connections=100"]
"""

import argparse
import asyncio
import collections
import threading
import time
from dataclasses import dataclass

import redis

import persist_mixins
import persist_mixins.asyncio

BASE = "redis://127.0.0.1:6379/15"
PREFIX = "bench_burst"


def failures(outcomes: list[BaseException | None]) -> collections.Counter[str]:
    """Failures by ``Type: message``."""
    return collections.Counter(f"{type(o).__name__}: {o}" for o in outcomes if o is not None)


def burst_async(url: str, tasks: int) -> tuple[collections.Counter[str], float]:
    """``tasks`` concurrent ``await obj.set()``; failures and seconds taken."""

    @dataclass
    class AsyncScoop(persist_mixins.asyncio.SimpleRedisMixin):
        __redis__ = url
        __key_prefix__ = f"{PREFIX}_async"
        id: str
        amount_kg: int

    async def one(i: int) -> BaseException | None:
        try:
            await AsyncScoop(f"s{i}", i).set()
        except Exception as exc:  # counted
            return exc
        return None

    async def main() -> tuple[list[BaseException | None], float]:
        start = time.perf_counter()
        outcomes = await asyncio.gather(*(one(i) for i in range(tasks)))
        took = time.perf_counter() - start
        await persist_mixins.asyncio.close()
        return outcomes, took

    outcomes, took = asyncio.run(main())
    return failures(outcomes), took


def burst_threads(url: str, threads: int) -> tuple[collections.Counter[str], float]:
    """``threads`` threads released together, each ``obj.set()``; failures and seconds taken."""

    @dataclass
    class Scoop(persist_mixins.SimpleRedisMixin):
        __redis__ = url
        __key_prefix__ = f"{PREFIX}_sync"
        id: str
        amount_kg: int

    outcomes: list[BaseException | None] = [None] * threads
    barrier = threading.Barrier(threads)

    def one(i: int) -> None:
        barrier.wait()
        try:
            Scoop(f"s{i}", i).set()
        except Exception as exc:  # counted
            outcomes[i] = exc

    start = time.perf_counter()
    workers = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    took = time.perf_counter() - start
    persist_mixins.close()
    return failures(outcomes), took


def show(label: str, total: int, result: tuple[collections.Counter[str], float]) -> None:
    """Print one burst's failures."""
    counts, took = result
    print(f"{label}: {sum(counts.values())} of {total} failed ({took:.2f} s)")
    for message, n in counts.most_common():
        print(f"    {n} x {message[:160]}")


def main() -> None:
    """Run both bursts and clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--threads", type=int, default=300)
    parser.add_argument("--query", default="", help="the URL's query string, e.g. max_connections=20")
    args = parser.parse_args()
    url = BASE + (f"?{args.query}" if args.query else "")
    try:
        show(f"asyncio, {args.tasks} tasks, {url}", args.tasks, burst_async(url, args.tasks))
        show(f"sync, {args.threads} threads, {url}", args.threads, burst_threads(url, args.threads))
    finally:
        client = redis.Redis.from_url(BASE)
        keys = list(client.scan_iter(match=f"{PREFIX}_*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


if __name__ == "__main__":
    main()
