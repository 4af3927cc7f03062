"""Redis plans (``persist_mixins.backends.redis.plans``) driven by scripted replies: no Redis server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Generator
from types import ModuleType
from typing import Any

import pydantic
import pytest
from schematics import models, types

from persist_mixins import ConflictError, InvalidLookup, MultipleFound, NotFound, SimpleRedisMixin, ValidationError
from persist_mixins.backends.redis import plans, writes
from persist_mixins.backends.redis.plans import Command, Pipeline
from persist_mixins.backends.redis.queries import fetch
from persist_mixins.binding import spec_of
from persist_mixins.query import QueryState
from persist_mixins.run import iter_sync, run_sync
from persist_mixins.spec import ModelSpec

from .models import Scoop  # pk built from two fields
from .scripted import Script, through


@dataclasses.dataclass
class IceCream(SimpleRedisMixin):
    id: str | None = None
    flavour: str | None = None
    amount_kg: int | None = 0


@dataclasses.dataclass
class Sorbet(SimpleRedisMixin):
    __expire__ = 2.5

    id: str | None = None
    amount_kg: int = 0


@dataclasses.dataclass
class Globbed(SimpleRedisMixin):
    __key_prefix__ = "a*b"

    id: str | None = None


@dataclasses.dataclass
class Cone(SimpleRedisMixin):
    """A model whose pk field is ``pk``: an ``id`` lookup only hints at the pk."""

    pk: str | None = None
    id: str | None = None
    size: int = 0


@dataclasses.dataclass
class Tub(SimpleRedisMixin):
    """A model with an int pk."""

    id: int | None = None
    litres: int = 0


class PydanticIceCream(SimpleRedisMixin, pydantic.BaseModel):
    id: str | None = None
    amount_kg: int = 0


class SchematicsIceCream(models.Model, SimpleRedisMixin):
    id = types.StringType()
    amount_kg = types.IntType(required=True)


SPEC = spec_of(IceCream)


def text(key: bytes | str) -> str:
    """A key as text, whether Redis listed it as bytes or a plan named it as str."""
    return key.decode() if isinstance(key, bytes) else key


class FakeRedis:
    """A fake Redis for query plans, answering from scripted SCAN pages and stored values.

    ``pages`` maps a SCAN cursor to ``(next cursor, keys)``, by default one page listing
    every stored key.  A key listed but absent from ``store`` reads as None, like a key
    that expired between SCAN and MGET.  ``replies`` scripts the replies of one command
    name (``{"DEL": [2, 0]}``), taken in order before the default behaviour.
    Every command and pipeline sent is recorded in ``sent``.
    """

    def __init__(
        self,
        store: dict[str, bytes],
        pages: dict[int, tuple[Any, list[bytes]]] | None = None,
        replies: dict[str, list[Any]] | None = None,
    ) -> None:
        self.store = dict(store)
        self.pages = pages if pages is not None else {0: (b"0", [k.encode() for k in store])}
        self.replies = replies or {}
        self.sent: list[Any] = []

    def execute(self, command: Any) -> Any:
        self.sent.append(command)
        if isinstance(command, Pipeline):
            return [self._answer(c) for c in command.commands]
        return self._answer(command)

    def _answer(self, command: Command) -> Any:
        name, *args = command.args
        if self.replies.get(name):
            return self.replies[name].pop(0)
        if name == "SCAN":
            return self.pages[int(args[0])]
        if name == "GET":
            return self.store.get(text(args[0]))
        if name == "MGET":
            return [self.store.get(text(k)) for k in args]
        if name == "DEL":
            return sum(self.store.pop(text(k), None) is not None for k in args)
        if name == "SET":
            if "XX" in args and text(args[0]) not in self.store:
                return None
            self.store[text(args[0])] = args[1]
            return True
        raise AssertionError(f"FakeRedis does not answer {command!r}")

    def named(self, name: str) -> list[Command]:
        """The commands of this name sent so far, pipelined ones included."""
        flat: list[Command] = []
        for item in self.sent:
            flat.extend(item.commands if isinstance(item, Pipeline) else [item])
        return [c for c in flat if c.args[0] == name]

    def names(self) -> list[str]:
        """The names of every command sent, pipelined ones included, in order."""
        flat: list[Command] = []
        for item in self.sent:
            flat.extend(item.commands if isinstance(item, Pipeline) else [item])
        return [c.args[0] for c in flat]


def doc(pk: str, flavour: str | None = None, amount_kg: int | None = 0) -> bytes:
    """The JSON an IceCream is stored as."""
    return json.dumps({"id": pk, "flavour": flavour, "amount_kg": amount_kg}).encode()


def store(*docs: tuple[str, str | None, int | None]) -> dict[str, bytes]:
    """A store of IceCreams, keyed as Redis holds them."""
    return {f"IceCream:{pk}": doc(pk, flavour, amount) for pk, flavour, amount in docs}


def key(pk: str) -> bytes:
    """An IceCream key as SCAN lists it (bytes, as redis-py returns without decode_responses)."""
    return f"IceCream:{pk}".encode()


def state(spec: ModelSpec = SPEC, **lookups: Any) -> QueryState:
    """A query state with these lookups."""
    return QueryState().where(spec, lookups)


def first_command(plan: Generator[Any, Any, Any]) -> Any:
    """Step a plan once and return the first command it yields."""
    return next(plan)


def select(fake: FakeRedis, query: QueryState, spec: ModelSpec = SPEC) -> list[str | None]:
    """The ids a query streams from the fake Redis."""
    return [obj.id for _, obj in iter_sync(through(fake.execute), plans.select_pairs(spec, query))]


def home(plan: Any) -> ModuleType:
    """The module a plan function is defined in (where its batch size lives)."""
    return sys.modules[plan.__module__]


# -- save / set_many -------------------------------------------------------------------


def test_save_yields_one_set_with_the_json_document() -> None:
    """save() writes the object as one JSON string at {prefix}:{pk} with a single SET."""
    cmd = first_command(plans.save(SPEC, IceCream("vanilla", "Sweet", 42)))
    assert isinstance(cmd, Command)
    assert cmd.args[:2] == ("SET", "IceCream:vanilla")
    assert len(cmd.args) == 3
    assert isinstance(cmd.args[2], bytes)
    assert json.loads(cmd.args[2]) == {"id": "vanilla", "flavour": "Sweet", "amount_kg": 42}


def test_save_returns_the_object_itself_after_one_round_trip() -> None:
    """Run to completion, save() sends exactly one command and returns the very object saved."""
    obj = IceCream("vanilla")
    driver = Script(True)
    assert run_sync(driver.route, plans.save(SPEC, obj)) is obj
    assert len(driver.sent) == 1


def test_save_uses_custom_key_prefix() -> None:
    """__key_prefix__ replaces the class name in the key."""
    cmd = first_command(plans.save(spec_of(Globbed), Globbed("x")))
    assert cmd.args[1] == "a*b:x"


def test_save_with_class_expire_adds_px_in_milliseconds() -> None:
    """__expire__ = 2.5 writes the TTL in the same SET as PX 2500."""
    cmd = first_command(plans.save(spec_of(Sorbet), Sorbet("lemon", 3)))
    assert cmd.args[:2] == ("SET", "Sorbet:lemon")
    assert cmd.args[3:] == ("PX", 2500)
    assert json.loads(cmd.args[2]) == {"id": "lemon", "amount_kg": 3}


def test_save_with_timedelta_expire() -> None:
    """An expire given as a timedelta is written as PX milliseconds, sub-second part kept."""
    cmd = first_command(plans.save(SPEC, IceCream("vanilla"), expire=dt.timedelta(seconds=2.5)))
    assert cmd.args[3:] == ("PX", 2500)


def test_save_expire_argument_overrides_class_expire() -> None:
    """expire= given to save() wins over __expire__."""
    cmd = first_command(plans.save(spec_of(Sorbet), Sorbet("lemon"), expire=10))
    assert cmd.args[3:] == ("PX", 10_000)


@pytest.mark.parametrize("bad", [0, -1, "10", float("nan")])
def test_save_with_invalid_expire_raises_validation_error_and_writes_nothing(bad: Any) -> None:
    """A non-positive or non-numeric expire= is refused before any command is sent."""
    with pytest.raises(ValidationError):
        first_command(plans.save(SPEC, IceCream("vanilla"), expire=bad))


def test_save_without_pk_generates_uuid4_hex() -> None:
    """An object with no pk gets a fresh uuid4 hex, stored in its id field and in the key."""
    obj = IceCream(None, "mint")
    cmd = first_command(plans.save(SPEC, obj))
    assert isinstance(obj.id, str)
    assert len(obj.id) == 32
    assert int(obj.id, 16) >= 0
    assert cmd.args[1] == f"IceCream:{obj.id}"
    assert json.loads(cmd.args[2])["id"] == obj.id


def test_save_two_pkless_objects_get_different_keys() -> None:
    """Two objects saved without a pk never overwrite each other."""
    first = first_command(plans.save(SPEC, IceCream(None)))
    second = first_command(plans.save(SPEC, IceCream(None)))
    assert first.args[1] != second.args[1]


def test_save_invalid_data_raises_validation_error_and_yields_nothing() -> None:
    """Invalid data raises ValidationError before the plan yields any command."""
    plan = plans.save(SPEC, IceCream("vanilla", amount_kg="lots"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="amount_kg"):
        next(plan)


def test_save_pydantic_and_schematics_models_store_their_json_with_generated_pk() -> None:
    """save() of pk-less pydantic and Schematics objects fills the pk and stores the model's JSON."""
    for obj in (PydanticIceCream(amount_kg=3), SchematicsIceCream({"amount_kg": 3})):
        cmd = first_command(plans.save(spec_of(type(obj)), obj))
        assert len(obj.id) == 32
        assert cmd.args[:2] == ("SET", f"{type(obj).__name__}:{obj.id}")
        assert json.loads(cmd.args[2]) == {"id": obj.id, "amount_kg": 3}


