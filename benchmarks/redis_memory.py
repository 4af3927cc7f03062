"""Redis job: how much memory ``set_many()`` holds per object, and whether RSS comes back afterwards.

Every measurement runs in a fresh subprocess (``ru_maxrss`` is a process's lifetime peak):

1. import the library and build the model (RSS ``start``);
2. build N dataclass objects of about 100 bytes of JSON each (RSS ``built``);
3. ``Model.set_many(objects)``; the peak RSS of the process (``ru_maxrss``) is the peak of the call;
4. drop the returned list, ``gc.collect()``, and read RSS again (``after``), with the objects still alive.

Per object: ``(peak - built) / N`` is what ``set_many()`` itself holds; ``(peak - start) / N``
is the whole job, the objects included.  RSS is read from ``/proc/self/statm`` (Linux).
Writes go to database 15 under ``bench_mem*`` and are deleted afterwards (SCAN + DEL on
those patterns only).

    python benchmarks/redis_memory.py [--many 100000] [--layouts simple,indexed,hash]
"""

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass

import redis

URL = "redis://127.0.0.1:6379/15"
PREFIX = "bench_mem"
LAYOUTS = ("simple", "indexed", "hash")


def rss_kb() -> int:
    """The process's resident set size now, in KiB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def measure(layout: str, many: int) -> dict[str, float]:
    """One measurement (run in a child process): RSS in KiB at each step."""
    from persist_mixins import HashRedisMixin, SimpleRedisMixin

    base = HashRedisMixin if layout == "hash" else SimpleRedisMixin

    @dataclass
    class Scoop(base):  # type: ignore[valid-type, misc]
        __redis__ = URL
        __key_prefix__ = f"{PREFIX}_{layout}"
        __indexes__ = ("amount_kg",) if layout == "indexed" else ()
        id: str
        flavour: str
        amount_kg: int
        topping: str

    gc.collect()
    start = rss_kb()
    objs = [Scoop(f"scoop-{i:08d}", f"flavour number {i % 97}", i % 100, "chocolate sprinkles") for i in range(many)]
    gc.collect()
    built = rss_kb()
    Scoop.set_many(objs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gc.collect()
    after = rss_kb()
    return {"start": start, "built": built, "peak": peak, "after": after}


def cleanup(client: redis.Redis) -> None:
    """Delete what the measurements wrote (their prefixes only)."""
    for pattern in (f"{PREFIX}_*", f"{{{PREFIX}_*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])


def main() -> None:
    """Run each layout in a child process and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--many", type=int, default=100_000)
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.many)))
        return
    client = redis.Redis.from_url(URL)
    print(f"set_many() of {args.many:,} dataclass objects (~100 B of JSON each); RSS in MiB")
    head = ("layout", "start", "built", "peak", "after", "KiB/obj (call)", "KiB/obj (all)")
    print(f"{head[0]:<9} {head[1]:>7} {head[2]:>7} {head[3]:>7} {head[4]:>7} {head[5]:>15} {head[6]:>14}")
    try:
        for layout in args.layouts.split(","):
            out = subprocess.run(
                [sys.executable, __file__, "--child", layout, "--many", str(args.many)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            r = json.loads(out.stdout)
            call = (r["peak"] - r["built"]) / args.many
            whole = (r["peak"] - r["start"]) / args.many
            mib = {k: v / 1024 for k, v in r.items()}
            print(
                f"{layout:<9} {mib['start']:>7.1f} {mib['built']:>7.1f} {mib['peak']:>7.1f} {mib['after']:>7.1f}"
                f" {call:>15.2f} {whole:>14.2f}"
            )
            cleanup(client)
    finally:
        cleanup(client)
        client.close()


if __name__ == "__main__":
    main()
