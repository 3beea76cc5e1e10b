"""The executor: demand-driven, parallel, one for hot, cold and resumed executions.

A :class:`Plan` is made once per pipeline and registry revision: every node's expression
compiled (``evaluate.py``), the nodes the outputs always need (their strict closure, in
topological order), and per node its strict dependants. A :class:`Run` is one execution:
a list of values and a countdown of unfinished strict dependencies per node. Ready nodes
start at once; a node whose expression completes without waiting (sync modules, library
functions, operators) is finished inline, so a pipeline of plain functions runs as a tight
loop with no event loop at all. Nodes that really wait become tasks on the event loop.

Failures fail only the nodes that need them; a node that needs a missing input waits, and an
execution with waiting outputs and no failure is *suspended*.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from constellation import ir
from constellation.codec import encode, validator
from constellation.errors import EvaluationFailure
from constellation.evaluate import Compiled, Evaluator, Getter, resume
from constellation.execution import (
    Event,
    EventKind,
    Execution,
    ModuleCall,
    NodeError,
    NodeReport,
    NodeState,
    Status,
)
from constellation.modules import Registry
from constellation.needs import Needs
from constellation.policy import CallSite, Policies
from constellation.types import json_schema, show
from constellation.values import render

Listener = Callable[[Event], None]
#: Listeners by the event kind they asked for (``Engine.subscribe(listener, kinds=…)``).
Listeners = Mapping[str, tuple[Listener, ...]]
NO_LISTENERS: Listeners = MappingProxyType({})
#: The event that ends an execution of each status.
_FINISHED: Mapping[str, EventKind] = {
    "completed": "execution.completed",
    "suspended": "execution.suspended",
    "failed": "execution.failed",
}

# Node states during a run (small ints: compared in the hot loop).
IDLE: Final = 0
QUEUED: Final = 1
RUNNING: Final = 2
DONE: Final = 3
FAILED: Final = 4
WAITING: Final = 5

_STATE_NAMES: Final[dict[int, NodeState]] = {
    DONE: "completed",
    FAILED: "failed",
    WAITING: "waiting",
    RUNNING: "running",
    QUEUED: "running",
}
_PREVIEW_CHARS: Final = 120
_clock: Final = time.perf_counter
_NOTHING: Final[Mapping[str, Any]] = MappingProxyType({})  # shared: results are read-only


# Execution ids: 128 random bits from the OS as 32 hex digits, drawn 256 at a time (one
# ``getrandom`` call per execution costs more than setting a small execution up).
# ``list.pop`` is atomic, so threads need no lock; a forked child forgets the parent's.
_ids: list[str] = []
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.clear)


def _new_id() -> str:
    try:
        return _ids.pop()
    except IndexError:
        bits = os.urandom(16 * 256).hex()
        _ids.extend(bits[k : k + 32] for k in range(32, len(bits), 32))
        return bits[:32]


class _Waiting(Exception):
    """Raised inside an expression that demands a node waiting for a missing input."""


class _NeedsLoop(Exception):
    """Raised inside an expression run without an event loop that demands a node needing one."""


class _DependencyFailed(Exception):
    """Raised inside an expression that demands a node that failed."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


