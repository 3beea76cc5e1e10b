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

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import get_args

from constellation.errors import Diagnostic, ExecutionExpired, InputError, NotFound
from constellation.execution import EventKind, Execution
from constellation.frontend import analyse, as_source, compile_source
from constellation.inputs import validate_inputs
from constellation.ir import Pipeline
from constellation.limits import DEFAULT_LIMITS, Limits
from constellation.loopthread import LoopThread
from constellation.modules import Registry, default_registry
from constellation.persistence import (
    check_name,
    claim,
    finish,
    hash_ref,
    image_of,
    load_image,
    open_for_resume,
    release,
    resolve_ref,
    restore,
    suspended_record,
)
from constellation.policy import Clock, Policies
from constellation.runtime import Listener, Listeners, Plan, Run
from constellation.source import Source
from constellation.store import ExecutionRecord, MemoryStore, NameVersion, Store
from constellation.tinydb_store import TinyDBStore

Subscription = tuple[Listener, frozenset[str]]
EVENT_KINDS: frozenset[str] = frozenset(get_args(EventKind))


def _by_kind(subscriptions: Sequence[Subscription]) -> Listeners:
    """Each event kind → the listeners that asked for it, in subscription order."""
    table: dict[str, tuple[Listener, ...]] = {}
    for listener, kinds in subscriptions:
        for kind in kinds:
            table[kind] = (*table.get(kind, ()), listener)
    return MappingProxyType(table)


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
        store: Store | str | os.PathLike[str] | None = None,
        suspended_ttl: float = 7 * 24 * 3600.0,
        wall_clock: Callable[[], float] = time.time,
        execution_timeout: float | None = None,
    ) -> None:
        """``store``: a Store, a folder for a TinyDBStore, or None for a MemoryStore.
        ``suspended_ttl``: seconds a suspended execution may wait before it expires.
        ``execution_timeout``: seconds an execution may wait for its calls; past it they are
        cancelled and the execution fails (plain functions already running are not stopped).
        """
        if execution_timeout is not None and execution_timeout <= 0:
            raise ValueError(f"execution_timeout must be positive, not {execution_timeout}")
        self.execution_timeout = execution_timeout
        #: Compile-cache counters (``compile`` and ``run`` of source text), for metrics.
        self.compile_cache_hits = 0
        self.compile_cache_misses = 0
        self.registry = registry if registry is not None else default_registry
        self.limits = limits
        self.cache_backends = tuple(cache_backends)
        self.policies = Policies(clock)
        self._subscriptions = tuple((listener, EVENT_KINDS) for listener in listeners)
        self._listeners = _by_kind(self._subscriptions)
        self._compiled: OrderedDict[tuple[str, int], Pipeline] = OrderedDict()
        self._plans: OrderedDict[tuple[str, int], Plan] = OrderedDict()
        self._lock = threading.Lock()
        self._loop = LoopThread()
        if store is None:
            store = MemoryStore(clock=wall_clock)
        elif isinstance(store, str | os.PathLike):
            store = TinyDBStore(store, clock=wall_clock)
        self.store: Store = store
        self.suspended_ttl = suspended_ttl
        self._clock = wall_clock
        self._kept: set[str] = set()
        self._loaded: dict[str, Pipeline] = {}

    # ------------------------------------------------------------------ events

    def subscribe(
        self, listener: Listener, kinds: Iterable[EventKind] | None = None
    ) -> Callable[[], None]:
        """Call ``listener`` with every event of every execution, or only those of ``kinds``
        (an execution builds no event that nobody asked for); returns an unsubscribe."""
        wanted = EVENT_KINDS if kinds is None else frozenset(kinds)
        unknown = sorted(wanted - EVENT_KINDS)
        if unknown:
            raise ValueError(
                f"unknown event kind {unknown[0]!r}; the kinds are {', '.join(sorted(EVENT_KINDS))}"
            )
        subscription = (listener, wanted)
        with self._lock:
            self._subscriptions = (*self._subscriptions, subscription)
            self._listeners = _by_kind(self._subscriptions)

        def unsubscribe() -> None:
            with self._lock:
                self._subscriptions = tuple(s for s in self._subscriptions if s is not subscription)
                self._listeners = _by_kind(self._subscriptions)

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

    def execute(self, ref: str, inputs: Mapping[str, object] | None = None) -> Execution:
        """Execute a stored pipeline by name, hash or ``sha256:hash``: cold mode."""
        pipeline, name = self.resolve(ref)
        return self.execute_pipeline(pipeline, inputs, name=name)

    async def aexecute(self, ref: str, inputs: Mapping[str, object] | None = None) -> Execution:
        """The async twin of :meth:`execute`."""
        pipeline, name = self.resolve(ref)
        return await self.aexecute_pipeline(pipeline, inputs, name=name)

    def execute_pipeline(
        self,
        pipeline: Pipeline,
        inputs: Mapping[str, object] | None = None,
        *,
        name: str | None = None,
    ) -> Execution:
        """Execute a compiled pipeline; a suspended execution is saved."""
        run = self._start(pipeline, inputs)
        if not run.finished_without_loop():
            self._loop.run(run.complete(self.execution_timeout))
        return self._settled(pipeline, run, name)

    async def aexecute_pipeline(
        self,
        pipeline: Pipeline,
        inputs: Mapping[str, object] | None = None,
        *,
        name: str | None = None,
    ) -> Execution:
        """The async twin of :meth:`execute_pipeline`."""
        run = self._start(pipeline, inputs)
        await run.complete(self.execution_timeout)
        return self._settled(pipeline, run, name)

    def _start(self, pipeline: Pipeline, inputs: Mapping[str, object] | None) -> Run:
        plan = self.plan(pipeline)
        values = validate_inputs(pipeline, inputs or {}, validators=plan.validators)
        return Run(plan, values, self.policies, self._listeners)

    def _settled(self, pipeline: Pipeline, run: Run, name: str | None) -> Execution:
        result = run.result()
        if result.status == "suspended":
            self._keep(pipeline)
            record = suspended_record(
                result, run.snapshot(), name, self._clock(), self.suspended_ttl
            )
            self.store.create_execution(record)
        return result

    # ------------------------------------------------------------------ resuming

    def resume(
        self,
        execution_id: str,
        inputs: Mapping[str, object] | None = None,
        resolved_nodes: Mapping[str, object] | None = None,
    ) -> Execution:
        """Continue a suspended execution with more inputs; finished nodes never run again."""
        run, claimed, record = self._prepare_resume(execution_id, inputs, resolved_nodes)
        try:
            if not run.finished_without_loop():
                self._loop.run(run.complete(self.execution_timeout))
        except BaseException:
            release(self.store, claimed, record, self._clock())
            raise
        return self._resumed(run, claimed, record)

    async def aresume(
        self,
        execution_id: str,
        inputs: Mapping[str, object] | None = None,
        resolved_nodes: Mapping[str, object] | None = None,
    ) -> Execution:
        """The async twin of :meth:`resume`."""
        run, claimed, record = self._prepare_resume(execution_id, inputs, resolved_nodes)
        try:
            await run.complete(self.execution_timeout)
        except BaseException:
            release(self.store, claimed, record, self._clock())
            raise
        return self._resumed(run, claimed, record)

    def _prepare_resume(
        self,
        execution_id: str,
        inputs: Mapping[str, object] | None,
        resolved_nodes: Mapping[str, object] | None,
    ) -> tuple[Run, ExecutionRecord, ExecutionRecord]:
        now = self._clock()
        record = open_for_resume(self.store, execution_id, now)
        pipeline = self._load(record.structural_hash)
        plan = self.plan(pipeline)
        restored = restore(pipeline, record, resolved_nodes or {})
        provided = {
            pipeline.nodes[i].id: None for i in restored if pipeline.nodes[i].kind == "input"
        }
        values = validate_inputs(
            pipeline, inputs or {}, already=provided, validators=plan.validators
        )
        claimed = claim(self.store, record, now)
        run = Run(plan, values, self.policies, self._listeners, execution_id, restored)
        return run, claimed, record

    def _resumed(self, run: Run, claimed: ExecutionRecord, record: ExecutionRecord) -> Execution:
        count = record.state.get("resumptions", 0)
        result = replace(
            run.result(), resumption_count=(count if isinstance(count, int) else 0) + 1
        )
        final = suspended_record(
            result,
            run.snapshot() if result.status == "suspended" else {},
            record.pipeline_name,
            self._clock(),
            self.suspended_ttl,
            created_at=record.created_at,
        )
        finish(self.store, claimed, final)
        return result

    # ------------------------------------------------------------------ pipelines

    def _keep(self, pipeline: Pipeline) -> None:
        """Store the image once per engine (a hot run's hash can be executed cold)."""
        if pipeline.structural_hash in self._kept:
            return
        if self.store.get_image(pipeline.structural_hash) is None:
            self.store.put_image(image_of(pipeline, self._clock()))
        self._kept.add(pipeline.structural_hash)
        with self._lock:
            self._loaded[pipeline.structural_hash] = pipeline

    def _load(self, structural_hash: str) -> Pipeline:
        with self._lock:
            pipeline = self._loaded.get(structural_hash)
        if pipeline is None:
            pipeline = load_image(self.store, structural_hash)
            with self._lock:
                self._loaded[structural_hash] = pipeline
        return pipeline

    def pipeline(self, ref: str) -> Pipeline:
        """A stored pipeline by name, hash or ``sha256:hash`` (NotFound if there is none)."""
        return self.resolve(ref)[0]

    def resolve(self, ref: str) -> tuple[Pipeline, str | None]:
        """A stored pipeline by name, hash or ``sha256:hash``, and the name if ``ref`` is one."""
        structural_hash, name = resolve_ref(self.store, ref)
        return self._load(structural_hash), name

    # ------------------------------------------------------------------ executions

    def executions(
        self,
        *,
        status: str | None = None,
        pipeline: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> tuple[list[ExecutionRecord], str | None]:
        """Stored executions, newest first, and the cursor of the next page (None at the end)."""
        return self.store.list_executions(
            status=status, pipeline=pipeline, limit=limit, cursor=cursor
        )

    def execution(self, execution_id: str) -> ExecutionRecord:
        """A stored execution; NotFound if there is none, ExecutionExpired past its TTL."""
        record = self.store.get_execution(execution_id)
        if record is None:
            raise NotFound(f"No execution '{execution_id}' (it may have been deleted or pruned)")
        if record.expires_at is not None and record.expires_at < self._clock():
            raise ExecutionExpired(f"Execution '{execution_id}' expired")
        return record

    def delete_execution(self, execution_id: str) -> None:
        if not self.store.delete_execution(execution_id):
            raise NotFound(f"No execution '{execution_id}'")

    def prune(self) -> int:
        """Remove finished executions past the retention period and long-expired suspended ones."""
        return self.store.prune(self._clock())

    def rollback(self, name: str, version: int | None = None) -> NameVersion:
        """Point ``name`` at its previous version (or the given one)."""
        versions = self.store.name_versions(name)
        if not versions:
            raise NotFound(f"No pipeline named '{name}'")
        if version is None:
            active = next(v for v in versions if v.active)
            earlier = [v for v in versions if v.version < active.version]
            if not earlier:
                raise InputError(
                    f"'{name}' is at its first version; there is nothing to roll back to"
                )
            version = earlier[-1].version
        return self.store.activate(name, version)

    def delete_pipeline(self, ref: str) -> None:
        """Forget a name (with its versions), or an image no suspended execution needs."""
        text = hash_ref(ref)
        if text is not None:
            if self.store.executions_using(text):
                raise InputError(
                    f"Pipeline {text} is needed by suspended executions; "
                    "resume or delete them first"
                )
            if not self.store.delete_image(text):
                raise NotFound(f"No pipeline with hash {text}")
            self._kept.discard(text)
            with self._lock:
                self._loaded.pop(text, None)
            return
        if not self.store.delete_name(ref):
            raise NotFound(f"No pipeline named '{ref}'")

    def plan(self, pipeline: Pipeline) -> Plan:
        """The execution plan of ``pipeline`` (compiled once per registry revision)."""
        key = (pipeline.structural_hash, self.registry.revision)
        # A dictionary read is atomic: only inserting (and evicting) takes the lock.
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
        self.store.close()

    def check(self, source: str | bytes | Source) -> tuple[Diagnostic, ...]:
        """Every diagnostic of ``source`` (errors and warnings), sorted by position."""
        return analyse(
            as_source(source), self.registry, self.limits, self.cache_backends
        ).diagnostics

    def compile(self, source: str | bytes | Source, name: str | None = None) -> Pipeline:
        """The compiled pipeline of ``source``; raises CompileError with every diagnostic.

        The image is kept in the store by structural hash; with ``name``, the name points at
        it (a new version of the name when the hash changed).
        """
        pipeline = self._compile(source)
        self._keep(pipeline)
        if name is not None:
            self.store.point_name(check_name(name), pipeline.structural_hash, self._clock())
        return pipeline

    def _compile(self, source: str | bytes | Source) -> Pipeline:
        src = as_source(source)
        # The registry's revision is part of the key: re-registering a module (a notebook
        # cell run again) must not serve a pipeline compiled against the old signature.
        key = (src.text, self.registry.revision)
        with self._lock:
            hit = self._compiled.get(key)
            if hit is not None:
                self._compiled.move_to_end(key)
                self.compile_cache_hits += 1
                return hit
            self.compile_cache_misses += 1
        pipeline = compile_source(src, self.registry, self.limits, self.cache_backends)
        with self._lock:
            self._compiled[key] = pipeline
            if len(self._compiled) > _CACHE_SIZE:
                self._compiled.popitem(last=False)
        return pipeline
