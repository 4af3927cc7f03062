"""Building Redis writes: one command per object save or delete, indexed or not.

A model without ``__indexes__`` is written with a plain ``SET key json [PX ms]``,
byte for byte what redis-schematics wrote.  An indexed model is written by the
``SAVE`` Lua script, which replaces the object's index entries and value in one
atomic step.  :func:`send` and :func:`send_batch` run such commands from a plan,
loading the scripts into a server that does not know them yet.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import orjson

from ...errors import ConfigurationError, ConflictError, NotFound
from ...run import Plan
from ...spec import ModelSpec, expire_ms
from . import scripts
from .commands import Command, Pipeline, ScriptMissing
from .compile import entries, index_fields, index_keys
from .schema import (
    claims_key,
    decode,
    encode,
    entries_key,
    key_for,
    object_prefix,
    owned_key,
    schedule_key,
    sequence_key,
    tagged,
    unique_text,
)

__all__ = [
    "BATCH", "KEEP", "CheckedCommand", "Prepared", "UniqueClash", "check_distinct", "checked_write", "claim_argv",
    "claimed", "count_written", "default_argv", "delete_command", "expected_version", "expire_ms", "fill_back",
    "finish", "left_to_server", "patch_command",
    "payload", "prepare", "prepared_data", "save_command", "send", "send_batch", "send_checked", "unique_keys",
    "update_versioned", "version_key", "write_all", "write_commands", "write_unique",
]  # fmt: skip

#: Objects written per pipeline round trip.
BATCH = 1000
#: ``px`` value meaning "keep the object's current TTL".
KEEP = "KEEP"


def payload(spec: ModelSpec[Any], obj: Any, data: dict[str, Any]) -> tuple[str, bytes]:
    """An object's pk (filled now) and its JSON document, the pk field written into it as redis-schematics did."""
    pk = spec.fill_pk(obj)  # the caller ran check_pk on every object first
    field = spec.pk_field
    if field is not None and data.get(field) in (None, ""):
        value = getattr(obj, field)
        data[field] = value if isinstance(value, int) else str(value)
    return pk, encode(spec, data)


#: Objects per save-script call when writing many (the script runs atomically per call).
SCRIPT_BATCH = 100

#: What :func:`prepare` keeps of one object: its final JSON document (with its index entries, for an
#: indexed model), or (when its pk is still to be filled, which changes the document) its dumped data.
Prepared = bytes | tuple[bytes, list[tuple[int, Any, str]]] | dict[str, Any]


def prepare(spec: ModelSpec[Any], objs: Sequence[Any], check: Callable[[Any], None] | None = None) -> list[Prepared]:
    """The validation pass of a write of many objects: everything that can refuse them, before any is written.

    Each object is dumped (the model's validation), its pk rules checked, its document
    encoded (a value JSON cannot hold is refused here) and, for an indexed model, its
    index entries computed; ``check`` runs the layout's own checks.  No object is changed
    and nothing is sent.  What is kept per object is its document as a compact copy, about
    its JSON size (orjson's output carries a 4 KiB buffer, which is not kept), with its
    index entries; or its dumped data when the pk is still empty (filling it changes the
    document and the entries).  The commands are built from these, batch by batch, by
    :func:`write_commands` / :func:`write_all`.

    Raises:
        ValidationError: an object is invalid (nothing changed, nothing written).
    """
    field = spec.pk_field
    indexed = bool(spec.options.indexes)
    out: list[Prepared] = []
    for obj in objs:
        data = spec.adapter.dump(obj)
        spec.check_pk(obj)
        document = encode(spec, data)
        pk = spec.pk_of(obj) if indexed else None
        found = entries(spec, obj, pk or "") if indexed else None
        if check is not None:
            check(obj)
        if field is not None and data.get(field) in (None, ""):
            out.append(data)
        elif found is not None and pk is not None:
            out.append((memoryview(document).tobytes(), found))
        else:
            out.append(memoryview(document).tobytes())
    return out


