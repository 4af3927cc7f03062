"""A compiled path for Schematics models: validate + dump and load without Schematics' generic loops.

Schematics' ``validate()``, ``to_primitive()`` and ``Model(dict)`` walk a generic
import/export loop (contexts, atoms, converters, error aggregation) for every object;
for a four-field model that is 30-50 us each, more than the Redis round trip.  This
module builds, once per class, a plan of the same steps specialised to the class's
fields, for Schematics' common types and options only.

The rule that keeps it equal to Schematics: **the compiled path only ever answers with
a success it can prove Schematics would give, with the same data; for anything else it
gives up and the caller runs Schematics itself.**  Concretely:

- A class is compiled only if every field is exactly one of String, Int, Float, Decimal,
  Boolean, DateTime, Date, UUID, List, Dict or Model type (not a subclass), with no
  validator of its own (``validators=`` or a ``validate_<field>`` method on the model),
  no Serializable, no "default" role, no ``export_order``, no input name
  (``serialized_name`` / ``deserialize_from``) equal to another field's name, and the
  model does not override the methods Schematics' loops go through.
- Values are converted by the field's own ``to_native`` (what ``convert`` calls), except
  where the result is provably the value itself (``type(v) is str`` for a StringType ...)
  or, for the ISO text Schematics itself writes, provably the same datetime / date.
- Validation calls the field's own built-in validators, skipping only those that are
  no-ops for the field's options (``validate_choices`` with ``choices=None`` ...).
- Any error, any value of an unexpected type, any exception at all -> :class:`Bail`
  (or the exception itself) reaches the adapter, which then runs Schematics, which
  raises its own error with its own message.  Nothing is changed on the object until
  the compiled path has succeeded; then it is left in the state ``validate()`` leaves it
  (validated data in ``_data.valid``, ``_data.converted`` emptied, nested models replaced
  by validated copies, as Schematics does).

tests/test_schematics_compiled.py checks this against Schematics with random models and
random inputs (hypothesis).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from schematics import types as st
from schematics.common import DEFAULT, DROP, NONEMPTY, NOT_NONE
from schematics.models import Model, ModelDict
from schematics.types import compound
from schematics.undefined import Undefined

__all__ = ["Bail", "CompiledModel", "compiled"]


class Bail(Exception):
    """The compiled path cannot vouch for this object: leave it to Schematics."""


_MISSING: Any = object()
_DEFAULT, _NOT_NONE, _NONEMPTY, _DROP = int(DEFAULT), int(NOT_NONE), int(NONEMPTY), int(DROP)

#: Field types compiled (exactly these classes), and the Python type each one's ``to_native``
#: returns unchanged (``type(v) is fast`` -> v); None when every value goes through ``to_native``.
_LEAVES: dict[type, type | None] = {
    st.StringType: str,
    st.IntType: int,
    st.FloatType: float,
    st.DecimalType: decimal.Decimal,
    st.BooleanType: bool,
    st.DateTimeType: dt.datetime,
    st.DateType: dt.date,
    st.UUIDType: uuid.UUID,
}

#: Methods Schematics' validate / export / import loops call on a model: overriding one opts out.
_MODEL_METHODS = (
    "__init__", "__new__", "__getitem__", "__iter__", "__contains__", "__getattribute__", "__setattr__",
    "keys", "get", "validate", "_convert", "import_data", "export", "to_primitive", "to_native", "atoms",
)  # fmt: skip

_DT_DEFAULT_FORMAT = st.DateTimeType.SERIALIZED_FORMAT  # '%Y-%m-%dT%H:%M:%S.%f%z'


class _LevelContext:
    """What ``BaseType.get_export_level`` reads from an export context (``to_primitive()`` gives None)."""

    export_level = None


# --------------------------------------------------------------------------- leaves
#: ``YYYY-MM-DDTHH:MM:SS.ffffff`` in ASCII digits with in-range month, day, hour, minute and
#: second: what DateTimeType writes for a naive datetime.  Schematics' parser reads such text
#: as ``datetime(Y, M, D, h, m, s, f)`` (and fails where that fails: day 30 of February, year
#: 0), which is what ``datetime.fromisoformat`` does with it on every Python this supports.
_ISO_DATETIME = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}\Z"
).match
#: ``YYYY-MM-DD`` likewise: what DateType writes, read by ``strptime('%Y-%m-%d')`` as ``date(Y, M, D)``.
_ISO_DATE = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])\Z").match


def _plain_datetime(field: Any) -> bool:
    """DateTimeType with the default parser and time-zone policy: a datetime converts to itself."""
    return (
        not field.formats and field.parser is None and field.tzd == "allow"
        and not field.convert_tz and not field.drop_tzinfo
    )  # fmt: skip


def _leaf_convert(field: Any) -> tuple[type | None, Callable[[Any], Any]]:
    """``(fast, convert)``: values of type ``fast`` convert to themselves; ``convert`` does the rest.

    ``convert`` is the field's ``to_native`` (what Schematics' ``convert`` calls), with a
    shortcut for the ISO text Schematics writes for dates and naive datetimes, where the
    result is provably the one its parser gives.  Any failure raises (the caller bails).
    """
    kind = type(field)
    to_native = field.to_native
    fast = _LEAVES[kind]
    if kind is st.DateTimeType:
        if not _plain_datetime(field):
            return None, to_native
        # to_native first tries float(text), which fails on this text; a naive result passes tzd='allow'.
        parse_datetime = dt.datetime.fromisoformat

        def convert_datetime(v: Any) -> Any:
            if type(v) is str and _ISO_DATETIME(v):
                return parse_datetime(v)  # ValueError -> bail; Schematics fails on the same text
            return to_native(v)

        return fast, convert_datetime
    if kind is st.DateType:
        if field.formats != ["%Y-%m-%d"]:
            return fast, to_native
        parse_date = dt.date.fromisoformat

        def convert_date(v: Any) -> Any:
            if type(v) is str and _ISO_DATE(v):
                return parse_date(v)
            return to_native(v)

        return fast, convert_date
    return fast, to_native


def _is_noop(field: Any, name: str) -> bool:
    """True when the built-in validator ``name`` of ``field`` cannot fail for the field's options."""
    if name == "validate_choices":
        return field.choices is None
    if name == "validate_length" and isinstance(field, st.StringType):
        return field.max_length is None and field.min_length is None
    if name == "validate_regex":
        return field.regex is None
    if name == "validate_range" and isinstance(field, st.NumberType):
        return field.min_value is None and field.max_value is None
    if name == "validate_tz":
        return field.tzd == "allow" and not field.drop_tzinfo and not field.convert_tz
    if name == "check_length":
        return field.min_size is None and field.max_size is None
    return False