def test_save_invalid_pydantic_and_schematics_objects_yield_nothing() -> None:
    """pydantic and Schematics objects that fail their model's validation raise ValidationError before any command."""
    mutated = PydanticIceCream(id="a")
    mutated.amount_kg = "lots"  # type: ignore[assignment]  # pydantic does not validate assignment by default
    for obj in (mutated, SchematicsIceCream({"id": "a"})):
        with pytest.raises(ValidationError):
            next(plans.save(spec_of(type(obj)), obj))


def test_save_invalid_data_does_not_call_the_driver() -> None:
    """Run with a driver, a save of invalid data never reaches it."""
    driver = Script()
    with pytest.raises(ValidationError):
        run_sync(driver.route, plans.save(SPEC, IceCream(None, flavour=5)))  # type: ignore[arg-type]
    assert driver.sent == []


def test_set_many_pipelines_one_set_per_object() -> None:
    """set_many() writes every object in one pipelined round trip and returns them."""
    objs = [IceCream("a", amount_kg=1), IceCream("b", amount_kg=2)]
    driver = Script([True, True])
    assert run_sync(driver.route, plans.save_many(SPEC, objs)) == objs
    assert len(driver.sent) == 1
    (pipe,) = driver.sent
    assert isinstance(pipe, Pipeline)
    assert [c.args[:2] for c in pipe.commands] == [("SET", "IceCream:a"), ("SET", "IceCream:b")]
    assert [json.loads(c.args[2])["amount_kg"] for c in pipe.commands] == [1, 2]


