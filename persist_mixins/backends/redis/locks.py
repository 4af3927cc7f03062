"""The lock ``get_or_create`` holds on Redis: one ``SET key token NX PX`` key per model and lookups.

Taken with ``SET NX PX`` (so a holder that dies frees it when it expires), waited for
with short pauses, released by a script that deletes the key only while it still holds
this holder's token (a holder slower than the expiry never frees the next one's lock).
The key, ``{prefix}#lock:<name>``, is outside the objects' SCAN pattern and, with the
prefix as hash tag, in the slot of an indexed model's keys.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from ...creating import hold
from ...run import Plan
from ...spec import ModelSpec
from .commands import Command

__all__ = ["LOCK_MS", "guarded", "lock_key"]

T = TypeVar("T")

#: How long a lock lives when its holder never releases it (it died mid-call).
LOCK_MS = 10_000
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def lock_key(spec: ModelSpec[Any], name: str) -> str:
    """The key of the model's lock ``name``."""
    return f"{{{spec.options.key_prefix}}}#lock:{name}"


def guarded(spec: ModelSpec[Any], name: str, body: Plan[T]) -> Plan[T]:
    """Run ``body`` holding the lock ``name`` (see :meth:`persist_mixins.backend.Plans.guarded`).

    Raises:
        RetryableError: the lock stayed taken for :data:`~persist_mixins.creating.LOCK_WAIT_S` seconds.
    """
    key, token = lock_key(spec, name), uuid.uuid4().hex

    def take() -> Plan[bool]:
        return (yield Command(("SET", key, token, "NX", "PX", LOCK_MS))) is not None

    def release() -> Plan[Any]:
        return (yield Command(("EVAL", _RELEASE, 1, key, token)))

    return (yield from hold(f"{spec.name} lock {key!r}", take, release, body))
