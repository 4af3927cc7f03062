"""Where the time of a Redis operation goes: for a missed target, or for ``--profile``.

Wall time, this process's CPU and the Redis server's CPU (INFO cpu; the server
shares the cores) per op, the commands a function sends with the size of their
replies (by wrapping the client's methods), and cProfile's self time by package.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from harness import Bench, self_times
from report import REPO, fmt_seconds


def quick_profile(
    client: redis.Redis, fn: Bench, ref_fn: Bench, k: int, per: str, variant: tuple[str, Bench] | None = None
) -> str:
    """Where the time of ``k`` operations goes, against the raw reference: one line.

    Wall time, this process's CPU time and the Redis server's CPU time (INFO cpu) per
    operation, the commands sent and how many items their replies held, then
    cProfile's self time by package and persist_mixins' heaviest functions; with a
    ``variant`` (what it is, and the same work asked that other way), its wall time too.
    """
    ours, raw = measure(client, fn, k), measure(client, ref_fn, k)
    cost = ", ".join(
        f"{what} {fmt_seconds(a)} vs {fmt_seconds(b)}" for what, a, b in zip(COSTS, ours, raw, strict=True)
    )
    if variant is not None:
        label, other = variant
        other(0, k)  # warm
        wall = measure(client, other, k)[0]
        cost += f"; {label}: wall {fmt_seconds(wall)} (x{wall / raw[0]:.1f} raw)"
    _, total, rows = self_times(lambda: fn(0, k))
    by_package: dict[str, float] = {}
    for (filename, _line, name), (_, _, tottime, _, _) in rows:
        package = package_of(filename, name)
        by_package[package] = by_package.get(package, 0.0) + tottime
    packages = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:4]
    ours_top = [row for row in rows if package_of(row[0][0], row[0][2]) == "persist_mixins"][:3]
    shares = ", ".join(f"{package} {seconds / total * 100:.0f}%" for package, seconds in packages)
    top = ", ".join(f"{short_name(*where)} {row[2] / total * 100:.0f}%" for where, row in ours_top)
    plural = {"op": "ops", "object": "objects", "query": "queries"}[per]
    return (
        f"per {per}, ours vs raw: {cost}; commands for {k:,} {plural}: {trace_commands(client, lambda: fn(0, k))} "
        f"(raw: {trace_commands(client, lambda: ref_fn(0, k))}); cProfile self time: {shares}; "
        f"heaviest in persist_mixins: {top}"
    )


COSTS = ("wall", "client CPU", "Redis CPU")


def measure(client: redis.Redis, fn: Bench, k: int) -> tuple[float, float, float]:
    """Seconds per op: wall, this process's CPU, the Redis server's CPU."""
    before = server_cpu(client)
    wall, cpu = time.perf_counter(), time.process_time()
    fn(0, k)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall / k, cpu / k, (server_cpu(client) - before) / k


def server_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def short_name(filename: str, line: int, name: str) -> str:
    return f"{Path(filename).name}:{line}({name})" if line else name


def trace_commands(client: redis.Redis, fn: Callable[[], Any]) -> str:
    """Run ``fn`` with the client's commands recorded: ``NAME xcalls -> reply items`` per kind of command."""
    seen: dict[str, list[int]] = {}

    def note(label: str, items: int) -> None:
        entry = seen.setdefault(label, [0, 0])
        entry[0] += 1
        entry[1] += items

    def size(reply: Any) -> int:
        return len(reply) if isinstance(reply, (list, tuple, set)) else 1

    execute_command, pipeline = client.execute_command, client.pipeline

    def traced_command(*args: Any, **options: Any) -> Any:
        reply = execute_command(*args, **options)
        note(str(args[0]).upper(), size(reply))
        return reply

    def traced_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = pipeline(*args, **kwargs)
        run = pipe.execute

        def execute(*a: Any, **kw: Any) -> Any:
            names: dict[str, int] = {}
            for command_args, _options in pipe.command_stack:
                names[str(command_args[0]).upper()] = names.get(str(command_args[0]).upper(), 0) + 1
            replies = run(*a, **kw)
            inner = " + ".join(f"{name} x{calls:,}" for name, calls in names.items())
            note(("MULTI " if pipe.transaction else "") + f"pipeline[{inner}]", sum(size(r) for r in replies))
            return replies

        pipe.execute = execute
        return pipe

    client.execute_command = traced_command  # type: ignore[method-assign]
    client.pipeline = traced_pipeline  # type: ignore[method-assign]
    try:
        fn()
    finally:
        del client.execute_command, client.pipeline
    return ", ".join(f"{label} x{calls:,} -> {items:,} reply items" for label, (calls, items) in seen.items())


def package_of(filename: str, name: str) -> str:
    """A coarse owner for a profiled function, to sum self time per package."""
    if "persist_mixins/" in filename:
        return "persist_mixins"
    if "/benchmarks/" in filename:
        return "benchmark loop"
    if "socket" in name or "epoll" in name:
        return "socket/epoll syscalls"
    for package in ("redis_schematics", "redis", "schematics", "pydantic", "asyncio", "importlib"):
        if f"/{package}/" in filename:
            return {"redis": "redis-py"}.get(package, package)
    if "selectors.py" in filename:
        return "asyncio"
    return "other (builtins, stdlib)"


def short_path(filename: str) -> str:
    for marker in ("site-packages/", f"{REPO}/", "/lib/python3."):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename
