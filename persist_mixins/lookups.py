"""Django-style lookups: parsed once, checked before any I/O, evaluated without surprises.

``amount_kg__gte=30`` becomes ``Condition(path=("amount_kg",), op="gte", value=30)``.
Parsing rejects unknown fields, unknown operators and values of the wrong type
with :class:`~persist_mixins.errors.InvalidLookup`, so a typo can never silently match nothing (the
redis-schematics bug).  Evaluation is shared by every backend that checks
conditions on decoded objects; ``None`` never satisfies a comparison.
"""

from __future__ import annotations

import datetime as dt
import decimal
import operator
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidLookup
from .spec import FieldSpec, ModelSpec

__all__ = [
    "OPERATORS", "And", "Condition", "Node", "Not", "Or", "Q", "evaluate", "evaluate_node", "matches",
    "parse_lookups", "resolve_path", "value_at",
]  # fmt: skip

#: Every operator, with its aliases mapped to the canonical name.
OPERATORS: dict[str, str] = {
    "eq": "eq", "exact": "eq", "ne": "ne", "not": "ne",
    "lt": "lt", "lte": "lte", "gt": "gt", "gte": "gte",
    "in": "in", "not_in": "not_in", "exclude": "not_in",
    "contains": "contains", "icontains": "icontains",
    "startswith": "startswith", "endswith": "endswith",
    "isnull": "isnull", "range": "range",
}  # fmt: skip

_ORDERED = {"lt", "lte", "gt", "gte", "range"}
_TEXT = {"icontains", "startswith", "endswith"}
_NUMBER = (int, float, decimal.Decimal)
_ACCEPTS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": _NUMBER,
    "float": _NUMBER,
    "decimal": _NUMBER,
    "bool": (bool,),
    "datetime": (dt.datetime,),
    "date": (dt.date,),
    "uuid": (uuid.UUID, str),
    "list": (list, tuple),
    "dict": (dict,),
}


@dataclass(frozen=True)
class Condition:
    """One parsed lookup: a field path, a canonical operator and a checked value."""

    path: tuple[str, ...]
    op: str
    value: Any
    #: The kind of the field at the end of the path (``"any"`` inside dicts).
    kind: str = "any"

    @property
    def field(self) -> str:
        """The top-level field the condition is on."""
        return self.path[0]


