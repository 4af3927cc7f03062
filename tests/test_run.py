"""The plan runners (``persist_mixins.run``), driven by a scripted fake driver: no server involved."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from persist_mixins.run import (
    DIRECT,
    AsyncBlock,
    DirectRoute,
    Emit,
    EmitMany,
    Io,
    Link,
    Pause,
    SyncBlock,
    collect,
    combine,
    iter_async,
    iter_sync,
    run_async,
    run_sync,
    window,
)

from .scripted import Script, through


def echo_plan(log: list[str]) -> Generator[Any, Any, Any]:
    """Send two commands and return both replies; records when its cleanup ran."""
    try:
        first = yield ("GET", "a")
        second = yield ("GET", "b")
        return [first, second]
    finally:
        log.append("closed")


def fallback_plan() -> Generator[Any, Any, Any]:
    """Recover from a driver ConnectionError by sending a fallback command."""
    try:
        reply = yield ("GET", "primary")
    except ConnectionError:
        reply = yield ("GET", "replica")
    return reply


def stream_plan(log: list[str], count: int = 3) -> Generator[Any, Any, None]:
    """Emit one item per command reply; records its cleanup."""
    try:
        for i in range(count):
            reply = yield ("GET", i)
            yield Emit(reply)
    finally:
        log.append("closed")


def tolerant_stream() -> Generator[Any, Any, None]:
    """Emit the reply of each command, or a marker for a command whose driver call failed."""
    for i in range(2):
        try:
            reply = yield ("GET", i)
        except ConnectionError:
            reply = "lost"
        yield Emit(reply)


# -- run_sync / run_async --------------------------------------------------------------


def test_run_sync_returns_plan_result_and_sends_its_commands_in_order() -> None:
    """run_sync feeds each reply back to the plan and returns what the plan returns."""
    driver, log = Script("A", "B"), []
    assert run_sync(driver.route, echo_plan(log)) == ["A", "B"]
    assert driver.sent == [("GET", "a"), ("GET", "b")]
    assert log == ["closed"]


async def test_run_async_returns_plan_result_and_sends_its_commands_in_order() -> None:
    """run_async awaits each reply, feeds it back, and returns what the plan returns."""
    driver, log = Script("A", "B"), []
    assert await run_async(through(driver.aexecute), echo_plan(log)) == ["A", "B"]
    assert driver.sent == [("GET", "a"), ("GET", "b")]
    assert log == ["closed"]


def test_run_sync_plan_without_commands_never_calls_the_driver() -> None:
    """A plan that needs no I/O returns its value without a single driver call."""

    def nothing() -> Generator[Any, Any, int]:
        yield from ()
        return 7

    driver = Script()
    assert run_sync(driver.route, nothing()) == 7
    assert driver.sent == []


def test_run_sync_throws_driver_error_into_plan_which_can_recover() -> None:
    """A driver exception is raised inside the plan at its yield, so the plan may handle it."""
    driver = Script(ConnectionError("primary down"), "from replica")
    assert run_sync(driver.route, fallback_plan()) == "from replica"
    assert driver.sent == [("GET", "primary"), ("GET", "replica")]


async def test_run_async_throws_driver_error_into_plan_which_can_recover() -> None:
    """run_async also throws a driver exception into the plan, which may handle it."""
    driver = Script(ConnectionError("primary down"), "from replica")
    assert await run_async(through(driver.aexecute), fallback_plan()) == "from replica"
    assert driver.sent == [("GET", "primary"), ("GET", "replica")]


def test_run_sync_uncaught_driver_error_propagates_unchanged() -> None:
    """A driver error the plan does not handle reaches the caller as the very same object."""
    error = TimeoutError("slow server")
    driver, log = Script(error), []
    with pytest.raises(TimeoutError) as info:
        run_sync(driver.route, echo_plan(log))
    assert info.value is error
    assert driver.sent == [("GET", "a")]
    assert log == ["closed"]


async def test_run_async_uncaught_driver_error_propagates_unchanged() -> None:
    """run_async lets a driver error the plan does not handle reach the caller unchanged."""
    error = TimeoutError("slow server")
    driver, log = Script(error), []
    with pytest.raises(TimeoutError) as info:
        await run_async(through(driver.aexecute), echo_plan(log))
    assert info.value is error
    assert log == ["closed"]


def test_run_sync_propagates_error_raised_by_the_plan_itself() -> None:
    """An exception the plan raises after a reply (NotFound, say) reaches the caller."""

    def picky() -> Generator[Any, Any, Any]:
        reply = yield ("GET", "a")
        if reply is None:
            raise LookupError("gone")
        return reply

    with pytest.raises(LookupError, match="gone"):
        run_sync(through(Script(None).execute), picky())


def test_run_sync_rejects_streaming_plan_with_type_error() -> None:
    """Giving a plan that emits items to run_sync is a TypeError, and the plan is closed."""
    driver, log = Script("A", "B", "C"), []
    with pytest.raises(TypeError, match="iter_sync"):
        run_sync(driver.route, stream_plan(log))
    assert driver.sent == [("GET", 0)]
    assert log == ["closed"]


async def test_run_async_rejects_streaming_plan_with_type_error() -> None:
    """Giving a plan that emits items to run_async is a TypeError, and the plan is closed."""
    driver, log = Script("A", "B", "C"), []
    with pytest.raises(TypeError, match="iter_async"):
        await run_async(through(driver.aexecute), stream_plan(log))
    assert log == ["closed"]


# -- iter_sync / iter_async ------------------------------------------------------------


def test_iter_sync_yields_each_emitted_item_in_order() -> None:
    """iter_sync yields exactly the items the plan emits, in order, and closes the plan at the end."""
    driver, log = Script("A", "B", "C"), []
    assert list(iter_sync(driver.route, stream_plan(log))) == ["A", "B", "C"]
    assert driver.sent == [("GET", 0), ("GET", 1), ("GET", 2)]
    assert log == ["closed"]


def test_iter_sync_streams_items_before_reading_the_rest() -> None:
    """An item reaches the caller as soon as it is emitted, before later commands are sent."""
    driver, log = Script("A", "B", "C"), []
    stream = iter_sync(driver.route, stream_plan(log))
    assert next(stream) == "A"
    assert driver.sent == [("GET", 0)]
    stream.close()


def test_iter_sync_stopping_early_closes_the_plan() -> None:
    """Closing the stream after the first item sends no more commands and runs the plan's cleanup."""
    driver, log = Script("A", "B", "C"), []
    stream = iter_sync(driver.route, stream_plan(log))
    assert next(stream) == "A"
    stream.close()
    assert log == ["closed"]
    assert driver.sent == [("GET", 0)]


