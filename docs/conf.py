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
# Cross-references to names outside these docs (Self, redis.Redis, typing internals) are not
# errors: without intersphinx they cannot resolve, and nitpicky mode would flag every one.
nitpicky = False
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


def setup(app):
    # Before napoleon, which listens at the default priority (500).
    app.connect("autodoc-process-docstring", _keep_attribute_colons, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
