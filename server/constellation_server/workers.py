"""The threads that keep engine calls off the event loop: a bounded set fed by one queue.

Cheaper per call than ``concurrent.futures.ThreadPoolExecutor`` (no Future, condition or
work-item objects), which matters when an execution itself takes tens of microseconds.
Threads are daemons and start on demand: an execution stuck in a module must not keep the
process from exiting after a bounded shutdown.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

#: Called on the worker thread with (result, None) or (None, error).
Done = Callable[[Any, BaseException | None], None]


class WorkerPool:
    """At most ``max_workers`` threads running submitted functions in arrival order."""

    def __init__(self, max_workers: int, name: str = "constellation-http") -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Done] | None] = queue.SimpleQueue()
        self._max = max_workers
        self._name = name
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    def submit(self, fn: Callable[[], Any], done: Done) -> None:
        """Run ``fn`` on a worker; ``done`` gets its result or error. RuntimeError if closed."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            if self._idle == 0 and len(self._threads) < self._max:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            else:
                self._idle -= 1 if self._idle else 0
        self._queue.put((fn, done))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, done = item
            try:
                result = fn()
            except BaseException as error:
                done(None, error)
            else:
                done(result, None)
            del item, fn, done
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        """Let every thread end after the work it has; queued work still runs first."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            count = len(self._threads)
        for _ in range(count):
            self._queue.put(None)

    @property
    def threads(self) -> int:
        return len(self._threads)
