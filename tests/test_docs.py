"""The documentation says what the code and the packaging do: notes, version floors, API reference.

The examples themselves are run by ``docs/check_examples.py`` (CI); these checks need no server.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import persist_mixins
import persist_mixins.asyncio
import persist_mixins.errors

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def check_examples() -> Iterator[ModuleType]:
    """docs/check_examples.py, imported as a module (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("check_examples_under_test", DOCS / "check_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


# -- pages whose examples continue one another say so ------------------------------------------


def test_every_page_whose_examples_run_in_sequence_says_so(check_examples: ModuleType) -> None:
    problems = [
        problem
        for problem in check_examples.continuity_problems(check_examples.pages([]))
        if problem.split(":")[0] not in check_examples.CONTINUES_PENDING
    ]
    assert problems == []
    assert check_examples.static_problems() == []


def test_a_page_without_the_note_is_reported(check_examples: ModuleType, tmp_path: Path) -> None:
    two_blocks = "```python\nx = 1\n```\n\n```python\nassert x == 1\n```\n"
    silent = tmp_path / "silent.md"
    silent.write_text("# Silent\n\nSome text.\n\n" + two_blocks)
    noted = tmp_path / "noted.md"
    noted.write_text(f"# Noted\n\n{check_examples.CONTINUES}: run them\nin order.\n\n" + two_blocks)
    late = tmp_path / "late.md"  # the note after the first block does not count
    late.write_text("# Late\n\n" + two_blocks.replace("\n\n", f"\n\n{check_examples.CONTINUES}.\n\n"))
    single = tmp_path / "single.md"
    single.write_text("# Single\n\n```python\nx = 1\n```\n")

    problems = check_examples.continuity_problems([silent, noted, late, single])

    assert [problem.split(":")[0] for problem in problems] == [str(silent), str(late)]


# -- version floors ----------------------------------------------------------------------------


def test_the_version_floors_the_docs_name_are_pyprojects(check_examples: ModuleType) -> None:
    pages = [ROOT / name for name in check_examples.FLOOR_PAGES]
    assert check_examples.floor_problems(pages) == []
    named = re.findall(r"`psycopg\[binary\][^`]*`", (DOCS / "installation.md").read_text())
    assert named, "installation.md no longer names psycopg's floor: the check would pass vacuously"


def test_a_floor_that_differs_from_pyproject_is_reported(check_examples: ModuleType, tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["orjson>=3.10"]\n'
        '[project.optional-dependencies]\npostgres = ["psycopg[binary]>=3.2.1", "psycopg-pool>=3.2"]\n'
        "old = [\"aioredis>=2.0.1; python_version < '3.11'\"]\n"
    )
    page = tmp_path / "installation.md"
    page.write_text(
        "| `postgres` | `psycopg[binary]>=3.2`, `psycopg-pool>=3.2` |\n"
        "Also `orjson>=3.10`, `aioredis>=2.0.1`, `Psycopg_Pool >= 3.2` and `nothere>=1.0`; not `driver_<client>.py`.\n"
    )

    problems = check_examples.floor_problems([page], pyproject)

    assert problems == [
        f"{page}:1: `psycopg[binary]>=3.2`, but pyproject.toml says psycopg[binary]>=3.2.1",
        f"{page}:2: `nothere>=1.0` names a requirement pyproject.toml lacks",
    ]


# -- the API reference documents the public API, and only it ---------------------------------

#: Modules api.rst may document whole; everything else in the package is internal.
PUBLIC_MODULES = {"persist_mixins", "persist_mixins.asyncio", "persist_mixins.errors", "persist_mixins.exceptions"}
_DIRECTIVE = re.compile(r"^\.\. (?:auto|py:)(?P<kind>\w+):: (?P<target>\S+)")


def _api_reference() -> tuple[set[str], list[str]]:
    """The full names api.rst documents, and the modules it documents whole."""
    names: set[str] = set()
    modules: list[str] = []
    current = ""
    lines = (DOCS / "api.rst").read_text().splitlines()
    for i, line in enumerate(lines):
        found = _DIRECTIVE.match(line)
        if not found:
            continue
        kind, target = found["kind"], found["target"].split("(")[0]
        if kind == "module":
            modules.append(target)
            current = target
            options = []
            for option in lines[i + 1 :]:
                if not option.startswith("   :"):
                    break
                options.append(option.strip())
            if ":members:" in options:
                names |= {f"{target}.{name}" for name in importlib.import_module(target).__all__}
            continue
        targets = [target]
        for more in lines[i + 1 :]:  # ".. py:class:: A" continued by aligned "B" lines
            if not more.startswith(" " * (len(found[0]) - len(found["target"]))) or more.strip().startswith(":"):
                break
            targets.append(more.strip())
        names |= {t if t.startswith("persist_mixins.") else f"{current}.{t}" for t in targets}
    return names, modules


def _object(name: str) -> object:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


@pytest.mark.parametrize("module", [persist_mixins, persist_mixins.asyncio, persist_mixins.errors])
def test_the_api_reference_documents_every_exported_name(module: ModuleType) -> None:
    documented, _ = _api_reference()
    documented_objects = {id(_object(name)) for name in documented}
    missing = [
        name
        for name in module.__all__
        if f"{module.__name__}.{name}" not in documented and id(getattr(module, name)) not in documented_objects
    ]
    assert missing == []


def test_the_api_reference_documents_no_internal_module() -> None:
    _, modules = _api_reference()
    assert set(modules) <= PUBLIC_MODULES
    assert {"persist_mixins", "persist_mixins.asyncio", "persist_mixins.errors"} <= set(modules)


def test_the_api_reference_check_sees_a_missing_name() -> None:
    documented, _ = _api_reference()
    assert "persist_mixins.PersistMixin" in documented
    assert "persist_mixins.asyncio.PersistMixin" in documented
    assert "persist_mixins.errors.NotFound" in documented  # through the errors module's :members:
    assert "persist_mixins.spec.ModelSpec" not in documented
