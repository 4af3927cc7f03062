"""How a model class finds its spec; the class-creation check of its options.

Specs are built on first use and cached on the class; class options are checked
at class creation (:func:`check_class`), so a bad option fails at import time.
"""

from __future__ import annotations

from typing import TypeVar

from .adapters import build_adapter
from .backend import Backend, Plans
from .errors import ConfigurationError
from .spec import CORE_OPTIONS, ModelSpec, check_option_names, declared_field_names, read_options

__all__ = ["check_class", "spec_of"]

M = TypeVar("M")
_SPEC_ATTR = "__persist_spec__"


def check_class(cls: type) -> None:
    """Check the class options of a new model class against its declared fields.

    A class with no fields at all is taken to be an abstract base (options such
    as ``__expire__`` are still checked; the pk is not required yet).

    Raises:
        ConfigurationError: naming the class and the option.
    """
    options = read_options(cls, declared_field_names(cls) or None)
    backend: Backend[Plans] | None = getattr(cls, "__persist_backend__", None)
    if backend is None:
        return
    if options.unique and "unique" not in backend.capabilities:
        raise ConfigurationError(
            f"{cls.__name__}.__unique__: the {backend.name} backend does not support unique fields"
        )
    if options.db_defaults and "db_defaults" not in backend.capabilities:
        raise ConfigurationError(
            f"{cls.__name__}.__db_defaults__: the {backend.name} backend does not fill fields with database defaults"
        )
    check_option_names(cls, (*CORE_OPTIONS, *backend.connection_options, *backend.options))
    if backend.check is not None:
        backend.check(cls)


def spec_of(cls: type[M]) -> ModelSpec[M]:
    """The cached :class:`ModelSpec` of a model class (built on first use)."""
    spec: ModelSpec[M] | None = cls.__dict__.get(_SPEC_ATTR)
    if spec is None:
        spec = _build_spec(cls)
        type.__setattr__(cls, _SPEC_ATTR, spec)
    return spec


def _build_spec(cls: type[M]) -> ModelSpec[M]:
    klass: type = cls
    adapter = build_adapter(klass)
    if not adapter.fields:
        raise ConfigurationError(f"{cls.__name__} has no fields: it cannot be stored (is it an abstract base?)")
    options = read_options(cls, set(adapter.fields))
    backend = getattr(cls, "__persist_backend__", None)
    keys = frozenset(backend.keys) if backend is not None else frozenset({"client_uuid"})
    return ModelSpec(cls, cls.__name__, options, adapter, keys)
