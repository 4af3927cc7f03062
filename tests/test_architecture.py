"""The package's seams hold: no import cycles, plans free of drivers, every backend declared completely."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import persist_mixins
from persist_mixins.backend import Plans, backends

PACKAGE = Path(persist_mixins.__file__).parent
DRIVER_LIBRARIES = {"redis", "psycopg", "psycopg2", "psycopg_pool", "aiopg", "rethinkdb"}


def module_name(path: Path) -> str:
    """``persist_mixins/backends/redis/plans.py`` -> ``persist_mixins.backends.redis.plans``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> set[str]:
    """The package modules ``path`` imports when it runs (imports under ``if TYPE_CHECKING:`` excluded)."""
    tree = ast.parse(path.read_text())
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom):
                base = package[: len(package) - child.level + 1] if child.level else []
                target = ".".join([*base, *(child.module or "").split(".")]).strip(".")
                for alias in child.names:
                    found.add(f"{target}.{alias.name}" if child.module is None or child.level else target)
                    found.add(target)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child)  # imports inside functions run late: they cannot make a cycle at import time

    visit(tree)
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in modules and name != module_name(path)}


def test_no_module_imports_itself_back_through_others() -> None:
    """No import cycle between the package's modules (a module-level import chain never returns to its start)."""
    graph = {module_name(p): runtime_imports(p) for p in PACKAGE.rglob("*.py")}
    # A package's __init__ importing its own submodules is how packages work, not a cycle.
    for name, deps in graph.items():
        graph[name] = {d for d in deps if not name.startswith(d + ".") or d == name}
    cycles: list[list[str]] = []

    def walk(node: str, path: list[str], seen: set[str]) -> None:
        for dep in sorted(graph.get(node, ())):
            if dep == path[0]:
                cycles.append([*path, dep])
            elif dep not in seen:
                seen.add(dep)
                walk(dep, [*path, dep], seen)

    for start in sorted(graph):
        walk(start, [start], {start})
    assert cycles == []


def package_of(name: str) -> Path:
    """The folder of a registered backend's package (two layouts may share one, as Redis's do)."""
    return Path(inspect.getfile(backends()[name].plans)).parent


@pytest.mark.parametrize("name", sorted(backends()))
def test_plan_and_schema_modules_import_no_driver_library(name: str) -> None:
    """A backend's plans, schema, compile and commands modules import no database client (drivers are separate)."""
    folder = package_of(name)
    for path in folder.glob("*.py"):
        if path.name.startswith("driver"):
            continue
        imported = {alias.split(".")[0] for alias in _all_imports(path)}
        assert not imported & DRIVER_LIBRARIES, f"{path.name} imports {imported & DRIVER_LIBRARIES}"


def _all_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("name", sorted(backends()))
def test_every_backend_declares_every_plan_of_the_interface(name: str) -> None:
    """Each registered backend's plans module has a generator function for every method of ``Plans``."""
    plans = backends()[name].plans
    wanted = [n for n, _ in inspect.getmembers(Plans, inspect.isfunction) if not n.startswith("_")]
    assert len(wanted) >= 16
    for plan in wanted:
        assert inspect.isgeneratorfunction(getattr(plans, plan)), f"{name}.plans.{plan} is not a plan"


@pytest.mark.parametrize("name", sorted(backends()))
def test_every_backend_has_the_same_package_shape(name: str) -> None:
    """Each backend package has commands, schema, compile, plans, mixins and at least one driver_<client> module."""
    folder = package_of(name)
    files = {p.stem for p in folder.glob("*.py")}
    assert {"__init__", "commands", "schema", "compile", "plans", "mixins"} <= files
    assert any(f.startswith("driver_") for f in files)


def test_both_flavours_export_the_same_names() -> None:
    """``persist_mixins`` and ``persist_mixins.asyncio`` export the same public names: switching is one import."""
    sync, aio = importlib.import_module("persist_mixins"), importlib.import_module("persist_mixins.asyncio")
    assert set(sync.__all__) == set(aio.__all__)
    for name in aio.__all__:
        assert getattr(aio, name) is not None
    assert inspect.iscoroutinefunction(aio.SimpleRedisMixin.set)
    assert not inspect.iscoroutinefunction(sync.SimpleRedisMixin.set)