class Plan:
    """What every execution of one pipeline shares: compiled nodes and scheduling tables."""

    def __init__(self, pipeline: ir.Pipeline, registry: Registry) -> None:
        self.pipeline = pipeline
        self.registry = registry
        nodes = pipeline.nodes
        n = len(nodes)
        evaluator = Evaluator(pipeline, registry)
        self.code: list[Compiled | None] = [None] * n
        self.suspends = [False] * n
        for i, node in enumerate(nodes):
            if node.kind != "input":
                self.code[i], self.suspends[i] = evaluator.node(node)
        # Nodes that never wait are plain function calls in the scheduler's loop.
        self.sync: list[Getter | None] = [None if c is None else c.get for c in self.code]
        self.strict_dependants: list[list[int]] = [[] for _ in range(n)]
        for i, deps in enumerate(pipeline.dep_index):
            for d in deps:
                self.strict_dependants[d].append(i)
        self.rank, self.by_rank = _priority_order(pipeline, self.strict_dependants)
        self.output_index = [(name, pipeline.index[node_id]) for name, node_id in pipeline.outputs]
        self.output_types = MappingProxyType({name: nodes[i].type for name, i in self.output_index})
        self.validators = {spec.name: validator(spec.type) for spec in pipeline.inputs}
        # The strict closure of the outputs: what every execution needs.
        needed = [False] * n
        stack = [i for _, i in self.output_index]
        while stack:
            i = stack.pop()
            if not needed[i]:
                needed[i] = True
                stack.extend(pipeline.dep_index[i])
        self.eager: list[bool] = needed
        # `lazy` calls (§8.4) start only once a consumer has all its other operands.
        self.lazy_users: list[list[int]] = [[] for _ in range(n)]
        for i, deps in enumerate(pipeline.lazy_dep_index):
            for d in deps:
                self.lazy_users[d].append(i)
        self.lazy = [node.call is not None and node.call.options.lazy for node in nodes]
        self.lazy_deps = [[d for d in deps if self.lazy[d]] for deps in pipeline.dep_index]
        self.eager_deps = [
            len(deps) - len(lazy)
            for deps, lazy in zip(pipeline.dep_index, self.lazy_deps, strict=True)
        ]
        self.input_index = {node.id: i for i, node in enumerate(nodes) if node.kind == "input"}
        #: What an event says of each node: its id, and the module a call node calls.
        self.event_names = [
            (node.id, None if node.call is None else node.call.function) for node in nodes
        ]
        self.call_modules = [(i, m) for i, (_, m) in enumerate(self.event_names) if m is not None]
        self.call_sites: dict[int, CallSite] = {}
        # When every node the outputs need is a plain function call, an execution is one
        # pass over them in this precomputed order: no queue, no counters.
        order = [i for i in self.by_rank if self.eager[i] and self.code[i] is not None]
        schedule = [(i, self.sync[i]) for i in order]
        self.schedule: tuple[tuple[int, Getter], ...] | None = (
            tuple((i, g) for i, g in schedule if g is not None)
            if all(g is not None for _, g in schedule) and not any(self.lazy)
            else None
        )

    def call_site(self, e: ir.CallExpr) -> CallSite:
        site = self.call_sites.get(id(e))
        if site is None:
            site = CallSite(e.function, e.version, e.options, e.line, e.column)
            self.call_sites[id(e)] = site
        return site


