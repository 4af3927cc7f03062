"""What a lazy query asks for, independent of backend and flavour.

:class:`QueryState` is a frozen value (conditions, ordering, offset, limit) that
``filter()``, ``order_by()``, ``limit()`` and slicing derive new copies of; the
sync and async query classes and every backend's plans read it.  Ordering of
decoded objects lives here too, so backends that sort client-side share it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import InvalidLookup
from .lookups import And, Condition, Node, Not, Or, Q, parse_lookups, resolve_path, value_at
from .spec import ModelSpec

__all__ = ["Ordering", "QueryState", "describe", "sort_objects"]


@dataclass(frozen=True)
class Ordering:
    """One ``order_by`` term: a field path and a direction."""

    path: tuple[str, ...]
    descending: bool = False


@dataclass(frozen=True)
class QueryState:
    """The parts of a lazy query: conditions, ordering, offset and limit.

    ``conditions`` are plain lookups that must all hold (what indexes can serve);
    ``tree`` holds the ``Or`` / ``Not`` / ``And`` expressions of ``Q`` objects and
    ``exclude()``, which must all hold too.
    """

    conditions: tuple[Condition, ...] = ()
    ordering: tuple[Ordering, ...] = ()
    offset: int = 0
    limit: int | None = None
    tree: tuple[Node, ...] = ()

    @property
    def terms(self) -> tuple[Node, ...]:
        """Every condition and expression of the query (all must hold), for evaluating on decoded objects."""
        return self.conditions + self.tree if self.tree else self.conditions

    def where(self, spec: ModelSpec[Any], lookups: Mapping[str, Any], qs: tuple[Q, ...] = ()) -> QueryState:
        """Add conditions (AND); raises :class:`~persist_mixins.errors.InvalidLookup` on a bad lookup."""
        if not qs:
            # Built directly: dataclasses.replace() costs more than the parse on this hot path.
            conditions = self.conditions + parse_lookups(spec, lookups)
            return QueryState(conditions, self.ordering, self.offset, self.limit, self.tree)
        return self._with(spec, Q(*qs, **lookups))

    def excluding(self, spec: ModelSpec[Any], lookups: Mapping[str, Any], qs: tuple[Q, ...] = ()) -> QueryState:
        """Add the negation of the lookups and ``Q`` objects (all of them together); InvalidLookup on a bad one."""
        return self._with(spec, ~Q(*qs, **lookups))

    def _with(self, spec: ModelSpec[Any], q: Q) -> QueryState:
        node = q.resolve(spec)
        if node is None:
            return self
        terms = node.terms if isinstance(node, And) else (node,)
        plain = tuple(t for t in terms if isinstance(t, Condition))
        other = tuple(t for t in terms if not isinstance(t, Condition))
        return QueryState(self.conditions + plain, self.ordering, self.offset, self.limit, self.tree + other)

    def ordered(self, spec: ModelSpec[Any], fields: Iterable[str]) -> QueryState:
        """Replace the ordering with ``'field'`` / ``'-field'`` terms (paths allowed)."""
        terms = []
        for term in fields:
            if not isinstance(term, str) or not term.lstrip("-"):
                raise InvalidLookup(f"{spec.name}.order_by({term!r}): give field names such as 'name' or '-name'")
            name = term.lstrip("-")
            path, field = resolve_path(spec, name.split("__"), name)
            if field is not None and field.kind in ("list", "dict", "model"):
                raise InvalidLookup(f"{spec.name}.order_by({term!r}): {field.kind} values cannot be ordered")
            terms.append(Ordering(path, term.startswith("-")))
        return replace(self, ordering=tuple(terms))

    def limited(self, n: int) -> QueryState:
        """Keep at most ``n`` results (within any existing limit)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidLookup(f"limit takes a non-negative int, not {n!r}")
        return replace(self, limit=n if self.limit is None else min(n, self.limit))

    def sliced(self, item: slice) -> QueryState:
        """Apply ``q[start:stop]`` on top of the current offset and limit."""
        if item.step not in (None, 1):
            raise InvalidLookup("query slices take no step")
        start, stop = item.start or 0, item.stop
        if start < 0 or (stop is not None and stop < 0):
            raise InvalidLookup("query slices take no negative indexes")
        offset = self.offset + start
        limit = None if stop is None else max(0, stop - start)
        if self.limit is not None:
            room = max(0, self.limit - start)
            limit = room if limit is None else min(limit, room)
        return replace(self, offset=offset, limit=limit)

    def window(self, items: list[Any]) -> list[Any]:
        """Apply offset and limit to a fully read, ordered list."""
        end = None if self.limit is None else self.offset + self.limit
        return items[self.offset : end]


def sort_objects(
    spec: ModelSpec[Any], objs: list[Any], ordering: tuple[Ordering, ...], key: Callable[[Any], Any] | None = None
) -> list[Any]:
    """Sort decoded objects in place by the ordering terms and return them.

    ``None`` sorts last ascending and first descending (as PostgreSQL does).

    Args:
        spec: the model spec.
        objs: the items to sort.
        ordering: the terms, most significant first.
        key: maps an item to its model instance (items may be ``(key, obj)`` pairs).

    Raises:
        InvalidLookup: stored values of one field cannot be compared with each other.
    """

    def sort_key(path: tuple[str, ...]) -> Callable[[Any], tuple[bool, Any]]:
        def of(item: Any) -> tuple[bool, Any]:
            value = value_at(spec, key(item) if key is not None else item, path)
            return (value is None, 0 if value is None else value)

        return of

    try:
        for term in reversed(ordering):  # stable sorts, least significant first
            objs.sort(key=sort_key(term.path), reverse=term.descending)
    except TypeError as exc:
        raise InvalidLookup(f"{spec.name}: stored values cannot be ordered together: {exc}") from exc
    return objs


def _describe_node(node: Node) -> str:
    if isinstance(node, Condition):
        return f"{'__'.join(node.path)}{'' if node.op == 'eq' else '__' + node.op}={node.value!r}"
    if isinstance(node, Not):
        return f"~Q({_describe_node(node.term)})"
    joiner = " | " if isinstance(node, Or) else " & "
    return "(" + joiner.join(f"Q({_describe_node(t)})" for t in node.terms) + ")"


def describe(state: QueryState) -> str:
    """The conditions of a query as the user wrote them, for messages: ``(amount_kg__gte=30, flavour='mint')``."""
    return "(" + ", ".join(_describe_node(c) for c in state.terms) + ")"