def test_set_many_applies_expire_to_every_object() -> None:
    """set_many(expire=...) writes the TTL with each SET."""
    pipe = first_command(plans.save_many(SPEC, [IceCream("a"), IceCream("b")], expire=1.5))
    assert [c.args[3:] for c in pipe.commands] == [("PX", 1500), ("PX", 1500)]


def test_set_many_validates_every_object_before_the_first_pipeline() -> None:
    """One invalid object among many raises ValidationError before any pipeline is sent."""
    objs = [IceCream("a"), IceCream("b"), IceCream("c", amount_kg="x")]  # type: ignore[arg-type]
    driver = Script()
    with pytest.raises(ValidationError):
        run_sync(driver.route, plans.save_many(SPEC, objs))
    assert driver.sent == []


def test_set_many_rejects_objects_of_another_model() -> None:
    """set_many() refuses an object that is not an instance of the model, writing nothing."""
    with pytest.raises(ValidationError, match="Sorbet"):
        next(plans.save_many(SPEC, [IceCream("a"), Sorbet("b")]))


def test_set_many_splits_large_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond the batch size, set_many() sends several pipelines covering every object once."""
    monkeypatch.setattr(writes, "BATCH", 2)
    objs = [IceCream(str(i)) for i in range(5)]
    driver = Script([True] * 2, [True] * 2, [True])
    run_sync(driver.route, plans.save_many(SPEC, objs))
    assert [len(p.commands) for p in driver.sent] == [2, 2, 1]
    assert [c.args[1] for p in driver.sent for c in p.commands] == [f"IceCream:{i}" for i in range(5)]


def test_set_many_builds_each_batch_after_the_previous_one_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every object is validated first, but a batch's commands (and generated pks) come only once the
    previous batch is answered: set_many() holds one batch of commands at a time."""
    monkeypatch.setattr(writes, "BATCH", 2)
    objs = [IceCream(None, amount_kg=i) for i in range(5)]
    plan = plans.save_many(SPEC, objs)
    first = next(plan)
    assert [len(first.commands)] == [2]
    assert [o.id is None for o in objs] == [False, False, True, True, True]
    second = plan.send([True, True])
    assert [o.id is None for o in objs] == [False, False, False, False, True]
    assert [c.args[1] for c in second.commands] == [f"IceCream:{o.id}" for o in objs[2:4]]
    third = plan.send([True, True])
    assert [json.loads(c.args[2])["id"] for c in third.commands] == [objs[4].id]
    with pytest.raises(StopIteration):
        plan.send([True])


def test_set_many_validates_values_the_json_encoding_refuses_before_the_first_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A value JSON cannot hold in the last batch raises before the first batch is sent, naming its field."""
    monkeypatch.setattr(writes, "BATCH", 2)

    @dataclasses.dataclass
    class Loose(SimpleRedisMixin):
        id: str | None = None
        anything: Any = None

    objs = [Loose(str(i)) for i in range(4)] + [Loose("bad", anything=object())]
    driver = Script()
    with pytest.raises(ValidationError, match=r"Loose\.anything"):
        run_sync(driver.route, plans.save_many(spec_of(Loose), objs))
    assert driver.sent == []


# -- single-object reads and writes ----------------------------------------------------


def test_match_for_pk_reads_one_key() -> None:
    """match_for_pk() sends one GET for the key and decodes the stored JSON."""
    driver = Script(doc("vanilla", "Sweet", 42))
    obj = run_sync(driver.route, plans.match_for_pk(SPEC, "vanilla"))
    assert obj == IceCream("vanilla", "Sweet", 42)
    assert driver.sent == [Command(("GET", "IceCream:vanilla"))]


def test_match_for_pk_missing_raises_not_found() -> None:
    """A GET reply of None (absent or expired) raises NotFound, which is also a KeyError."""
    with pytest.raises(NotFound) as info:
        run_sync(through(Script(None).execute), plans.match_for_pk(SPEC, "vanilla"))
    assert isinstance(info.value, KeyError)


def test_refresh_reloads_fields_in_place() -> None:
    """refresh() overwrites the object's fields with the stored ones and returns the same object."""
    obj = IceCream("vanilla", "old", 1)
    assert run_sync(through(Script(doc("vanilla", "new", 2)).execute), plans.refresh(SPEC, obj)) is obj
    assert (obj.flavour, obj.amount_kg) == ("new", 2)