class Run:
    """One execution of a plan."""

    __slots__ = (
        "aborted",
        "activated",
        "any_missing",
        "causes",
        "deferred",
        "durations",
        "errors",
        "execution_id",
        "listeners",
        "needed",
        "pending",
        "pending_eager",
        "plan",
        "policies",
        "ready",
        "started",
        "state",
        "tasks",
        "values",
        "waiters",
        "warnings",
    )

    def __init__(
        self,
        plan: Plan,
        inputs: Mapping[str, object],
        policies: Policies,
        listeners: Listeners = NO_LISTENERS,
        execution_id: str | None = None,
        restored: Mapping[int, object] | None = None,
    ) -> None:
        """``restored`` are values of nodes computed before (a resumed execution, or nodes the
        caller resolved): they count as completed and never run."""
        self.plan = plan
        self.policies = policies
        self.listeners = listeners
        self.execution_id = execution_id or _new_id()
        n = len(plan.pipeline.nodes)
        self.values: list[object] = [None] * n
        self.state = [IDLE] * n
        if plan.schedule is None:
            self.pending = [len(d) for d in plan.pipeline.dep_index]
            self.pending_eager = list(plan.eager_deps)
            self.activated = [not lazy for lazy in plan.lazy]
            self.needed = list(plan.eager)
            self.ready: list[int] = []  # a heap of ranks (priority order)
            self.deferred: list[int] = []
            self.tasks: set[asyncio.Future[Any]] = set()
        else:
            # A scheduled run neither counts, nor demands, nor waits on the loop: it only
            # reads what is needed.
            self.needed = plan.eager
        self.durations: list[float | None] = [None] * n
        self.errors: list[NodeError] = []
        self.causes: dict[int, str] = {}
        self.warnings: list[str] = []
        self.waiters: dict[int, list[asyncio.Future[object]]] = {}
        self.started = time.perf_counter()
        self.any_missing = False
        self.aborted: str | None = None
        if "execution.started" in listeners:
            self.emit("execution.started")
        self.provide(inputs, restored or {})

    # ------------------------------------------------------------------ set-up

    def provide(self, inputs: Mapping[str, object], restored: Mapping[int, object]) -> None:
        """Set restored node values, then the inputs: given, defaulted, or waiting."""
        plan, pipeline = self.plan, self.plan.pipeline
        if restored:
            for i, value in restored.items():
                self.values[i] = value
                self.state[i] = DONE
            if plan.schedule is None:
                done = self.state
                for i, deps in enumerate(pipeline.dep_index):
                    self.pending[i] = sum(done[d] != DONE for d in deps)
                    self.pending_eager[i] = sum(done[d] != DONE and not plan.lazy[d] for d in deps)
        for name, i in self.plan.input_index.items():
            spec = pipeline.input_specs[name]
            if self.state[i] == DONE:
                continue
            if name in inputs:
                self.finish(i, inputs[name])
            elif spec.has_default:
                self.finish(i, spec.default)
            else:
                self.state[i] = WAITING
                self.any_missing = True
        if self.plan.schedule is not None:
            return
        for _, i in self.plan.output_index:
            self.activated[i] = True
        for i, needed in enumerate(self.needed):
            if needed and self.pending_eager[i] == 0:
                self.activate(i)
        for i, needed in enumerate(self.needed):
            if needed and self.state[i] == IDLE and self.pending[i] == 0 and self.activated[i]:
                self.queue(i)

    def activate(self, consumer: int) -> None:
        """The consumer has its other operands: let its lazy calls start (§8.4)."""
        for d in self.plan.lazy_deps[consumer]:
            if not self.activated[d]:
                self.activated[d] = True
                if self.state[d] == IDLE and self.pending[d] == 0 and self.needed[d]:
                    self.queue(d)

    def queue(self, i: int) -> None:
        self.state[i] = QUEUED
        heapq.heappush(self.ready, self.plan.rank[i])

    def call_site(self, e: ir.CallExpr) -> CallSite:
        return self.plan.call_site(e)

    def emit(
        self,
        kind: EventKind,
        node: int | None = None,
        duration_ms: float | None = None,
        error: str | None = None,
    ) -> None:
        targets = self.listeners.get(kind)
        if not targets:  # nobody asked for this kind: no event is built
            return
        node_id, module = (None, None) if node is None else self.plan.event_names[node]
        event = Event(kind, self.execution_id, time.time(), node_id, module, duration_ms, error)
        for listener in targets:
            listener(event)

    # ------------------------------------------------------------------ scheduling

    def drain(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Start every ready node. Without a loop, nodes that wait are deferred."""
        code, suspends, sync = self.plan.code, self.plan.suspends, self.plan.sync
        ready, state, durations, by_rank = self.ready, self.state, self.durations, self.plan.by_rank
        clock, finish, pop, call = time.perf_counter, self.finish, heapq.heappop, self.call
        while ready:
            i = by_rank[pop(ready)]
            if state[i] != QUEUED:  # settled meanwhile (a dependency failed, or restored)
                continue
            if loop is None and suspends[i]:
                self.deferred.append(i)
                continue
            get = sync[i]
            if get is not None:
                call(i, get, clock())
                continue
            state[i] = RUNNING
            if "node.started" in self.listeners:
                self.emit("node.started", i)
            begin = clock()
            coro = code[i].run(self, ())  # type: ignore[union-attr]  # inputs are never queued
            try:
                waiting = coro.send(None)
            except StopIteration as stop:
                durations[i] = (clock() - begin) * 1e3
                finish(i, stop.value)
                continue
            except _NeedsLoop:
                state[i] = QUEUED
                self.deferred.append(i)
                continue
            except BaseException as exc:
                durations[i] = (clock() - begin) * 1e3
                self.settle(i, exc)
                continue
            if loop is None:  # pragma: no cover - suspends[] says which nodes can wait
                raise AssertionError(f"node {self.plan.pipeline.nodes[i].id} waited off the loop")
            task = loop.create_task(_timed(resume(coro, waiting), begin))
            self.tasks.add(task)
            task.add_done_callback(functools.partial(self.task_done, i))

    def task_done(self, i: int, task: asyncio.Future[Any]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            self.settle(i, asyncio.CancelledError())
            return
        exc = task.exception()
        if exc is not None:
            self.settle(i, exc)
            return
        value, elapsed = task.result()
        self.durations[i] = elapsed
        self.finish(i, value)

    def settle(self, i: int, exc: BaseException) -> None:
        """A node ended with an exception: a failure, a wait, or a dependency's failure."""
        if isinstance(exc, _Waiting):
            self.state[i] = WAITING
            if "node.waiting" in self.listeners:
                self.emit("node.waiting", i)
            self.wake(i)
            return
        if isinstance(exc, _DependencyFailed):
            self.fail(i, self.causes.get(exc.index, "a dependency failed"), root=False)
            return
        if isinstance(exc, EvaluationFailure):
            self.fail(i, str(exc), root=True)
            return
        if isinstance(exc, asyncio.CancelledError):
            self.fail(i, self.aborted or "cancelled", root=True)
            return
        if isinstance(exc, Exception):
            self.fail(i, f"internal error: {type(exc).__name__}: {exc}", root=True)
            return
        raise exc

    def finish(self, i: int, value: object) -> None:
        self.values[i] = value
        self.state[i] = DONE
        if "node.completed" in self.listeners and self.plan.code[i] is not None:
            self.emit("node.completed", i, self.durations[i])
        if self.plan.schedule is not None:  # the schedule knows the order: nothing to count
            return
        pending, needed, state, activated = self.pending, self.needed, self.state, self.activated
        eager = not self.plan.lazy[i]
        for d in self.plan.strict_dependants[i]:
            pending[d] -= 1
            if eager:
                self.pending_eager[d] -= 1
                if self.pending_eager[d] == 0 and needed[d]:
                    self.activate(d)
            if pending[d] == 0 and needed[d] and state[d] == IDLE and activated[d]:
                self.queue(d)
        if self.waiters and i in self.waiters:
            for future in self.waiters.pop(i):
                if not future.done():
                    future.set_result(value)

    def fail(self, i: int, message: str, *, root: bool) -> None:
        pipeline = self.plan.pipeline
        node = pipeline.nodes[i]
        if root:
            call = node.call
            module = None if call is None else call.function
            line, column = (
                (call.line, call.column) if call is not None else (node.line, node.column)
            )
            self.errors.append(NodeError(node.id, module, message, line, column))
        if "node.failed" in self.listeners:
            self.emit("node.failed", i, self.durations[i], message)
        # Every node that strictly needs this one fails with it, without running.
        stack = [i]
        while stack:
            j = stack.pop()
            self.state[j] = FAILED
            self.causes[j] = message
            self.wake(j, failed=True)
            for d in self.plan.strict_dependants[j]:
                if self.state[d] in (IDLE, QUEUED):
                    stack.append(d)

    def wake(self, i: int, *, failed: bool = False) -> None:
        for future in self.waiters.pop(i, ()):
            if not future.done():
                future.set_exception(_DependencyFailed(i) if failed else _Waiting())

    async def demand(self, i: int) -> object:
        """The value of node ``i``, needed by a conditional position: schedule it if needed."""
        state = self.state[i]
        if state == DONE:
            return self.values[i]
        if state == FAILED:
            raise _DependencyFailed(i)
        if state == WAITING:
            raise _Waiting()
        loop = _running_loop()
        if not self.needed[i]:
            self.need(i)
            # Nodes whose expressions complete at once run now, inline; the rest as tasks.
            self.drain(loop)
            state = self.state[i]
            if state == DONE:
                return self.values[i]
            if state == FAILED:
                raise _DependencyFailed(i)
            if state == WAITING:
                raise _Waiting()
        if loop is None:
            raise _NeedsLoop()
        future: asyncio.Future[object] = loop.create_future()
        self.waiters.setdefault(i, []).append(future)
        return await future

    def need(self, i: int) -> None:
        """Mark ``i`` and its strict dependencies needed; queue those that are ready."""
        stack = [i]
        while stack:
            j = stack.pop()
            if self.needed[j]:
                continue
            self.needed[j] = True
            deps = self.plan.pipeline.dep_index[j]
            stack.extend(deps)
            self.activated[j] = True  # demanded: its consumer is ready for it
            if self.state[j] == IDLE and self.pending[j] == 0:
                self.queue(j)
            elif any(self.state[d] == FAILED for d in deps):
                self.fail(
                    j, self.causes[next(d for d in deps if self.state[d] == FAILED)], root=False
                )
            elif any(self.state[d] == WAITING for d in deps):
                self.state[j] = WAITING

    def run_schedule(self, schedule: tuple[tuple[int, Getter], ...]) -> None:
        """Run a plan of plain function calls: one pass in priority-topological order.

        A node runs when it is still idle: a failure marks its dependants failed, and the
        dependants of a missing input are marked waiting before the pass starts.
        """
        state, call = self.state, self.call
        if self.any_missing:
            for i, name in enumerate(self.state):
                if name == WAITING:
                    self.block(i)
        # One clock reading per node: each node starts when the one before it ended.
        now = _clock()
        for i, get in schedule:
            if state[i] == IDLE:
                now = call(i, get, now)

    def call(self, i: int, get: Getter, begin: float) -> float:
        """Run a node that never waits (its plain function), started at ``begin``; finish or
        settle it, and return when it ended.

        Its state goes from queued (or idle) straight to its outcome: nothing can look at a
        node while its plain function runs, so it is never marked running.
        """
        if "node.started" in self.listeners:
            self.emit("node.started", i)
        try:
            value = get(self, ())
        except BaseException as exc:
            end = _clock()
            self.durations[i] = (end - begin) * 1e3
            self.settle(i, exc)
            return end
        end = _clock()
        self.durations[i] = (end - begin) * 1e3
        self.finish(i, value)
        return end

    def block(self, i: int) -> None:
        """Mark what strictly needs the waiting node ``i`` as waiting too."""
        stack = list(self.plan.strict_dependants[i])
        while stack:
            j = stack.pop()
            if self.state[j] == IDLE:
                self.state[j] = WAITING
                stack.extend(self.plan.strict_dependants[j])

    def finished_without_loop(self) -> bool:
        """Run what can run here; True when no node is left for an event loop."""
        if self.plan.schedule is not None:
            self.run_schedule(self.plan.schedule)
            return True
        self.drain(None)
        return not self.deferred

    async def complete(self, time_limit: float | None = None) -> None:
        """Run to the end on the running loop.

        ``time_limit`` (seconds, counted from the start of the execution) bounds the waiting:
        past it, running calls are cancelled and every unfinished needed node fails. Plain
        function calls are never interrupted (Python cannot stop a running function).
        """
        if self.finished_without_loop():
            return
        loop = asyncio.get_running_loop()
        for i in self.deferred:
            heapq.heappush(self.ready, self.plan.rank[i])
        self.deferred.clear()
        while True:
            self.drain(loop)
            if not self.tasks:
                break
            if time_limit is None:
                await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
                continue
            left = time_limit - (time.perf_counter() - self.started)
            done, _ = await asyncio.wait(
                self.tasks, timeout=max(left, 0.0), return_when=asyncio.FIRST_COMPLETED
            )
            if not done:  # the time limit passed with calls still running
                await self.abort(f"the execution exceeded its time limit of {time_limit:g} s")
                break

    async def abort(self, message: str) -> None:
        """Cancel the running calls and fail every needed node that has not finished."""
        self.aborted = message
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            # Cancelled tasks settle (and fail their nodes) through their done callbacks.
            await asyncio.wait(tasks, timeout=1.0)
        for i, needed in enumerate(self.needed):
            if needed and self.state[i] in (IDLE, QUEUED, RUNNING):
                self.fail(i, message, root=self.state[i] == RUNNING)

    # ------------------------------------------------------------------ state

    def snapshot(self) -> dict[str, object]:
        """What a suspended execution keeps (plain JSON): every completed node's value, by id.

        Inputs are nodes too, so the inputs given (or defaulted) so far are part of it.
        """
        nodes = self.plan.pipeline.nodes
        return {
            "values": {
                nodes[i].id: encode(self.values[i], nodes[i].type)
                for i, state in enumerate(self.state)
                if state == DONE
            }
        }

    # ------------------------------------------------------------------ result

    def result(self) -> Execution:
        pipeline = self.plan.pipeline
        outputs: dict[str, object] = {}
        pending: list[str] = []
        for name, i in self.plan.output_index:
            if self.state[i] == DONE:
                outputs[name] = self.values[i]
            elif self.state[i] != FAILED:
                pending.append(name)
        status: Status
        if self.errors:
            status = "failed"
        elif pending:
            status = "suspended"
        else:
            status = "completed"
        missing: Mapping[str, str] = _NOTHING
        if status == "suspended":
            missing = self.missing_inputs(pending)
        schema: Mapping[str, object] = _NOTHING
        if missing:
            schema = {
                "type": "object",
                "properties": {name: _input_schema(pipeline.input_specs[name]) for name in missing},
                "required": list(missing),
            }
        elapsed = (time.perf_counter() - self.started) * 1e3
        listeners = self.listeners
        if "node.skipped" in listeners:
            for i, state in enumerate(self.state):
                if state == IDLE and self.skipped(i):
                    self.emit("node.skipped", i)
        finished = _FINISHED[status]
        if finished in listeners:
            self.emit(finished, None, elapsed)
        error = None
        if self.errors:
            first = self.errors[0]
            more = len(self.errors) - 1
            error = f"{first.message} (line {first.line})" + (
                f", and {more} more failure{'s' * (more != 1)}" if more else ""
            )
        # Positional, in field order: binding keywords costs more than the rest of this.
        return Execution(
            self.execution_id,
            status,
            pipeline.structural_hash,
            outputs,
            tuple(pending),
            missing,
            schema,
            error,
            tuple(self.errors),
            0,
            tuple(self.warnings),
            elapsed,
            self.plan.output_types,
            self.reports,
            self.calls,
        )

    def missing_inputs(self, pending: list[str]) -> dict[str, str]:
        """The missing inputs some pending output may still need (§5.4), with their types."""
        plan = self.plan
        waiting = {i: name for name, i in plan.input_index.items() if self.state[i] == WAITING}
        analysis = Needs(
            plan.pipeline,
            Evaluator(plan.pipeline, plan.registry),
            [state == DONE for state in self.state],
            self.values,
            waiting,
            self,
        )
        names: set[str] = set()
        outputs = dict(plan.output_index)
        for name in pending:
            names |= analysis.of_node(outputs[name])
        return {spec.name: show(spec.type) for spec in plan.pipeline.inputs if spec.name in names}

    def skipped(self, i: int) -> bool:
        """Whether ``i`` sits in a conditional position of a node that ran without it."""
        return not self.needed[i] and any(self.state[u] == DONE for u in self.plan.lazy_users[i])

    def calls(self) -> tuple[ModuleCall, ...]:
        """The module calls this run made: restored nodes have no duration, as they did not
        run here; a failure is a root cause (its dependants made no call)."""
        durations, state = self.durations, self.state
        made = [
            ModuleCall(module, False, durations[i])
            for i, module in self.plan.call_modules
            if state[i] == DONE and durations[i] is not None
        ]
        index = self.plan.pipeline.index
        made.extend(
            ModuleCall(e.module, True, durations[index[e.node]])
            for e in self.errors
            if e.module is not None
        )
        return tuple(made)

    def reports(self) -> tuple[NodeReport, ...]:
        return tuple(self.report(i) for i in range(len(self.plan.pipeline.nodes)))

    def report(self, i: int) -> NodeReport:
        node = self.plan.pipeline.nodes[i]
        state = self.state[i]
        name: NodeState
        if state == IDLE:
            if self.needed[i]:
                name = "waiting"
            elif self.skipped(i):
                name = "skipped"
            else:
                name = "not-needed"
        else:
            name = _STATE_NAMES[state]
        preview = None
        if state == DONE:
            preview = _preview(self.values[i], node)
        error = self.causes.get(i) if state == FAILED else None
        return NodeReport(node.id, node.name, node.kind, name, self.durations[i], preview, error)


async def _timed(awaitable: Awaitable[object], begin: float) -> tuple[object, float]:
    value = await awaitable
    return value, (time.perf_counter() - begin) * 1e3


def _priority_order(pipeline: ir.Pipeline, users: list[list[int]]) -> tuple[list[int], list[int]]:
    """A topological order in which, among nodes ready together, higher priority comes first
    (then source order): the rank of each node, and the nodes by rank (language.md §8.4)."""
    n = len(pipeline.nodes)
    priority = [
        -(node.call.options.priority if node.call is not None else 50) for node in pipeline.nodes
    ]
    remaining = [len(deps) for deps in pipeline.dep_index]
    heap = [(priority[i], i) for i in range(n) if remaining[i] == 0]
    heapq.heapify(heap)
    by_rank: list[int] = []
    while heap:
        _, i = heapq.heappop(heap)
        by_rank.append(i)
        for u in users[i]:
            remaining[u] -= 1
            if remaining[u] == 0:
                heapq.heappush(heap, (priority[u], u))
    rank = [0] * n
    for r, i in enumerate(by_rank):
        rank[i] = r
    return rank, by_rank


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _preview(value: object, node: ir.Node) -> str:
    text = render(value, node.type)
    return text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 1] + "…"


def _input_schema(spec: ir.InputSpec) -> dict[str, object]:
    schema = dict(json_schema(spec.type))
    if spec.doc:
        schema["description"] = spec.doc
    if spec.examples:
        schema["examples"] = list(spec.examples)
    return schema
