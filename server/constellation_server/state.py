"""What every handler shares: the engine, the settings, metrics, the rate limiter and the
thread pool that keeps engine calls off the event loop, plus draining for graceful shutdown.

One :class:`ServiceState` per application, handed to handlers through ``initialize``; there
are no module-level globals, so several applications (tests, a Jupyter server) coexist.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from constellation import Engine
from constellation_server.config import ServiceConfig
from constellation_server.errors import ApiError
from constellation_server.inline import FastPipelines
from constellation_server.metrics import Metrics
from constellation_server.ratelimit import RateLimiter
from constellation_server.workers import WorkerPool

T = TypeVar("T")

#: Threads for engine calls beyond the execution cap: compiles and store reads still get one
#: when every execution slot is busy.
EXTRA_WORKERS = 8
#: At most this many seconds (and at most ``execution_timeout`` again) past the limit, the
#: service stops waiting for the engine: the engine enforces the limit itself; this only keeps
#: a request from hanging if it did not.
TIMEOUT_GRACE = 5.0


class ServiceState:
    """The shared context of one application. Counters are touched on the loop thread only."""

    def __init__(self, engine: Engine, config: ServiceConfig) -> None:
        self.engine = engine
        self.config = config
        self.metrics = Metrics()
        self.limiter = (
            RateLimiter(config.rate_limit, config.rate_burst)
            if config.rate_limit is not None
            else None
        )
        self.cors_origins = frozenset(config.cors_origins)
        self.workers = WorkerPool(config.max_in_flight + EXTRA_WORKERS)
        #: Cold executions proven fast enough to run on the event loop (see inline.py).
        self.fast = FastPipelines(config.inline_threshold_ms / 1000.0)
        #: Pipelines that failed to load at start (name → message), listed by /health/ready.
        self.pipeline_errors: dict[str, str] = {}
        self.draining = False
        #: The OpenAPI document of the application (set by ``make_app`` from its routes).
        self.openapi: Mapping[str, object] = {}
        #: Executions (run, execute, resume) whose engine call has not returned yet.
        self.executions_in_flight = 0
        #: Every engine call not returned yet, executions included.
        self.calls_in_flight = 0
        self._idle_waiters: list[asyncio.Future[None]] = []

    # -- start-up and shutdown ------------------------------------------------------------

    def record_pipeline_error(self, name: str, message: str) -> None:
        """Note a pipeline that could not be loaded at start (``/health/ready`` lists it)."""
        self.pipeline_errors[name] = message

    def begin_drain(self) -> None:
        """From now on ``/health/ready`` answers 503; requests are still served."""
        self.draining = True

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no engine call is in flight, at most ``timeout`` seconds; True if idle."""
        if self.calls_in_flight == 0:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return False
        finally:
            if waiter in self._idle_waiters:
                self._idle_waiters.remove(waiter)
        return True

    def close(self) -> None:
        """Let the worker threads go (without waiting)."""
        self.workers.shutdown()

    # -- engine calls ---------------------------------------------------------------------

    async def call(self, fn: Callable[[], T], *, execution: bool = False) -> T:
        """``fn()`` on a worker thread; the loop stays free for other requests meanwhile.

        Executions count against ``max_in_flight`` (503 beyond it) until their thread really
        returns, even when the request stopped waiting after the execution time limit.
        """
        loop = asyncio.get_running_loop()
        if execution:
            if self.executions_in_flight >= self.config.max_in_flight:
                raise ApiError(
                    503,
                    "Overloaded",
                    f"{self.executions_in_flight} executions are in flight, the most this "
                    "service runs at once; retry shortly",
                    headers={"Retry-After": "1"},
                )
            self.executions_in_flight += 1
        self.calls_in_flight += 1
        result: asyncio.Future[T] = loop.create_future()

        def settle(value: T, error: BaseException | None) -> None:
            self._release(execution)
            if result.done():
                return
            if error is not None:
                result.set_exception(error)
            else:
                result.set_result(value)

        def deliver(value: T, error: BaseException | None) -> None:
            # A closed loop has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, value, error)

        try:
            self.workers.submit(fn, deliver)
        except RuntimeError:
            self._release(execution)
            raise ApiError(
                503, "ShuttingDown", "The service is shutting down; retry on another instance"
            ) from None
        expiry = None
        if execution:
            limit = self.config.execution_timeout
            grace = min(TIMEOUT_GRACE, limit)
            expiry = loop.call_later(limit + grace, _expire, result, limit)
        try:
            return await result
        finally:
            if expiry is not None:
                expiry.cancel()

    def _release(self, execution: bool) -> None:
        self.calls_in_flight -= 1
        if execution:
            self.executions_in_flight -= 1
        if self.calls_in_flight == 0 and self._idle_waiters:
            for waiter in self._idle_waiters:
                if not waiter.done():
                    waiter.set_result(None)


def _expire(result: asyncio.Future[Any], limit: float) -> None:
    if not result.done():
        result.set_exception(
            ApiError(
                503,
                "ExecutionTimeout",
                f"The execution did not finish within the wall-time limit of {limit:g} s "
                "(execution_timeout) and the engine did not stop it; the service stopped waiting",
            )
        )
