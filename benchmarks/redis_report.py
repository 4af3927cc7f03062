"""The Redis half of the report: its tables, the text of docs/performance.md, and what the figures depend on.

The page is regenerated whole on every run, except the PostgreSQL section
(benchmarks/pg_bench.py's, between its markers) and the Schematics-shape section
(benchmarks/redis_schematics_shape.py's), which are kept verbatim.
"""

import argparse
import hashlib
import math
import sys
from pathlib import Path

import redis
from harness import Result
from redis_common import BATCH, DB, HOST, KEYSPACE, PORT, RS
from redis_indexes import TARGETS, Findings
from report import (
    PG_START,
    dist,
    fmt_paired,
    git,
    git_bytes,
    load,
    machine,
    md_table,
    plot_ratios,
    python,
    utc_now,
)

import persist_mixins

#: The markers around benchmarks/redis_schematics_shape.py's section of the page.
SCHEMATICS_START, SCHEMATICS_END = "<!-- schematics-bench:start -->", "<!-- schematics-bench:end -->"


def versions(client: redis.Redis) -> dict[str, str]:
    """What the figures depend on: library versions, server, parser and protocol."""
    commit = git("rev-parse", "--short", "HEAD")
    diff = git_bytes("diff", "HEAD", "--", "persist_mixins")
    if diff:
        commit += f" + uncommitted changes to persist_mixins/, diff sha1 {hashlib.sha1(diff).hexdigest()[:10]}"
    info = client.info("server")
    conn = client.connection_pool.get_connection()
    try:
        parser = type(conn._parser).__name__
        protocol = str(getattr(conn, "protocol", "2"))
    finally:
        client.connection_pool.release(conn)
    return {
        "persist_mixins": f"{persist_mixins.__version__} (git {commit})",
        "Redis server": f"{info['redis_version']} at {HOST}:{PORT}, db {DB}, same machine",
        "redis-py": f"{redis.__version__}, parser {parser}, RESP{protocol}",
        "hiredis": dist("hiredis"),
        "Python": python(),
        "orjson": dist("orjson"),
        "schematics": dist("schematics"),
        "redis-schematics": dist("redis-schematics"),
        "pydantic": dist("pydantic"),
    }


def conditions(client: redis.Redis) -> str:
    """Load average and other Redis clients: how quiet the machine was."""
    others = int(client.info("clients")["connected_clients"]) - 1
    return f"load average {load()}, {others} other Redis client connection(s)"


def extra(r: Result, scale: float, digits: int) -> str:
    """Best time minus the raw best, per op (``scale`` 1e6: us) or per query (1e3: ms)."""
    return "0" if r.ref is None else f"{(r.best - r.ref.best) * scale:+.{digits}f}"


def throughput_rows(results: list[Result], section: str) -> list[list[str]]:
    rows = []
    for r in results:
        if r.unit != "ops/s" or r.section != section:
            continue
        rows.append(
            [
                r.op,
                r.impl,
                f"{1 / r.best:,.0f}",
                f"{1 / r.median:,.0f}",
                f"{r.x_raw:.2f}",
                fmt_paired(r.paired),
                extra(r, 1e6, 1),
                f"{r.spread * 100:.1f}%",
            ]
        )
    return rows


def filter_rows(results: list[Result]) -> list[list[str]]:
    rows = []
    for r in results:
        if r.unit != "ms/query" or r.section != "main":
            continue
        rows.append(
            [
                r.op,
                r.impl,
                f"{r.best * 1e3:.2f}",
                f"{r.median * 1e3:.2f}",
                f"{r.x_raw:.2f}",
                f"{r.paired:.2f}",
                extra(r, 1e3, 2),
                f"{r.spread * 100:.1f}%",
                r.note,
            ]
        )
    return rows


def index_query_rows(results: list[Result]) -> list[list[str]]:
    """Range query and count rows, with the speed-up over redis-schematics where it was measured."""
    rows = []
    queries = [r for r in results if r.unit == "ms/query" and r.section == "index"]
    for r in queries:
        rs = next((q for q in queries if q.op == r.op and q.impl == RS), None)
        rows.append(
            [
                r.op,
                r.impl,
                f"{r.best * 1e3:.3f}",
                f"{r.median * 1e3:.3f}",
                f"{r.x_raw:.2f}",
                fmt_paired(r.paired),
                extra(r, 1e3, 3),
                f"{r.spread * 100:.1f}%",
                "-" if rs is None or r is rs else f"{rs.best / r.best:,.0f}x",
            ]
        )
    return rows