def test_refresh_unsaved_object_raises_not_found_without_io() -> None:
    """refresh() of an object without a pk raises NotFound and sends nothing."""
    driver = Script()
    with pytest.raises(NotFound):
        run_sync(driver.route, plans.refresh(SPEC, IceCream(None)))
    assert driver.sent == []


@pytest.mark.parametrize(("reply", "expected"), [(1, True), (0, False)])
def test_delete_reports_whether_a_key_was_removed(reply: int, expected: bool) -> None:
    """delete() sends DEL for the object's key and returns True only when Redis removed it."""
    driver = Script(reply)
    assert run_sync(driver.route, plans.delete(SPEC, IceCream("vanilla"))) is expected
    assert driver.sent == [Command(("DEL", "IceCream:vanilla"))]


def test_delete_unsaved_object_is_false_without_io() -> None:
    """delete() of an object without a pk returns False and sends nothing."""
    driver = Script()
    assert run_sync(driver.route, plans.delete(SPEC, IceCream(None))) is False
    assert driver.sent == []


def test_expire_sends_pexpire_in_milliseconds() -> None:
    """expire(seconds) sends PEXPIRE with milliseconds and reports whether the key existed."""
    driver = Script(1, 0)
    assert run_sync(driver.route, plans.expire(SPEC, IceCream("vanilla"), 1.25)) is True
    assert run_sync(driver.route, plans.expire(SPEC, IceCream("vanilla"), dt.timedelta(minutes=1))) is False
    assert driver.sent == [
        Command(("PEXPIRE", "IceCream:vanilla", 1250)),
        Command(("PEXPIRE", "IceCream:vanilla", 60_000)),
    ]


def test_expire_none_raises_validation_error() -> None:
    """expire(None) is refused: it needs seconds or a timedelta."""
    with pytest.raises(ValidationError):
        next(plans.expire(SPEC, IceCream("vanilla"), None))


def test_persist_sends_persist() -> None:
    """persist() sends PERSIST for the key and reports whether a TTL was dropped."""
    driver = Script(1)
    assert run_sync(driver.route, plans.persist(SPEC, IceCream("vanilla"))) is True
    assert driver.sent == [Command(("PERSIST", "IceCream:vanilla"))]


def test_ttl_reads_pttl_and_returns_seconds() -> None:
    """ttl() sends PTTL and turns 1500 ms into 1.5 seconds."""
    driver = Script(1500)
    assert run_sync(driver.route, plans.ttl(SPEC, IceCream("vanilla"))) == 1.5
    assert driver.sent == [Command(("PTTL", "IceCream:vanilla"))]


def test_ttl_without_expiry_is_none() -> None:
    """A PTTL reply of -1 (no expiry) gives None."""
    assert run_sync(through(Script(-1).execute), plans.ttl(SPEC, IceCream("vanilla"))) is None


def test_ttl_of_missing_key_raises_not_found() -> None:
    """A PTTL reply of -2 (gone or expired) raises NotFound."""
    with pytest.raises(NotFound):
        run_sync(through(Script(-2).execute), plans.ttl(SPEC, IceCream("vanilla")))


def test_purge_expired_needs_no_io() -> None:
    """Without indexes purge_expired() has nothing to remove: it returns 0 and sends nothing."""
    driver = Script()
    assert run_sync(driver.route, plans.purge_expired(SPEC)) == 0
    assert driver.sent == []


# -- SCAN ------------------------------------------------------------------------------


def test_scan_pattern_escapes_glob_characters_in_prefix() -> None:
    """SCAN matches the literal key prefix (glob characters escaped) and only string keys."""
    cmd = first_command(plans.select_pairs(spec_of(Globbed), QueryState()))
    assert cmd.args[:2] == ("SCAN", 0)
    assert cmd.args[2:4] == ("MATCH", r"a\*b:*")
    assert cmd.args[-2:] == ("TYPE", "string")


def test_scan_follows_cursor_until_zero() -> None:
    """Every SCAN cursor is followed, with the cursor Redis returned, until it comes back as 0."""
    fake = FakeRedis(store(("a", None, 1), ("b", None, 2)), pages={0: (b"17", [key("a")]), 17: (b"0", [key("b")])})
    assert sorted(select(fake, QueryState())) == ["a", "b"]
    assert [c.args[1] for c in fake.named("SCAN")] == [0, b"17"]
    assert all(c.args[2:4] == ("MATCH", "IceCream:*") and c.args[-2:] == ("TYPE", "string") for c in fake.named("SCAN"))


