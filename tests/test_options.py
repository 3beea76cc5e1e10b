"""`with` options applied by the engine (language.md §8): each would fail if it were ignored."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from constellation import Engine
from constellation.modules import Registry
from tests.conftest import AutoClock


class Flaky:
    """Fails ``failures`` times, then returns its argument; counts its calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self, x: int) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"attempt {self.calls} failed")
        return x


@pytest.fixture
def clock() -> AutoClock:
    return AutoClock()


@pytest.fixture
def parts(clock: AutoClock) -> Iterator[tuple[Engine, Registry]]:
    reg = Registry()
    engine = Engine(reg, clock=clock)
    yield engine, reg
    engine.close()


def test_retry_with_exponential_backoff(parts: tuple[Engine, Registry], clock: AutoClock) -> None:
    """retry: 3 makes up to four attempts; the waits double from the delay."""
    engine, reg = parts
    flaky = Flaky(failures=3)
    reg.module(name="Get")(flaky)
    result = engine.run("x = Get(7) with retry: 3, delay: 100ms, backoff: exponential\nout x\n")
    assert result.outputs == {"x": 7}
    assert flaky.calls == 4
    assert clock.sleeps == [0.1, 0.2, 0.4]


def test_retry_exhausted_reports_attempts(parts: tuple[Engine, Registry]) -> None:
    """When every attempt fails, the message says how many there were."""
    engine, reg = parts
    reg.module(name="Get")(Flaky(failures=5))
    result = engine.run("x = Get(1) with retry: 1\nout x\n")
    assert result.status == "failed"
    assert result.errors[0].message == "Get failed after 2 attempts: attempt 2 failed"


def test_fallback_is_lazy_and_used_on_failure(parts: tuple[Engine, Registry]) -> None:
    """The fallback is evaluated only when the call failed."""
    engine, reg = parts
    reg.module(name="Bad")(Flaky(failures=10))
    fallback_calls: list[int] = []

    @reg.module
    def Backup(x: int) -> int:
        fallback_calls.append(x)
        return -x

    reg.module(name="Good")(Flaky(failures=0))
    src = "a = Bad(1) with fallback: Backup(5)\nb = Good(2) with fallback: Backup(6)\nout a\nout b\n"
    assert engine.run(src).outputs == {"a": -5, "b": 2}
    assert fallback_calls == [5]


def test_on_error_skip_log_wrap(parts: tuple[Engine, Registry], caplog: pytest.LogCaptureFixture) -> None:
    """skip gives the zero value, log also warns, wrap reports {ok, value, error}."""
    engine, reg = parts
    reg.module(name="Bad")(Flaky(failures=10))
    src = (
        "a = Bad(1) with on_error: skip\n"
        "b = Bad(2) with on_error: log\n"
        "c = Bad(3) with on_error: wrap\n"
        "out a\nout b\nout c\n"
    )
    with caplog.at_level(logging.WARNING, logger="constellation"):
        result = engine.run(src)
    assert result.status == "completed"
    assert result.outputs["a"] == 0
    assert result.outputs["b"] == 0
    assert result.outputs["c"] == {"ok": False, "value": None, "error": "Bad failed: attempt 3 failed"}
    assert result.warnings == ("line 2: Bad failed: attempt 2 failed",)
    assert "Bad failed: attempt 2 failed" in caplog.text


def test_wrap_on_success(parts: tuple[Engine, Registry]) -> None:
    engine, reg = parts
    reg.module(name="Good")(Flaky(failures=0))
    result = engine.run("c = Good(3) with on_error: wrap\nout c\n")
    assert result.outputs["c"] == {"ok": True, "value": 3, "error": None}


def test_cache_is_shared_across_executions_and_expires(
    parts: tuple[Engine, Registry], clock: AutoClock
) -> None:
    """A cached result is reused by later executions of the engine until its TTL passes."""
    engine, reg = parts
    counted = Flaky(failures=0)
    reg.module(name="Get")(counted)
    src = "in n: Int\nx = Get(n) with cache: 1min\nout x\n"
    for _ in range(3):
        assert engine.run(src, {"n": 4}).outputs == {"x": 4}
    assert counted.calls == 1
    engine.run(src, {"n": 5})
    assert counted.calls == 2
    clock.time += 61
    engine.run(src, {"n": 4})
    assert counted.calls == 3
    stats = engine.policies.stats()["Get"]
    assert (stats.cache_hits, stats.cache_misses) == (2, 3)


def test_timeout_cancels_an_async_module(parts: tuple[Engine, Registry]) -> None:
    """An async module past its timeout is cancelled and the node fails saying so."""
    engine, reg = parts
    cancelled: list[bool] = []

    @reg.module
    async def Hang(x: int) -> int:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return x

    result = engine.run("x = Hang(1) with timeout: 2s\nout x\n")
    assert result.status == "failed"
    assert result.errors[0].message == "Hang timed out after 2s"
    assert cancelled == [True]


def test_decorator_defaults_apply_and_with_overrides(parts: tuple[Engine, Registry]) -> None:
    """Options given at registration are defaults; a with clause overrides them."""
    engine, reg = parts
    flaky = Flaky(failures=2)
    reg.module(name="Get", retry=2)(flaky)
    assert engine.run("x = Get(1)\nout x\n").outputs == {"x": 1}
    assert flaky.calls == 3
    other = Flaky(failures=2)
    reg.module(name="Get2", retry=2)(other)
    assert engine.run("x = Get2(1) with retry: 0\nout x\n").status == "failed"
    assert other.calls == 1


def test_concurrency_limit_holds(parts: tuple[Engine, Registry]) -> None:
    """concurrency: 2 never lets more than two attempts of a module run at once."""
    engine, reg = parts
    running = 0
    peak = 0

    @reg.module
    async def Work(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        for _ in range(3):
            await asyncio.sleep(0)
        running -= 1
        return i

    src = "".join(f"w{i} = Work({i}) with concurrency: 2\nout w{i}\n" for i in range(6))
    result = engine.run(src)
    assert result.status == "completed"
    assert peak == 2
