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

from ...errors import RetryableError
from ...run import Pause, Plan
from ...spec import ModelSpec
from .commands import Command

__all__ = ["LOCK_MS", "WAIT_S", "guarded", "lock_key"]

T = TypeVar("T")

#: How long a lock lives when its holder never releases it (it died mid-call).
LOCK_MS = 10_000
#: How long a caller waits for a lock before giving up with RetryableError.
WAIT_S = 30.0
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def lock_key(spec: ModelSpec[Any], name: str) -> str:
    """The key of the model's lock ``name``."""
    return f"{{{spec.options.key_prefix}}}#lock:{name}"


def guarded(spec: ModelSpec[Any], name: str, body: Plan[T]) -> Plan[T]:
    """Run ``body`` holding the lock ``name`` (see :meth:`persist_mixins.backend.Plans.guarded`).

    Raises:
        RetryableError: the lock stayed taken for :data:`WAIT_S` seconds.
    """
    key, token = lock_key(spec, name), uuid.uuid4().hex
    waited, delay = 0.0, 0.001
    while (yield Command(("SET", key, token, "NX", "PX", LOCK_MS))) is None:
        if waited >= WAIT_S:
            body.close()
            raise RetryableError(f"{spec.name}: another caller held the lock {key!r} for {WAIT_S:g} s")
        yield Pause(delay)
        waited += delay
        delay = min(delay * 2, 0.05)
    try:
        result = yield from body
    except BaseException:
        try:  # noqa: SIM105 - contextlib.suppress cannot wrap a yield
            yield Command(("EVAL", _RELEASE, 1, key, token))
        except Exception:  # noqa: BLE001 - the lock expires on its own; the body's error is the one to see
            pass
        raise
    yield Command(("EVAL", _RELEASE, 1, key, token))
    return result