def test_scan_skips_keys_expired_before_mget() -> None:
    """A key listed by SCAN whose MGET value is None (expired meanwhile) is skipped without error."""
    fake = FakeRedis(store(("a", None, 1), ("c", None, 3)), pages={0: (b"0", [key("a"), key("gone"), key("c")])})
    assert select(fake, QueryState()) == ["a", "c"]


def test_scan_sends_no_empty_mget() -> None:
    """A SCAN step listing no keys never leads to an MGET without keys."""
    fake = FakeRedis(store(("a", None, 1)), pages={0: (b"5", []), 5: (b"0", [key("a")])})
    assert select(fake, QueryState()) == ["a"]
    assert all(len(c.args) > 1 for c in fake.named("MGET"))


def test_scan_duplicate_keys_across_cursors_yield_one_object() -> None:
    """A key SCAN lists again on a later cursor is neither read again nor yielded twice."""
    fake = FakeRedis(
        store(("a", None, 1), ("b", None, 2)), pages={0: (b"3", [key("a")]), 3: (b"0", [key("a"), key("b")])}
    )
    assert sorted(select(fake, QueryState())) == ["a", "b"]
    read = [text(k) for c in fake.named("MGET") for k in c.args[1:]]
    assert sorted(read) == ["IceCream:a", "IceCream:b"]


def test_scan_duplicate_keys_within_one_reply_yield_one_object() -> None:
    """A key listed twice in one SCAN reply is yielded once."""
    fake = FakeRedis(store(("a", None, 1)), pages={0: (b"0", [key("a"), key("a")])})
    assert select(fake, QueryState()) == ["a"]


def test_filter_checks_conditions_on_decoded_objects() -> None:
    """A value lookup scans and keeps only the objects meeting every condition."""
    fake = FakeRedis(store(("a", "mint", 5), ("b", "mint", 50), ("c", "lime", 50)))
    assert select(fake, state(flavour="mint", amount_kg__gte=30)) == ["b"]


def test_filter_by_pk_reads_one_key_instead_of_scanning() -> None:
    """A lookup pinning the pk is answered with one GET, other conditions still checked."""
    fake = FakeRedis(store(("a", "mint", 5), ("b", "mint", 5)))
    pairs = list(iter_sync(through(fake.execute), plans.select_pairs(SPEC, state(id="a", amount_kg=5))))
    assert [(text(k), obj) for k, obj in pairs] == [("IceCream:a", IceCream("a", "mint", 5))]
    assert fake.sent == [Command(("GET", "IceCream:a"))]
    assert select(FakeRedis(store(("a", "mint", 5))), state(pk="a", amount_kg=6)) == []


# -- match -----------------------------------------------------------------------------


def test_match_by_pk_checks_the_other_conditions() -> None:
    """match(pk=..., other=...) raises NotFound when the object exists but fails the other condition."""
    fake = FakeRedis(store(("vanilla", "Sweet", 42)))
    with pytest.raises(NotFound):
        run_sync(through(fake.execute), plans.match(SPEC, state(pk="vanilla", amount_kg__gt=100)))
    assert fake.sent == [Command(("GET", "IceCream:vanilla"))]


def test_match_by_pk_returns_the_object_meeting_every_condition() -> None:
    """match(pk=..., other=...) returns the object when every condition holds, with one GET."""
    fake = FakeRedis(store(("vanilla", "Sweet", 42)))
    obj = run_sync(through(fake.execute), plans.match(SPEC, state(pk="vanilla", amount_kg__gt=10)))
    assert obj == IceCream("vanilla", "Sweet", 42)
    assert fake.names() == ["GET"]


def test_match_by_pk_missing_raises_not_found_without_scanning() -> None:
    """match(id=...) for an absent key raises NotFound after one GET, never a SCAN."""
    fake = FakeRedis(store(("mint", None, 1)))
    with pytest.raises(NotFound):
        run_sync(through(fake.execute), plans.match(SPEC, state(id="vanilla")))
    assert fake.sent == [Command(("GET", "IceCream:vanilla"))]


def test_match_by_values_finds_the_single_object() -> None:
    """match(field=value) searches the values and returns the one matching object."""
    fake = FakeRedis(store(("a", "mint", 1), ("b", "lime", 1)))
    assert run_sync(through(fake.execute), plans.match(SPEC, state(flavour="lime"))).id == "b"


def test_match_by_values_two_found_raises_multiple_found() -> None:
    """match() finding two objects raises MultipleFound, which is also a KeyError."""
    fake = FakeRedis(store(("a", "mint", 1), ("b", "mint", 1)))
    with pytest.raises(MultipleFound) as info:
        run_sync(through(fake.execute), plans.match(SPEC, state(flavour="mint")))
    assert isinstance(info.value, KeyError)


def test_match_by_values_none_found_raises_not_found() -> None:
    """match() finding nothing raises NotFound."""
    fake = FakeRedis(store(("a", "mint", 1)))
    with pytest.raises(NotFound):
        run_sync(through(fake.execute), plans.match(SPEC, state(flavour="lime")))


