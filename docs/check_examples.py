"""Run every Python example of the documentation against a real Redis and PostgreSQL.

Documentation examples rot unless something runs them. This script extracts the
Python blocks of the pages under ``docs/`` (Markdown: fenced python blocks, MyST
``{code-block} python`` included; reStructuredText: ``.. code-block:: python``) and
executes them:

- each page in its own interpreter, so ``configure()`` calls and event loops of
  one page never leak into another;
- the blocks of a page in order, in one module namespace, as a reader pasting them
  one after the other would;
- with ``PERSIST_REDIS_URL`` set to the test database (``redis://127.0.0.1:6379/15``
  unless ``--redis-url`` says otherwise) and ``PERSIST_POSTGRES_URL`` set to the test
  PostgreSQL database (``postgresql://postgres@127.0.0.1:5432/test`` unless
  ``--postgres-url`` says otherwise), which the examples rely on;
- with ``PERSIST_RETHINKDB_URL`` set to ``--rethinkdb-url`` (or
  ``PERSIST_TEST_RETHINKDB_URL``), else to a reqlite server this script starts on a free
  port of 127.0.0.1 for the run (from ``PERSIST_REQLITE``, or ``.ci/reqlite`` where
  ``.ci/run`` installs it) and stops at the end.

A page fails when one of its blocks raises, when it leaves keys behind under the key
prefix of a model class it defined (the leftovers are deleted, never anything else), when
it leaves a PostgreSQL or RethinkDB table named ``doc_...`` behind (the name every example
table takes; the leftovers are dropped, never anything else), or when it triggers a ``ResourceWarning``
(a leaked connection) or a ``RuntimeWarning`` (a coroutine never awaited). Tracebacks
point at the page and line of the failing example.

A block that cannot run is marked by a line right before it, ``% check_examples: skip``
in Markdown or ``.. check_examples: skip`` in reStructuredText; the script lists the
blocks it skipped. Other languages (``console``, ``text``, ``diff``) are never run.

Usage::

    python docs/check_examples.py                       # every page
    python docs/check_examples.py docs/queries.md -v    # one page, showing its output
    python docs/check_examples.py --redis-url redis://127.0.0.1:6379/14
    python docs/check_examples.py --postgres-url postgresql://postgres@127.0.0.1:5432/docs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import types
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: Example tables are named doc_...: a page must drop the ones it creates.
DOC_TABLES = r"doc\_%"
PAGE_TIMEOUT = 300  # seconds; a page that hangs is a failure, not a stuck CI job
PYTHON_LANGUAGES = {"python", "py", "python3"}
MD_SKIP = "% check_examples: skip"
RST_SKIP = ".. check_examples: skip"

_MD_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_RST_BLOCK = re.compile(r"^(?P<indent> *)\.\. (?:code-block|code|sourcecode)::\s*(?P<lang>\S+)\s*$")


@dataclass(frozen=True)
class Example:
    """One code block: where it is and what it says."""

    path: str
    line: int  # 1-based line number of the block's first code line
    code: str
    skipped: bool = False


# -- extraction ---------------------------------------------------------------------------


def _shown(path: Path) -> str:
    """A page's path as messages and tracebacks show it: relative to the repository root."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _language(info: str) -> str:
    """The language of a Markdown fence info string (``python``, ``{code-block} python``)."""
    words = info.split()
    if words and words[0] in ("{code-block}", "{code}", "{sourcecode}"):
        words = words[1:]
    return words[0].lower() if words else ""


def _marked_skip(lines: list[str], index: int, marker: str) -> bool:
    """Whether the last non-blank line before ``lines[index]`` is the skip marker."""
    for previous in reversed(lines[:index]):
        if previous.strip():
            return previous.strip() == marker
    return False


def markdown_examples(path: Path) -> Iterator[Example]:
    """Yield the Python blocks of a Markdown (MyST) page."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = _MD_FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        closing = re.compile(rf"^ {{0,{indent + 3}}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body_start = i + 1
        end = body_start
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = lines[body_start:end]
        if _language(opening["info"]) in PYTHON_LANGUAGES:
            # MyST directive options (":caption: ...") open the body of {code-block}.
            while body and re.match(r"^\s*:\w[\w-]*:", body[0]):
                body = body[1:]
                body_start += 1
            code = textwrap.dedent("\n".join(line[indent:] for line in body))
            yield Example(_shown(path), body_start + 1, code + "\n", _marked_skip(lines, i, MD_SKIP))
        i = end + 1


def rst_examples(path: Path) -> Iterator[Example]:
    """Yield the Python blocks of a reStructuredText page."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        directive = _RST_BLOCK.match(line)
        if not directive or directive["lang"].lower() not in PYTHON_LANGUAGES:
            continue
        indent = len(directive["indent"])
        j = i + 1
        while j < len(lines) and re.match(rf"^ {{{indent + 1},}}:\w[\w-]*:", lines[j]):
            j += 1  # directive options
        while j < len(lines) and not lines[j].strip():
            j += 1
        start = j
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            j += 1
        code = textwrap.dedent("\n".join(lines[start:j])).rstrip()
        if code:
            yield Example(_shown(path), start + 1, code + "\n", _marked_skip(lines, i, RST_SKIP))