def target_rows(findings: Findings, args: argparse.Namespace) -> list[list[str]]:
    """Per target: what it asks, the figure at each N, met or not, and where the time goes when missed."""
    rows = []
    for target in TARGETS:
        figures = findings.figures.get(target, {})
        measured = "; ".join(
            f"N={n:,}: {target.show(figure)}" + ("" if math.isnan(paired) else f" (paired {target.show(paired)})")
            for n, (figure, paired) in figures.items()
        )
        missed = [n for n, (figure, _) in figures.items() if not target.met(figure)]
        if not figures:
            wanted = f"N={target.only_n:,}" if target.only_n else "any N"
            verdict, measured = "not measured", f"({wanted} not in --n {' '.join(map(str, args.n))})"
        elif missed:
            verdict = "NOT MET at N=" + ", ".join(f"{n:,}" for n in missed)
        else:
            verdict = "met"
        why = ""
        if target in findings.profiles:
            n, explanation = findings.profiles[target]
            why = f"N={n:,}: {explanation}"
        rows.append([target.text, measured, verdict, why])
    return rows


INDEX_QUERY_HEAD = ["operation", "implementation", "ms/query (best)", "ms/query (median)", "x raw", "x raw (paired)"]
INDEX_QUERY_HEAD += ["extra ms", "spread", "x faster than redis-schematics"]
TARGET_HEAD = ["target", "measured (best / raw best; paired in brackets)", "verdict", "where the time goes (misses)"]

THROUGHPUT_HEAD = ["operation", "implementation", "ops/s (best)", "ops/s (median)"]
THROUGHPUT_HEAD += ["x raw", "x raw (paired)", "extra us/op", "spread"]
FILTER_HEAD = ["operation", "implementation", "ms/query (best)", "ms/query (median)"]
FILTER_HEAD += ["x raw", "x raw (paired)", "extra ms", "spread", "other keys"]


