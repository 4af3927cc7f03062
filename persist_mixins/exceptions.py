"""redis-schematics' module name for the errors (``from redis_schematics.exceptions import NotFound``).

Kept so that migrating code changes only the package name; new code imports the errors
from :mod:`persist_mixins` (they are defined in :mod:`persist_mixins.errors`).
"""

from __future__ import annotations

from .errors import *  # noqa: F403 - the same classes under the old module name
from .errors import __all__ as __all__