def test_match_for_values_ignores_the_pk_shortcut() -> None:
    """match_for_values() searches by values even for a pk lookup, and still finds the one object."""
    fake = FakeRedis(store(("a", "mint", 1), ("b", "lime", 1)))
    assert run_sync(through(fake.execute), plans.match_for_values(SPEC, state(id="b"))).id == "b"
    assert "SCAN" in fake.names()


def test_match_on_unique_together_fields_reads_the_joined_key() -> None:
    """match() on every __unique_together__ field reads the key {prefix}:{a}.{b} with one GET."""
    spec = spec_of(Scoop)
    stored = json.dumps({"flavour": "mint", "size": "big"}).encode()
    driver = Script(stored)
    assert run_sync(driver.route, plans.match(spec, state(spec, flavour="mint", size="big"))) == Scoop("mint", "big")
    assert driver.sent == [Command(("GET", "Scoop:mint.big"))]


def test_match_int_pk_with_equal_float_finds_the_object() -> None:
    """match(id=5.0) on an int pk reads the key of id 5, as the lookup 5 == 5.0 says it matches."""
    spec = spec_of(Tub)
    stored = {"Tub:5": json.dumps({"id": 5, "litres": 2}).encode()}

    def execute(command: Command) -> Any:
        assert command.args[0] == "GET"
        return stored.get(command.args[1])

    assert run_sync(through(execute), plans.match(spec, state(spec, id=5.0))) == Tub(5, 2)


def test_match_id_hint_falls_back_to_search_by_values() -> None:
    """When the pk field is ``pk``, match(id=...) tries the key, then searches by values on a miss."""
    spec = spec_of(Cone)
    fake = FakeRedis({"Cone:custom": json.dumps({"pk": "custom", "id": "x", "size": 3}).encode()})
    obj = run_sync(through(fake.execute), plans.match(spec, state(spec, id="x")))
    assert obj == Cone("custom", "x", 3)
    assert fake.sent[0] == Command(("GET", "Cone:x"))
    assert "SCAN" in fake.names()


# -- count / exists --------------------------------------------------------------------


def test_count_without_lookups_counts_keys_without_reading_values() -> None:
    """count() of everything counts distinct keys over every SCAN step and reads no value."""
    fake = FakeRedis(
        store(("a", None, 1), ("b", None, 1), ("c", None, 1)),
        pages={0: (b"4", [key("a"), key("b")]), 4: (b"0", [key("b"), key("c")])},
    )
    assert run_sync(through(fake.execute), plans.count(SPEC, QueryState())) == 3
    assert set(fake.names()) == {"SCAN"}


def test_count_with_lookups_counts_matching_objects() -> None:
    """count(field=...) counts only the objects meeting the lookups."""
    fake = FakeRedis(store(("a", "mint", 1), ("b", "lime", 1), ("c", "mint", 1)))
    assert run_sync(through(fake.execute), plans.count(SPEC, state(flavour="mint"))) == 2


def test_count_skips_objects_expired_before_they_are_read() -> None:
    """count(field=...) does not count a key whose value is gone when read."""
    fake = FakeRedis(store(("a", "mint", 1)), pages={0: (b"0", [key("a"), key("gone")])})
    assert run_sync(through(fake.execute), plans.count(SPEC, state(flavour="mint"))) == 1


def test_count_within_a_window() -> None:
    """count() of a sliced query counts only the objects inside the window."""
    fake = FakeRedis(store(("a", None, 1), ("b", None, 2), ("c", None, 3)))
    assert run_sync(through(fake.execute), plans.count(SPEC, QueryState().sliced(slice(1, 10)))) == 2


def test_exists_reads_no_further_than_the_first_match() -> None:
    """exists() returns True once a match is found, with a single read of values."""
    fake = FakeRedis(store(("a", None, 1), ("b", None, 1)), pages={0: (b"8", [key("a")]), 8: (b"0", [key("b")])})
    assert run_sync(through(fake.execute), plans.exists(SPEC, QueryState())) is True
    assert len(fake.named("MGET")) == 1


def test_exists_false_when_nothing_matches() -> None:
    """exists() is False when no stored object meets the lookups."""
    fake = FakeRedis(store(("a", "mint", 1)))
    assert run_sync(through(fake.execute), plans.exists(SPEC, state(flavour="lime"))) is False


# -- delete_where / update_where -------------------------------------------------------


