"""Which cold executions run on the event loop: pipelines of plain functions proven fast.

Every execution starts on a worker thread, so that a module that blocks cannot stall the
service. The hand-off costs about 30 µs of CPU per request and, under load, GIL hand-offs in
the tail latency: most of a request when the pipeline itself takes microseconds. So a
pipeline whose nodes are all plain function calls (nothing in it waits), and whose last
``PROOF`` runs each took less than the threshold, runs directly on the event loop, as
Tornado runs its own synchronous handlers. One slower run sends it back to worker threads
for good (in this process). A module that may block for long should say so with a
``timeout`` or ``in_thread`` option: its calls then wait, so its pipelines never run here.

Only the loop thread touches this object.
"""

from __future__ import annotations

from collections.abc import Mapping

from constellation import Engine, Pipeline

#: Fast runs in a row (on worker threads) before a pipeline runs on the loop.
PROOF = 20
_NEVER = -1


class FastPipelines:
    """The record of how fast each pipeline ran, and which refs may run on the loop."""

    def __init__(self, threshold_seconds: float) -> None:
        self.threshold = threshold_seconds
        self._runs: dict[str, int] = {}  # structural hash → fast runs in a row, or _NEVER
        self._refs: dict[str, str] = {}  # a ref executed before → its structural hash then

    def candidate(
        self, engine: Engine, ref: str, inputs: Mapping[str, object]
    ) -> tuple[Pipeline, str | None] | None:
        """The pipeline (and name) to run on the loop for this request, or None for a thread.

        Only a ref whose pipeline proved fast, still pointing at that pipeline (a name may
        have been recompiled since), with every input that has no default given (a
        suspension writes to the store, which is no work for the loop).
        """
        proven = self._refs.get(ref)
        if proven is None or self._runs.get(proven, 0) < PROOF:
            return None
        pipeline, name = engine.resolve(ref)  # in memory: it ran before
        if pipeline.structural_hash != proven:
            return None
        for key, spec in pipeline.input_specs.items():
            if key not in inputs and not spec.has_default:
                return None
        return pipeline, name

    def observe(self, engine: Engine, ref: str, structural_hash: str, seconds: float) -> None:
        """Count a completed run of ``ref``'s pipeline that took ``seconds`` of engine time."""
        if self.threshold <= 0:
            return
        runs = self._runs.get(structural_hash, 0)
        if runs == _NEVER:
            return
        if runs == 0:
            # The first time only: whether anything in the pipeline can wait.
            plain = engine.plan(engine.pipeline(structural_hash)).schedule is not None
            if not plain:
                self._runs[structural_hash] = _NEVER
                return
        if seconds > self.threshold:
            self._runs[structural_hash] = _NEVER
            return
        self._runs[structural_hash] = min(runs + 1, PROOF)
        self._refs[ref] = structural_hash
