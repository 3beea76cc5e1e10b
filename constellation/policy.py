"""With-options at run time: cache, throttle, concurrency, timeout, retry and backoff.

The runtime hands every module call whose options are not ``plain``, and every call that
must run in a worker thread or under a timeout, to one :class:`Policies` per engine::

    policies = Policies(clock=None, threads=8)          # shared caches, buckets, slots, counters
    site = CallSite("users.fetch-user", "1", options, 3, 9)   # once per call node, then reused
    value = await policies.call(site, args, attempt, is_async=..., in_thread=..., check=...)
    policies.stats()                                    # {module: ModuleStats(...)}
    policies.close()                                    # shuts the worker threads down

``call`` applies the options in the order of language.md §8.3:

1. **Cache** (``cache`` set): the key is (module qualified name, module version, canonical
   JSON of ``args`` with sorted keys) in the store named ``cache_backend`` (every name is an
   in-memory store of this engine). An unexpired entry is the result; no attempt is made.
2. **Attempts**, at most ``retry + 1``. Before each: a ``throttle`` token (a token bucket per
   (module, count, per)), then a ``concurrency`` slot (a semaphore per (module, n)). The
   attempt calls ``attempt()`` — on the event loop (awaiting its result when ``is_async``),
   or in a worker thread when a sync module has ``in_thread`` or a ``timeout`` — limited by
   ``timeout`` (the waiting does not count), then ``check(result)``. Between failed attempts
   it waits the backoff delay.
3. **Success** stores the checked value in the cache and returns it.

**Fallback and on_error are the caller's.** When every attempt failed, ``call`` raises
:class:`CallFailure`, an :class:`~constellation.errors.EvaluationFailure` whose ``str`` is
the node's failure message (language.md §5.3) and whose ``__cause__`` is the module's last
exception, if any. The caller catches ``EvaluationFailure`` and evaluates the fallback or
applies ``on_error`` (§8.3 steps 4–6); a fallback or on_error value is never cached.

Messages (``<M>`` is the module's own name, the last segment of the qualified name):
``<M> failed: <exception message>`` (the exception's class name if its message is empty);
``<M> timed out after <duration>`` (:func:`show_duration` of the option, e.g. ``3s``,
``200ms``); ``check``'s own ``EvaluationFailure`` text as is (``<M> returned … where … was
expected``). With more than one attempt: ``<M> failed after <n> attempts: <last>``, where
``<last>`` is the last exception's message for a raise and the whole message otherwise
(``fetch failed after 3 attempts: fetch timed out after 2s``). An ``EvaluationFailure``
raised by ``attempt`` itself is taken as a complete message, like ``check``'s.

Never retried, never turned into a failure (they propagate at once, releasing what they
hold): ``asyncio.CancelledError``, ``KeyboardInterrupt``, ``SystemExit`` and any other
``BaseException`` that is not an ``Exception``; and any exception ``check`` raises that is
not an ``EvaluationFailure`` — that is a bug in the engine, not a failed attempt.

Waiting (throttle tokens, concurrency slots, worker threads) is served by priority: the
highest ``priority`` first, equal priorities in arrival order (§8.4). Every wait on time —
backoff delays, throttle refills, timeouts — goes through the injected :class:`Clock`, so a
test clock drives them deterministically. A worker thread's slot is held until the thread
really ends, even when a timeout has already discarded its result.

Cost: what depends only on the site (names, delays, its cache store, bucket and semaphore,
its counters) is prepared once per (Policies, site) and remembered on the ``CallSite``; a
call with only ``retry`` that succeeds adds a fraction of a microsecond to the module call.
An async attempt under a timeout runs as its own task (about 10 µs more); with the real
clock the timeout is a loop timer, with any other clock a task sleeping on that clock.

The waiting structures belong to the event loop that uses them: a ``Policies`` serves one
event loop at a time (the engine's). Cached values are shared, not copied: callers must not
mutate them. Concurrent misses of one key each run the module (no single flight).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future as ThreadFuture
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from heapq import heappop, heappush
from typing import Final, Protocol, cast

from constellation.errors import EvaluationFailure
from constellation.ir import Backoff, Options

__all__ = [
    "CallFailure",
    "CallSite",
    "Clock",
    "ModuleStats",
    "Policies",
    "SystemClock",
    "backoff_ms",
    "cache_key",
    "show_duration",
]

#: The longest computed backoff wait, unless ``delay`` itself is longer (§8.2).
MAX_BACKOFF_MS: Final = 30_000
#: Entries kept per cache backend before the oldest are dropped.
DEFAULT_CACHE_ENTRIES: Final = 10_000
# Token arithmetic is in floats: a refill that lands a hair below a whole token counts.
_EPSILON: Final = 1e-9
_UNITS: Final = (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1_000))


# --------------------------------------------------------------------------- public values


class Clock(Protocol):
    """Where time comes from: monotonic seconds, and a way to wait for them to pass."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class CallSite:
    """One module call of a pipeline: what :meth:`Policies.call` needs to know about it.

    Make one per call node and reuse it: the per-site work (names, delays, the shared
    buckets and semaphores it uses) is done on first use and remembered on the site.
    """

    module: str  # qualified name, e.g. "users.fetch-user"
    version: str
    options: Options
    line: int
    column: int
    # The prepared state of the last Policies that served this site (see Policies._prepare).
    _state: _Site | None = field(default=None, init=False, repr=False, compare=False)


