"""The plan runners (``persist_mixins.run``), driven by a scripted fake driver: no server involved."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from persist_mixins.run import Emit, EmitMany, collect, iter_async, iter_sync, run_async, run_sync, window

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
