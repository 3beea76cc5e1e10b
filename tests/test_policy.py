"""Tests for constellation.policy: every with-option applied at run time, on a fake clock."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from heapq import heappop, heappush
from typing import Any, TypeVar

import pytest

from constellation.errors import EvaluationFailure
from constellation.ir import Backoff, Options
from constellation.policy import (
    CallFailure,
    CallSite,
    ModuleStats,
    Policies,
    SystemClock,
    backoff_ms,
    cache_key,
    show_duration,
)
from tests.conftest import AutoClock

T = TypeVar("T")


# --------------------------------------------------------------------------- fake clocks


class ManualClock:
    """Time moves only on :meth:`advance`; sleepers wake when it reaches their deadline."""

    def __init__(self) -> None:
        self.time = 0.0
        self.sleeps: list[float] = []
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._count = 0
        self._listeners: list[asyncio.Future[None]] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        timer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._count += 1
        heappush(self._timers, (self.time + seconds, self._count, timer))
        for listener in self._listeners:
            if not listener.done():
                listener.set_result(None)
        self._listeners.clear()
        await timer

    @property
    def pending(self) -> int:
        """How many sleeps are still waiting (cancelled ones are not)."""
        return sum(1 for _, _, t in self._timers if not t.done())

    async def sleepers(self, n: int) -> None:
        """Wait until at least ``n`` sleeps are waiting."""
        while self.pending < n:
            listener: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._listeners.append(listener)
            await listener

    def advance(self, seconds: float) -> None:
        self.time += seconds
        while self._timers and self._timers[0][0] <= self.time:
            timer = heappop(self._timers)[2]
            if not timer.done():
                timer.set_result(None)


# --------------------------------------------------------------------------- helpers


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def site(module: str = "users.fetch", version: str = "1", **options: Any) -> CallSite:
    return CallSite(module, version, Options(**options), 3, 9)


def accept(value: object) -> object:
    return value


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the loop until ``condition`` holds (a bounded number of turns)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def attempts(policies: Policies, module: str) -> int:
    """Attempts started so far for ``module`` (0 before its first call)."""
    stats = policies.stats().get(module)
    return 0 if stats is None else stats.attempts


class Script:
    """A module whose successive attempts raise or return as scripted."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


async def call(
    policies: Policies,
    where: CallSite,
    attempt: Callable[[], object],
    args: tuple[object, ...] = (),
    *,
    is_async: bool = False,
    in_thread: bool = False,
    check: Callable[[object], object] = accept,
) -> object:
    return await policies.call(
        where, args, attempt, is_async=is_async, in_thread=in_thread, check=check
    )


def failure_of(policies: Policies, where: CallSite, attempt: Callable[[], object]) -> CallFailure:
    async def go() -> CallFailure:
        with pytest.raises(CallFailure) as info:
            await call(policies, where, attempt)
        return info.value

    return run(go())


# --------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (3000, "3s"),
        (200, "200ms"),
        (1500, "1500ms"),
        (60_000, "1min"),
        (90_000, "90s"),
        (3_600_000, "1h"),
        (5_400_000, "90min"),
        (86_400_000, "1d"),
        (0, "0ms"),
    ],
)
def test_show_duration_uses_the_largest_exact_unit(ms: int, text: str) -> None:
    """Durations print in the language's notation with the largest unit that is exact."""
    assert show_duration(ms) == text


@pytest.mark.parametrize(
    ("backoff", "delay", "waits"),
    [
        ("fixed", 100, [100, 100, 100, 100]),
        ("linear", 100, [100, 200, 300, 400]),
        ("exponential", 100, [100, 200, 400, 800]),
        ("exponential", 10_000, [10_000, 20_000, 30_000, 30_000]),
        ("linear", 12_000, [12_000, 24_000, 30_000, 30_000]),
        ("exponential", 40_000, [40_000, 40_000, 40_000, 40_000]),
        ("fixed", 45_000, [45_000, 45_000, 45_000, 45_000]),
        ("fixed", 0, [0, 0, 0, 0]),
    ],
)
def test_backoff_ms_follows_the_table_and_the_cap(
    backoff: Backoff, delay: int, waits: list[int]
) -> None:
    """Fixed, linear and exponential waits, capped at 30 s or at the delay if longer."""
    assert [backoff_ms(backoff, delay, k) for k in (1, 2, 3, 4)] == waits


def test_backoff_ms_survives_huge_retry_counts() -> None:
    """A retry count far beyond 64 does not build enormous integers."""
    assert backoff_ms("exponential", 1, 10**9) == 30_000


