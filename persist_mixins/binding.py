"""How a model class finds its spec, its backend's plans and its driver.

Shared by the sync and asyncio facades.  Specs are built on first use and
cached on the class; class options are checked at class creation
(:func:`check_class`), so a bad option fails at import time.  Backend modules
are imported lazily: a Redis user never imports psycopg.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from types import ModuleType

from .adapters import build_adapter
from .errors import ConfigurationError
from .spec import ModelSpec, declared_field_names, read_options

__all__ = ["POSTGRES", "REDIS", "Backend", "check_class", "spec_of"]

_SPEC_ATTR = "__persist_spec__"


@dataclass(frozen=True)
class Backend:
    """A backend as the facades see it: where its plans and drivers live."""

    name: str
    plans_module: str
    driver_module: str

    @functools.cached_property
    def plans(self) -> ModuleType:
        """The backend's plans module (pure, driver-free); imported on first use."""
        return importlib.import_module(self.plans_module, __package__)

    @functools.cached_property
    def drivers(self) -> ModuleType:
        """The backend's driver module (imports the database client library).

        Raises:
            ConfigurationError: the client library is not installed; names the extra to install.
        """
        try:
            return importlib.import_module(self.driver_module, __package__)
        except ModuleNotFoundError as exc:
            raise ConfigurationError(
                f"the {self.name} backend needs {exc.name!r}: pip install 'persist_mixins[{self.name}]'"
            ) from exc


REDIS = Backend("redis", ".backends.redis.plans", ".backends.redis.driver")
POSTGRES = Backend("postgres", ".backends.postgres.plans", ".backends.postgres.driver")


def check_class(cls: type) -> None:
    """Check the class options of a new model class against its declared fields.

    A class with no fields at all is taken to be an abstract base (options such
    as ``__expire__`` are still checked; the pk is not required yet).

    Raises:
        ConfigurationError: naming the class and the option.
    """
    read_options(cls, declared_field_names(cls) or None)


def spec_of(cls: type) -> ModelSpec:
    """The cached :class:`ModelSpec` of a model class (built on first use)."""
    spec = cls.__dict__.get(_SPEC_ATTR)
    if spec is None:
        spec = _build_spec(cls)
        type.__setattr__(cls, _SPEC_ATTR, spec)
    return spec


def _build_spec(cls: type) -> ModelSpec:
    adapter = build_adapter(cls)
    if not adapter.fields:
        raise ConfigurationError(f"{cls.__name__} has no fields: it cannot be stored (is it an abstract base?)")
    options = read_options(cls, set(adapter.fields))
    return ModelSpec(cls, cls.__name__, options, adapter)