def test_delete_where_deletes_matches_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Query delete() sends DEL for the matching keys in batches and sums what Redis removed."""
    monkeypatch.setattr(home(plans.delete_where), "BATCH", 2)
    fake = FakeRedis(
        store(("a", "mint", 1), ("b", "mint", 1), ("c", "lime", 1), ("d", "mint", 1)),
        replies={"DEL": [2, 0]},
    )
    assert run_sync(through(fake.execute), plans.delete_where(SPEC, state(flavour="mint"))) == 2
    batches = [[text(k) for k in c.args[1:]] for c in fake.named("DEL")]
    assert batches == [["IceCream:a", "IceCream:b"], ["IceCream:d"]]


def test_delete_where_removes_only_matches() -> None:
    """Query delete() removes exactly the matching objects and returns how many."""
    fake = FakeRedis(store(("a", "mint", 1), ("b", "lime", 1), ("c", "mint", 1)))
    assert run_sync(through(fake.execute), plans.delete_where(SPEC, state(flavour="mint"))) == 2
    assert list(fake.store) == ["IceCream:b"]


def test_delete_where_nothing_matching_sends_no_del() -> None:
    """Query delete() with no match sends no DEL and returns 0."""
    fake = FakeRedis(store(("a", "mint", 1)))
    assert run_sync(through(fake.execute), plans.delete_where(SPEC, state(flavour="lime"))) == 0
    assert "DEL" not in fake.names()


def test_update_where_sets_xx_keepttl_in_a_pipeline_and_counts_truthy_replies() -> None:
    """Query update() rewrites every match with SET ... XX KEEPTTL in a pipeline and counts only real writes."""
    fake = FakeRedis(store(("a", "mint", 1), ("b", "lime", 2), ("c", "mint", 3)), replies={"SET": [True, None]})
    written = run_sync(through(fake.execute), plans.update_where(SPEC, state(flavour="mint"), {"amount_kg": 99}))
    assert written == 1
    pipe = fake.sent[-1]
    assert isinstance(pipe, Pipeline)
    assert [(c.args[0], text(c.args[1]), *c.args[3:]) for c in pipe.commands] == [
        ("SET", "IceCream:a", "XX", "KEEPTTL"),
        ("SET", "IceCream:c", "XX", "KEEPTTL"),
    ]
    assert [json.loads(c.args[2]) for c in pipe.commands] == [
        {"id": "a", "flavour": "mint", "amount_kg": 99},
        {"id": "c", "flavour": "mint", "amount_kg": 99},
    ]


def test_update_where_does_not_recreate_objects_deleted_meanwhile() -> None:
    """update() of an object deleted after it was read writes nothing for it (XX) and does not count it."""
    fake = FakeRedis(store(("a", "mint", 1), ("b", "mint", 2)))

    def execute(command: Any) -> Any:
        if isinstance(command, Pipeline):
            fake.store.pop("IceCream:b")  # deleted by another client between read and write
        return fake.execute(command)

    assert run_sync(through(execute), plans.update_where(SPEC, state(flavour="mint"), {"amount_kg": 7})) == 1
    assert list(fake.store) == ["IceCream:a"]
    assert json.loads(fake.store["IceCream:a"])["amount_kg"] == 7


@pytest.mark.parametrize("values", [{"id": "new"}, {"colour": "red"}])
def test_update_where_refuses_pk_and_unknown_fields_before_io(values: dict[str, Any]) -> None:
    """update() of the pk or of a field the model lacks raises InvalidLookup and sends nothing."""
    fake = FakeRedis(store(("a", "mint", 1)))
    with pytest.raises(InvalidLookup):
        run_sync(through(fake.execute), plans.update_where(SPEC, QueryState(), values))
    assert fake.sent == []


def test_update_where_invalid_value_writes_nothing() -> None:
    """update() to a value the field cannot hold raises ValidationError before any write is sent."""
    fake = FakeRedis(store(("a", "mint", 1)))
    with pytest.raises(ValidationError):
        run_sync(through(fake.execute), plans.update_where(SPEC, QueryState(), {"amount_kg": "many"}))
    assert "SET" not in fake.names()


# -- ordering and windows --------------------------------------------------------------


def unsorted() -> FakeRedis:
    """Four IceCreams, one with amount_kg None, listed out of order."""
    return FakeRedis(store(("a", "x", 20), ("b", "x", None), ("c", "y", 5), ("d", "y", 10)))


def test_order_by_ascending_puts_none_last() -> None:
    """order_by('field') sorts ascending with None values last."""
    assert select(unsorted(), QueryState().ordered(SPEC, ["amount_kg"])) == ["c", "d", "a", "b"]


def test_order_by_descending_puts_none_first() -> None:
    """order_by('-field') sorts descending with None values first."""
    assert select(unsorted(), QueryState().ordered(SPEC, ["-amount_kg"])) == ["b", "a", "d", "c"]


def test_order_by_several_fields_breaks_ties_with_later_terms() -> None:
    """A second ordering term orders objects that tie on the first."""
    fake = FakeRedis(store(("a", "mint", 1), ("b", "lime", 2), ("c", "mint", 3)))
    assert select(fake, QueryState().ordered(SPEC, ["flavour", "-amount_kg"])) == ["b", "c", "a"]


def test_ordered_window_applies_offset_and_limit_after_sorting() -> None:
    """q.order_by(...)[1:3] returns the second and third objects in sorted order."""
    assert select(unsorted(), QueryState().ordered(SPEC, ["amount_kg"]).sliced(slice(1, 3))) == ["d", "a"]


def test_ordered_limit_with_none_values() -> None:
    """order_by('-field').limit(2) starts with the None value, then the largest."""
    assert select(unsorted(), QueryState().ordered(SPEC, ["-amount_kg"]).limited(2)) == ["b", "a"]


def test_unordered_window_skips_offset_and_stops_at_limit() -> None:
    """q[1:2] without ordering skips one object, yields the next, and reads values only once."""
    fake = FakeRedis(
        store(("a", None, 1), ("b", None, 1), ("c", None, 1)),
        pages={0: (b"6", [key("a"), key("b"), key("c")]), 6: (b"0", [key("d")])},
    )
    assert select(fake, QueryState().sliced(slice(1, 2))) == ["b"]
    assert len(fake.named("MGET")) == 1


def test_limit_zero_sends_nothing() -> None:
    """A query limited to 0 objects returns nothing without any I/O."""
    fake = FakeRedis(store(("a", None, 1)))
    assert select(fake, QueryState().limited(0)) == []
    assert fake.sent == []


def test_offset_past_the_end_is_empty() -> None:
    """An offset beyond the stored objects yields nothing."""
    assert select(unsorted(), QueryState().ordered(SPEC, ["amount_kg"]).sliced(slice(10, None))) == []
    assert select(unsorted(), QueryState().sliced(slice(10, None))) == []


def test_window_on_pinned_pk() -> None:
    """A pk lookup with an offset past its single result yields nothing."""
    assert select(unsorted(), state(id="a").sliced(slice(1, None))) == []
    assert select(unsorted(), state(id="a").sliced(slice(0, 5))) == ["a"]


def test_a_batch_is_resent_until_the_server_keeps_its_scripts() -> None:
    """A pipeline of script calls that meets NOSCRIPT twice (flushed again meanwhile) is reloaded and resent."""
    from persist_mixins.backends.redis import scripts
    from persist_mixins.backends.redis.commands import ScriptMissing
    from persist_mixins.backends.redis.writes import send_batch

    call = scripts.SAVE.evalsha(["k"], ["a"])
    script = Script(ScriptMissing("gone"), "sha", ScriptMissing("gone again"), "sha", [1])
    assert run_sync(script.route, send_batch([call])) == [1]
    assert [type(c).__name__ for c in script.sent] == ["Pipeline", "Command", "Pipeline", "Command", "Pipeline"]
    assert script.sent[1] == scripts.SAVE.load()


@dataclasses.dataclass
class Counted(SimpleRedisMixin):
    """A versioned model (optimistic locking)."""

    __version_field__ = "version"
    id: str | None = None
    name: str = ""
    version: int | None = None


def _patched(command: Any) -> tuple[Any, ...]:
    """(mode, document, px, pk, version key, expected version) of an unindexed model's PATCH call."""
    assert command.args[:4] == ("EVALSHA", plans.scripts.PATCH.sha, 1, "Counted:a")
    return tuple(command.args[4:10])


