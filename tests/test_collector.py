"""The cyclic garbage collector is paused while a program compiles, and only then."""

from __future__ import annotations

import gc
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from constellation.collector import collector_paused
from constellation.frontend import compile_source
from constellation.limits import DEFAULT_LIMITS
from constellation.modules import Registry
from constellation.source import Source


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_paused_in_the_block_and_running_after_it_even_after_an_error() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer user still compiles
    assert gc.isenabled()
    with pytest.raises(ValueError, match="boom"), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_the_application_disabled_stays_disabled() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_the_last_thread_to_leave_resumes_it() -> None:
    """Two compiles overlap: the first to finish must not resume it under the second."""
    entered, first_left, second_may_leave = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def second() -> None:
        with collector_paused():
            entered.set()
            second_may_leave.wait(10)
            seen.append(gc.isenabled())

    thread = threading.Thread(target=second)
    with collector_paused():
        thread.start()
        entered.wait(10)
    first_left.set()
    seen.append(gc.isenabled())  # the second thread is still inside
    second_may_leave.set()
    thread.join(10)
    assert seen == [False, False]
    assert gc.isenabled()


def test_no_collection_runs_inside_a_large_compile() -> None:
    """The collections its allocations make due wait until it has finished."""
    registry = Registry()

    @registry.module
    def Inc(x: int) -> int:
        return x + 1

    source = "in x0: Int\n" + "".join(f"x{i} = Inc(x{i - 1})\n" for i in range(1, 3001))
    text = Source(source + "out x3000\n")
    inside: list[bool] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            frames = traceback.extract_stack()
            inside.append(any(Path(f.filename).parent.name == "constellation" for f in frames))

    gc.callbacks.append(count)
    try:
        pipeline = compile_source(text, registry, DEFAULT_LIMITS)
        junk = [[i] for i in range(100_000)]  # enough allocations to trigger collections
    finally:
        gc.callbacks.remove(count)
    assert len(pipeline.nodes) == 3001
    assert len(junk) == 100_000
    assert inside.count(False) > 0  # collections ran, and the callback saw them
    assert inside.count(True) <= 1  # at most the one due, as the compile hands back