class CallFailure(EvaluationFailure):
    """Every attempt of a module call failed; ``str`` is the node's failure message."""

    def __init__(self, message: str, *, module: str, attempts: int, timed_out: bool) -> None:
        super().__init__(message)
        self.module = module  # qualified name
        self.attempts = attempts  # attempts made
        self.timed_out = timed_out  # whether the last attempt timed out


@dataclass(frozen=True, slots=True)
class ModuleStats:
    """Counters of one module since its engine started (:meth:`Policies.stats`)."""

    calls: int = 0  # calls that went through the policies
    cache_hits: int = 0
    cache_misses: int = 0  # lookups of calls with `cache` that found nothing unexpired
    attempts: int = 0  # attempts started (a retry is an attempt)
    failed_attempts: int = 0  # attempts that raised, timed out or returned a bad value
    timeouts: int = 0  # attempts that timed out
    failures: int = 0  # calls whose every attempt failed


def show_duration(ms: int) -> str:
    """A duration in the language's notation, with the largest exact unit: ``3s``, ``200ms``."""
    for unit, size in _UNITS:
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def backoff_ms(backoff: Backoff, delay: int, k: int) -> int:
    """The wait before retry ``k`` (1-based) in milliseconds (language.md §8.2).

    ``fixed`` waits ``delay``, ``linear`` ``k × delay``, ``exponential`` ``2^(k−1) × delay``;
    every wait is capped at 30 s, or at ``delay`` when that is longer.
    """
    cap = max(MAX_BACKOFF_MS, delay)
    if backoff == "linear":
        wait = k * delay
    elif backoff == "exponential":
        wait = delay << (k - 1) if k <= 64 else cap
    else:
        wait = delay
    return min(wait, cap)


_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
).encode


def cache_key(args: tuple[object, ...]) -> str:
    """The canonical JSON of call arguments: sorted keys, no spaces, non-ASCII kept."""
    try:
        return _dumps(args)
    except TypeError:
        # Maps with Int keys mixed with other keys cannot be sorted by json; spell such maps
        # as tagged, sorted [key, value] pairs instead.
        return _dumps(_tagged(args))


def _tagged(value: object) -> object:
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: _tagged(v) for k, v in value.items()}
        pairs = sorted(([_tagged(k), _tagged(v)] for k, v in value.items()), key=_dumps)
        return {"\u0000map": pairs}
    if isinstance(value, list | tuple):
        return [_tagged(x) for x in value]
    return value


# --------------------------------------------------------------------------- waiting


# A waiter: (-priority, arrival number, future resolved when served). Heap order serves the
# highest priority first, then the earliest arrival.
_Waiter = tuple[int, int, "asyncio.Future[None]"]


class _Slots:
    """A counting semaphore whose waiters are served by priority, then arrival.

    A release hands the slot straight to the best waiter, so a newcomer can never overtake
    someone already waiting. Fast path for callers: ``if s.free > 0 and not s.waiters``.
    """

    __slots__ = ("_arrivals", "free", "waiters")

    def __init__(self, n: int) -> None:
        self.free = n
        self.waiters: list[_Waiter] = []
        self._arrivals = 0

    async def acquire(self, priority: int) -> None:
        waiters = self.waiters
        while waiters and waiters[0][2].done():
            heappop(waiters)  # cancelled waiters are dropped lazily
        if self.free > 0 and not waiters:
            self.free -= 1
            return
        served: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._arrivals += 1
        heappush(waiters, (-priority, self._arrivals, served))
        try:
            await served
        except BaseException:
            if served.done() and not served.cancelled():
                self.release()  # handed a slot just as we were cancelled: pass it on
            raise

    def release(self) -> None:
        waiters = self.waiters
        while waiters:
            served = heappop(waiters)[2]
            if not served.done():
                served.set_result(None)
                return
        self.free += 1