def test_cache_key_is_canonical_json() -> None:
    """Keys are sorted, separators compact, non-ASCII kept, Int and Float distinct."""
    assert cache_key(({"b": 1, "a": [1.0, "é"]}, None, True)) == '[{"a":[1.0,"é"],"b":1},null,true]'
    assert cache_key(({"a": 1, "b": 2},)) == cache_key(({"b": 2, "a": 1},))
    assert cache_key((1,)) != cache_key((1.0,))
    assert cache_key(({2: "x", 1: "y"},)) == '[{"1":"y","2":"x"}]'


def test_cache_key_handles_maps_whose_keys_do_not_sort() -> None:
    """A map with keys of mixed kinds still gets a stable key, distinct from a String map."""
    mixed = cache_key(({1: "a", "1": "b"},))
    assert mixed == cache_key(({"1": "b", 1: "a"},))
    assert mixed != cache_key(({"1": "a"},))


# --------------------------------------------------------------------------- retry


def test_retry_stops_at_the_first_success() -> None:
    """Failed attempts are retried, and the first success ends the call."""
    module = Script(ValueError("boom"), ValueError("boom"), "ok", "never")
    with Policies(AutoClock()) as policies:
        assert run(call(policies, site(retry=5), module)) == "ok"
    assert module.calls == 3
    assert policies.stats()["users.fetch"] == ModuleStats(calls=1, attempts=3, failed_attempts=2)


def test_a_single_failed_attempt_reports_the_module_message() -> None:
    """Without retry the message is `<Module> failed: <message>`, with the module's own name."""
    with Policies(AutoClock()) as policies:
        failure = failure_of(policies, site(timeout=None), Script(ValueError("no such user")))
    assert str(failure) == "fetch failed: no such user"
    assert (failure.module, failure.attempts, failure.timed_out) == ("users.fetch", 1, False)
    assert isinstance(failure, EvaluationFailure)
    assert isinstance(failure.__cause__, ValueError)


def test_every_failed_attempt_gives_the_count_and_the_last_message() -> None:
    """After retries: `<Module> failed after <n> attempts: <last message>`."""
    module = Script(ValueError("first"), ValueError("second"), ValueError("last"))
    with Policies(AutoClock()) as policies:
        failure = failure_of(policies, site("Fetch", retry=2), module)
    assert str(failure) == "Fetch failed after 3 attempts: last"
    assert failure.attempts == 3
    assert module.calls == 3
    assert policies.stats()["Fetch"].failures == 1


def test_an_empty_exception_message_is_replaced_by_its_class_name() -> None:
    """`raise KeyError()` still says what went wrong."""
    with Policies(AutoClock()) as policies:
        failure = failure_of(policies, site(retry=1), Script(KeyError()))
    assert str(failure) == "fetch failed after 2 attempts: KeyError"


def test_a_non_conforming_result_is_a_failed_attempt_and_is_retried() -> None:
    """`check`'s EvaluationFailure fails the attempt; its text is kept whole."""
    seen: list[object] = []

    def check(value: object) -> object:
        seen.append(value)
        if not isinstance(value, str):
            raise EvaluationFailure(f"fetch returned {value} where String was expected")
        return value.upper()

    async def go() -> tuple[object, CallFailure]:
        with Policies(AutoClock()) as policies:
            value = await call(policies, site(retry=2), Script(1, "ok"), check=check)
            with pytest.raises(CallFailure) as info:
                await call(policies, site(retry=1), Script(7), check=check)
        return value, info.value

    value, failure = run(go())
    assert value == "OK"
    assert seen == [1, "ok", 7, 7]
    assert str(failure) == (
        "fetch failed after 2 attempts: fetch returned 7 where String was expected"
    )


def test_an_evaluation_failure_from_the_attempt_is_a_complete_message() -> None:
    """An attempt that raises EvaluationFailure itself is not prefixed again."""
    with Policies(AutoClock()) as policies:
        failure = failure_of(policies, site(), Script(EvaluationFailure("fetch: bad input")))
    assert str(failure) == "fetch: bad input"


def test_an_engine_bug_in_check_propagates_and_is_not_retried() -> None:
    """An exception from `check` that is not an EvaluationFailure is a bug: raised as is."""
    module = Script("ok")

    def check(value: object) -> object:
        raise KeyError("bug")

    async def go() -> None:
        with Policies(AutoClock()) as policies, pytest.raises(KeyError):
            await call(policies, site(retry=3), module, check=check)

    run(go())
    assert module.calls == 1


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(2)])
@pytest.mark.parametrize("mode", ["sync", "async", "thread"])
def test_interrupts_propagate_and_are_not_retried(error: BaseException, mode: str) -> None:
    """KeyboardInterrupt and SystemExit from a module are never failures or retries."""
    module = Script(error)

    async def amodule() -> object:
        return module()

    async def go() -> None:
        with Policies(AutoClock()) as policies, pytest.raises(type(error)):
            await call(
                policies,
                site(retry=3),
                amodule if mode == "async" else module,
                is_async=mode == "async",
                in_thread=mode == "thread",
            )

    run(go())
    assert module.calls == 1