def page_examples(path: Path) -> list[Example]:
    """Every Python block of one page, in order."""
    if path.suffix == ".md":
        return list(markdown_examples(path))
    if path.suffix == ".rst":
        return list(rst_examples(path))
    return []


def pages(selected: list[str]) -> list[Path]:
    """The pages to check: those named, or every .md / .rst page under docs/."""
    if selected:
        return [Path(name).resolve() for name in selected]
    return [p for p in sorted(DOCS.rglob("*")) if p.suffix in (".md", ".rst") and "_build" not in p.parts]


# -- what the pages say, checked without running anything ---------------------------------

#: What a page whose examples build on each other says before its first one: the script
#: runs a page's blocks in sequence, so a later block may use what an earlier one defined,
#: and a reader copying one block alone must know that.
CONTINUES = "The examples on this page continue one another"
#: Pages whose version floors must equal pyproject.toml's.
FLOOR_PAGES = ("docs/installation.md", "README.md")
_SPECIFIER = r"(?P<spec>(?:===|==|>=|~=|<=|!=|<|>)\s*\d[\w.*+!-]*(?:\s*,\s*(?:===|==|>=|~=|<=|!=|<|>)\s*\d[\w.*+!-]*)*)"
_REQUIREMENT = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<extras>\[[^\]]*\])?\s*" + _SPECIFIER)
_QUOTED_REQUIREMENT = re.compile(r"`" + _REQUIREMENT.pattern + r"`")


def continuity_problems(paths: list[Path]) -> list[str]:
    """Pages with several runnable examples that do not say, before the first, that they continue one another."""
    problems = []
    for path in paths:
        runnable = [example for example in page_examples(path) if not example.skipped]
        if len(runnable) < 2:
            continue
        before = path.read_text(encoding="utf-8").splitlines()[: runnable[0].line - 1]
        if CONTINUES not in " ".join(" ".join(before).split()):
            problems.append(
                f"{_shown(path)}: its {len(runnable)} examples run in sequence, but the page does not say so"
                f" before the first one (line {runnable[0].line}): add {CONTINUES!r}"
            )
    return problems


def _normal(name: str) -> str:
    """A distribution name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_requirements(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, set[str]]:
    """``{name: {"[extras]>=floor", ...}}`` for every requirement of pyproject.toml with a version."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: pytest's own dependency
        import tomli as tomllib

    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    declared: dict[str, set[str]] = {}
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    for requirement in requirements:
        found = _REQUIREMENT.match(requirement.split(";")[0].strip())
        if found:
            spec = (found["extras"] or "") + re.sub(r"\s+", "", found["spec"])
            declared.setdefault(_normal(found["name"]), set()).add(spec)
    return declared