def _checks(field: Any) -> tuple[Callable[..., Any], ...] | None:
    """The field's validators that can fail, or None when it has validators of its own (not compiled)."""
    names = list(type(field)._validators)
    expected = [getattr(field, name) for name in names]
    if isinstance(field, compound.ListType):
        names.append("check_length")
        expected.append(field.check_length)
    if list(field.validators) != expected:
        return None
    return tuple(v for v, name in zip(expected, names, strict=True) if not _is_noop(field, name))


# --------------------------------------------------------------------------- fields
class _Field:
    """One field compiled: how to convert, validate and export its values."""

    __slots__ = ("checks", "compound", "export", "fast", "field", "level", "load", "required", "validate")

    def __init__(self, field: Any, plans: dict[type, CompiledModel]) -> None:
        self.field = field
        self.required = bool(field.required)
        self.compound = bool(field.is_compound)
        self.level = int(field.get_export_level(_LevelContext()))
        checks = _checks(field)
        if checks is None:
            raise TypeError("validators of its own")
        if field.choices is not None and not isinstance(field.choices, (list, tuple, set, frozenset)):
            raise TypeError("choices that may not be read twice")
        self.checks = checks
        kind = type(field)
        if kind in _LEAVES:
            self.fast, convert = _leaf_convert(field)
            self.load = self.validate = convert
            self.export = _leaf_export(field)
        elif kind is compound.ListType or kind is compound.DictType:
            self._collection(field, plans, kind is compound.ListType)
        elif kind is compound.ModelType:
            self._model(field, plans)
        else:
            raise TypeError(f"{kind.__name__} is not compiled")

    def _collection(self, field: Any, plans: dict[type, CompiledModel], is_list: bool) -> None:
        if not is_list and field.coerce_key is not str:
            raise TypeError("DictType with a coerce_key")
        item = _Field(field.field, plans)
        self.fast = None
        item_required, item_level, item_compound = item.required, item.level, item.compound

        def each(convert: Callable[[Any], Any], checks: tuple[Callable[..., Any], ...]) -> Callable[[Any], Any]:
            item_fast = item.fast

            def one(v: Any) -> Any:
                if v is None:  # Schematics checks `required` on items (the item field has no name)
                    if item_required:
                        raise Bail
                    return None
                if type(v) is not item_fast:
                    v = convert(v)
                for check in checks:
                    check(v, None)
                return v

            return one

        load_one, check_one = each(item.load, ()), each(item.validate, item.checks)
        export_one = item.export

        if is_list:

            def load(v: Any) -> Any:
                if type(v) is not list:
                    raise Bail
                return [load_one(x) for x in v]

            def validate(v: Any) -> Any:
                if type(v) is not list:
                    raise Bail
                return [check_one(x) for x in v]

            def export(v: Any) -> Any:
                if item_level == _DROP:
                    return []
                out = []
                for x in v:
                    if x is None:
                        raise Bail  # Schematics exports None items with the item type's to_primitive
                    shaped = x if export_one is None else export_one(x)
                    if shaped is None:
                        if item_level <= _NOT_NONE:
                            continue
                    elif item_compound and len(shaped) == 0 and item_level <= _NONEMPTY:
                        continue
                    out.append(shaped)
                return out

        else:

            def load(v: Any) -> Any:
                if type(v) is not dict:
                    raise Bail
                return {str(k): load_one(x) for k, x in v.items()}

            def validate(v: Any) -> Any:
                if type(v) is not dict:
                    raise Bail
                return {str(k): check_one(x) for k, x in v.items()}

            def export(v: Any) -> Any:
                if item_level == _DROP:
                    return {}
                out = {}
                for k, x in v.items():
                    if x is None:
                        raise Bail
                    shaped = x if export_one is None else export_one(x)
                    if shaped is None:
                        if item_level <= _NOT_NONE:
                            continue
                    elif item_compound and len(shaped) == 0 and item_level <= _NONEMPTY:
                        continue
                    out[k] = shaped
                return out

        self.load, self.validate, self.export = load, validate, export

    def _model(self, field: Any, plans: dict[type, CompiledModel]) -> None:
        nested = compiled(field.model_class, plans)
        if nested is None:
            raise TypeError("nested model not compiled")
        model_class = field.model_class
        self.fast = None

        def load(v: Any) -> Any:
            # Schematics: model_class(dict, context=context), the import context of the parent.
            if type(v) is not dict:
                raise Bail
            return nested.load(v)

        def validate(v: Any) -> Any:
            # Schematics: type(v)(v, context=context) under the validation context: a new instance
            # holding the validated data as converted data.
            if type(v) is not model_class:
                raise Bail
            return nested.instance(nested.validated(v))

        def export(v: Any) -> Any:
            if type(v) is not model_class:
                raise Bail
            return nested.export(nested.values(v))

        self.load, self.validate, self.export = load, validate, export