def test_versioned_set_sends_the_next_version_and_the_expected_one() -> None:
    """A versioned set() is one PATCH call: the document carries version + 1, the script compares the stored one."""
    obj = Counted("a", "x", 4)
    run_sync(Script(1).route, plans.save(spec_of(Counted), obj))
    assert obj.version == 5
    script = Script(-1)
    with pytest.raises(ConflictError, match="refresh"):
        run_sync(script.route, plans.save(spec_of(Counted), obj))
    mode, document, px, pk, vkey, expected = _patched(script.sent[0])
    assert (mode, px, pk, vkey, expected) == ("FULL", "", "a", '"version"', 5)
    assert json.loads(document) == {"id": "a", "name": "x", "version": 6}
    assert obj.version == 5  # unchanged by a refused write


def test_set_only_sends_just_the_named_members() -> None:
    """set(only=) sends the named fields and the next version, keeping the TTL; NotFound when the script finds none."""
    obj = Counted("a", "y", 2)
    script = Script(0)
    with pytest.raises(NotFound, match="only"):
        run_sync(script.route, plans.save_only(spec_of(Counted), obj, ("name",)))
    mode, document, px, *_ = _patched(script.sent[0])
    assert (mode, px, json.loads(document)) == ("ONLY", "KEEP", {"name": "y", "version": 3})


def test_versioned_update_rereads_and_retries_a_changed_object() -> None:
    """A query update() of a versioned model rewrites an object another writer changed, from what is stored now."""
    spec = spec_of(Counted)
    newer = json.dumps({"id": "a", "name": "theirs", "version": 7})
    script = Script(-1, newer, 1)
    command = writes.patch_command(spec, "ONLY")
    plan = writes.update_versioned(
        spec, [Counted("a", "x", 1)], {"name": "all"}, writes.KEEP, bool, fetch, lambda _: command
    )
    assert run_sync(script.route, plan) == 1
    first, reread, second = script.sent
    assert _patched(first)[5] == 1 and reread.args == ("GET", "Counted:a")
    assert _patched(second)[5] == 7 and json.loads(_patched(second)[1]) == {"name": "all", "version": 8}
    gone = writes.update_versioned(
        spec, [Counted("a", "x", 1)], {"name": "all"}, writes.KEEP, bool, fetch, lambda _: command
    )
    assert run_sync(Script(-1, None).route, gone) == 0  # deleted meanwhile: skipped, not recreated
