"""Unit tests of :mod:`persist_mixins.creating`: the lock loop and the values of a new object (no server)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from persist_mixins.creating import hold
from persist_mixins.errors import RetryableError
from persist_mixins.run import Pause, run_sync

from .scripted import Script


def body(log: list[str], fail: bool = False) -> Generator[Any, Any, str]:
    """A body that sends one command and records whether it ran to its end, or fails."""
    try:
        reply = yield ("WORK",)
        if fail:
            raise ValueError("body failed")
        return f"done:{reply}"
    finally:
        log.append("body closed")


def lock(script: Script) -> tuple[Any, Any]:
    """take() sends TAKE and reads a bool reply; release() sends RELEASE."""

    def take() -> Generator[Any, Any, bool]:
        return bool((yield ("TAKE",)))

    def release() -> Generator[Any, Any, Any]:
        return (yield ("RELEASE",))

    return take, release


def test_hold_waits_with_growing_pauses_then_runs_the_body_and_releases() -> None:
    """Two failed takes are followed by pauses of 1 ms then 2 ms; the body runs once the lock is taken."""
    log: list[str] = []
    script = Script(False, False, True, "w", "released")
    take, release = lock(script)
    paused: list[float] = []

    def plan() -> Generator[Any, Any, Any]:
        inner = hold("M lock", take, release, body(log))
        command = next(inner)
        while True:
            if isinstance(command, Pause):
                paused.append(command.seconds)
                reply = None
            else:
                reply = yield command
            try:
                command = inner.send(reply)
            except StopIteration as stop:
                return stop.value

    assert run_sync(script.route, plan()) == "done:w"
    assert [c[0] for c in script.sent] == ["TAKE", "TAKE", "TAKE", "WORK", "RELEASE"]
    assert paused == [0.001, 0.002]
    assert log == ["body closed"]


def test_hold_releases_when_the_body_fails_and_the_body_error_wins() -> None:
    """A failing body still releases the lock; a release that fails then does not hide the body's error."""
    log: list[str] = []
    script = Script(True, "w", ConnectionError("gone"))
    take, release = lock(script)
    with pytest.raises(ValueError, match="body failed"):
        run_sync(script.route, hold("M lock", take, release, body(log, fail=True)))
    assert [c[0] for c in script.sent] == ["TAKE", "WORK", "RELEASE"]


def test_hold_gives_up_with_retryable_error_and_never_runs_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock that stays taken for the whole wait is RetryableError naming it; the body never sends anything."""
    import time

    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    log: list[str] = []
    script = Script(*([False] * 100))
    take, release = lock(script)
    with pytest.raises(RetryableError, match="M lock"):
        run_sync(script.route, hold("M lock", take, release, body(log), wait=0.01))
    assert {c[0] for c in script.sent} == {"TAKE"}


def test_hold_closed_mid_body_does_not_yield() -> None:
    """A run abandoned while the body runs (KeyboardInterrupt, cancellation) closes quietly; the lock expires."""
    log: list[str] = []

    def take() -> Generator[Any, Any, bool]:
        yield from ()
        return True

    def release() -> Generator[Any, Any, Any]:
        log.append("release")
        return (yield ("RELEASE",))

    plan = hold("M lock", take, release, body(log))
    assert next(plan) == ("WORK",)
    plan.close()  # a RuntimeError here would be "generator ignored GeneratorExit"
    assert log == ["body closed"]


def test_lock_name_ignores_the_order_of_the_lookups() -> None:
    """The same lookups in another keyword order take the same lock; other lookups or models another."""
    from dataclasses import dataclass

    from persist_mixins import PgRowMixin
    from persist_mixins.binding import spec_of
    from persist_mixins.creating import lock_name
    from persist_mixins.query import QueryState

    @dataclass
    class Person(PgRowMixin):
        id: str | None = None
        first: str = ""
        last: str = ""

    @dataclass
    class Pet(PgRowMixin):
        id: str | None = None
        first: str = ""
        last: str = ""

    def name(model: type, **lookups: Any) -> str:
        return lock_name(spec_of(model), QueryState().where(spec_of(model), lookups))

    assert name(Person, first="x", last="y") == name(Person, last="y", first="x")
    assert name(Person, first="x", last="y") != name(Person, first="x", last="z")
    assert name(Person, first="x") != name(Pet, first="x")