def write_markdown(
    out: Path, results: list[Result], findings: Findings, info: dict[str, str], args: argparse.Namespace, seconds: float
) -> str | None:
    """Regenerate ``out`` (and its chart, when matplotlib is importable); return the chart's file name."""
    out.parent.mkdir(parents=True, exist_ok=True)
    chart = plot_ratios([r for r in results if r.section == "main"], out.with_suffix(".png"))
    sizes = ", ".join(f"{n:,}" for n in args.n)
    cmd = "python benchmarks/redis_bench.py " + " ".join(sys.argv[1:])
    lines = [
        "# Performance: persist_mixins on Redis vs redis-py and redis-schematics",
        "",
        "<!-- generated by benchmarks/redis_bench.py: do not edit by hand, re-run the script -->",
        "_This file is generated by `benchmarks/redis_bench.py`; edit the script, not this page._",
        "",
        f"- Date: {utc_now()}",
        f"- Machine: {machine()}; the Redis server runs on the same machine, so client and server share the cores.",
    ]
    lines += [f"- {name}: {value}" for name, value in info.items()]
    lines += [
        f"- Command: `{cmd.strip()}` (run time {seconds:.0f} s, all sections)",
        "",
        "## Method",
        "",
        f"- Every implementation is warmed up ({args.warmup} ops), then a fixed number of sequential operations "
        f"is timed with `time.perf_counter` ({args.ops:,} ops per repeat for set / match_for_pk, "
        f"{args.many:,} objects per set_many call, about {args.filter_budget:,} scanned objects per filter repeat).",
        f"- Within one repeat the implementations of an operation take turns every {args.chunk} set / "
        "match_for_pk operations (every call for set_many and filter), in a rotating order, and each "
        "implementation's time is summed over its turns: a machine that gets slower or faster during the run "
        "slows every implementation alike. "
        f"set / match_for_pk are repeated {args.repeats} times, set_many and filter {args.repeats_slow} times "
        f"(filter at N >= {args.large:,}: {args.repeats_large} times, without warm-up: one redis-schematics query "
        "takes seconds there). "
        "**The table reports the best repeat** (the median is shown alongside); *spread* is "
        "(worst - best) / best over the repeats.",
        "- *x raw* = best time per operation / best time per operation of the raw driver measured in the same run "
        "(raw = 1.00; higher is slower). *x raw (paired)* = the median, over the repeats, of the same ratio taken "
        "within one repeat (raw and the library timed in alternation), the figure least sensitive to noise. "
        "*extra* = best time minus raw best time, in microseconds per op (ms per query for filter).",
        "- One client per flavour (`redis.Redis` / `redis.asyncio.Redis`, db 15) is shared by the raw loop and "
        "both libraries (persist_mixins gets it as `__redis__`, redis-schematics as `__redis_client__`), so every "
        "implementation talks over the same connection.",
        "- Models: one per library with the same fields (`id: str, flavour: str, amount_kg: int, "
        "best_before: datetime`). persist_mixins is measured with a Schematics model (like-for-like with "
        "redis-schematics), a dataclass and a pydantic v2 model. The redis-schematics model also declares "
        "`pk = StringType()`, because its `match_for_pk()` builds `cls({'pk': pk})` and fails on a model "
        "without one (its own `SimpleRedisModel` declares it).",
        "- set: raw = `r.set(key, orjson.dumps(d))` on an equivalent dict (datetime included); persist_mixins "
        "validates the object, dumps it to primitives and writes it with one `SET`; redis-schematics calls "
        "`to_primitive()` (no validation) and `json.dumps`. match_for_pk: raw = `orjson.loads(r.get(key))`, "
        "returning a dict; the libraries return a model instance.",
        f"- set_many: raw = `pipeline(transaction=False)` with {BATCH} SETs per `execute()`; persist_mixins "
        "`set_many()` validates every object first, then pipelines the same batches.",
        f"- filter: `filter(amount_kg__lt=1)` hits exactly 1% of N objects (N = {sizes}), no indexes (scan path). "
        "Both libraries read the same dataset (written once by a persist_mixins dataclass model); raw = SCAN "
        "MATCH/COUNT 1000/TYPE string + MGET per batch + orjson + the comparison on dicts. redis-schematics uses "
        "`KEYS` plus one MGET of every key and builds a model from every object; persist_mixins uses SCAN + MGET "
        "per batch, decodes every document and checks the conditions. *other keys* = keys in db 15 not written by "
        "this script while the filter ran (other clients'); SCAN and KEYS walk them too, so a non-zero count "
        "inflates every filter figure, the raw one most in relative terms.",
        "",
        "## Results: single-object and batched operations",
        "",
        md_table(THROUGHPUT_HEAD, throughput_rows(results, "main")),
        "",
        "## Results: filter (scan path, 1% of N returned)",
        "",
        md_table(FILTER_HEAD, filter_rows(results)),
        "",
        *index_markdown(results, findings, args),
        "## Chart",
        "",
    ]
    if chart:
        lines.append(f"![time per operation relative to raw]({chart})")
    else:
        lines.append(
            "Skipped: matplotlib is not importable in this environment (it is deliberately not a dependency). "
            "Install it and re-run the script to get `performance.png` next to this file."
        )
    lines.append("")
    text = "\n".join(lines)
    # Everything after this script's part is other scripts' sections (pg_bench.py, pg_shape.py,
    # pg_instructions.py, peers.py, redis_schematics_shape.py) and the text between them: kept verbatim.
    old = out.read_text() if out.exists() else ""
    starts = [at for at in (old.find(PG_START), old.find(SCHEMATICS_START)) if at != -1]
    if starts:
        text += "\n" + old[min(starts) :].rstrip("\n") + "\n"
    out.write_text(text)
    return chart