def _leaf_export(field: Any) -> Callable[[Any], Any] | None:
    """The field's ``to_primitive``, None when it returns the value itself (str, int, float, bool)."""
    kind = type(field)
    if kind in (st.StringType, st.IntType, st.FloatType, st.BooleanType):
        return None  # BaseType.to_primitive: the value itself
    to_primitive = field.to_primitive
    if kind is st.DateTimeType and field.serialized_format == _DT_DEFAULT_FORMAT:
        datetime = dt.datetime

        def export_datetime(v: Any) -> Any:
            # strftime('%Y-%m-%dT%H:%M:%S.%f%z') of a naive datetime from year 1000 on is its isoformat.
            if type(v) is datetime and v.tzinfo is None and v.year >= 1000:
                return v.isoformat(timespec="microseconds")
            return to_primitive(v)

        return export_datetime
    if kind is st.DateType and field.serialized_format == "%Y-%m-%d":
        date = dt.date

        def export_date(v: Any) -> Any:
            if type(v) is date and v.year >= 1000:
                return v.isoformat()
            return to_primitive(v)

        return export_date
    if kind in (st.DecimalType, st.UUIDType):
        return str  # their to_primitive: str(value)
    return to_primitive  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- models
def _model_ok(cls: Any) -> bool:
    """The model itself (not its fields) is one the compiled path reproduces."""
    schema = cls._schema
    options = schema.options
    if schema.validators or options.export_order or "default" in (options.roles or {}):
        return False
    if getattr(cls, "__new__", None) is not object.__new__:
        return False
    for name in _MODEL_METHODS:
        mine, theirs = getattr(cls, name, None), getattr(Model, name, None)
        if mine is not theirs and getattr(mine, "__func__", mine) is not getattr(theirs, "__func__", theirs):
            return False
    names = set(schema.fields)
    for name, field in schema.fields.items():
        if not isinstance(field, st.BaseType):  # Serializable
            return False
        others = {k for k in field.get_input_keys() if k and k != name}
        if others & names:
            return False
    return True