def floor_problems(paths: list[Path], pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """Requirements quoted on ``paths`` (```psycopg[binary]>=3.2.1```) that pyproject.toml states otherwise."""
    declared = declared_requirements(pyproject)
    problems = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for found in _QUOTED_REQUIREMENT.finditer(line):
                name, spec = _normal(found["name"]), (found["extras"] or "") + re.sub(r"\s+", "", found["spec"])
                if name not in declared:
                    problems.append(f"{_shown(path)}:{number}: {found[0]} names a requirement pyproject.toml lacks")
                elif spec not in declared[name]:
                    wanted = " or ".join(f"{found['name']}{each}" for each in sorted(declared[name]))
                    problems.append(f"{_shown(path)}:{number}: {found[0]}, but pyproject.toml says {wanted}")
    return problems


#: Pages that lack the CONTINUES note and are edited by others for now: reported, not failed.
#: An entry that no longer lacks the note is a failure, so the list only shrinks.
CONTINUES_PENDING = frozenset({"docs/connections.md", "docs/errors.md"})


def static_problems() -> list[str]:
    """Every problem of the pages found without running them."""
    problems = floor_problems([ROOT / name for name in FLOOR_PAGES])
    lacking = {problem.split(":")[0]: problem for problem in continuity_problems(pages([]))}
    for page, problem in sorted(lacking.items()):
        if page in CONTINUES_PENDING:
            print(f"note {problem} (pending: CONTINUES_PENDING)")
        else:
            problems.append(problem)
    problems += [f"{page}: in CONTINUES_PENDING, but has the note now" for page in CONTINUES_PENDING - set(lacking)]
    return problems


# -- running one page (in a child interpreter) --------------------------------------------


def _model_classes() -> set[type]:
    """Every model class that mixes in a persist_mixins mixin, sync or asyncio."""
    import persist_mixins
    import persist_mixins.asyncio

    found: set[type] = set()
    todo = [persist_mixins.SimpleRedisMixin, persist_mixins.asyncio.SimpleRedisMixin]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def _leftover_keys(redis_url: str, models: set[type]) -> list[str]:
    """Delete and return the keys left under the prefixes of ``models``."""
    import redis  # noqa: TID251 - the checker looks behind the library's back for leftovers

    client = redis.Redis.from_url(redis_url)
    left: list[str] = []
    try:
        for model in models:
            prefix = getattr(model, "__key_prefix__", None) or model.__name__
            escaped = re.sub(r"([*?\[\]\\])", r"\\\1", prefix)
            # "{prefix}:pk" today; "{{prefix}}..." for models with secondary indexes.
            for pattern in (f"{escaped}:*", f"{{{escaped}}}*"):
                keys = list(client.scan_iter(match=pattern, count=1000))
                if keys:
                    client.delete(*keys)
                    left += [f"{model.__name__}: {key.decode()}" for key in keys]
    finally:
        client.close()
    return left


def _leftover_tables(postgres_url: str) -> list[str]:
    """Drop and return the ``doc_...`` tables left in the PostgreSQL database."""
    import psycopg  # noqa: TID251 - the checker looks behind the library's back for leftovers

    with psycopg.connect(postgres_url, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE tablename LIKE %s ORDER BY 1, 2", (DOC_TABLES,)
        ).fetchall()
        for schema, table in rows:
            conn.execute(psycopg.sql.SQL("DROP TABLE IF EXISTS {}").format(psycopg.sql.Identifier(schema, table)))
    return [f"{schema}.{table}" for schema, table in rows]


def _leftover_rethink_tables(rethinkdb_url: str) -> list[str]:
    """Drop and return the ``doc_...`` tables left in the RethinkDB database."""
    from rethinkdb import RethinkDB  # noqa: TID251 - the checker looks behind the library's back for leftovers

    from persist_mixins.backends.rethinkdb.driver_rethinkdb import parse_url

    settings = parse_url(rethinkdb_url)
    r = RethinkDB()
    conn = r.connect(host=settings["host"], port=settings["port"], db=settings["db"], timeout=5)
    try:
        if settings["db"] not in r.db_list().run(conn):
            return []
        left = [name for name in r.table_list().run(conn) if name.startswith("doc_")]
        for name in left:
            r.table_drop(name).run(conn)
    finally:
        conn.close(noreply_wait=False)
    return left


def start_reqlite() -> tuple[str, subprocess.Popen[bytes]] | None:
    """Start reqlite on a free port of 127.0.0.1 (None when it is not installed or does not start)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests import reqlite  # the one place that finds and starts it (the tests use it too)

    if not reqlite.available():
        return None
    port = reqlite.free_port()
    try:
        return f"rethinkdb://127.0.0.1:{port}/docs", reqlite.start(port)
    except RuntimeError as exc:
        print(f"note: {exc}")
        return None


def run_page(redis_url: str, postgres_url: str, rethinkdb_url: str = "") -> int:
    """Child mode: run the examples given as JSON on stdin; return the exit status."""
    if importlib.util.find_spec("persist_mixins") is None:
        sys.path.insert(0, str(ROOT))  # not installed: document this checkout
    examples = [Example(**item) for item in json.load(sys.stdin)]
    name = "docs_example_" + re.sub(r"\W", "_", Path(examples[0].path).stem)
    module = types.ModuleType(name)
    module.__file__ = examples[0].path
    sys.modules[name] = module  # classes defined by the examples resolve their annotations here
    before = _model_classes()
    left: list[str] = []
    tables: list[str] = []
    try:
        for example in examples:
            print(f"--- {example.path}:{example.line}", flush=True)
            # Pad with blank lines so tracebacks name the page's own line numbers.
            code = compile("\n" * (example.line - 1) + example.code, example.path, "exec")
            exec(code, module.__dict__)
    finally:
        # Even after a failure: find (and delete) what the page's models left behind.
        mine = {cls for cls in _model_classes() - before if cls.__module__ == name}
        left = _leftover_keys(redis_url, mine)
        if left:
            print("examples left keys behind (now deleted):\n  " + "\n  ".join(sorted(left)), flush=True)
        import persist_mixins

        persist_mixins.close()
        if "psycopg" in sys.modules:  # a page that never touched PostgreSQL cannot have left a table
            tables = _leftover_tables(postgres_url)
            if tables:
                print("examples left tables behind (now dropped):\n  " + "\n  ".join(tables), flush=True)
        if "rethinkdb" in sys.modules and rethinkdb_url:
            found = _leftover_rethink_tables(rethinkdb_url)
            if found:
                print("examples left RethinkDB tables behind (now dropped):\n  " + "\n  ".join(found), flush=True)
            tables += found
    return 1 if left or tables else 0


# -- driving every page -------------------------------------------------------------------


def check(
    path: Path, redis_url: str, postgres_url: str, verbose: bool, rethinkdb_url: str = ""
) -> tuple[bool, int, int]:
    """Run one page's examples in a child interpreter; return (ok, run, skipped)."""
    examples = page_examples(path)
    runnable = [e for e in examples if not e.skipped]
    skipped = len(examples) - len(runnable)
    shown = _shown(path)
    for example in examples:
        if example.skipped:
            print(f"  skipped {shown}:{example.line} (marked not runnable)")
    if not runnable:
        return True, 0, skipped
    env = {
        **os.environ,
        "PERSIST_REDIS_URL": redis_url,
        "PERSIST_POSTGRES_URL": postgres_url,
        **({"PERSIST_RETHINKDB_URL": rethinkdb_url} if rethinkdb_url else {}),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    payload = json.dumps([asdict(e) for e in runnable])
    command = [sys.executable, "-W", "always::ResourceWarning", __file__, "--run-page"]
    command += ["--redis-url", redis_url, "--postgres-url", postgres_url, "--rethinkdb-url", rethinkdb_url]
    try:
        child = subprocess.run(
            command,
            input=payload,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one stream: output stays next to its "--- page:line" marker
            text=True,
            env=env,
            cwd=ROOT,
            timeout=PAGE_TIMEOUT,
        )
        status, output = child.returncode, child.stdout
    except subprocess.TimeoutExpired as exc:
        status, output = -1, f"{exc.stdout or ''}\ntimed out after {PAGE_TIMEOUT} s"
    # Both are printed, not raised, when they fire during garbage collection.
    warned = [w for w in ("ResourceWarning", "RuntimeWarning") if w in output]
    ok = status == 0 and not warned
    print(f"{'ok  ' if ok else 'FAIL'} {shown}: {len(runnable)} example(s)" + "".join(f" ({w})" for w in warned))
    if (verbose or not ok) and output.strip():
        print(textwrap.indent(output.rstrip(), "    | "))
    return ok, len(runnable), skipped


def main(argv: list[str] | None = None) -> int:
    """Check the pages named on the command line, or every page."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", help="pages to check (default: every .md/.rst page under docs/)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help=f"default: {DEFAULT_REDIS_URL}")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help=f"default: {DEFAULT_POSTGRES_URL}")
    parser.add_argument(
        "--rethinkdb-url",
        default=os.environ.get("PERSIST_TEST_RETHINKDB_URL", ""),
        help="default: PERSIST_TEST_RETHINKDB_URL, else a reqlite started for the run",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show each page's output")
    parser.add_argument("--run-page", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_page:
        return run_page(args.redis_url, args.postgres_url, args.rethinkdb_url)
    server = None
    if not args.rethinkdb_url:
        server = start_reqlite()
        if server is not None:
            args.rethinkdb_url = server[0]
        else:
            print("note: no RethinkDB server (set PERSIST_TEST_RETHINKDB_URL or install reqlite): its pages will fail")
    try:
        return _check_all(args)
    finally:
        if server is not None:
            server[1].terminate()
            server[1].wait(timeout=10)


def _check_all(args: argparse.Namespace) -> int:

    problems = static_problems()
    for problem in problems:
        print(f"FAIL {problem}")
    failed: list[str] = ["the pages' notes and version floors"] if problems else []
    total_run = total_skipped = 0
    for path in pages(args.pages):
        ok, run, skipped = check(path, args.redis_url, args.postgres_url, args.verbose, args.rethinkdb_url)
        total_run += run
        total_skipped += skipped
        if not ok:
            failed.append(_shown(path))
    print(f"\n{total_run} example(s) run, {total_skipped} skipped, {len(failed)} page(s) failed")
    for name in failed:
        print(f"  failed: {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