def test_iter_sync_throws_driver_error_into_the_plan() -> None:
    """A streaming plan may handle a driver error and go on emitting."""
    driver = Script(ConnectionError("reset"), "B")
    assert list(iter_sync(driver.route, tolerant_stream())) == ["lost", "B"]


def test_iter_sync_uncaught_driver_error_propagates_unchanged() -> None:
    """A driver error the streaming plan does not handle reaches the consumer unchanged, after earlier items."""
    error = ConnectionError("reset")
    driver, log = Script("A", error), []
    stream = iter_sync(driver.route, stream_plan(log))
    assert next(stream) == "A"
    with pytest.raises(ConnectionError) as info:
        next(stream)
    assert info.value is error
    assert log == ["closed"]


async def test_iter_async_yields_each_emitted_item_in_order() -> None:
    """iter_async yields exactly the emitted items, in order, and closes the plan at the end."""
    driver, log = Script("A", "B", "C"), []
    assert [item async for item in iter_async(through(driver.aexecute), stream_plan(log))] == ["A", "B", "C"]
    assert driver.sent == [("GET", 0), ("GET", 1), ("GET", 2)]
    assert log == ["closed"]


async def test_iter_async_stopping_early_closes_the_plan() -> None:
    """Closing the async stream after one item sends no more commands and runs the plan's cleanup."""
    driver, log = Script("A", "B", "C"), []
    stream = iter_async(through(driver.aexecute), stream_plan(log))
    assert await stream.__anext__() == "A"
    await stream.aclose()
    assert log == ["closed"]
    assert driver.sent == [("GET", 0)]


async def test_iter_async_throws_driver_error_into_the_plan() -> None:
    """iter_async also lets a streaming plan handle a driver error."""
    driver = Script(ConnectionError("reset"), "B")
    assert [item async for item in iter_async(through(driver.aexecute), tolerant_stream())] == ["lost", "B"]


# -- collect ---------------------------------------------------------------------------