def _model_dict(converted: dict[str, Any]) -> Any:
    """``ModelDict(converted=converted)``, attribute for attribute, without ChainMap's generic ``__init__``."""
    store = _new(ModelDict)
    unsafe: dict[str, Any] = {}
    valid: dict[str, Any] = {}
    proxy = MappingProxyType(valid)
    store._unsafe = unsafe
    store._converted = converted
    store._ModelDict__valid = valid
    store._valid = proxy
    store.maps = [unsafe, converted, proxy]
    return store


_new = object.__new__


class CompiledModel:
    """The compiled plan of one Schematics model class (see the module docstring).

    :meth:`build` writes the class's functions with its fields unrolled (``load``,
    ``validated``, ``export``; :meth:`guarded` makes the adapter's from the same source);
    until it succeeds the methods of the same names give up (raise :class:`Bail`), so a
    model that refers back to this one while it is being built, or after it failed to
    build, is left to Schematics.
    """

    def __init__(self, cls: Any) -> None:
        """Start a plan; :func:`compiled` fills it (nested models may refer back to it)."""
        self.cls = cls
        self.ok = False
        #: True while :meth:`build` runs (a nested model referring back to this one gets the plan).
        self.building = False
        self.source = ""
        self._env: dict[str, Any] = {}

    def load(self, doc: Mapping[str, Any]) -> Any:
        """``cls(dict(doc), strict=False)``; raises instead of any Schematics error."""
        raise Bail

    def validated(self, obj: Any) -> dict[str, Any]:
        """What ``obj.validate()`` stores as the valid data; raises instead of any Schematics error."""
        raise Bail

    def export(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``to_primitive()`` of an instance holding ``data``."""
        raise Bail

    def values(self, obj: Any) -> Mapping[str, Any]:
        """The field values ``obj`` holds, as :meth:`export` reads them (one map: a compiled instance's)."""
        data = obj._data
        if data._unsafe or not self.ok:
            raise Bail
        converted, valid = data._converted, data._valid
        if not valid:
            return converted  # type: ignore[no-any-return]
        if not converted:
            return valid  # type: ignore[no-any-return]
        raise Bail

    def instance(self, converted: dict[str, Any]) -> Any:
        """A new instance whose converted data is ``converted`` (what ``Model.__init__`` leaves)."""
        obj = _new(self.cls)
        obj._data = _model_dict(converted)
        return obj

    def dump(self, obj: Any) -> dict[str, Any]:
        """``obj.validate(); return obj.to_primitive()``, leaving ``obj`` as ``validate()`` does."""
        data = self.validated(obj)
        doc = self.export(data)
        store = obj._data
        store.valid = data
        store.converted = {}
        return doc

    def build(self, plans: dict[type, CompiledModel]) -> None:
        """Compile every field and write the class's functions (raises TypeError when a field cannot be)."""
        env: dict[str, Any] = {
            "_M": _MISSING, "_U": Undefined, "_Bail": Bail, "_new": _new, "_cls": self.cls,
            "_ModelDict": ModelDict, "_Proxy": MappingProxyType,
            "_iso_datetime": _ISO_DATETIME, "_datetime": dt.datetime.fromisoformat,
            "_iso_date": _ISO_DATE, "_date": dt.date.fromisoformat,
        }  # fmt: skip
        load = ["def load(doc):", "    get = doc.get", "    data = {}"]
        validated = [
            "def validated(obj):",
            "    d = obj._data",
            "    if d._unsafe:",
            "        raise _Bail",
            "    c = d._converted",
            "    vd = d._valid",
            "    out = {}",
            "    seen = 0",
        ]
        export = ["def export(data):", "    get = data.get", "    doc = {}"]
        for i, (name, field) in enumerate(self.cls._schema.fields.items()):
            f = _Field(field, plans)
            if type(name) is not str or type(field.serialized_name or name) is not str:
                raise TypeError("field names and serialized names are written into the code as str literals")
            env.update({f"_fast{i}": f.fast, f"_load{i}": f.load, f"_check{i}": f.validate, f"_export{i}": f.export})
            n = repr(name)
            # Model(dict): the value, else another input name, else the default, else None; then convert.
            alt = tuple(k for k in field.get_input_keys() if k and k != name)
            env[f"_missing{i}"] = _missing(alt, field if field._default is not Undefined else None)
            load += [
                f"    v = get({n}, _M)",
                "    if v is _M:",
                f"        v = _missing{i}(doc)",
                f"    if v is not None and type(v) is not _fast{i}:",
                *_inline_iso(field, f"_load{i}"),
                f"    data[{n}] = v",
            ]
            # validate(): the value (converted data first), checked for `required`, converted, validated.
            validated += [
                f"    v = c.get({n}, _M)",
                "    if v is _M:",
                f"        v = vd.get({n}, _M)",
                "    else:",
                "        seen += 1",
                "    if v is _M:",
                "        raise _Bail" if f.required else "        pass",
                "    elif v is None:",
                *(["        raise _Bail"] if f.required else []),
                f"        out[{n}] = None",
                "    elif v is _U:",
                "        raise _Bail",
                "    else:",
                f"        if type(v) is not _fast{i}:",
                f"            v = _check{i}(v)",
            ]
            for j, check in enumerate(f.checks):
                env[f"_v{i}_{j}"] = check
                validated.append(f"        _v{i}_{j}(v, None)")
            validated.append(f"        out[{n}] = v")
            # to_primitive(): export_loop's rules for this field's export level.
            if f.level == _DROP:
                continue
            key, level = repr(field.serialized_name or name), f.level
            export += [f"    v = get({n}, _M)", "    if v is _M:"]
            export.append(f"        doc[{key}] = None" if level > _DEFAULT else "        pass")
            export.append("    elif v is None:")
            export.append(f"        doc[{key}] = None" if level > _NOT_NONE else "        pass")
            export.append("    else:")
            if f.export is None:  # the value itself, never None
                export.append(f"        doc[{key}] = v")
                continue
            export += [f"        v = _export{i}(v)", "        if v is None:"]
            export.append(f"            doc[{key}] = None" if level > _NOT_NONE else "            pass")
            if f.compound and level <= _NONEMPTY:
                export += ["        elif len(v) == 0:", "            pass"]
            export += ["        else:", f"            doc[{key}] = v"]
        load += [  # instance(data), inlined
            "    u = {}",
            "    vd = {}",
            "    p = _Proxy(vd)",
            "    store = _new(_ModelDict)",
            "    store._unsafe = u",
            "    store._converted = data",
            "    store._ModelDict__valid = vd",
            "    store._valid = p",
            "    store.maps = [u, data, p]",
            "    obj = _new(_cls)",
            "    obj._data = store",
            "    return obj",
        ]
        validated += ["    if seen != len(c):", "        raise _Bail", "    return out"]
        export.append("    return doc")
        # The adapter's entry points: the same load, and validated + export + the commit of dump, each
        # giving the object to Schematics (``_slow_load`` / ``_slow_dump``) when it gives up.
        guarded = [
            "def guarded_load(doc):",
            "    try:",
            *("    " + line for line in load[1:]),
            "    except Exception:",
            "        pass",
            "    return _slow_load(doc)",
            "",
            "def guarded_dump(obj):",
            "    if type(obj) is _cls:",
            "        try:",
            "            data = validated(obj)",
            "            doc = export(data)",
            "        except Exception:",
            "            pass",
            "        else:",
            "            store = obj._data",
            "            store.valid = data",
            "            store.converted = {}",
            "            return doc",
            "    return _slow_dump(obj)",
        ]
        self.source = "\n".join([*load, "", *validated, "", *export, "", *guarded, ""])
        self._env = env
        exec(compile(self.source, f"<compiled Schematics plan of {self.cls.__qualname__}>", "exec"), env)
        self.load, self.validated, self.export = env["load"], env["validated"], env["export"]  # type: ignore[method-assign]
        self.ok = True

    def guarded(
        self, slow_load: Callable[[Mapping[str, Any]], Any], slow_dump: Callable[[Any], dict[str, Any]]
    ) -> tuple[Callable[[Mapping[str, Any]], Any], Callable[[Any], dict[str, Any]]]:
        """``(load, dump)`` that run this plan and hand whatever it gives up on to ``slow_load`` / ``slow_dump``.

        ``dump`` takes the plan only for instances of the class itself (not of subclasses).
        """
        env = dict(self._env, _slow_load=slow_load, _slow_dump=slow_dump)
        exec(compile(self.source, f"<compiled Schematics plan of {self.cls.__qualname__}>", "exec"), env)
        return env["guarded_load"], env["guarded_dump"]


def _inline_iso(field: Any, convert: str) -> list[str]:
    """Lines converting ``v`` with ``convert``, the ISO text Schematics writes read in place (see _leaf_convert)."""
    if type(field) is st.DateTimeType and _plain_datetime(field):
        check, parse = "_iso_datetime", "_datetime"
    elif type(field) is st.DateType and field.formats == ["%Y-%m-%d"]:
        check, parse = "_iso_date", "_date"
    else:
        return [f"        v = {convert}(v)"]
    return [
        f"        if type(v) is str and {check}(v):",
        f"            v = {parse}(v)",
        "        else:",
        f"            v = {convert}(v)",
    ]


def _missing(alt: tuple[str, ...], field: Any) -> Callable[[Mapping[str, Any]], Any]:
    """The value ``Model(dict)`` takes for a field absent under its name: another input name's, else the default."""

    def missing(doc: Mapping[str, Any]) -> Any:
        for key in alt:
            if key in doc:
                return doc[key]
        if field is None:
            return None
        value = field.default  # calls a callable default, as Schematics does
        return None if value is Undefined else value

    return missing


def compiled(cls: Any, plans: dict[type, CompiledModel] | None = None) -> CompiledModel | None:
    """The compiled plan of a Schematics model class, or None when it has to stay with Schematics.

    ``plans`` holds the plans of one compilation (a model and the models it nests, which
    may refer back to one being built); nothing is kept between compilations, so classes
    made on the fly are not held alive here (the adapter of each class keeps its plan).
    """
    plans = {} if plans is None else plans
    if cls in plans:
        plan = plans[cls]
        return plan if plan.ok or plan.building else None
    plan = CompiledModel(cls)
    plans[cls] = plan
    if not _model_ok(cls):
        return None
    plan.building = True
    try:
        plan.build(plans)
    except Exception:  # noqa: BLE001 - a field type or option this module does not reproduce
        plan.ok = False
        return None
    finally:
        plan.building = False
    return plan
