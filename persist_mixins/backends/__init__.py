"""The backends shipped with persist_mixins, one package each (see docs/architecture.md).

Each package declares a :class:`~persist_mixins.backend.Backend` in its
``__init__`` (registered on import) and its mixin classes in ``mixins.py``;
:mod:`.sync_mixins` and :mod:`.async_mixins` list the public mixins of every
backend, which :mod:`persist_mixins` and :mod:`persist_mixins.asyncio` re-export.
"""
