"""The timing method every benchmark shares, so Redis and PostgreSQL figures mean the same thing.

Implementations of one operation take turns within each repeat (in a rotating
order), so drift in machine speed hits them alike; each repeat gives a time per
op; the best repeat is reported with the median, and a ratio against the raw
driver of the same flavour timed in the same rounds (best / raw best, and the
median of the per-repeat ratios, "paired").  Async implementations run on one
event loop and are timed inside it.  Nothing here prints or knows a backend.
"""

import asyncio
import cProfile
import gc
import math
import pstats
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: ``fn(first, n)`` runs ``n`` operations numbered from ``first`` (a coroutine function when async).
Bench = Callable[[int, int], Any]


@dataclass
class Impl:
    """One implementation of one operation; ``raw`` marks the reference of its flavour."""

    name: str
    fn: Bench
    raw: bool = False
    flavour: str = "sync"  # or "async": fn is then a coroutine function


@dataclass
class Result:
    """Seconds per op (per row or object when an op handles many) of one implementation, one entry per repeat."""

    op: str
    impl: str
    unit: str  # how the report shows it: "ops/s", "rows/s" or "ms/query"
    raw: bool = False
    flavour: str = "sync"
    n: int = 0  # dataset size, where the operation has one
    times: list[float] = field(default_factory=list)
    ref: "Result | None" = None  # the raw driver of the same flavour, same rounds
    alone: bool = False  # timed outside the rounds of its ref: no paired ratio
    section: str = "main"  # which part of a report shows it
    note: str = ""  # a remark a report shows beside it

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def spread(self) -> float:
        """(worst - best) / best over the repeats."""
        return (max(self.times) - self.best) / self.best

    @property
    def x_raw(self) -> float:
        """Best time / best raw time (1.0 for raw; higher is slower)."""
        return self.best / self.ref.best if self.ref else 1.0

    @property
    def paired(self) -> float:
        """Median over repeats of (this time / raw time in the same round): robust to drift."""
        return 1.0 if self.ref is None else self.paired_to(self.ref)

    def paired_to(self, other: "Result") -> float:
        """Median over repeats of (this time / the other's time in the same round).

        NaN when the two were not timed in the same rounds.
        """
        if self.alone or other.alone or len(self.times) != len(other.times):
            return math.nan
        return statistics.median(t / r for t, r in zip(self.times, other.times, strict=True))


def chunks(count: int, size: int) -> list[tuple[int, int]]:
    """``(start, n)`` slices covering ``count`` operations."""
    return [(start, min(size, count - start)) for start in range(0, count, size)]


def rotated(n: int, turn: int) -> list[int]:
    """0..n-1 starting at ``turn % n``: who goes first changes every turn."""
    return [(turn + j) % n for j in range(n)]


def _nothing() -> None:
    return None


def _fine(_out: Any) -> str | None:
    return None


async def _timed(fn: Bench, first: int, n: int) -> tuple[float, Any]:
    began = time.perf_counter()
    out = await fn(first, n)
    return time.perf_counter() - began, out


class Runner:
    """Times groups of implementations in interleaved repeats; async ones on ``loop``, timed inside it."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self.results: list[Result] = []

    def call(self, impl: Impl, first: int, n: int) -> tuple[float, Any]:
        """Seconds taken by ``impl.fn(first, n)``, and what it returned."""
        if impl.flavour == "async":
            assert self.loop is not None, "an async implementation needs a Runner with a loop"
            return self.loop.run_until_complete(_timed(impl.fn, first, n))
        began = time.perf_counter()
        out = impl.fn(first, n)
        return time.perf_counter() - began, out

    def group(
        self,
        op: str,
        impls: list[Impl],
        count: int,
        repeats: int,
        warmup: int,
        chunk: int | None = None,
        *,
        unit: str = "ops/s",
        n: int = 0,
        per_op: int = 1,
        fresh: bool = False,
        before: Callable[[], Any] = _nothing,
        after: Callable[[], Any] = _nothing,
        check: Callable[[Any], str | None] = _fine,
    ) -> list[Result]:
        """Time ``count`` ops of each implementation per repeat, taking turns every ``chunk`` ops (default: all).

        ``per_op``: rows per op (times are per row).  ``fresh``: every repeat numbers its ops
        anew, past the warm-up's (inserts then write new pks).  ``before`` runs untimed before
        every call, ``after`` after the warm-up and every repeat; ``check(warm-up result)``
        returns an error message, which stops the run.
        """
        results = [Result(op, i.name, unit, i.raw, i.flavour, n) for i in impls]
        refs = {r.flavour: r for r in results if r.raw}
        for r in results:
            r.ref = None if r.raw else refs[r.flavour]
        for impl in impls:
            before()
            problem = check(self.call(impl, 0, warmup)[1])
            if problem:
                raise SystemExit(f"{op}{f', N={n:,}' if n else ''}, {impl.name}: {problem}")
        after()
        for repeat in range(repeats):
            elapsed = [0.0] * len(impls)
            gc.collect()
            base = (repeat + 1) * max(count, warmup) if fresh else 0
            for turn, (start, ops) in enumerate(chunks(count, chunk or count)):
                for j in rotated(len(impls), repeat + turn):
                    before()
                    elapsed[j] += self.call(impls[j], base + start, ops)[0]
            after()
            for r, seconds in zip(results, elapsed, strict=True):
                r.times.append(seconds / (count * per_op))
        self.results += results
        return results

    def alone(self, op: str, impl: Impl, count: int, repeats: int, warmup: int, ref: Result) -> Result:
        """Time one slow implementation by itself (``count`` ops per repeat), against ``ref`` (no paired figure)."""
        result = Result(op, impl.name, ref.unit, impl.raw, impl.flavour, ref.n, ref=ref, alone=True)
        if warmup:
            self.call(impl, 0, warmup)
        for _ in range(repeats):
            gc.collect()
            result.times.append(self.call(impl, 0, count)[0] / count)
        self.results.append(result)
        return result


def best_call(fn: Callable[[], Any], calls: int = 2000, repeats: int = 5) -> float:
    """Best-of-``repeats`` seconds per call of ``fn``."""
    return min(timeit_loop(fn, calls) for _ in range(repeats))


def timeit_loop(fn: Callable[[], Any], n: int) -> float:
    """Seconds per call of ``fn`` over ``n`` calls."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


#: A pstats row: ``(file, line, function), (primitive calls, calls, self time, cumulative time, callers)``.
ProfileRow = tuple[tuple[str, int, str], tuple[Any, ...]]


def self_times(fn: Callable[[], Any]) -> tuple[float, float, list[ProfileRow]]:
    """Run ``fn`` under cProfile: wall seconds, total self time, and the rows, heaviest self time first."""
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.runcall(fn)
    wall = time.perf_counter() - began
    stats = pstats.Stats(profiler)
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    return wall, stats.total_tt, rows  # type: ignore[attr-defined]


def delete_matching(client: Any, patterns: Any) -> int:
    """SCAN + DEL the keys matching each pattern (a benchmark's own keys only); how many were deleted."""
    removed = 0
    for pattern in patterns:
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            removed += client.delete(*keys[start : start + 1000])
    return removed