def finish(spec: ModelSpec[Any], obj: Any, prepared: Prepared) -> tuple[str, bytes]:
    """An object's pk (filled now) and its final document, from what :func:`prepare` kept."""
    if type(prepared) is bytes:
        return spec.fill_pk(obj), prepared
    if type(prepared) is tuple:
        return spec.fill_pk(obj), prepared[0]
    return payload(spec, obj, cast("dict[str, Any]", prepared))


def write_commands(
    spec: ModelSpec[Any],
    objs: Sequence[Any],
    px: int | str | None,
    *,
    only_existing: bool = False,
    prepared: Sequence[Prepared] | None = None,
) -> list[Command]:
    """The commands that store ``objs``, every object validated (and its pk filled) first.

    Unindexed models get one ``SET`` per object; indexed models one save-script call
    per :data:`SCRIPT_BATCH` objects.  :func:`count_written` reads the replies.

    Args:
        spec: the model spec.
        objs: the objects.
        px: TTL in ms, None for no expiry, or :data:`KEEP` to keep the current TTL.
        only_existing: write only objects still stored (never recreate a deleted one).
        prepared: what :func:`prepare` returned for ``objs`` (validated already); None validates them now.
    """
    if prepared is None:
        prepared = prepare(spec, objs)
    payloads = [(obj, *finish(spec, obj, kept), kept) for obj, kept in zip(objs, prepared, strict=True)]
    if spec.options.unique:  # one checked PATCH per object: claims are made, or the write refused, on the server
        build = patch_command(spec, "XX" if only_existing else "FULL", versioned=False)
        px_text = "" if px is None else str(px)
        as_stored = _entries_as_stored
        return [
            build(pk, document, px_text, 0, as_stored(spec, obj, pk), claimed(spec, prepared_data(spec, kept)), [])
            for obj, pk, document, kept in payloads
        ]
    if not spec.options.indexes:
        tail: tuple[Any, ...] = ("XX",) if only_existing else ()
        if px == KEEP:
            tail += ("KEEPTTL",)
        elif px is not None:
            tail += ("PX", px)
        return [Command(("SET", key_for(spec, pk), document, *tail)) for _, pk, document, _ in payloads]
    shared = [schedule_key(spec), *index_keys(spec)]
    commands = []
    for start in range(0, len(payloads), SCRIPT_BATCH):
        keys = list(shared)
        argv: list[Any] = [len(shared) - 1, "XX" if only_existing else "SET"]
        for obj, pk, document, kept in payloads[start : start + SCRIPT_BATCH]:
            found = kept[1] if type(kept) is tuple else entries(spec, obj, pk)
            keys += [key_for(spec, pk), entries_key(spec, pk)]
            argv += [document, "" if px is None else px, pk, len(found)]
            for position, score, member in found:
                argv += [position + 1, score, member]
        commands.append(scripts.SAVE.evalsha(keys, argv))
    return commands


def write_all(
    spec: ModelSpec[Any], objs: Sequence[Any], px: int | str | None, *, only_existing: bool = False
) -> Plan[int]:
    """Store many objects: every one validated first (:func:`prepare`), then :data:`BATCH` per round trip.

    The commands of a batch are built just before it is sent, and what :func:`prepare` kept
    of it is dropped once it is sent, so the call holds one batch of commands at a time.

    Returns:
        How many objects the server says were written (:func:`count_written`).
    """
    if (spec.options.unique or spec.options.db_defaults) and not only_existing:
        build = patch_command(spec, "FULL", versioned=False)
        return (yield from write_unique(spec, objs, lambda _: build, "" if px is None else str(px)))
    prepared: list[Prepared | None] = list(prepare(spec, objs))
    written = 0
    for start in range(0, len(objs), BATCH):
        stop = start + BATCH
        kept = cast("list[Prepared]", prepared[start:stop])
        commands = write_commands(spec, objs[start:stop], px, only_existing=only_existing, prepared=kept)
        replies = yield from send_batch(commands)
        if spec.options.unique:  # one PATCH reply per object
            _raise_clash(spec, objs[start:stop], replies, [spec.options.unique] * len(replies))
        written += count_written(replies)
        prepared[start:stop] = [None] * len(kept)
    return written