def test_collect_turns_a_stream_into_a_list_result() -> None:
    """collect() forwards the stream's commands and replies and returns every emitted item as a list."""
    driver, log = Script("A", "B", "C"), []
    assert run_sync(driver.route, collect(stream_plan(log))) == ["A", "B", "C"]
    assert driver.sent == [("GET", 0), ("GET", 1), ("GET", 2)]
    assert log == ["closed"]


def test_collect_with_limit_stops_reading_and_closes_the_stream() -> None:
    """collect(limit=n) returns the first n items without sending the stream's later commands."""
    driver, log = Script("A", "B", "C"), []
    assert run_sync(driver.route, collect(stream_plan(log), limit=2)) == ["A", "B"]
    assert driver.sent == [("GET", 0), ("GET", 1)]
    assert log == ["closed"]


def test_collect_with_limit_larger_than_stream_returns_everything() -> None:
    """A limit above the number of items returns them all."""
    driver, log = Script("A", "B"), []
    assert run_sync(driver.route, collect(stream_plan(log, count=2), limit=5)) == ["A", "B"]


def test_collect_works_inside_another_plan() -> None:
    """A plan can ``yield from collect(...)`` and carry on with more commands."""

    def outer() -> Generator[Any, Any, Any]:
        items = yield from collect(stream_plan([], count=2))
        total = yield ("COUNT", len(items))
        return items, total

    driver = Script("A", "B", 2)
    assert run_sync(driver.route, outer()) == (["A", "B"], 2)
    assert driver.sent == [("GET", 0), ("GET", 1), ("COUNT", 2)]


def test_collect_throws_driver_error_into_the_inner_plan() -> None:
    """A streaming plan that handles a driver error does so under collect() just as under iter_sync."""
    driver = Script(ConnectionError("reset"), "B")
    assert run_sync(driver.route, collect(tolerant_stream())) == ["lost", "B"]


def _batches() -> Generator[Any, Any, None]:
    """A stream that emits items in batches, with a read in between."""
    yield EmitMany([1, 2, 3])
    yield "READ"
    yield Emit(4)
    yield EmitMany([5, 6])


def test_emit_many_items_arrive_one_by_one_everywhere() -> None:
    """Batched emits reach iterators, collect() and window() as single items, limits and offsets intact."""
    assert list(iter_sync(through(lambda cmd: None), _batches())) == [1, 2, 3, 4, 5, 6]
    assert run_sync(through(lambda cmd: None), collect(_batches(), limit=2)) == [1, 2]
    windowed = iter_sync(through(lambda cmd: None), window(_batches(), offset=2, limit=3))
    assert list(windowed) == [3, 4, 5]


async def test_emit_many_in_async_iteration() -> None:
    """iter_async hands out each item of a batch."""

    async def execute(cmd: Any) -> None:
        return None

    assert [x async for x in iter_async(through(execute), _batches())] == [1, 2, 3, 4, 5, 6]


# -- the session: routing, session rules, cleanup ------------------------------------------------
class Alpha(tuple):
    """A command of the fake backend "alpha"."""


class Beta(tuple):
    """A command of the fake backend "beta"."""


class Special(tuple):
    """A command alpha's session rules handle themselves."""


class Rules:
    """Fake session rules: a connection per run, recorded opens and closes, one special command."""

    def __init__(self) -> None:
        self.log: list[Any] = []

    def open(self, driver: Any) -> Generator[Any, Any, Link]:
        conn = yield Io(driver.acquire)
        self.log.append(("open", driver.name, conn))
        return Link(driver, conn, special={Special: self.special})

    def special(self, link: Link, command: Any) -> Generator[Any, Any, Any]:
        reply = yield Io(link.driver.execute, (link.conn, ("translated", *command)))
        return f"special:{reply}"

    def close(self, link: Link, ok: bool) -> Generator[Any, Any, None]:
        self.log.append(("close", link.driver.name, ok))
        yield Io(link.driver.release, (link.conn,))


class Fake:
    """A fake driver of one backend; sync, or async with ``aio``."""

    def __init__(self, name: str, kinds: tuple[type, ...], rules: Rules, fail: Any = None) -> None:
        self.name, self.rules, self.fail = name, rules, fail
        self.route = dict.fromkeys(kinds, self)
        self.shared = None
        self.sent: list[Any] = []
        self.released: list[Any] = []

    def acquire(self) -> str:
        return f"{self.name}-conn"

    def release(self, conn: Any) -> None:
        self.released.append(conn)

    def execute(self, conn: Any, command: Any) -> Any:
        self.sent.append((conn, tuple(command)))
        if self.fail is not None and command == self.fail:
            raise ConnectionError(f"{self.name} failed")
        return f"{self.name}:{command[0]}"