def index_markdown(results: list[Result], findings: Findings, args: argparse.Namespace) -> list[str]:
    """The secondary-index section of the report: method, tables, targets."""
    sizes = ", ".join(f"{n:,}" for n in args.n)
    slow = f"{args.repeats_slow} times ({args.repeats_large} at N >= {args.large:,})"
    return [
        "## Secondary indexes: persist_mixins vs the raw driver doing the same work",
        "",
        "Issue: *Redis secondary indexes ... at raw-driver speed*. Measured at N = "
        f"{sizes} stored objects, one model with `__indexes__ = ('amount_kg',)` "
        "(dataclass; the range query also with a Schematics model reading the same data), same fields and values "
        "as above (`amount_kg = i % 100`). Same method as above: warm-up, implementations of one operation taking "
        "turns in a rotating order within each repeat, best repeat reported with the median, *x raw* = best / raw "
        "best, *x raw (paired)* = median of the per-repeat ratios.",
        "",
        "What each raw implementation does (redis-py 8 with hiredis, same client and connection as the library):",
        "",
        f"- set, 1 index: raw = `pipeline(transaction=True)` with `SET key orjson.dumps(d)` and "
        "`ZADD idx {pk: amount_kg}`, i.e. `MULTI SET ZADD EXEC` in one round trip, on an equivalent dict; "
        "persist_mixins validates the object and runs its save script (`EVALSHA`: drop the object's old index "
        "entries recorded in its entries hash, `ZADD` + `HSET` the new one, `SET` the value, clear any expiry "
        "schedule entry), also one round trip. Both overwrite objects already stored and indexed (the first "
        f"{KEYSPACE:,} of the N, cycled: {args.ops:,} ops per repeat, {args.repeats} repeats, turns of "
        f"{args.chunk} ops), in indexes holding N members.",
        "- match_for_pk, 1 index: raw = `orjson.loads(r.get(key))` (a dict); persist_mixins = one `GET` and a "
        "dataclass instance.",
        f"- set_many of all N objects (per-object throughput; the warm-up call writes the first {BATCH:,}, every "
        f"repeat then overwrites all N; {args.repeats_slow} repeats): raw pipelined SET = "
        f"`pipeline(transaction=False)` with {BATCH:,} SETs per `execute()`, no index; raw pipelined MULTI "
        f"SET+ZADD = `pipeline(transaction=True)`, {BATCH:,} objects (SET + ZADD each) per `MULTI ... EXEC`; "
        "persist_mixins `set_many()` with the same dataclass without indexes (pipelined SETs) and with the index "
        f"(pipelined save scripts, {BATCH:,} per round trip). Targets compare both with raw pipelined SET.",
        "- range 1%: query j asks for `lo = j % 100`, `hi = lo + 1`, i.e. exactly N/100 objects. Raw = "
        "`ZRANGEBYSCORE idx lo (hi` on persist_mixins' own index sorted set, then one `MGET` of those keys, "
        "`orjson.loads` of each value (dicts; no None check beyond skipping missing values, no re-check of the "
        "condition, no model instances). persist_mixins = `list(Model.filter(amount_kg__gte=lo, amount_kg__lt=hi))`"
        ": plans the query from the index, reads the candidates with `MGET`, drops values gone meanwhile, re-checks "
        f"every condition and builds instances. {args.index_budget:,} hits per repeat (so N/100 hits x queries), "
        f"{args.repeats_slow} repeats, turns of a tenth of the queries.",
        "- redis-schematics 0.3.1 runs the same `filter(amount_kg__gte=lo, amount_kg__lt=hi)` on its own layout "
        "(the filter dataset above, same N): `KEYS prefix:*`, one `MGET` of every key, a Schematics model per "
        "object, then the comparison. It takes seconds per query at large N, so it is timed on its own, after the "
        f"others ({args.filter_budget:,} / N queries per repeat, at least 1; {slow}), not in their rounds: "
        "its *x raw* is against the raw best of the rounds above and has no paired figure. `KEYS` walks the whole "
        "database, which then holds the filter dataset (N keys) and the indexed dataset (N objects, N entries "
        "hashes, 1 index): about 3N keys, a few ms of its seconds.",
        "- count 1%: raw = `ZCOUNT idx lo (hi` (one command, the server counts); persist_mixins = "
        "`Model.count(amount_kg__gte=lo, amount_kg__lt=hi)`, which is exact under expiry: it lists the candidates "
        "from the index and checks their keys with `EXISTS` (an expired object's index entries stay until "
        "`purge_expired()`, and `ZCOUNT` would count them). No target; shown for the price of exactness.",
        "- Targets are judged on *x raw* (best / raw best) at every N; a miss gets a quick profile of persist_mixins "
        "against its raw reference at that N, run right after the measurement: wall, client CPU "
        "(`time.process_time`) and Redis server CPU (`INFO cpu`, the server shares the 2 cores) per op, the "
        "commands sent with the number of items in their replies, and the top self-time functions under cProfile; "
        "for the range query also the wall time of the same hits asked with one bound, "
        "`filter(amount_kg__range=(lo, lo))` (one index range instead of one per condition).",
        "",
        "### Results: set, match_for_pk and set_many with one index",
        "",
        md_table(THROUGHPUT_HEAD, throughput_rows(results, "index")),
        "",
        "### Results: range query and count (1% of N)",
        "",
        md_table(INDEX_QUERY_HEAD, index_query_rows(results)),
        "",
        "### Targets",
        "",
        md_table(TARGET_HEAD, target_rows(findings, args), text_columns=4),
        "",
    ]