def save_command(spec: ModelSpec[Any], obj: Any, px: int | str | None, *, only_existing: bool = False) -> Command:
    """The one command that stores ``obj`` (see :func:`write_commands`)."""
    return write_commands(spec, [obj], px, only_existing=only_existing)[0]


def count_written(replies: Sequence[Any]) -> int:
    """How many objects the replies to :func:`write_commands` say were written."""
    # SET answers True (None when XX found nothing); the save script answers a count, PATCH 1 (0: gone),
    # {1, ...} when it filled db-default fields, {-2, i} on a unique clash.
    return sum(
        r if type(r) is int else int(bool(r) and r[0] == 1) if type(r) is list else int(bool(r)) for r in replies
    )


def delete_command(spec: ModelSpec[Any], pk: str) -> Command:
    """The command that deletes one object (its index entries and unique claims too); its reply is 0 or 1."""
    key = key_for(spec, pk)
    if not tagged(spec):
        return Command(("DEL", key))
    return scripts.DELETE.evalsha([key, entries_key(spec, pk), schedule_key(spec), *unique_keys(spec)], [pk])


# -- __unique__ ----------------------------------------------------------------------------------


class UniqueClash(ConflictError):
    """A ``__unique__`` clash (a :class:`ConflictError` that a retry of a versioned write must not retry)."""


def unique_keys(spec: ModelSpec[Any], container: str | None = None) -> list[str]:
    """The claims and owned hashes of every ``__unique__`` field, in pairs (``container``: the hash layout's hash)."""
    keys: list[str] = []
    for name in spec.options.unique:
        keys += [claims_key(spec, name, container), owned_key(spec, name, container)]
    return keys


def prepared_data(spec: ModelSpec[Any], prepared: Prepared) -> dict[str, Any]:
    """The dumped values of one object from what :func:`prepare` kept of it (its document parsed back, or its data)."""
    if isinstance(prepared, dict):
        return prepared
    document = prepared[0] if type(prepared) is tuple else prepared
    return decode(spec, "", cast("bytes", document))