@dataclass(frozen=True)
class And:
    """Every term holds (a parsed ``Q(a=1) & Q(b=2)``)."""

    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one term holds (a parsed ``Q(a=1) | Q(b=2)``)."""

    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """The term does not hold (a parsed ``~Q(a=1)``, or ``exclude(a=1)``).

    The complement of the term's matches: an object whose value is None matches
    ``Not(x > 1)`` and ``exclude(x=1)``, as in Django, because None never satisfies the
    comparison itself.
    """

    term: Node


#: A parsed boolean expression of conditions.
Node = Condition | And | Or | Not


class Q:
    """Lookups to combine with ``|`` (or), ``&`` (and) and ``~`` (not), then give to ``filter()`` or ``exclude()``.

    ``Q(flavour="mint") | Q(amount_kg__gte=30)``.  A ``Q`` belongs to no model: its
    lookups are parsed, and unknown fields refused with
    :class:`~persist_mixins.errors.InvalidLookup`, when a model's ``filter()``,
    ``exclude()``, ``count()`` or ``match()`` receives it, before any I/O.
    Several lookups in one ``Q`` must all hold.  An empty ``Q()`` adds no condition.
    """

    __slots__ = ("children", "connector", "negated")

    def __init__(self, *children: Q, **lookups: Any) -> None:
        """Make a ``Q`` that holds when every child ``Q`` and every lookup holds."""
        for child in children:
            if not isinstance(child, Q):
                raise InvalidLookup(f"Q() takes Q objects and keyword lookups, not {child!r}")
        self.children: tuple[Q | tuple[str, Any], ...] = (*children, *lookups.items())
        self.connector = "AND"
        self.negated = False

    @classmethod
    def _node(cls, connector: str, children: tuple[Q | tuple[str, Any], ...], negated: bool = False) -> Q:
        q = cls()
        q.children, q.connector, q.negated = children, connector, negated
        return q

    def _combine(self, other: Q, connector: str) -> Q:
        if not other.children:
            return self
        if not self.children:
            return other
        return Q._node(connector, (self, other))

    def __or__(self, other: Q) -> Q:
        """Either side holds."""
        if not isinstance(other, Q):
            return NotImplemented
        return self._combine(other, "OR")

    def __and__(self, other: Q) -> Q:
        """Both sides hold."""
        if not isinstance(other, Q):
            return NotImplemented
        return self._combine(other, "AND")

    def __invert__(self) -> Q:
        """The opposite: every object the ``Q`` does not match."""
        return Q._node(self.connector, self.children, not self.negated)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Q):
            return NotImplemented
        return (self.children, self.connector, self.negated) == (other.children, other.connector, other.negated)

    def __hash__(self) -> int:
        return hash((self.connector, self.negated, len(self.children)))

    def __repr__(self) -> str:
        parts = [repr(c) if isinstance(c, Q) else f"{c[0]}={c[1]!r}" for c in self.children]
        text = f"({f' {self.connector} '.join(parts)})"
        return f"~Q{text}" if self.negated else f"Q{text}"

    def resolve(self, spec: ModelSpec[Any]) -> Node | None:
        """Parse the lookups against a model: the expression, or None when the ``Q`` is empty.

        Raises:
            InvalidLookup: a lookup names an unknown field or operator, or has a bad value.
        """
        terms: list[Node] = []
        for child in self.children:
            if isinstance(child, Q):
                node = child.resolve(spec)
                if node is None:
                    continue
            else:
                node = _parse_one(spec, child[0], child[1])
            kind = And if self.connector == "AND" else Or
            terms.extend(node.terms if isinstance(node, kind) else (node,))  # flatten a | (b | c)
        if not terms:
            return None
        result: Node = terms[0] if len(terms) == 1 else (And if self.connector == "AND" else Or)(tuple(terms))
        if self.negated:
            return result.term if isinstance(result, Not) else Not(result)
        return result


def resolve_path(spec: ModelSpec[Any], parts: list[str], lookup: str) -> tuple[tuple[str, ...], FieldSpec | None]:
    """Resolve ``["grommet", "weight"]`` to a field path and the field at its end.

    ``pk`` names the pk field; paths continue into nested models and, untyped, into
    dicts.  Raises :class:`~persist_mixins.errors.InvalidLookup` for a name the model lacks.
    """
    from .adapters import build_adapter  # lookups are parsed after adapters exist

    fields: Mapping[str, FieldSpec] | None = spec.fields
    owner = spec.name
    found: FieldSpec | None = None
    path: list[str] = []
    for i, part in enumerate(parts):
        if fields is None:  # inside a dict or an untyped value: any key goes
            path.append(part)
            found = None
            continue
        if part == "pk" and "pk" not in fields and i == 0:
            if spec.pk_field is None:
                return ("pk",), FieldSpec("pk", "str", False)
            part = spec.pk_field
        if part not in fields:
            raise InvalidLookup(
                f"{spec.name}.filter({lookup}=...): {owner} has no field {part!r} "
                f"(fields: {', '.join(sorted(fields))}; operators: {', '.join(sorted(set(OPERATORS)))})"
            )
        found = fields[part]
        path.append(part)
        owner = f"{owner}.{part}"
        if found.kind == "model" and found.model is not None:
            fields = build_adapter(found.model).fields
        elif found.kind in ("dict", "any"):
            fields = None
        elif i < len(parts) - 1:
            raise InvalidLookup(
                f"{spec.name}.filter({lookup}=...): {parts[i + 1]!r} is not an operator "
                f"(operators: {', '.join(sorted(OPERATORS))}), and {owner} holds {found.kind} values, "
                "which have no fields"
            )
    return tuple(path), found


def _check_value(lookup: str, spec: ModelSpec[Any], kind: str, value: Any) -> Any:
    if value is None:
        return value
    accepted = _ACCEPTS.get(kind)
    if accepted is None:
        return value
    ok = isinstance(value, accepted)
    if ok and isinstance(value, bool) and kind != "bool":
        ok = False
    if ok and kind == "date" and isinstance(value, dt.datetime):
        ok = False
    if not ok:
        raise InvalidLookup(
            f"{spec.name}.filter({lookup}={value!r}): the field holds {kind} values, not {type(value).__name__}"
        )
    if kind == "uuid" and isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            raise InvalidLookup(f"{spec.name}.filter({lookup}={value!r}): not a UUID") from None
    return value


def _resolve_lookup(spec: ModelSpec[Any], lookup: str) -> tuple[tuple[str, ...], str, str, bool]:
    """``"amount_kg__gte"`` -> (path, operator, kind, is the pseudo pk); cached per model."""
    cached = spec.cache.get(("lookup", lookup))
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    parts = lookup.split("__")
    op = "eq"
    if len(parts) > 1 and parts[-1] in OPERATORS:
        op = OPERATORS[parts.pop()]
    if not all(parts):
        raise InvalidLookup(f"{spec.name}.filter({lookup}=...): malformed lookup")
    path, field = resolve_path(spec, parts, lookup)
    kind = field.kind if field is not None else "any"
    resolved = (path, op, kind, path == ("pk",) and "pk" not in spec.fields)
    if len(spec.cache) < 10_000:  # lookups on free-form dict keys must not grow it without bound
        spec.cache[("lookup", lookup)] = resolved
    return resolved


def _parse_one(spec: ModelSpec[Any], lookup: str, value: Any) -> Condition:
    path, op, kind, pseudo_pk = _resolve_lookup(spec, lookup)

    def bad(why: str) -> InvalidLookup:
        return InvalidLookup(f"{spec.name}.filter({lookup}={value!r}): {why}")

    if pseudo_pk and op not in ("eq", "ne", "in", "not_in"):
        raise bad("the pk built from __unique_together__ supports only eq, ne, in and not_in")
    if op in _ORDERED and kind in ("list", "dict", "model", "bool"):
        raise bad(f"{kind} values cannot be ordered")
    if op == "isnull":
        if not isinstance(value, bool):
            raise bad("isnull takes True or False")
    elif op in ("in", "not_in"):
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise bad(f"{op} takes a list, tuple or set of values")
        value = tuple(_check_value(lookup, spec, kind, v) for v in value)
        if pseudo_pk:
            value = tuple(str(v) for v in value)
    elif op == "range":
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable) or len(value := tuple(value)) != 2:
            raise bad("range takes a (low, high) pair")
        if value[0] is None or value[1] is None:
            raise bad("range bounds cannot be None")
        value = tuple(_check_value(lookup, spec, kind, v) for v in value)
    elif op in _TEXT:
        if kind not in ("str", "any") or not isinstance(value, str):
            raise bad(f"{op} works on text fields with a str value")
    elif op == "contains":
        if kind == "str" and not isinstance(value, str):
            raise bad("contains on a text field takes a str value")
        if kind not in ("str", "list", "any"):
            raise bad("contains works on text and list fields")
    elif op in _ORDERED:
        if value is None:
            raise bad(f"{op} cannot compare with None; use isnull")
        value = _check_value(lookup, spec, kind, value)
    elif pseudo_pk:
        value = None if value is None else str(value)
    else:
        value = _check_value(lookup, spec, kind, value)
    return Condition(path, op, value, kind)


def parse_lookups(spec: ModelSpec[Any], lookups: Mapping[str, Any]) -> tuple[Condition, ...]:
    """Parse keyword lookups into conditions.

    Args:
        spec: the model's spec.
        lookups: e.g. ``{"amount_kg__gte": 30, "flavour__in": ["vanilla"]}``.

    Returns:
        One :class:`Condition` per lookup, in the order given.

    Raises:
        InvalidLookup: an unknown field or operator, or a value the field cannot hold.
    """
    return tuple(_parse_one(spec, key, value) for key, value in lookups.items())


def value_at(spec: ModelSpec[Any], obj: Any, path: tuple[str, ...]) -> Any:
    """Read the value at a field path from a model instance (None when absent)."""
    if path == ("pk",) and "pk" not in spec.fields:
        return spec.pk_of(obj)
    value = obj
    for part in path:
        if value is None:
            return None
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            value = getattr(value, part, None)
    return value


def _contains(value: Any, wanted: Any) -> bool:
    if isinstance(value, str):
        return isinstance(wanted, str) and wanted in value
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return wanted in value
    return False


def _text(test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    return lambda value, wanted: isinstance(value, str) and test(value, wanted)


_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
    "in": lambda value, wanted: value in wanted,
    "not_in": lambda value, wanted: value not in wanted,
    "contains": _contains,
    "icontains": _text(lambda v, w: w.casefold() in v.casefold()),
    "startswith": _text(str.startswith),
    "endswith": _text(str.endswith),
    "range": lambda value, wanted: wanted[0] <= value <= wanted[1],
}


def evaluate(spec: ModelSpec[Any], cond: Condition, obj: Any) -> bool:
    """Tell whether one condition holds for a model instance.

    ``None`` satisfies only ``isnull=True``, ``eq None``, ``ne`` another value and
    ``not_in`` a list without None; it never satisfies an ordering comparison.

    Raises:
        InvalidLookup: the stored value and the lookup value cannot be compared
            (for example a naive and an aware datetime).
    """
    value = value_at(spec, obj, cond.path)
    if cond.op == "isnull":
        return (value is None) is cond.value
    if value is None and cond.op not in ("eq", "ne", "in", "not_in"):
        return False
    try:
        return bool(_TESTS[cond.op](value, cond.value))
    except TypeError as exc:
        raise InvalidLookup(
            f"{spec.name}: cannot compare stored {'__'.join(cond.path)}={value!r} with {cond.op} {cond.value!r}: {exc}"
        ) from exc


def evaluate_node(spec: ModelSpec[Any], node: Node, obj: Any) -> bool:
    """Tell whether a condition or an ``And`` / ``Or`` / ``Not`` expression holds for ``obj``.

    This is the reference every backend's native compilation agrees with: a condition is
    true or false (None never satisfies a comparison), and ``Not`` is its exact complement.
    """
    if isinstance(node, Condition):
        return evaluate(spec, node, obj)
    if isinstance(node, And):
        return all(evaluate_node(spec, t, obj) for t in node.terms)
    if isinstance(node, Or):
        return any(evaluate_node(spec, t, obj) for t in node.terms)
    return not evaluate_node(spec, node.term, obj)


def matches(spec: ModelSpec[Any], conditions: tuple[Node, ...], obj: Any) -> bool:
    """Tell whether every condition (or expression) holds for ``obj``."""
    return all(
        evaluate(spec, cond, obj) if isinstance(cond, Condition) else evaluate_node(spec, cond, obj)
        for cond in conditions
    )
