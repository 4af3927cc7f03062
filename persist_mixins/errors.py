"""The exceptions persist_mixins raises.

Every error derives from :class:`~persist_mixins.errors.PersistError`, so one ``except`` clause catches
them all, and each also derives from the builtin a caller would guess
(``KeyError`` for lookups that find the wrong number of objects, ``ValueError``
for bad input), which keeps redis-schematics code that caught ``KeyError`` working.
"""

from __future__ import annotations

__all__ = [
    "BackendConnectionError",
    "BlockingCallError",
    "BlockingCallWarning",
    "ConfigurationError",
    "ConflictError",
    "InvalidLookup",
    "MultipleFound",
    "NotFound",
    "PersistError",
    "PoolTimeoutError",
    "RetryableError",
    "TransactionError",
    "ValidationError",
]


class PersistError(Exception):
    """Base class of every error raised by persist_mixins."""


class NotFound(PersistError, KeyError):
    """No stored object matches the lookup, or the object expired or was deleted."""

    def __str__(self) -> str:
        # KeyError.__str__ quotes its argument; a sentence reads better.
        return str(self.args[0]) if self.args else "not found"


class MultipleFound(PersistError, KeyError):
    """A lookup that must match exactly one object matched several."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "multiple objects found"


class InvalidLookup(PersistError, ValueError):
    """A lookup names a field the model lacks, an unknown operator, or an unusable value.

    Raised before any I/O, so nothing is read or written.
    """


class ValidationError(PersistError, ValueError):
    """Model data failed validation; nothing was written.

    The model library's own error, when there is one, is the ``__cause__``.
    """


class ConfigurationError(PersistError):
    """A class option or a connection setting is wrong; raised at class creation where possible."""


class ConflictError(PersistError):
    """A write clashed with another one (optimistic lock or unique constraint)."""


class RetryableError(PersistError):
    """The server rolled an operation back; nothing of it was written, and running it again may succeed.

    PostgreSQL: a deadlock (SQLSTATE 40P01) or a serialization failure (40001). RethinkDB: an
    operation the server refused before doing it (``ReqlOpFailedError``: a table or replica not
    available yet, as after a restart).

    The driver's exception is the ``__cause__``; its SQLSTATE says which.
    """


class TransactionError(PersistError):
    """A transaction was used in a way that would corrupt it."""


class BackendConnectionError(PersistError, ConnectionError):
    """The database server could not be reached; the message names its URL.

    The driver's exception is the ``__cause__``.
    """


class PoolTimeoutError(PersistError, TimeoutError):
    """No pooled connection became free within the pool's wait: the server is reachable, every connection was busy.

    Raise the pool's size or its wait (Redis: ``?max_connections=`` and ``?timeout=`` in the
    URL), or send fewer calls at once.  The driver's exception is the ``__cause__``.
    """


class BlockingCallError(PersistError, RuntimeError):
    """A sync method was called while an event loop runs in the same thread (with ``configure(sync_in_loop="error")``).

    It would block every task of the loop until the server answers: use the same model
    from :mod:`persist_mixins.asyncio` and ``await`` it instead.
    """


class BlockingCallWarning(RuntimeWarning):
    """A sync method was called while an event loop runs in the same thread (the default: warned once per call site).

    ``configure(sync_in_loop="error")`` turns it into :class:`BlockingCallError`,
    ``configure(sync_in_loop="allow")`` silences it.
    """
