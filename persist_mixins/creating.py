"""``get_or_create`` / ``update_or_create``: one plan for every backend, over the backend's lock.

Django's names and semantics: the lookups find the object; when none matches, one is
built from the lookups without an operator (``title="Dune"``, not ``year__gte=1965``)
and ``defaults`` (a callable default is called when its value is used), then stored.  What makes it atomic is
the backend's :meth:`~persist_mixins.backend.Plans.guarded`: the read and the write run
under a lock named after the model and the lookups, so concurrent callers passing the
same lookups create one object (PostgreSQL: a transaction-scoped advisory lock; Redis: a
``SET NX PX`` key; RethinkDB: a document in the model's bookkeeping table).  Callers passing
different lookups that match the same objects are not serialised: declare ``__unique__``
for that, as Django asks for a unique constraint.

``get_or_create`` first reads without the lock, so finding an object costs one read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import InvalidLookup, MultipleFound, RetryableError, ValidationError
from .run import Pause, Plan, collect

if TYPE_CHECKING:
    from .backend import Plans
    from .query import QueryState
    from .spec import ModelSpec

__all__ = ["LOCK_WAIT_S", "called", "check_defaults", "create_values", "get_or_create", "hold", "lock_name"]

T = TypeVar("T")

#: How long a caller waits for a lock another caller holds before giving up with RetryableError.
LOCK_WAIT_S = 30.0


def check_defaults(spec: ModelSpec[Any], defaults: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """The ``defaults`` argument as a dict by field name (callables are called when used: :func:`called`).

    Raises:
        InvalidLookup: ``defaults`` is not a mapping, or names something that is not a field.
    """
    if defaults is None:
        return {}
    if not isinstance(defaults, Mapping):
        raise InvalidLookup(f"{spec.name}.{what}(defaults=...) takes a dict of field values, not {defaults!r}")
    out = {}
    for name, value in defaults.items():
        if name == "pk" and "pk" not in spec.fields and spec.pk_field is not None:
            name = spec.pk_field
        if name not in spec.fields:
            raise InvalidLookup(f"{spec.name}.{what}(defaults=...): {spec.name} has no field {name!r}")
        out[name] = value
    return out


def called(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with each value that came from ``defaults`` and is callable replaced by its result (Django's rule)."""
    return {
        name: value() if name in defaults and value is defaults[name] and callable(value) else value
        for name, value in values.items()
    }


def create_values(spec: ModelSpec[Any], lookups: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The field values of a new object: the lookups without an operator or a path, then ``defaults``."""
    values: dict[str, Any] = {}
    for name, value in lookups.items():
        if "__" in name:
            continue
        if name == "pk" and "pk" not in spec.fields:
            if spec.pk_field is None:
                continue  # a __unique_together__ pk is made of its fields
            name = spec.pk_field
        values[name] = value
    values.update(defaults)
    return values


def lock_name(spec: ModelSpec[Any], state: QueryState) -> str:
    """A short name for the lock of one model and one set of lookups (same lookups in any order, same name)."""
    lookups = "\x00".join(sorted(repr(node) for node in state.terms))
    text = f"{spec.options.key_prefix}\x00{spec.options.table}\x00{lookups}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _build(spec: ModelSpec[Any], values: dict[str, Any]) -> Any:
    """A new instance of the model from field values.

    Raises:
        ValidationError: the model refuses the values (a missing required field ...).
    """
    keys = spec.adapter.document_keys
    doc = {keys.get(name, name): value for name, value in values.items()} if keys else values
    try:
        return spec.adapter.load(doc)
    except ValidationError:
        raise
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{spec.name}: cannot build an object from {sorted(values)}: {exc}") from exc


def _find(plans: Plans, spec: ModelSpec[Any], state: QueryState) -> Plan[Any]:
    """The one object matching ``state``, or None; MultipleFound when there are more."""
    found = yield from collect(plans.select_pairs(spec, state.limited(2)))
    if len(found) > 1:
        raise MultipleFound(f"{spec.name}: more than one object matches {state}")
    return found[0][1] if found else None


def get_or_create(
    plans: Plans,
    spec: ModelSpec[Any],
    state: QueryState,
    values: dict[str, Any],
    defaults: dict[str, Any],
    update: bool,
    only: tuple[str, ...],
) -> Plan[tuple[Any, bool]]:
    """``(obj, created)``: the object matching ``state``, or a new one built from ``values``.

    ``values`` hold the lookups' values and ``defaults``; a callable default is called only
    when its value is used.  With ``update`` (``update_or_create``), a found object gets the
    ``defaults`` and is written (just the fields ``only`` names when there are some:
    ``set(only=...)``, which keeps its TTL; the whole object otherwise).
    """
    if not update:
        found = yield from _find(plans, spec, state)  # the common case: no lock
        if found is not None:
            return found, False
    body = _locked(plans, spec, state, values, defaults, update, only)
    return (yield from plans.guarded(spec, lock_name(spec, state), body))


def _locked(
    plans: Plans,
    spec: ModelSpec[Any],
    state: QueryState,
    values: dict[str, Any],
    defaults: dict[str, Any],
    update: bool,
    only: tuple[str, ...],
) -> Plan[tuple[Any, bool]]:
    found = yield from _find(plans, spec, state)
    if found is None:
        obj = _build(spec, called(values, defaults))
        yield from plans.save(spec, obj, None)
        return obj, True
    if update and defaults:
        for name, value in called(defaults, defaults).items():
            spec.adapter.set_field(found, name, value)
        if only:
            yield from plans.save_only(spec, found, only)
        else:
            yield from plans.save(spec, found, None)
    return found, False


def hold(
    what: str,
    take: Callable[[], Plan[bool]],
    release: Callable[[], Plan[Any]],
    body: Plan[T],
    wait: float = LOCK_WAIT_S,
) -> Plan[T]:
    """Run ``body`` holding a lock that ``take`` tries to take once (True when taken) and ``release`` gives back.

    Between attempts the plan pauses, 1 ms doubling to 50 ms.  The lock is released
    when ``body`` fails too; a release that fails then is ignored (the lock's own expiry
    frees it), so the body's error is the one the caller sees.  The backends' ``guarded``
    plans are this loop over their own take and release.

    Raises:
        RetryableError: the lock stayed taken for ``wait`` seconds (``what`` names it).
    """
    waited, delay = 0.0, 0.001
    while not (yield from take()):
        if waited >= wait:
            body.close()
            raise RetryableError(f"{what}: another caller held the lock for {wait:g} s")
        yield Pause(delay)
        waited += delay
        delay = min(delay * 2, 0.05)
    try:
        result = yield from body
    except Exception:
        # Released on errors only: a GeneratorExit (the run abandoned: KeyboardInterrupt,
        # cancellation) must not yield, and the lock then frees itself when it expires.
        try:  # noqa: SIM105 - contextlib.suppress cannot wrap a yield
            yield from release()
        except Exception:  # noqa: BLE001 - the lock expires on its own; the body's error is the one to see
            pass
        raise
    yield from release()
    return result