class _Bucket:
    """A token bucket (capacity ``count``, refilled continuously at ``count`` per ``per_ms``)
    whose waiters are served by priority, then arrival.

    One background task per bucket (the *server*) sleeps on the clock until the next token
    and hands it to the best waiter; it ends when nobody waits.
    """

    __slots__ = ("_arrivals", "_clock", "_server", "capacity", "rate", "stamp", "tokens", "waiters")

    def __init__(self, count: int, per_ms: int, clock: Clock) -> None:
        self.capacity = float(count)
        self.rate = count * 1000.0 / per_ms  # tokens per second
        self.tokens = float(count)
        self._clock = clock
        self.stamp = clock.now()
        self.waiters: list[_Waiter] = []
        self._arrivals = 0
        self._server: asyncio.Task[None] | None = None

    def try_take(self) -> bool:
        """Take a token now if one is free and nobody waits before us."""
        if self.waiters:
            return False
        self._refill()
        if self.tokens >= 1.0 - _EPSILON:
            self.tokens -= 1.0
            return True
        return False

    async def take(self, priority: int) -> None:
        loop = asyncio.get_running_loop()
        served: asyncio.Future[None] = loop.create_future()
        self._arrivals += 1
        heappush(self.waiters, (-priority, self._arrivals, served))
        if self._server is None:
            self._server = loop.create_task(self._serve())
        try:
            await served
        except BaseException:
            if served.done() and not served.cancelled() and served.exception() is None:
                self.tokens += 1.0  # handed a token just as we were cancelled: give it back
            raise

    def _refill(self) -> None:
        now = self._clock.now()
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    async def _serve(self) -> None:
        waiters = self.waiters
        try:
            while True:
                while waiters and waiters[0][2].done():
                    heappop(waiters)
                if not waiters:
                    return
                self._refill()
                if self.tokens >= 1.0 - _EPSILON:
                    self.tokens -= 1.0
                    heappop(waiters)[2].set_result(None)
                else:
                    await self._clock.sleep((1.0 - self.tokens) / self.rate)
        except Exception as exc:  # a broken clock: let the waiters see it rather than hang
            for _, _, served in waiters:
                if not served.done():
                    served.set_exception(exc)
            waiters.clear()
        finally:
            self._server = None


class _MemoryCache:
    """One named cache backend: key → (expiry by the clock, value), oldest dropped first."""

    __slots__ = ("entries", "limit")

    def __init__(self, limit: int) -> None:
        self.entries: dict[tuple[str, str, str], tuple[float, object]] = {}
        self.limit = limit

    def get(self, key: tuple[str, str, str], now: float) -> object:
        entry = self.entries.get(key)
        if entry is None:
            return _MISS
        if now < entry[0]:
            return entry[1]
        del self.entries[key]
        return _MISS

    def put(self, key: tuple[str, str, str], value: object, expires: float) -> None:
        entries = self.entries
        entries.pop(key, None)
        entries[key] = (expires, value)
        if len(entries) > self.limit:
            del entries[next(iter(entries))]


_MISS: Final = object()


class _Counters:
    __slots__ = (
        "attempts",
        "cache_hits",
        "cache_misses",
        "calls",
        "failed_attempts",
        "failures",
        "timeouts",
    )

    def __init__(self) -> None:
        self.calls = self.cache_hits = self.cache_misses = 0
        self.attempts = self.failed_attempts = self.timeouts = self.failures = 0


class _Site:
    """What one Policies prepared for one call site: everything computable before a call."""

    __slots__ = (
        "attempts",
        "backoff",
        "bucket",
        "cache",
        "counters",
        "delay",
        "name",
        "owner",
        "priority",
        "qualified",
        "slots",
        "timeout",
        "timeout_text",
        "ttl",
        "version",
    )

    def __init__(self, owner: Policies, site: CallSite) -> None:
        o = site.options
        self.owner = owner
        self.qualified = site.module
        self.version = site.version
        self.name = site.module.rpartition(".")[2]
        self.attempts = o.retry + 1
        self.backoff: Backoff = o.backoff
        self.delay = o.delay
        self.priority = o.priority
        self.timeout = None if o.timeout is None else o.timeout / 1000.0
        self.timeout_text = "" if o.timeout is None else show_duration(o.timeout)
        self.ttl = None if o.cache is None else o.cache / 1000.0
        self.cache = None if o.cache is None else owner._cache(o.cache_backend)
        self.bucket = None if o.throttle is None else owner._bucket(site.module, o.throttle)
        self.slots = None if o.concurrency is None else owner._slots(site.module, o.concurrency)
        self.counters = owner._counters_for(site.module)


