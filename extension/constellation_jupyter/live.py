"""Following one execution through the engine's events: node states, progress, throttled redraws.

A :class:`Progress` is an engine listener. It keeps each node's state as events arrive and
calls ``redraw`` when at least ``interval`` seconds passed since the last redraw (no timers:
a quiet execution is redrawn by the final :meth:`Progress.finish`). Events may arrive on the
kernel's thread or on the engine's loop thread, so updates take a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from constellation import Event, Execution, Pipeline

_EVENT_STATES = {
    "node.started": "running",
    "node.completed": "completed",
    "node.failed": "failed",
    "node.waiting": "waiting",
    "node.skipped": "skipped",
}
#: States that count as done for the progress bar, and states that are not needed at all.
DONE = frozenset({"completed", "failed"})
UNNEEDED = frozenset({"skipped", "not-needed"})


class Progress:
    """Node states of one execution, updated from its events; redraws at most every
    ``interval`` seconds."""

    def __init__(
        self,
        pipeline: Pipeline,
        redraw: Callable[[Progress], None],
        *,
        states: Mapping[str, str] | None = None,
        execution_id: str | None = None,
        interval: float = 0.25,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``states``: where the execution stands (a resume starts from its suspension).
        ``execution_id``: follow only this execution; None follows the first one that starts
        after subscribing."""
        self.pipeline = pipeline
        self.redraw = redraw
        self.states: dict[str, str] = dict(states or {})
        self.execution_id = execution_id
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last_redraw = -float("inf")
        self.redraws = 0
        self.events = 0
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            if self.execution_id is None:
                if event.kind != "execution.started":
                    return
                self.execution_id = event.execution_id
            elif event.execution_id != self.execution_id:
                return
            self.events += 1
            state = _EVENT_STATES.get(event.kind)
            if state is not None and event.node is not None:
                self.states[event.node] = state
            now = self.clock()
            if now - self.last_redraw < self.interval:
                return
            self.last_redraw = now
            self.redraws += 1
        self.redraw(self)

    def finish(self, execution: Execution) -> None:
        """Take the final states from ``execution`` and redraw once more."""
        with self._lock:
            self.states = states_of(execution)
            self.redraws += 1
        self.redraw(self)

    @property
    def elapsed(self) -> float:
        """Seconds since the execution started being followed."""
        return self.clock() - self.started

    @property
    def counts(self) -> tuple[int, int]:
        """(done, needed) nodes: done are completed or failed; needed are all nodes not
        known to be skipped or unneeded."""
        with self._lock:
            values = list(self.states.values())
        done = sum(1 for s in values if s in DONE)
        unneeded = sum(1 for s in values if s in UNNEEDED)
        return done, len(self.pipeline.nodes) - unneeded


def states_of(execution: Execution) -> dict[str, str]:
    """Node id → state, from an execution's node reports."""
    return {report.id: report.state for report in execution.nodes}


__all__ = ["DONE", "UNNEEDED", "Progress", "states_of"]