def test_a_cancelled_error_raised_by_the_module_propagates() -> None:
    """A module raising CancelledError is not a failed attempt to retry."""
    module = Script(asyncio.CancelledError())

    async def go() -> None:
        with Policies(AutoClock()) as policies, pytest.raises(asyncio.CancelledError):
            await call(policies, site(retry=3), module)

    run(go())
    assert module.calls == 1


def test_cancelling_a_running_attempt_propagates_without_retry() -> None:
    """Cancelling the call while its async attempt runs cancels it; nothing is retried."""
    started = asyncio.Event
    events: list[str] = []

    async def go() -> None:
        begun, never = started(), started()

        async def module() -> object:
            events.append("start")
            begun.set()
            try:
                await never.wait()
            except asyncio.CancelledError:
                events.append("cancelled")
                raise
            return "unreachable"

        with Policies(AutoClock()) as policies:
            task = asyncio.create_task(call(policies, site(retry=3), module, is_async=True))
            await begun.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert attempts(policies, "users.fetch") == 1

    run(go())
    assert events == ["start", "cancelled"]


def test_cancelling_during_the_backoff_wait_stops_the_retries() -> None:
    """A call cancelled while it waits between attempts makes no further attempt."""
    module = Script(ValueError("boom"))

    async def go() -> None:
        clock = ManualClock()
        with Policies(clock) as policies:
            task = asyncio.create_task(call(policies, site(retry=3, delay=1000), module))
            await clock.sleepers(1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert clock.pending == 0

    run(go())
    assert module.calls == 1


# --------------------------------------------------------------------------- backoff


@pytest.mark.parametrize(
    ("backoff", "delay", "sleeps"),
    [
        ("fixed", 200, [0.2, 0.2, 0.2, 0.2]),
        ("linear", 200, [0.2, 0.4, 0.6, 0.8]),
        ("exponential", 200, [0.2, 0.4, 0.8, 1.6]),
        ("exponential", 8000, [8.0, 16.0, 30.0, 30.0]),
        ("linear", 50_000, [50.0, 50.0, 50.0, 50.0]),
    ],
)
def test_backoff_waits_are_slept_on_the_clock(
    backoff: Backoff, delay: int, sleeps: list[float]
) -> None:
    """Between attempts the call sleeps the backoff delay on the injected clock, and only then."""
    clock = AutoClock()
    with Policies(clock) as policies:
        failure = failure_of(
            policies, site(retry=4, delay=delay, backoff=backoff), Script(ValueError("x"))
        )
    assert failure.attempts == 5
    assert clock.sleeps == sleeps


def test_no_delay_means_no_sleep() -> None:
    """With `delay: 0` retries follow each other without touching the clock."""
    clock = AutoClock()
    with Policies(clock) as policies:
        failure_of(policies, site(retry=3, backoff="exponential"), Script(ValueError("x")))
    assert clock.sleeps == []


# --------------------------------------------------------------------------- timeout


def test_a_timed_out_async_attempt_is_cancelled() -> None:
    """When the clock passes the timeout the attempt's task is cancelled and the call fails."""
    events: list[str] = []

    async def go() -> CallFailure:
        clock = ManualClock()
        never = asyncio.Event()

        async def module() -> object:
            try:
                await never.wait()
            except asyncio.CancelledError:
                events.append("cancelled")
                raise
            return "late"

        with Policies(clock) as policies:
            task = asyncio.create_task(call(policies, site(timeout=2000), module, is_async=True))
            await clock.sleepers(1)
            assert clock.sleeps == [2.0]
            clock.advance(1.999)
            await asyncio.sleep(0)
            assert not task.done()
            clock.advance(0.001)
            with pytest.raises(CallFailure) as info:
                await task
            assert policies.stats()["users.fetch"].timeouts == 1
        return info.value

    failure = run(go())
    assert str(failure) == "fetch timed out after 2s"
    assert failure.timed_out
    assert failure.__cause__ is None
    assert events == ["cancelled"]


def test_timeouts_are_retried_and_reported_whole() -> None:
    """Each attempt gets its own timeout; the final message keeps the timeout text."""

    async def go() -> CallFailure:
        clock = ManualClock()
        never = asyncio.Event()

        async def module() -> object:
            await never.wait()
            return "late"

        with Policies(clock) as policies:
            task = asyncio.create_task(
                call(policies, site(retry=1, timeout=200), module, is_async=True)
            )
            for _ in range(2):
                await clock.sleepers(1)
                clock.advance(0.2)
            with pytest.raises(CallFailure) as info:
                await task
        return info.value

    failure = run(go())
    assert str(failure) == "fetch failed after 2 attempts: fetch timed out after 200ms"
    assert failure.attempts == 2


def test_an_attempt_that_beats_its_timeout_succeeds_and_stops_the_timer() -> None:
    """A quick attempt returns its value and leaves no timer behind."""

    async def go() -> tuple[object, int]:
        clock = ManualClock()

        async def module() -> object:
            await asyncio.sleep(0)
            return "fast"

        with Policies(clock) as policies:
            value = await call(policies, site(timeout=1000), module, is_async=True)
            await asyncio.sleep(0)
            return value, clock.pending

    assert run(go()) == ("fast", 0)


def test_an_async_module_that_raises_under_a_timeout_fails_normally() -> None:
    """A module that raises before its timeout is an ordinary failed attempt."""

    async def module() -> object:
        raise ValueError("nope")

    async def go() -> CallFailure:
        with Policies(ManualClock()) as policies, pytest.raises(CallFailure) as info:
            await call(policies, site(timeout=1000), module, is_async=True)
        return info.value

    assert str(run(go())) == "fetch failed: nope"


def test_cancelling_a_call_under_a_timeout_cancels_the_attempt_and_the_timer() -> None:
    """Outside cancellation reaches the attempt's task and the clock's timer."""
    events: list[str] = []

    async def go() -> int:
        clock = ManualClock()
        never = asyncio.Event()

        async def module() -> object:
            try:
                await never.wait()
            except asyncio.CancelledError:
                events.append("cancelled")
                raise
            return "late"

        with Policies(clock) as policies:
            task = asyncio.create_task(
                call(policies, site(retry=2, timeout=1000), module, is_async=True)
            )
            await clock.sleepers(1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await until(lambda: bool(events))
            return clock.pending

    assert run(go()) == 0
    assert events == ["cancelled"]


def test_a_module_raising_while_being_cancelled_still_timed_out() -> None:
    """An attempt that answers its timeout's cancellation with another error timed out."""

    async def go() -> CallFailure:
        clock = ManualClock()
        never = asyncio.Event()

        async def module() -> object:
            try:
                await never.wait()
            except asyncio.CancelledError:
                raise RuntimeError("cleanup failed") from None
            return "late"

        with Policies(clock) as policies:
            task = asyncio.create_task(call(policies, site(timeout=100), module, is_async=True))
            await clock.sleepers(1)
            clock.advance(0.1)
            with pytest.raises(CallFailure) as info:
                await task
        return info.value

    assert str(run(go())) == "fetch timed out after 100ms"


@pytest.mark.parametrize("mode", ["async", "thread"])
def test_the_system_clock_times_attempts_out_with_the_loop_timer(mode: str) -> None:
    """On the real clock a tiny timeout expires an attempt that never ends by itself."""
    release = threading.Event()
    events: list[str] = []

    def blocked() -> object:
        release.wait()
        return "late"

    async def go() -> CallFailure:
        never = asyncio.Event()

        async def module() -> object:
            try:
                await never.wait()
            except asyncio.CancelledError:
                events.append("cancelled")
                raise
            return "late"

        with Policies() as policies:
            try:
                with pytest.raises(CallFailure) as info:
                    await call(
                        policies,
                        site(retry=1, timeout=1),
                        module if mode == "async" else blocked,
                        is_async=mode == "async",
                    )
            finally:
                release.set()
        return info.value

    failure = run(go())
    assert str(failure) == "fetch failed after 2 attempts: fetch timed out after 1ms"
    assert events == (["cancelled", "cancelled"] if mode == "async" else [])


def test_the_system_clock_lets_quick_attempts_finish_and_calls_be_cancelled() -> None:
    """A real timeout that does not expire leaves the result alone, and outside cancellation
    still reaches the attempt."""
    events: list[str] = []

    async def go() -> object:
        begun, never = asyncio.Event(), asyncio.Event()

        async def quick() -> object:
            return "fast"

        async def stuck() -> object:
            begun.set()
            try:
                await never.wait()
            except asyncio.CancelledError:
                events.append("cancelled")
                raise
            return "late"

        with Policies() as policies:
            value = await call(policies, site(timeout=60_000), quick, is_async=True)
            task = asyncio.create_task(
                call(policies, site(retry=2, timeout=60_000), stuck, is_async=True)
            )
            await begun.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert attempts(policies, "users.fetch") == 2
        return value

    assert run(go()) == "fast"
    assert events == ["cancelled"]


def test_waiting_for_a_slot_does_not_count_against_the_timeout() -> None:
    """The timer of an attempt starts only once it holds its concurrency slot."""

    async def go() -> None:
        clock = ManualClock()
        gates = [asyncio.Event(), asyncio.Event()]
        where = site(timeout=1000, concurrency=1)

        def module(i: int) -> Callable[[], Awaitable[object]]:
            async def attempt() -> object:
                await gates[i].wait()
                return i

            return attempt

        with Policies(clock) as policies:
            first = asyncio.create_task(call(policies, where, module(0), is_async=True))
            await clock.sleepers(1)
            second = asyncio.create_task(call(policies, where, module(1), is_async=True))
            await until(lambda: attempts(policies, "users.fetch") == 2)
            assert clock.pending == 1  # the waiting call has no timer yet
            clock.advance(0.5)
            gates[0].set()
            assert await first == 0
            await clock.sleepers(1)  # the second attempt's timer, from t = 0.5
            clock.advance(0.999)
            await asyncio.sleep(0)
            assert not second.done()
            clock.advance(0.001)
            with pytest.raises(CallFailure, match=r"^fetch timed out after 1s$"):
                await second

    run(go())


def test_a_sync_module_with_a_timeout_runs_in_a_thread_and_is_abandoned() -> None:
    """A sync attempt past its timeout fails the call; its thread's result is discarded."""
    release = threading.Event()
    finished: list[object] = []

    def module() -> object:
        release.wait()
        finished.append(threading.get_ident())
        return "late"

    async def go() -> CallFailure:
        clock = ManualClock()
        with Policies(clock) as policies:
            task = asyncio.create_task(call(policies, site(timeout=3000), module))
            await clock.sleepers(1)
            clock.advance(3)
            with pytest.raises(CallFailure) as info:
                await task
            assert finished == []  # the thread is still blocked: the call did not wait for it
            release.set()
        return info.value

    failure = run(go())
    assert str(failure) == "fetch timed out after 3s"
    assert finished != [threading.get_ident()]
    assert len(finished) == 1


def test_a_timed_out_thread_keeps_its_worker_until_it_ends() -> None:
    """With one worker thread, the next threaded call waits for the abandoned one to finish."""
    release = threading.Event()
    order: list[str] = []

    def slow() -> object:
        release.wait()
        order.append("slow")
        return "late"

    def quick() -> object:
        order.append("quick")
        return "quick"

    async def go() -> object:
        clock = ManualClock()
        with Policies(clock, threads=1) as policies:
            stuck = asyncio.create_task(call(policies, site(timeout=1000), slow))
            await clock.sleepers(1)
            clock.advance(1)
            with pytest.raises(CallFailure):
                await stuck
            follower = asyncio.create_task(call(policies, site("other"), quick, in_thread=True))
            await until(lambda: attempts(policies, "other") == 1)
            await asyncio.sleep(0)
            assert order == []
            release.set()
            return await follower

    assert run(go()) == "quick"
    assert order == ["slow", "quick"]


def test_blocking_modules_run_in_a_worker_thread() -> None:
    """`in_thread` runs a sync attempt off the event loop's thread, with or without options."""

    def module() -> object:
        return threading.get_ident()

    async def go() -> list[object]:
        with Policies(ManualClock()) as policies:
            return [
                await call(policies, site(), module, in_thread=True),
                await call(policies, site(retry=2), module, in_thread=True),
                await call(policies, site(timeout=5000), module),  # a timeout implies a thread
                await call(policies, site(retry=2), module),  # otherwise inline
            ]

    loop_thread = threading.get_ident()
    idents = run(go())
    assert [i != loop_thread for i in idents] == [True, True, True, False]


def test_a_module_failing_in_a_thread_is_a_failed_attempt() -> None:
    """Exceptions cross the thread boundary as ordinary failures."""

    async def go() -> CallFailure:
        with Policies(AutoClock()) as policies, pytest.raises(CallFailure) as info:
            await call(policies, site(retry=1), Script(OSError("disk")), in_thread=True)
        return info.value

    assert str(run(go())) == "fetch failed after 2 attempts: disk"


# --------------------------------------------------------------------------- cache


def test_cache_hits_misses_and_expiry_follow_the_clock() -> None:
    """A result is reused until `cache` ms have passed on the clock, and counted."""
    module = Script("a", "b", "c")
    clock = ManualClock()
    where = site(cache=1000)

    async def go(policies: Policies) -> list[object]:
        values = [await call(policies, where, module, ({"id": 1, "x": "y"},))]
        clock.advance(0.999)
        values.append(await call(policies, where, module, ({"x": "y", "id": 1},)))
        clock.advance(0.001)
        values.append(await call(policies, where, module, ({"id": 1, "x": "y"},)))
        values.append(await call(policies, where, module, ({"id": 1, "x": "y"},)))
        return values

    with Policies(clock) as policies:
        assert run(go(policies)) == ["a", "a", "b", "b"]
        stats = policies.stats()["users.fetch"]
    assert module.calls == 2
    assert (stats.cache_hits, stats.cache_misses, stats.calls) == (2, 2, 4)


def test_the_cache_stores_the_checked_value_and_skips_check_on_a_hit() -> None:
    """What is cached is the converted value; a hit returns it without another check."""
    checks: list[object] = []

    def check(value: object) -> object:
        checks.append(value)
        return float(value)  # type: ignore[arg-type]

    async def go() -> list[object]:
        with Policies(ManualClock()) as policies:
            return [
                await call(policies, site(cache=5000), Script(2), (1,), check=check)
                for _ in range(3)
            ]

    assert run(go()) == [2.0, 2.0, 2.0]
    assert checks == [2]


def test_the_cache_is_shared_by_sites_and_keyed_by_module_version_args_and_backend() -> None:
    """Any call of the same module version with equal arguments hits, whatever its options;
    other arguments, versions, modules or backends miss."""
    module = Script("v")
    with Policies(ManualClock()) as policies:

        async def go() -> None:
            await call(policies, site(cache=60_000), module, (1,))
            await call(policies, site(cache=1000, retry=2, priority=80), module, (1,))
            await call(policies, site(cache=60_000), module, (2,))
            await call(policies, site(version="2", cache=60_000), module, (1,))
            await call(policies, site("users.other", cache=60_000), module, (1,))
            await call(policies, site(cache=60_000, cache_backend="redis"), module, (1,))
            await call(policies, site(cache=60_000, cache_backend="redis"), module, (1,))

        run(go())
        stats = policies.stats()
    assert module.calls == 5
    assert stats["users.fetch"].cache_hits == 2
    assert stats["users.other"].cache_misses == 1


def test_failures_are_not_cached() -> None:
    """A failed call stores nothing: the next call runs the module again."""
    module = Script(ValueError("down"), "up")

    async def go() -> object:
        with Policies(ManualClock()) as policies:
            with pytest.raises(CallFailure):
                await call(policies, site(cache=60_000), module, ("k",))
            value = await call(policies, site(cache=60_000), module, ("k",))
            assert await call(policies, site(cache=60_000), module, ("k",)) == "up"
            assert policies.stats()["users.fetch"].cache_hits == 1
            return value

    assert run(go()) == "up"
    assert module.calls == 2


def test_caches_belong_to_one_policies_object() -> None:
    """Two engines do not share cached results, even through one CallSite object."""
    module = Script("x")
    where = site(cache=60_000)
    with Policies(ManualClock()) as first, Policies(ManualClock()) as second:
        for policies in (first, second, first, second):
            run(call(policies, where, module, (1,)))
    assert module.calls == 2


def test_a_full_cache_drops_its_oldest_entry() -> None:
    """Each backend keeps at most `cache_entries` results."""
    module = Script("x")

    async def go(policies: Policies) -> None:
        for arg in (1, 2, 3, 2, 3, 1):
            await call(policies, site(cache=60_000), module, (arg,))

    with Policies(ManualClock(), cache_entries=2) as policies:
        run(go(policies))
        assert policies.stats()["users.fetch"].cache_hits == 2
    assert module.calls == 4


def test_a_cached_absent_value_is_a_hit() -> None:
    """`None` (an absent optional) is a result like any other."""
    module = Script(None)

    async def go() -> list[object]:
        with Policies(ManualClock()) as policies:
            return [await call(policies, site(cache=1000), module) for _ in range(2)]

    assert run(go()) == [None, None]
    assert module.calls == 1


# --------------------------------------------------------------------------- throttle


def test_throttle_spends_tokens_then_waits_for_the_refill() -> None:
    """`throttle: 2/1s`: two attempts at once, then one every half second; a pause refills
    the bucket up to its capacity, no more."""
    clock = AutoClock()
    where = site(throttle=(2, 1000))
    times: list[float] = []

    def module() -> object:
        times.append(clock.time)
        return "ok"

    async def go(policies: Policies) -> None:
        for _ in range(3):
            await call(policies, where, module)
        clock.time += 10
        for _ in range(3):
            await call(policies, where, module)

    with Policies(clock) as policies:
        run(go(policies))
    assert times == [0.0, 0.0, 0.5, 10.5, 10.5, 11.0]
    assert clock.sleeps == [0.5, 0.5]


def test_every_attempt_takes_a_token() -> None:
    """Retries are throttled too: three attempts on `throttle: 1/2s` wait twice."""
    clock = AutoClock()
    with Policies(clock) as policies:
        failure_of(policies, site(retry=2, throttle=(1, 2000)), Script(ValueError("x")))
    assert clock.sleeps == [2.0, 2.0]


def test_throttle_buckets_are_per_module_and_rate() -> None:
    """Other modules, or the same module at another rate, have their own bucket."""
    clock = AutoClock()

    async def go(policies: Policies) -> None:
        for where in (
            site(throttle=(1, 1000)),
            site("users.other", throttle=(1, 1000)),
            site(throttle=(1, 2000)),
            site(throttle=(1, 1000), retry=1),  # same bucket as the first
        ):
            await call(policies, where, Script("ok"))

    with Policies(clock) as policies:
        run(go(policies))
    assert clock.sleeps == [1.0]


def test_throttle_waiters_are_served_by_priority() -> None:
    """When tokens are scarce the highest priority goes first; equal ones keep arrival order."""
    order: list[str] = []

    def module(label: str) -> Callable[[], object]:
        def attempt() -> object:
            order.append(label)
            return label

        return attempt

    async def go() -> None:
        clock = ManualClock()
        with Policies(clock) as policies:
            await call(policies, site(throttle=(1, 1000)), module("first"))
            tasks = [
                asyncio.create_task(
                    call(policies, site(throttle=(1, 1000), priority=p), module(label))
                )
                for label, p in (("low", 20), ("high-a", 80), ("normal", 50), ("high-b", 80))
            ]
            await until(lambda: attempts(policies, "users.fetch") == 5)
            for _ in tasks:
                await clock.sleepers(1)
                clock.advance(1)
            await asyncio.gather(*tasks)

    run(go())
    assert order == ["first", "high-a", "high-b", "normal", "low"]


def test_a_cancelled_throttle_waiter_loses_no_token() -> None:
    """Cancelling a call waiting for a token leaves the token for the next one."""

    async def go() -> list[float]:
        clock = ManualClock()
        where = site(throttle=(1, 1000))
        with Policies(clock) as policies:
            await call(policies, where, Script("a"))
            waiting = asyncio.create_task(call(policies, where, Script("b")))
            await clock.sleepers(1)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            clock.advance(1)
            await until(lambda: clock.pending == 0)
            await call(policies, where, Script("c"))  # the refilled token, without waiting
            return clock.sleeps

    assert run(go()) == [1.0]


# --------------------------------------------------------------------------- concurrency


def test_concurrency_limits_simultaneous_attempts() -> None:
    """`concurrency: 2`: never more than two attempts of the module run at once."""
    running = 0
    most = 0

    async def go() -> list[object]:
        gates = [asyncio.Event() for _ in range(5)]

        def module(i: int) -> Callable[[], Awaitable[object]]:
            async def attempt() -> object:
                nonlocal running, most
                running += 1
                most = max(most, running)
                await gates[i].wait()
                running -= 1
                return i

            return attempt

        with Policies(AutoClock()) as policies:
            tasks = [
                asyncio.create_task(call(policies, site(concurrency=2), module(i), is_async=True))
                for i in range(5)
            ]
            await until(lambda: attempts(policies, "users.fetch") == 5)
            assert running == 2
            for gate in gates:
                gate.set()
                await asyncio.sleep(0)
            return list(await asyncio.gather(*tasks))

    assert run(go()) == [0, 1, 2, 3, 4]
    assert most == 2


def test_concurrency_slots_are_shared_by_equal_sites_and_keyed_by_limit() -> None:
    """Distinct CallSite objects of one module and limit share a semaphore; another limit does not."""

    async def go() -> tuple[bool, bool]:
        gate = asyncio.Event()

        async def hold() -> object:
            await gate.wait()
            return "held"

        async def quick() -> object:
            return "quick"

        with Policies(AutoClock()) as policies:
            holder = asyncio.create_task(call(policies, site(concurrency=1), hold, is_async=True))
            await until(lambda: attempts(policies, "users.fetch") == 1)
            blocked = asyncio.create_task(call(policies, site(concurrency=1), quick, is_async=True))
            free = asyncio.create_task(call(policies, site(concurrency=3), quick, is_async=True))
            await until(free.done)
            was_blocked = not blocked.done()
            gate.set()
            await asyncio.gather(holder, blocked)
            return was_blocked, free.done()

    assert run(go()) == (True, True)


def test_the_slot_is_free_during_backoff() -> None:
    """A call waiting to retry does not hold its concurrency slot."""

    async def go() -> object:
        clock = ManualClock()
        with Policies(clock) as policies:
            failing = asyncio.create_task(
                call(policies, site(concurrency=1, retry=1, delay=1000), Script(ValueError()))
            )
            await clock.sleepers(1)
            value = await call(policies, site(concurrency=1), Script("meanwhile"))
            clock.advance(1)
            with pytest.raises(CallFailure):
                await failing
            return value

    assert run(go()) == "meanwhile"


def test_concurrency_waiters_are_served_by_priority() -> None:
    """Waiting calls get the slot highest priority first, equal priorities in arrival order."""
    order: list[str] = []

    async def go() -> None:
        gate = asyncio.Event()

        async def hold() -> object:
            await gate.wait()
            return None

        def module(label: str) -> Callable[[], object]:
            def attempt() -> object:
                order.append(label)
                return label

            return attempt

        with Policies(AutoClock()) as policies:
            holder = asyncio.create_task(call(policies, site(concurrency=1), hold, is_async=True))
            await until(lambda: attempts(policies, "users.fetch") == 1)
            tasks = [
                asyncio.create_task(call(policies, site(concurrency=1, priority=p), module(label)))
                for label, p in (
                    ("low", 20),
                    ("high-a", 80),
                    ("normal", 50),
                    ("critical", 100),
                    ("high-b", 80),
                    ("background", 0),
                )
            ]
            await until(lambda: attempts(policies, "users.fetch") == 7)
            gate.set()
            await asyncio.gather(holder, *tasks)

    run(go())
    assert order == ["critical", "high-a", "high-b", "normal", "low", "background"]


def test_a_cancelled_slot_waiter_does_not_leak_the_slot() -> None:
    """Cancelled waiters and cancelled holders give their slot back."""

    async def go() -> object:
        gate = asyncio.Event()

        async def hold() -> object:
            await gate.wait()
            return None

        with Policies(AutoClock()) as policies:
            where = site(concurrency=1)
            holder = asyncio.create_task(call(policies, where, hold, is_async=True))
            await until(lambda: attempts(policies, "users.fetch") == 1)
            waiter = asyncio.create_task(call(policies, where, Script("never")))
            await until(lambda: attempts(policies, "users.fetch") == 2)
            waiter.cancel()
            holder.cancel()
            for task in (waiter, holder):
                with pytest.raises(asyncio.CancelledError):
                    await task
            return await call(policies, where, Script("free"))

    assert run(go()) == "free"


def test_worker_threads_are_handed_out_by_priority() -> None:
    """With every worker busy, the waiting call of highest priority gets the next thread."""
    order: list[str] = []
    release = threading.Event()

    def hold() -> object:
        release.wait()
        return None

    def module(label: str) -> Callable[[], object]:
        def attempt() -> object:
            order.append(label)
            return label

        return attempt

    async def go() -> None:
        with Policies(AutoClock(), threads=1) as policies:
            holder = asyncio.create_task(call(policies, site("hold"), hold, in_thread=True))
            await until(lambda: attempts(policies, "hold") == 1)
            tasks = [
                asyncio.create_task(call(policies, site(priority=p), module(label), in_thread=True))
                for label, p in (("low", 20), ("high", 80), ("normal", 50))
            ]
            await until(lambda: attempts(policies, "users.fetch") == 3)
            release.set()
            await asyncio.gather(holder, *tasks)

    run(go())
    assert order == ["high", "normal", "low"]


# --------------------------------------------------------------------------- the object


def test_the_system_clock_drives_a_real_call() -> None:
    """The default clock is monotonic time and asyncio.sleep; plain calls need no waiting."""
    clock = SystemClock()
    before = clock.now()
    run(clock.sleep(0))
    assert clock.now() >= before
    with Policies() as policies:
        assert isinstance(policies.clock, SystemClock)
        assert run(call(policies, site(retry=1, delay=1), Script("ok"))) == "ok"


def test_close_is_idempotent_and_a_later_thread_call_starts_a_new_pool() -> None:
    """Closing shuts the pool down; using the object again starts another."""
    policies = Policies(AutoClock())
    policies.close()
    assert run(call(policies, site(), Script(1), in_thread=True)) == 1
    policies.close()
    policies.close()
    assert run(call(policies, site(), Script(2), in_thread=True)) == 2
    policies.close()


def test_threads_must_be_positive() -> None:
    """A pool without threads could never run anything."""
    with pytest.raises(ValueError, match="threads must be at least 1, not 0"):
        Policies(threads=0)


def test_call_sites_compare_by_value() -> None:
    """The remembered per-engine state is not part of a site's value."""
    a, b = site(retry=1), site(retry=1)
    with Policies(AutoClock()) as policies:
        run(call(policies, a, Script("x")))
    assert a == b
    assert hash(a) == hash(b)
    assert repr(a) == repr(b)