def claimed(spec: ModelSpec[Any], data: Mapping[str, Any], names: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """The ``__unique__`` fields a write claims (all, or those of ``names``) with their texts ('' for None)."""
    keys = spec.adapter.document_keys
    out = []
    for name in spec.options.unique:
        if names is None or name in names:
            key = keys.get(name, name)
            out.append((name, unique_text(data.get(key, data.get(name)))))
    return out


def claim_argv(spec: ModelSpec[Any], claims: Sequence[tuple[str, str]], at: int) -> list[Any]:
    """The claims part of a PATCH call: U, then (position of the field's claims hash in KEYS, text) pairs.

    The claims hashes of every unique field are in KEYS from position ``at`` (1-based), in pairs
    (:func:`unique_keys` order).
    """
    order = {name: i for i, name in enumerate(spec.options.unique)}
    argv: list[Any] = [len(claims)]
    for name, text in claims:
        argv += [at + 2 * order[name], text]
    return argv


def clash(spec: ModelSpec[Any], obj: Any, field: str) -> UniqueClash:
    """The error of a write whose ``field`` value another stored object holds."""
    return UniqueClash(
        f"{spec.name}.{field} = {getattr(obj, field, None)!r} is already stored on another {spec.name} (__unique__)"
    )


def _raise_clash(
    spec: ModelSpec[Any], objs: Sequence[Any], replies: Sequence[Any], fields: Sequence[Sequence[str]]
) -> None:
    """Raise the clash of the first PATCH reply that says one (``{-2, i}``: the i-th claimed field of its object)."""
    for obj, reply, names in zip(objs, replies, fields, strict=True):
        if type(reply) is list and reply and reply[0] == -2:
            raise clash(spec, obj, names[int(reply[1])])


def check_distinct(spec: ModelSpec[Any], objs: Sequence[Any], claims: Sequence[Sequence[tuple[str, str]]]) -> None:
    """Refuse, before any I/O, objects of one call that would claim one ``__unique__`` value twice.

    ``claims``: what each object claims (:func:`claimed`).  Objects with the same pk are one
    stored object (the last one written wins), never a clash.
    """
    seen: dict[tuple[str, str], Any] = {}
    for obj, made in zip(objs, claims, strict=True):
        for name, text in made:
            if not text:
                continue
            other = seen.setdefault((name, text), obj)
            pk = spec.pk_of(obj)
            if other is not obj and (pk is None or spec.pk_of(other) != pk):
                raise UniqueClash(
                    f"{spec.name}.{name} = {getattr(obj, name, None)!r} is given twice in one call "
                    f"(__unique__); nothing was written"
                )


def write_unique(
    spec: ModelSpec[Any],
    objs: Sequence[Any],
    build: Callable[[Any], CheckedCommand],
    px: str,
    only: tuple[str, ...] | None = None,
) -> Plan[int]:
    """Write objects of a ``__unique__`` model: one checked script call (PATCH) each, :data:`BATCH` per pipeline.

    Every object is validated, and the values of the call checked distinct, before the first
    write (ConflictError then, nothing written).  Each write checks and moves its claims on
    the server, on its own: a clash is raised once its batch is sent, the objects of earlier
    batches and the other objects of its batch being written.

    Args:
        spec: the model.
        objs: the objects.
        build: the layout's script call for one object (``FULL`` for whole objects, ``ONLY`` with ``only``).
        px: the TTL text ('' = none, :data:`KEEP`, or ms).
        only: the fields a query ``update()`` writes (objects gone meanwhile are skipped); None: whole objects.

    Returns:
        How many objects were written.
    """
    _default_kinds(spec)  # a field Redis cannot fill: ConfigurationError before anything else
    prepared: list[Prepared | None] = list(prepare(spec, objs))
    claims = [claimed(spec, prepared_data(spec, cast("Prepared", kept)), only) for kept in prepared]
    check_distinct(spec, objs, claims)
    names = [name for name in spec.options.unique if only is None or name in only]
    written = 0
    for start in range(0, len(objs), BATCH):
        items = []
        for at in range(start, min(start + BATCH, len(objs))):
            obj, kept = objs[at], cast("Prepared", prepared[at])
            if only is None:
                pk, document = finish(spec, obj, kept)
                fill = left_to_server(spec, obj, None) if spec.options.db_defaults else []
            else:
                pk = str(spec.pk_of(obj))
                data = prepared_data(spec, kept)
                document = encode(spec, {name: data.get(name) for name in only})
                fill = []  # a query update() writes its values as given
            argv = _owned_entries(spec, obj, pk, only, expected_version(spec, obj)) if tagged(spec) else []
            items.append((obj, build(obj)(pk, document, px, 0, argv, claims[at], fill), names))
            prepared[at] = None
        written += yield from send_checked(spec, items)
    return written


def send_checked(spec: ModelSpec[Any], items: Sequence[tuple[Any, Command, Sequence[str]]]) -> Plan[int]:
    """Send checked writes (PATCH calls), :data:`BATCH` per pipeline; raise the first clash once its batch is sent.

    ``items``: (object, command, the unique fields it claims, in order).  Each write is atomic on its
    own: in a batch holding a clash, the other objects are written.

    Returns:
        How many objects were written (a 0 reply, an object gone, is not counted).
    """
    written = 0
    for start in range(0, len(items), BATCH):
        part = items[start : start + BATCH]
        replies = yield from send_batch([command for _, command, _ in part])
        _raise_clash(spec, [obj for obj, _, _ in part], replies, [names for _, _, names in part])
        if spec.options.db_defaults:
            for (obj, _, _), reply in zip(part, replies, strict=True):
                fill_back(spec, obj, reply)
        written += count_written(replies)
    return written


def send(command: Command) -> Plan[Any]:
    """Send one command; an EVALSHA the server does not know is resent as EVAL (which caches it)."""
    try:
        return (yield command)
    except ScriptMissing:
        if command.args[0] != "EVALSHA":
            raise
    script = scripts.BY_SHA[command.args[1]]
    return (yield Command(("EVAL", script.source, *command.args[2:])))


#: How often a pipeline is resent after loading its scripts, when the server keeps losing them.
_SCRIPT_RELOADS = 3


def send_batch(commands: Sequence[Command], transaction: bool = False) -> Plan[list[Any]]:
    """Send commands in one pipeline; on NOSCRIPT, load the scripts and send it again.

    Retrying is safe: when the server lacks a script, none of its EVALSHA calls ran.
    """
    pipeline = Pipeline(tuple(commands), transaction)
    for _ in range(_SCRIPT_RELOADS):
        try:
            return (yield pipeline)  # type: ignore[no-any-return]
        except ScriptMissing:  # flushed (a restart, SCRIPT FLUSH), maybe again between our load and resend
            for sha in {c.args[1] for c in commands if c.args[0] == "EVALSHA"}:
                yield scripts.BY_SHA[sha].load()
    return (yield pipeline)  # type: ignore[no-any-return]


def version_key(spec: ModelSpec[Any]) -> str:
    """The raw JSON text of the version field's key in a document, ``""`` when the model is not versioned."""
    field = spec.options.version_field
    return orjson.dumps(field).decode() if field is not None else ""


def expected_version(spec: ModelSpec[Any], obj: Any) -> int:
    """The version an object was read at (None counts as 0: never stored); 0 when not versioned."""
    field = spec.options.version_field
    version = getattr(obj, field, None) if field is not None else None
    return int(version) if version is not None else 0


#: Builds a layout's checked-write script call from (pk, document, px text, expected version, index argv,
#: unique claims as (field, text) pairs, the ``__db_defaults__`` fields the server fills as (field, kind)
#: pairs, see :func:`left_to_server`).
CheckedCommand = Callable[[str, bytes, str, int, list[Any], list[tuple[str, str]], list[tuple[str, str]]], Command]

#: What fills a ``__db_defaults__`` field, by its kind: the server's time, or the next number of a counter.
_FILLED_BY = {"datetime": "time", "int": "seq"}


def _default_kinds(spec: ModelSpec[Any]) -> dict[str, str]:
    """Each ``__db_defaults__`` field with what fills it ('time' | 'seq'), checked once per model.

    Raises:
        ConfigurationError: a field is neither a datetime nor an int (Redis has no other server default).
    """
    found: dict[str, str] | None = spec.cache.get(_default_kinds)
    if found is None:
        found = {}
        for name in spec.options.db_defaults:
            kind = spec.fields[name].kind
            if kind not in _FILLED_BY:
                raise ConfigurationError(
                    f"{spec.name}.__db_defaults__ names {name!r}, a {kind} field: on Redis only datetime fields "
                    "(the server's time) and int fields (a per-field counter, INCR) are filled by the database"
                )
            found[name] = _FILLED_BY[kind]
        spec.cache[_default_kinds] = found
    return found


def left_to_server(spec: ModelSpec[Any], obj: Any, only: Sequence[str] | None) -> list[tuple[str, str]]:
    """The ``__db_defaults__`` fields of ``obj`` the server fills on this write, with what fills them.

    Those that are None (of ``only``, for a partial write).  Raises ConfigurationError for a
    field Redis cannot fill (see :func:`_default_kinds`), before anything is written.
    """
    kinds = _default_kinds(spec)
    return [
        (name, kind)
        for name, kind in kinds.items()
        if (only is None or name in only) and getattr(obj, name, None) is None
    ]


def default_argv(spec: ModelSpec[Any], fill: Sequence[tuple[str, str]], at: int) -> tuple[list[Any], list[str]]:
    """The ``__db_defaults__`` part of a checked-write call, and the counter keys it names.

    ARGV: D, then per field (name, raw JSON key text, kind, position in KEYS of its counter or 0);
    the counters go in KEYS from position ``at`` (1-based), in order.
    """
    keys = spec.adapter.document_keys
    argv: list[Any] = [len(fill)]
    counters: list[str] = []
    for name, kind in fill:
        position = 0
        if kind == "seq":
            counters.append(sequence_key(spec, name))
            position = at + len(counters) - 1
        argv += [name, orjson.dumps(keys.get(name, name)).decode(), kind, position]
    return argv, counters


def fill_back(spec: ModelSpec[Any], obj: Any, reply: Any, data: dict[str, Any] | None = None) -> None:
    """Put the values the server chose for ``__db_defaults__`` fields (a ``{1, name, raw, ...}`` reply) into ``obj``.

    The values are read as a stored document is: the object's dumped data (``data``, or dumped
    now) with them put in, loaded by the model.
    """
    if type(reply) is not list or len(reply) < 3 or reply[0] != 1:
        return
    if data is None:
        data = spec.adapter.dump(obj)
    keys = spec.adapter.document_keys
    names = []
    for at in range(1, len(reply) - 1, 2):
        name = reply[at].decode() if isinstance(reply[at], bytes) else str(reply[at])
        data[keys.get(name, name)] = orjson.loads(reply[at + 1])
        names.append(name)
    loaded = spec.adapter.load(data)
    for name in names:
        spec.adapter.set_field(obj, name, getattr(loaded, name))


def checked_write(
    spec: ModelSpec[Any], obj: Any, only: tuple[str, ...] | None, px: int | str | None, command: CheckedCommand
) -> Plan[Any]:
    """A write the server checks (the ``PATCH`` scripts): ``set(only=...)``, or ``set()`` of a versioned model.

    The whole object is validated first (and its pk filled, for a whole write).  With
    ``only``, the document sent holds just those fields (and the next version), which the
    script merges into the stored document, raw values untouched: NotFound when there is
    none.  A versioned model's document carries the next version, and the script refuses
    it (ConflictError) when the stored version is not the object's.

    Args:
        spec: the model.
        obj: the object.
        only: the fields of a partial write (checked by the facade), or None for the whole object.
        px: the TTL to write (None: none, :data:`KEEP`, or ms).
        command: builds the layout's script call.
    """
    _default_kinds(spec)  # a field Redis cannot fill: ConfigurationError before the pk is filled
    field = spec.options.version_field
    expected = expected_version(spec, obj)
    data = spec.adapter.dump(obj)  # validates: ValidationError before any write
    spec.check_pk(obj)
    if field is not None:
        data[field] = expected + 1
    if only is None:
        pk, document = payload(spec, obj, data)
    else:
        pk = spec.pk_of(obj) or ""
        if not pk:
            raise NotFound(f"{spec.name} object has no pk: it was never saved")
        names = (*only, field) if field is not None else only
        document = encode(spec, {name: data.get(name) for name in names})
    argv: list[Any] = []
    if tagged(spec):
        argv = _owned_entries(spec, obj, pk, only, expected + 1)
    claims = claimed(spec, data, only)
    fill = left_to_server(spec, obj, only) if spec.options.db_defaults else []
    reply = yield from send(command(pk, document, "" if px is None else str(px), expected, argv, claims, fill))
    _raise_clash(spec, [obj], [reply], [[name for name, _ in claims]])
    if reply == -1:
        raise ConflictError(
            f"{spec.name} {pk!r}: the stored object changed since this object was read "
            f"(its {field} is no longer {getattr(obj, field or '', None)!r}); refresh() and retry"
        )
    if reply == 0:
        raise NotFound(f"{spec.name} with pk {pk!r} not found (deleted or expired): set(only=...) writes nothing")
    if field is not None:
        spec.adapter.set_field(obj, field, expected + 1)
    if fill:
        fill_back(spec, obj, reply, data)
    return obj


def _owned_entries(spec: ModelSpec[Any], obj: Any, pk: str, only: tuple[str, ...] | None, version: int) -> list[Any]:
    """The index part of a ``PATCH`` call: the index key positions the write owns, then its entries there."""
    field = spec.options.version_field
    names = set(only) if only is not None else set(spec.fields)
    if field is not None:
        names.add(field)
    owned = [p for i, f in enumerate(index_fields(spec)) if f.name in names for p in (2 * i, 2 * i + 1)]
    if not spec.options.indexes:
        return [0]
    indexed_version = field is not None and field in spec.options.indexes
    if indexed_version:  # the entries must show the version the write stores
        before = getattr(obj, field or "")
        spec.adapter.set_field(obj, field or "", version)
    try:
        found = [entry for entry in entries(spec, obj, pk) if entry[0] in owned]
    finally:
        if indexed_version:
            spec.adapter.set_field(obj, field or "", before)
    argv: list[Any] = [len(owned), *owned]
    for position, score, member in found:
        argv += [position, score, member]
    return argv


def _entries_as_stored(spec: ModelSpec[Any], obj: Any, pk: str) -> list[Any]:
    """The index part of a whole-document ``PATCH`` call that writes the object's version as it is."""
    return _owned_entries(spec, obj, pk, None, expected_version(spec, obj))


def patch_command(spec: ModelSpec[Any], mode: str, *, versioned: bool = True) -> CheckedCommand:
    """The JSON layout's ``PATCH`` call for :func:`checked_write` (``mode``: ``FULL``, ``XX`` or ``ONLY``).

    ``versioned=False``: the stored version is not compared (a write of the document as it is, say by ``reindex()``).
    """
    vkey = version_key(spec) if versioned else ""
    start = object_prefix(spec)

    def build(
        pk: str,
        document: bytes,
        px: str,
        expected: int,
        argv: list[Any],
        claims: list[tuple[str, str]],
        fill: list[tuple[str, str]],
    ) -> Command:
        keys: list[Any] = [key_for(spec, pk)]
        if tagged(spec):
            keys += [entries_key(spec, pk), schedule_key(spec), *index_keys(spec)]
        unique = claim_argv(spec, claims, len(keys) + 1)
        keys += unique_keys(spec)
        defaults, counters = default_argv(spec, fill, len(keys) + 1)
        keys += counters
        return scripts.PATCH.evalsha(keys, [mode, document, px, pk, vkey, expected, start, *unique, *defaults, *argv])

    return build


#: How often a query ``update()`` re-reads and retries one versioned object that other writers keep changing.
UPDATE_RETRIES = 10


def update_versioned(
    spec: ModelSpec[Any],
    objs: list[Any],
    values: Mapping[str, Any],
    px: int | str | None,
    still_matches: Callable[[Any], bool],
    fetch: Callable[[ModelSpec[Any], Any], Plan[Any]],
    command: Callable[[Any], CheckedCommand],
) -> Plan[int]:
    """Query ``update(**values)`` of a versioned model: each match written by :func:`checked_write` (``only``).

    Every object is validated first.  Each write checks and counts the version on the
    server; an object another writer changed since the query read it is read again and,
    if it still matches, written again (up to :data:`UPDATE_RETRIES` times); one deleted
    or expired meanwhile, or no longer matching, is skipped.  One round trip per object.

    Returns:
        How many objects were written.
    """
    fields = tuple(values)

    def apply(obj: Any) -> None:
        for name, value in values.items():
            spec.adapter.set_field(obj, name, value)

    for obj in objs:
        apply(obj)
    prepare(spec, objs)  # ValidationError before the first write
    if spec.options.unique:  # one value given to several objects: ConflictError before the first write
        check_distinct(spec, objs, [claimed(spec, spec.adapter.dump(obj), fields) for obj in objs])
    written = 0
    for obj in objs:
        current = obj
        for _ in range(UPDATE_RETRIES):
            try:
                yield from checked_write(spec, current, fields, px, command(current))
            except NotFound:
                break
            except UniqueClash:
                raise
            except ConflictError:
                current = yield from fetch(spec, spec.pk_of(current))
                if current is None or not still_matches(current):
                    break
                apply(current)
                continue
            written += 1
            break
        else:
            raise ConflictError(
                f"{spec.name}.update(): {spec.pk_of(obj)!r} changed under it {UPDATE_RETRIES} times in a row; retry"
            )
    return written