class _TimedOut(Exception):
    """An attempt outlived its timeout (internal)."""


# --------------------------------------------------------------------------- the policies


class Policies:
    """The with-options of one engine: its caches, throttle buckets, concurrency semaphores,
    worker threads and counters, applied to module calls by :meth:`call`."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        threads: int = 8,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
    ) -> None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        self.clock: Clock = SystemClock() if clock is None else clock
        self.threads = threads
        self._cache_entries = cache_entries
        self._sites: dict[tuple[object, ...], _Site] = {}
        self._caches: dict[str, _MemoryCache] = {}
        self._buckets: dict[tuple[str, int, int], _Bucket] = {}
        self._semaphores: dict[tuple[str, int], _Slots] = {}
        self._counters: dict[str, _Counters] = {}
        self._thread_slots = _Slots(threads)
        self._pool: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ the call

    async def call(
        self,
        site: CallSite,
        args: tuple[object, ...],
        attempt: Callable[[], Awaitable[object]] | Callable[[], object],
        *,
        is_async: bool,
        in_thread: bool,
        check: Callable[[object], object],
    ) -> object:
        """The value of one module call under its options; :class:`CallFailure` when every
        attempt failed (see the module docstring for the contract)."""
        st = site._state
        if st is None or st.owner is not self:
            st = self._prepare(site)
        counters = st.counters
        counters.calls += 1
        cache = st.cache
        key: tuple[str, str, str] | None = None
        if cache is not None:
            key = (st.qualified, st.version, cache_key(args))
            hit = cache.get(key, self.clock.now())
            if hit is not _MISS:
                counters.cache_hits += 1
                return hit
            counters.cache_misses += 1
        timeout = st.timeout
        threaded = not is_async and (in_thread or timeout is not None)
        bucket = st.bucket
        slots = st.slots
        n = 0
        while True:
            n += 1
            counters.attempts += 1
            if bucket is not None and not bucket.try_take():
                await bucket.take(st.priority)
            if slots is not None:
                if slots.free > 0 and not slots.waiters:
                    slots.free -= 1
                else:
                    await slots.acquire(st.priority)
            timed_out = False
            cause: BaseException | None = None
            try:
                try:
                    if threaded:
                        value = await self._in_thread(st, attempt)
                    elif timeout is not None:
                        value = await self._race(
                            asyncio.ensure_future(cast(Awaitable[object], attempt())), timeout
                        )
                    elif is_async:
                        value = await cast(Awaitable[object], attempt())
                    else:
                        value = attempt()
                finally:
                    if slots is not None:
                        slots.release()
            except _TimedOut:
                timed_out = True
                counters.timeouts += 1
                message = detail = f"{st.name} timed out after {st.timeout_text}"
            except EvaluationFailure as exc:
                cause = exc
                message = detail = str(exc)
            except Exception as exc:  # the module's own failure: a failed attempt
                cause = exc
                detail = str(exc) or type(exc).__name__
                message = f"{st.name} failed: {detail}"
            else:
                try:
                    value = check(value)
                except EvaluationFailure as exc:
                    cause = exc
                    message = detail = str(exc)
                else:
                    if key is not None:
                        cast(_MemoryCache, cache).put(
                            key, value, self.clock.now() + cast(float, st.ttl)
                        )
                    return value
            counters.failed_attempts += 1
            if n >= st.attempts:
                counters.failures += 1
                if n > 1:
                    message = f"{st.name} failed after {n} attempts: {detail}"
                raise CallFailure(
                    message, module=st.qualified, attempts=n, timed_out=timed_out
                ) from cause
            if st.delay:
                wait = backoff_ms(st.backoff, st.delay, n)
                if wait:
                    await self.clock.sleep(wait / 1000.0)

    # ------------------------------------------------------------------ one attempt

    async def _in_thread(
        self, st: _Site, attempt: Callable[[], Awaitable[object]] | Callable[[], object]
    ) -> object:
        """Run a sync attempt in a worker thread, under the timeout if there is one."""
        slots = self._thread_slots
        if slots.free > 0 and not slots.waiters:
            slots.free -= 1
        else:
            await slots.acquire(st.priority)
        loop = asyncio.get_running_loop()
        try:
            pool = self._pool
            if pool is None:
                pool = self._pool = ThreadPoolExecutor(
                    self.threads, thread_name_prefix="constellation"
                )
            job = pool.submit(attempt)
        except BaseException:
            slots.release()
            raise
        # The slot follows the thread, not the attempt: a timed-out thread keeps it until it
        # really ends, so the pool never holds more jobs than it has threads.
        job.add_done_callback(partial(_release_from_thread, loop, slots))
        result = asyncio.wrap_future(job, loop=loop)
        if st.timeout is None:
            return await result
        return await self._race(result, st.timeout)

    async def _race(self, work: asyncio.Future[object], seconds: float) -> object:
        """``work``'s result, or :class:`_TimedOut` once ``seconds`` pass on the clock.

        On expiry ``work`` is cancelled: a task is cancelled and awaited until it ends, a
        thread's future is dropped (the thread runs on, its result unused). If ``work`` ends
        before the alarm goes off, its outcome stands.
        """
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = work.cancel()  # false when work already ended: its outcome wins

        loop = asyncio.get_running_loop()
        alarm: asyncio.TimerHandle | asyncio.Task[None]
        if type(self.clock) is SystemClock:
            # The real clock can use the loop's own timer: far cheaper than a sleeping task.
            alarm = loop.call_later(seconds, expire)
        else:
            alarm = loop.create_task(_alarm(self.clock, seconds, expire))
        try:
            return await work
        except asyncio.CancelledError:
            if expired and not _cancelling():
                raise _TimedOut from None
            raise  # the call itself was cancelled: work was cancelled with it
        except Exception:
            if expired:  # the module raised something else on its way out: still a timeout
                raise _TimedOut from None
            raise
        finally:
            alarm.cancel()

    # ------------------------------------------------------------------ shared state

    def _prepare(self, site: CallSite) -> _Site:
        o = site.options
        key = (
            site.module,
            site.version,
            o.retry,
            o.timeout,
            o.delay,
            o.backoff,
            o.cache,
            o.cache_backend,
            o.throttle,
            o.concurrency,
            o.priority,
        )
        st = self._sites.get(key)
        if st is None:
            st = self._sites[key] = _Site(self, site)
        object.__setattr__(site, "_state", st)
        return st

    def _cache(self, backend: str) -> _MemoryCache:
        cache = self._caches.get(backend)
        if cache is None:
            cache = self._caches[backend] = _MemoryCache(self._cache_entries)
        return cache

    def _bucket(self, module: str, throttle: tuple[int, int]) -> _Bucket:
        key = (module, throttle[0], throttle[1])
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(throttle[0], throttle[1], self.clock)
        return bucket

    def _slots(self, module: str, n: int) -> _Slots:
        slots = self._semaphores.get((module, n))
        if slots is None:
            slots = self._semaphores[(module, n)] = _Slots(n)
        return slots

    def _counters_for(self, module: str) -> _Counters:
        counters = self._counters.get(module)
        if counters is None:
            counters = self._counters[module] = _Counters()
        return counters

    # ------------------------------------------------------------------ reading and closing

    def stats(self) -> dict[str, ModuleStats]:
        """A snapshot of the counters, by module qualified name."""
        return {
            module: ModuleStats(
                calls=c.calls,
                cache_hits=c.cache_hits,
                cache_misses=c.cache_misses,
                attempts=c.attempts,
                failed_attempts=c.failed_attempts,
                timeouts=c.timeouts,
                failures=c.failures,
            )
            for module, c in self._counters.items()
        }

    def close(self, *, wait: bool = True) -> None:
        """Shut the worker threads down (waiting for running ones unless ``wait=False``).

        Idempotent; a later call that needs a thread starts a new pool.
        """
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)

    def __enter__(self) -> Policies:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _release_from_thread(
    loop: asyncio.AbstractEventLoop, slots: _Slots, _job: ThreadFuture[object]
) -> None:
    try:
        loop.call_soon_threadsafe(slots.release)
    except RuntimeError:
        # The loop is closed, and its waiters with it: nobody can be handed the slot.
        slots.waiters.clear()
        slots.free += 1


async def _alarm(clock: Clock, seconds: float, expire: Callable[[], None]) -> None:
    await clock.sleep(seconds)
    expire()


def _cancelling() -> bool:
    """Whether the current task has been asked to cancel (not just a task it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