class AsyncFake(Fake):
    """:class:`Fake` with coroutine methods."""

    async def acquire(self) -> str:  # type: ignore[override]
        return Fake.acquire(self)

    async def release(self, conn: Any) -> None:  # type: ignore[override]
        Fake.release(self, conn)

    async def execute(self, conn: Any, command: Any) -> Any:  # type: ignore[override]
        return Fake.execute(self, conn, command)


def two_backend_plan() -> Generator[Any, Any, Any]:
    """Talk to alpha, then beta, then alpha again (one connection each), then a special command."""
    a = yield Alpha(("a1",))
    b = yield Beta(("b1",))
    c = yield Alpha(("a2",))
    d = yield Special(("s",))
    return [a, b, c, d]


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_run_routes_each_command_to_its_backend_and_opens_each_once(flavour: str) -> None:
    """Commands go to the driver of their type; each backend's connection is opened once and closed at the end."""
    rules = Rules()
    kind = Fake if flavour == "sync" else AsyncFake
    alpha, beta = kind("alpha", (Alpha, Special), rules), kind("beta", (Beta,), rules)
    route = combine(alpha, beta)
    plan = two_backend_plan()
    result = run_sync(route, plan) if flavour == "sync" else await run_async(route, plan)
    assert result == ["alpha:a1", "beta:b1", "alpha:a2", "special:alpha:translated"]
    assert alpha.sent == [("alpha-conn", ("a1",)), ("alpha-conn", ("a2",)), ("alpha-conn", ("translated", "s"))]
    assert beta.sent == [("beta-conn", ("b1",))]
    opened = [("open", "alpha", "alpha-conn"), ("open", "beta", "beta-conn")]
    assert rules.log == [*opened, ("close", "beta", True), ("close", "alpha", True)]
    assert alpha.released == ["alpha-conn"] and beta.released == ["beta-conn"]


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_failed_run_closes_every_link_as_failed_and_raises_the_original_error(flavour: str) -> None:
    """A driver error the plan does not handle closes every open link with ok=False, then reaches the caller."""
    rules = Rules()
    kind = Fake if flavour == "sync" else AsyncFake
    alpha, beta = kind("alpha", (Alpha, Special), rules), kind("beta", (Beta,), rules, fail=("b1",))
    route = combine(alpha, beta)
    with pytest.raises(ConnectionError, match="beta failed"):
        if flavour == "sync":
            run_sync(route, two_backend_plan())
        else:
            await run_async(route, two_backend_plan())
    assert ("close", "alpha", False) in rules.log and ("close", "beta", False) in rules.log
    assert alpha.released == ["alpha-conn"] and beta.released == ["beta-conn"]


def test_a_command_no_driver_executes_is_a_type_error_naming_it() -> None:
    """A plan yielding a command of a backend missing from the route fails clearly, and its links close."""
    rules = Rules()
    alpha = Fake("alpha", (Alpha,), rules)
    with pytest.raises(TypeError, match="no driver in this run executes Beta commands"):
        run_sync(alpha.route, two_backend_plan())
    assert rules.log[-1] == ("close", "alpha", False)


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_stream_abandoned_by_its_reader_closes_the_plan_and_its_links(flavour: str) -> None:
    """Breaking out of a stream closes the plan (its finally runs) and releases the connection as failed."""
    rules, log = Rules(), []

    def stream() -> Generator[Any, Any, None]:
        try:
            for i in range(5):
                yield Emit((yield Alpha((i,))))
        finally:
            log.append("plan closed")

    if flavour == "sync":
        driver: Fake = Fake("alpha", (Alpha,), rules)
        first = next(iter(iter_sync(driver.route, stream())))
    else:
        driver = AsyncFake("alpha", (Alpha,), rules)
        items = iter_async(driver.route, stream())
        first = await items.__anext__()
        await items.aclose()  # type: ignore[attr-defined]
    assert first == "alpha:0"
    assert log == ["plan closed"]
    assert rules.log[-1] == ("close", "alpha", False)
    assert driver.released == ["alpha-conn"]


