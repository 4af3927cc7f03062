"""Sphinx configuration for the persist_mixins documentation.

Build from the repository root with warnings as errors (the tox ``docs`` env does the same)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

Everything is local: no intersphinx, no remote images, no theme downloads.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import persist_mixins  # noqa: E402 - needs the path above when the package is not installed

# -- project ------------------------------------------------------------------------------

project = "persist_mixins"
author = "persist_mixins developers"
copyright = "persist_mixins developers"
release = persist_mixins.__version__
version = ".".join(release.split(".")[:2])

# -- general ------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
# Every cross-reference to a persist_mixins name must resolve (with -W an unresolved one fails
# the build); names outside these docs cannot resolve without intersphinx, so they are
# ignored: the standard library, the client and model libraries, and type variables.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(collections|typing|typing_extensions|types|datetime|decimal|uuid|asyncio|contextlib)(\..*)?"),
    (r"py:.*", r"(redis|psycopg|psycopg_pool|aiopg|aioredis|rethinkdb|schematics|pydantic|attrs|attr)(\..*)?"),
    (r"py:.*", r"(persist_mixins\.[\w.]+\.)?[A-Z]"),  # type variables: T, M, ...
    (r"py:.*", r"Self|Any|None|NoneType|Ellipsis"),
]
default_role = "py:obj"

# -- MyST (Markdown pages; benchmarks/redis_bench.py regenerates performance.md) ---------

myst_enable_extensions = ["colon_fence"]  # ::: fences for admonitions
# Anchors for headings down to ###, so pages can link to sections: [x](queries.md#ordering).
myst_heading_anchors = 3

# -- autodoc / napoleon -------------------------------------------------------------------

autodoc_default_options = {
    "member-order": "bysource",
}
# The package uses `from __future__ import annotations` and imports `Self` only under
# TYPE_CHECKING: signatures would show unresolved strings. Put the types in the
# parameter descriptions, where an unresolved name is plain text, not a warning.
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
# No alias for Self: autodoc would render it as "TypeAliasForwardRef('Self')"; left alone,
# an unresolvable `Self` stays the plain text "Self" (e.g. "Query[Self]").
autodoc_type_aliases = {"Plan": "persist_mixins.run.Plan"}
autoclass_content = "class"
autodoc_preserve_defaults = True

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True

# -- HTML ---------------------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"persist_mixins {release}"
html_theme_options = {
    "description": "Active-record persistence as mixins: Redis and PostgreSQL, sync and asyncio.",
    "fixed_sidebar": True,
    "show_relbars": True,
}
html_static_path: list[str] = []


# -- hooks --------------------------------------------------------------------------------


def _keep_attribute_colons(app, what, name, obj, options, lines):
    """Stop napoleon reading ``#: A plan: yields ...`` as ``type: description``.

    For an attribute or module-level data docstring napoleon splits the first line on its
    first colon and renders the left part as the type ("Type: A plan"). The package's
    ``#:`` comments are sentences, so lead them with an empty RST comment: napoleon then
    finds no colon on the first line and the sentence renders unchanged.
    """
    if what in ("attribute", "data") and lines and ":" in lines[0]:
        lines[:0] = ["..", ""]


def _own_class_docstring(app, what, name, obj, options, lines):
    """Give a class documented under an exported alias its own docstring.

    ``persist_mixins.asyncio.PersistMixin = AsyncPersistMixin`` carries a ``#:`` comment,
    which autodoc would otherwise show instead of the class's docstring.
    """
    if what == "class" and isinstance(obj, type) and obj.__doc__ and name.rsplit(".", 1)[-1] != obj.__qualname__:
        from sphinx.util.docstrings import prepare_docstring

        lines[:] = prepare_docstring(obj.__doc__)


def _public_names() -> dict[int, list[str]]:
    """Each public object's documented names, keyed by the object's id.

    The public API is documented under the names users import (``persist_mixins.PgRowMixin``,
    ``persist_mixins.asyncio.PgRowMixin``, ``persist_mixins.errors.NotFound``), while type
    hints and docstrings name objects where they are defined
    (``persist_mixins.backends.postgres.mixins.AsyncPgRowMixin``).
    """
    import persist_mixins.asyncio
    import persist_mixins.errors

    names: dict[int, list[str]] = {}
    for module in (persist_mixins.errors, persist_mixins, persist_mixins.asyncio):  # errors first: their home
        for name in module.__all__:
            names.setdefault(id(getattr(module, name)), []).append(f"{module.__name__}.{name}")
    return names


def _lookup(path: str):
    """The object a dotted ``persist_mixins...`` path names, and the unmatched rest of the path."""
    import importlib

    parts = path.split(".")
    for split in range(len(parts), 0, -1):  # the longest importable module, then attributes
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        rest = parts[split:]
        while rest and hasattr(obj, rest[0]):
            obj = getattr(obj, rest.pop(0))
        return obj, rest
    return None, parts


def _resolve_by_object(app, env, node, contnode):
    """Resolve a reference to a persist_mixins object by its public, documented name.

    Type hints and docstrings name objects where they are defined
    (``persist_mixins.backends.postgres.mixins.AsyncPgRowMixin``, or ``filter`` inside a
    mixin's docstring), while the reference documents them under the names users import
    (``persist_mixins.asyncio.PgRowMixin``, ``persist_mixins.PersistMixin.filter``). The
    target (also taken relative to the reference's module and class) is looked up as an
    object; the object, or for a method its owner class and that class's bases, is then
    tried under each of its public names, the first one documented winning. Anything else
    stays unresolved, so nitpicky mode reports it.
    """
    if node.get("refdomain") != "py":
        return None
    target, module, klass = node.get("reftarget", ""), node.get("py:module"), node.get("py:class")
    paths = [target]
    if module and klass:
        paths.append(f"{module}.{klass}.{target}")
    if module:
        paths.append(f"{module}.{target}")
    public = _public_names()
    domain = env.get_domain("py")
    for path in paths:
        if not path.startswith("persist_mixins."):
            continue
        if path in domain.objects:
            return domain.resolve_xref(env, node.get("refdoc"), app.builder, node.get("reftype"), path, node, contnode)
        parts = path.split(".")
        for cut in range(len(parts) - 1, 0, -1):  # owner = parts[:cut], member = parts[cut:]
            owner, unmatched = _lookup(".".join(parts[:cut]))
            if owner is None or unmatched:
                continue
            for base in owner.__mro__ if isinstance(owner, type) else (owner,):
                for name in public.get(id(base), []):
                    candidate = ".".join([name, *parts[cut:]])
                    if candidate in domain.objects:
                        return domain.resolve_xref(
                            env, node.get("refdoc"), app.builder, node.get("reftype"), candidate, node, contnode
                        )
        owner, unmatched = _lookup(path)
        for name in public.get(id(owner), []) if owner is not None and not unmatched else []:
            if name in domain.objects:
                reftype = node.get("reftype")
                return domain.resolve_xref(env, node.get("refdoc"), app.builder, reftype, name, node, contnode)
    return None


def _document_asyncio_classes_under_their_public_names() -> None:
    """Let autodoc document ``persist_mixins.asyncio.SimpleRedisMixin`` as a class, members included.

    The asyncio classes are defined as ``AsyncSimpleRedisMixin`` ... and exported by
    :mod:`persist_mixins.asyncio` as ``SimpleRedisMixin`` ...; autodoc renders a class whose
    ``__name__`` differs from the documented name as a bare "alias of", without its
    docstring or methods. In this (documentation-building) process only, each such class
    takes its exported name as ``__name__``; ``__qualname__`` and ``__module__`` stay, so
    source links and type hints still name the definition (resolved by ``_resolve_by_object``).
    """
    import persist_mixins.asyncio

    for name in persist_mixins.asyncio.__all__:
        obj = getattr(persist_mixins.asyncio, name)
        # AsyncPersistMixin / AsyncQuery keep their names: they are documented as PersistMixin / Query.
        if isinstance(obj, type) and obj.__name__ != name and not name.startswith("Async"):
            obj.__name__ = name


def setup(app):
    _document_asyncio_classes_under_their_public_names()
    # Before napoleon, which listens at the default priority (500).
    app.connect("autodoc-process-docstring", _own_class_docstring, priority=300)
    app.connect("autodoc-process-docstring", _keep_attribute_colons, priority=400)
    app.connect("missing-reference", _resolve_by_object)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
