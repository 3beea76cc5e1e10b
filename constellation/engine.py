"""The Engine: compiles pipelines and runs them, synchronously or asynchronously.

``check`` returns diagnostics; ``compile`` returns a compiled :class:`~constellation.ir.Pipeline`,
cached by source text so that compiling the same source again costs a dictionary lookup;
``run`` compiles (through that cache) and executes. Executions of one pipeline share a
:class:`~constellation.runtime.Plan` (compiled closures), cached by structural hash.

Sync calls work everywhere, including inside a running event loop (a Jupyter kernel): the
part of an execution that really waits runs on the engine's own loop thread
(:mod:`constellation.loopthread`); pipelines of plain functions never leave the caller's
thread. The async twins (``arun``, ``aexecute``) run on the caller's loop.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence

from constellation.compiler import compile_checked
from constellation.errors import Diagnostic
from constellation.execution import Event, Execution
from constellation.frontend import analyse, as_source
from constellation.inputs import validate_inputs
from constellation.ir import Pipeline
from constellation.limits import DEFAULT_LIMITS, Limits
from constellation.loopthread import LoopThread
from constellation.modules import Registry, default_registry
from constellation.policy import Clock, Policies
from constellation.runtime import Plan, Run
from constellation.source import Source

Listener = Callable[[Event], None]

_CACHE_SIZE = 256


class Engine:
    """Compiles constellation-lang against a registry of modules and the standard library."""

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        limits: Limits = DEFAULT_LIMITS,
        cache_backends: Sequence[str] = ("memory",),
        listeners: Iterable[Listener] = (),
        clock: Clock | None = None,
    ) -> None:
        self.registry = registry if registry is not None else default_registry
        self.limits = limits
        self.cache_backends = tuple(cache_backends)
        self.policies = Policies(clock)
        self._listeners: tuple[Listener, ...] = tuple(listeners)
        self._compiled: OrderedDict[tuple[str, int], Pipeline] = OrderedDict()
        self._plans: OrderedDict[tuple[str, int], Plan] = OrderedDict()
        self._lock = threading.Lock()
        self._loop = LoopThread()

    # ------------------------------------------------------------------ events

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event of every execution; returns an unsubscribe."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    # ------------------------------------------------------------------ running

    def run(
        self, source: str | bytes | Source | Pipeline, inputs: Mapping[str, object] | None = None
    ) -> Execution:
        """Compile (cached) and execute ``source`` with ``inputs``: hot mode.

        A compiled :class:`Pipeline` is executed as it is.
        """
        return self.execute_pipeline(self._pipeline(source), inputs)

    async def arun(
        self, source: str | bytes | Source | Pipeline, inputs: Mapping[str, object] | None = None
    ) -> Execution:
        """The async twin of :meth:`run`, on the running loop."""
        return await self.aexecute_pipeline(self._pipeline(source), inputs)

    def _pipeline(self, source: str | bytes | Source | Pipeline) -> Pipeline:
        return source if isinstance(source, Pipeline) else self.compile(source)

    def execute_pipeline(
        self, pipeline: Pipeline, inputs: Mapping[str, object] | None = None
    ) -> Execution:
        """Execute a compiled pipeline."""
        run = self._start(pipeline, inputs)
        if not run.finished_without_loop():
            self._loop.run(run.complete())
        return run.result()

    async def aexecute_pipeline(
        self, pipeline: Pipeline, inputs: Mapping[str, object] | None = None
    ) -> Execution:
        """The async twin of :meth:`execute_pipeline`."""
        run = self._start(pipeline, inputs)
        await run.complete()
        return run.result()

    def _start(self, pipeline: Pipeline, inputs: Mapping[str, object] | None) -> Run:
        plan = self.plan(pipeline)
        values = validate_inputs(pipeline, inputs or {}, validators=plan.validators)
        return Run(plan, values, self.policies, self._listeners)

    def plan(self, pipeline: Pipeline) -> Plan:
        """The execution plan of ``pipeline`` (compiled once per registry revision)."""
        key = (pipeline.structural_hash, self.registry.revision)
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                return plan
        plan = Plan(pipeline, self.registry)
        with self._lock:
            self._plans[key] = plan
            if len(self._plans) > _CACHE_SIZE:
                self._plans.popitem(last=False)
        return plan

    def close(self) -> None:
        """Stop the engine's loop thread and thread pool."""
        self._loop.close()
        self.policies.close()

    def check(self, source: str | bytes | Source) -> tuple[Diagnostic, ...]:
        """Every diagnostic of ``source`` (errors and warnings), sorted by position."""
        return analyse(
            as_source(source), self.registry, self.limits, self.cache_backends
        ).diagnostics

    def compile(self, source: str | bytes | Source) -> Pipeline:
        """The compiled pipeline of ``source``; raises CompileError with every diagnostic."""
        src = as_source(source)
        # The registry's revision is part of the key: re-registering a module (a notebook
        # cell run again) must not serve a pipeline compiled against the old signature.
        key = (src.text, self.registry.revision)
        with self._lock:
            hit = self._compiled.get(key)
            if hit is not None:
                self._compiled.move_to_end(key)
                return hit
        checked = analyse(src, self.registry, self.limits, self.cache_backends).raise_for_errors()
        pipeline = compile_checked(checked, self.registry)
        with self._lock:
            self._compiled[key] = pipeline
            if len(self._compiled) > _CACHE_SIZE:
                self._compiled.popitem(last=False)
        return pipeline