def test_a_buffered_link_holds_a_streams_items_until_the_run_has_closed() -> None:
    """A link marked buffered (a user's non-autocommit connection) gives items only after its connection is ended."""
    events: list[str] = []

    class BufferingRules(Rules):
        def open(self, driver: Any) -> Generator[Any, Any, Link]:
            link = yield from super().open(driver)
            link.buffered = True
            return link

        def close(self, link: Link, ok: bool) -> Generator[Any, Any, None]:
            events.append("closed")
            yield from super().close(link, ok)

    driver = Fake("alpha", (Alpha,), BufferingRules())

    def stream() -> Generator[Any, Any, None]:
        for i in range(2):
            yield Emit((yield Alpha((i,))))

    for item in iter_sync(driver.route, stream()):
        events.append(item)
    assert events == ["closed", "alpha:0", "alpha:1"]


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_blocks_run_their_entry_and_exit_generators(flavour: str) -> None:
    """SyncBlock / AsyncBlock drive a block's entry on enter and its exit (with the error, if any) on exit."""
    rules = Rules()
    driver = (Fake if flavour == "sync" else AsyncFake)("alpha", (Alpha,), rules)
    seen: list[Any] = []

    def enter() -> Generator[Any, Any, str]:
        conn = yield Io(driver.acquire)
        return conn

    def exit_(exc: BaseException | None) -> Generator[Any, Any, None]:
        seen.append(type(exc).__name__ if exc else None)
        yield Io(driver.release, ("alpha-conn",))

    for error in (None, KeyError("boom")):
        try:
            if flavour == "sync":
                with SyncBlock(enter, exit_) as conn:
                    assert conn == "alpha-conn"
                    if error:
                        raise error
            else:
                async with AsyncBlock(enter, exit_) as conn:
                    assert conn == "alpha-conn"
                    if error:
                        raise error
        except KeyError:
            pass
    assert seen == [None, "KeyError"]
    assert driver.released == ["alpha-conn", "alpha-conn"]


def test_a_link_that_fails_to_close_still_lets_the_others_close() -> None:
    """When ending one backend's connection fails (a COMMIT refused), the other links are still closed, as failed."""

    class FailingClose(Rules):
        def close(self, link: Link, ok: bool) -> Generator[Any, Any, None]:
            yield from super().close(link, ok)
            raise ConnectionError("commit refused")

    alpha = Fake("alpha", (Alpha, Special), Rules())
    beta = Fake("beta", (Beta,), FailingClose())
    with pytest.raises(ConnectionError, match="commit refused"):
        run_sync(combine(alpha, beta), two_backend_plan())
    assert alpha.rules.log[-1] == ("close", "alpha", False)
    assert alpha.released == ["alpha-conn"] and beta.released == ["beta-conn"]


class Shared:
    """A driver with a shared client and DIRECT rules (as Redis's): its route takes the runners' short loop."""

    rules = DIRECT

    def __init__(self, *replies: Any) -> None:
        self.shared = self
        self.route = DirectRoute(self, (Alpha,))
        self.replies = list(replies)

    def execute(self, conn: Any, command: Any) -> Any:
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply


class AsyncShared(Shared):
    async def execute(self, conn: Any, command: Any) -> Any:  # type: ignore[override]
        return Shared.execute(self, conn, command)


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_direct_route_runs_plans_with_the_same_rules(flavour: str) -> None:
    """On a shared-client route, driver errors still reach the plan, foreign commands and streams are refused."""
    log: list[str] = []

    def recovering() -> Generator[Any, Any, Any]:
        try:
            yield Alpha(("a",))
        except ConnectionError:
            return (yield Alpha(("b",)))
        finally:
            log.append("closed")

    driver = (Shared if flavour == "sync" else AsyncShared)(ConnectionError("down"), "from b", "a1")

    def emits() -> Generator[Any, Any, None]:
        try:
            yield Emit("item")
        finally:
            log.append("stream closed")

    async def run(plan: Generator[Any, Any, Any]) -> Any:
        return run_sync(driver.route, plan) if flavour == "sync" else await run_async(driver.route, plan)

    assert await run(recovering()) == "from b" and log == ["closed"]
    with pytest.raises(TypeError, match="no driver in this run executes Beta commands"):
        await run(two_backend_plan())
    with pytest.raises(TypeError, match="streaming plan"):
        await run(emits())
    assert log[-1] == "stream closed"


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_streaming_plan_run_for_its_result_still_releases_its_connection(flavour: str) -> None:
    """run_sync / run_async refuse a plan that emits items, and the connection it opened goes back first."""
    rules = Rules()
    driver = (Fake if flavour == "sync" else AsyncFake)("alpha", (Alpha,), rules)

    def streams() -> Generator[Any, Any, None]:
        yield Emit((yield Alpha(("a",))))

    with pytest.raises(TypeError, match="streaming plan"):
        if flavour == "sync":
            run_sync(driver.route, streams())
        else:
            await run_async(driver.route, streams())
    assert rules.log[-1] == ("close", "alpha", False)
    assert driver.released == ["alpha-conn"]


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_a_failed_run_closes_every_link_even_when_one_fails_to_close(flavour: str) -> None:
    """After a plan error, a link whose release fails does not keep the older links open, nor hide the plan's error."""

    class BadRelease(Fake):
        def release(self, conn: Any) -> None:
            raise ConnectionError("release failed")

    class AsyncBadRelease(AsyncFake):
        async def release(self, conn: Any) -> None:  # type: ignore[override]
            raise ConnectionError("release failed")

    rules = Rules()
    alpha = (Fake if flavour == "sync" else AsyncFake)("alpha", (Alpha, Special), rules)
    beta = (BadRelease if flavour == "sync" else AsyncBadRelease)("beta", (Beta,), rules)

    def failing() -> Generator[Any, Any, None]:
        yield Alpha(("a",))
        yield Beta(("b",))
        raise KeyError("the plan's own error")

    with pytest.raises(KeyError, match="the plan's own error"):
        if flavour == "sync":
            run_sync(combine(alpha, beta), failing())
        else:
            await run_async(combine(alpha, beta), failing())
    assert alpha.released == ["alpha-conn"]
    assert ("close", "alpha", False) in rules.log


def test_a_plan_that_yields_in_its_finally_still_has_its_connection_released() -> None:
    """Abandoning a stream whose plan misbehaves on close (yields in finally) still releases the connection."""
    rules = Rules()
    driver = Fake("alpha", (Alpha,), rules)

    def misbehaving() -> Generator[Any, Any, None]:
        try:
            for i in range(3):
                yield Emit((yield Alpha((i,))))
        finally:
            yield Alpha(("cleanup",))  # not allowed on close: Python raises RuntimeError

    stream = iter_sync(driver.route, misbehaving())
    assert next(stream) == "alpha:0"
    stream.close()
    assert driver.released == ["alpha-conn"]


# -- Pause: a plan waits, the executor sleeps ------------------------------------------------------
def pausing_plan() -> Generator[Any, Any, Any]:
    """Send a command, wait twice, send another; Pause is answered with None."""
    first = yield Alpha(("a1",))
    waited = yield Pause(0.01)
    waited2 = yield Pause(0.02)
    second = yield Alpha(("a2",))
    return [first, waited, waited2, second]


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("how", ["session", "direct", "stream"])
async def test_a_pause_sleeps_in_every_executor_without_reaching_a_driver(
    flavour: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pause is slept by the executor (time.sleep / asyncio.sleep) and never sent to a driver."""
    import asyncio
    import time

    slept: list[float] = []
    if flavour == "sync":
        monkeypatch.setattr(time, "sleep", slept.append)
    else:

        async def asleep(seconds: float) -> None:
            slept.append(seconds)

        monkeypatch.setattr(asyncio, "sleep", asleep)
    rules = Rules()
    driver = (Fake if flavour == "sync" else AsyncFake)("alpha", (Alpha,), rules)
    if how == "direct":
        driver.rules, driver.shared = DIRECT, "shared-conn"  # type: ignore[assignment]
        route: Any = DirectRoute(driver, (Alpha,))
    else:
        route = combine(driver)
    if how == "stream":

        def streaming() -> Generator[Any, Any, None]:
            yield Emit((yield from pausing_plan()))

        items = (
            list(iter_sync(route, streaming()))
            if flavour == "sync"
            else [x async for x in iter_async(route, streaming())]
        )
        result = items[0]
    else:
        result = run_sync(route, pausing_plan()) if flavour == "sync" else await run_async(route, pausing_plan())
    assert result == ["alpha:a1", None, None, "alpha:a2"]
    assert slept == [0.01, 0.02]
    assert [command for _, command in driver.sent] == [("a1",), ("a2",)]
