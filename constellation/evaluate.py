"""IR expressions compiled, once per pipeline, into closures the runtime calls.

Every compiled expression is an ``async def (run, env) -> value``: ``run`` is the execution
(values of nodes, demand of conditional nodes, policies), ``env`` the tuple of values bound
by enclosing binders (``Local(k)`` is ``env[k - 1]``). Coroutines cost little when they never
suspend, and the runtime drives them with ``send(None)``: a node whose expression calls no
async module and demands no unfinished node completes in that single step, without an event
loop. Only expressions that really wait (an async module, a retry delay, a lazy node still
running) reach the loop. So there is one evaluator for every construct.

Leaves (constants, references to strict dependencies, locals) are also available as plain
functions (:class:`Compiled.get`), so operators over them read values without an ``await``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from constellation import ir
from constellation.codec import DecodeError, describe, validator
from constellation.errors import ConstellationError, EvaluationFailure
from constellation.modules import Module, Registry
from constellation.stdlib import arithmetic, lookup_qualified, negation
from constellation.types import Type, show
from constellation.values import conforms, converter, render, values_equal, zero_value

if TYPE_CHECKING:
    from constellation.policy import Policies

logger = logging.getLogger("constellation")

Env = tuple[object, ...]
Getter = Callable[[Any, Env], object]
Thunk = Callable[[Any, Env], Coroutine[Any, Any, object]]


class Run(Protocol):
    """What a compiled expression needs from the execution running it."""

    values: list[object]
    warnings: list[str]
    policies: Policies

    async def demand(self, index: int) -> object:
        """The value of a node that is only needed conditionally (computing it if needed)."""
        ...


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled expression: always ``run``; also ``get``, a plain function computing the
    same value, when nothing in the expression can wait (leaves, operators over such
    expressions, library calls, plain sync modules)."""

    run: Thunk
    get: Getter | None = None
    node: int | None = None  # for a strict reference: the index of the node it reads

    @staticmethod
    def sync(get: Getter) -> Compiled:
        """An expression that never waits: ``run`` just calls ``get``."""

        async def run(run: Any, env: Env) -> object:
            return get(run, env)

        return Compiled(run, get)


class PlanError(ConstellationError):
    """A pipeline cannot be executed as it stands (a module is not registered, or another
    version of it is)."""


@types.coroutine
def resume(coro: Coroutine[Any, Any, object], waiting: object) -> Generator[Any, Any, object]:
    """Continue a coroutine that was started by ``send(None)`` and yielded ``waiting``.

    It hands ``waiting`` (the future the coroutine awaits) to the task driving this
    generator, then delegates to the coroutine until it finishes; exceptions thrown in (a
    cancellation) are passed on to the coroutine.
    """
    while True:
        try:
            yield waiting
        except BaseException as exc:
            try:
                waiting = coro.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        return (yield from cast(Generator[Any, Any, object], coro))


def step(coro: Coroutine[Any, Any, object]) -> tuple[bool, object]:
    """Run ``coro`` until it finishes or really waits: (True, value) or (False, awaitable)."""
    try:
        waiting = coro.send(None)
    except StopIteration as stop:
        return True, stop.value
    return False, resume(coro, waiting)


class Evaluator:
    """Compiles the expressions of one pipeline against a registry."""

    def __init__(self, pipeline: ir.Pipeline, registry: Registry) -> None:
        self.pipeline = pipeline
        self.registry = registry
        self.strict: frozenset[int] = frozenset()
        self.suspends = False
        self.calls_module = False
        self.demands = False

    def node(self, node: ir.Node) -> tuple[Compiled, bool]:
        """The compiled expression of a non-input node, and whether it may need an event loop.

        A node needs a loop when it calls an async module or one with options that wait
        (retry delays, timeouts, throttles, threads), or when it calls any module and also
        demands a conditional node (it could not be run again without calling the module
        twice). A node that only demands conditional nodes runs without a loop as long as
        those do.
        """
        assert node.expr is not None
        index = self.pipeline.index
        self.strict = frozenset(index[d] for d in node.deps)
        self.suspends = self.calls_module = self.demands = False
        compiled = self.compile(node.expr)
        return compiled, self.suspends or (self.calls_module and self.demands)

    # ------------------------------------------------------------------ dispatch

    def compile(self, e: ir.Expr) -> Compiled:
        return _DISPATCH[type(e)](self, e)

    def thunk(self, e: ir.Expr) -> Thunk:
        return self.compile(e).run

    # ------------------------------------------------------------------ leaves

    def const(self, e: ir.Const) -> Compiled:
        value = e.value

        def get(run: Any, env: Env) -> object:
            return value

        async def run_(run: Any, env: Env) -> object:
            return value

        return Compiled(run_, get)

    def ref(self, e: ir.Ref) -> Compiled:
        i = self.pipeline.index[e.node]
        if i in self.strict:
            # The scheduler runs this node only after its strict dependencies completed.
            # (A partial, not a closure: see _call_one.)
            get: Getter = functools.partial(_value_of, i)

            async def run_(run: Any, env: Env) -> object:
                return run.values[i]

            return Compiled(run_, get, i)

        self.demands = True

        async def demand(run: Any, env: Env) -> object:
            return await run.demand(i)

        return Compiled(demand)

    def local(self, e: ir.Local) -> Compiled:
        k = e.level - 1

        def get(run: Any, env: Env) -> object:
            return env[k]

        async def run_(run: Any, env: Env) -> object:
            return env[k]

        return Compiled(run_, get)

    # ------------------------------------------------------------------ operators

    def unary(self, e: ir.Expr, fn: Callable[[object], object]) -> Compiled:
        inner = self.compile(e)
        get = inner.get
        if get is not None:
            g = get
            return Compiled.sync(lambda run, env: fn(g(run, env)))
        sub = inner.run

        async def run_(run: Any, env: Env) -> object:
            return fn(await sub(run, env))

        return Compiled(run_)

    def binary(self, left: ir.Expr, right: ir.Expr, fn: Callable[[Any, Any], object]) -> Compiled:
        a, b = self.compile(left), self.compile(right)
        ga, gb = a.get, b.get
        if ga is not None and gb is not None:
            la, lb = ga, gb
            return Compiled.sync(lambda run, env: fn(la(run, env), lb(run, env)))
        ra, rb = a.run, b.run

        async def run_(run: Any, env: Env) -> object:
            return fn(await ra(run, env), await rb(run, env))

        return Compiled(run_)

    def convert(self, e: ir.Convert) -> Compiled:
        convert = converter(e.source, e.to)
        if convert is None:
            return self.compile(e.expr)
        return self.unary(e.expr, convert)

    def arith(self, e: ir.Arith) -> Compiled:
        op = e.op

        def apply(a: int | float, b: int | float) -> object:
            return arithmetic(op, a, b)

        return self.binary(e.left, e.right, apply)

    def neg(self, e: ir.Neg) -> Compiled:
        return self.unary(e.operand, lambda x: negation(cast(float, x)))

    def compare(self, e: ir.Compare) -> Compiled:
        match e.op:
            case "==":
                return self.binary(e.left, e.right, values_equal)
            case "!=":
                return self.binary(e.left, e.right, lambda a, b: not values_equal(a, b))
            case "<":
                return self.binary(e.left, e.right, lambda a, b: a < b)
            case "<=":
                return self.binary(e.left, e.right, lambda a, b: a <= b)
            case ">":
                return self.binary(e.left, e.right, lambda a, b: a > b)
            case ">=":
                return self.binary(e.left, e.right, lambda a, b: a >= b)

    def parts(self, exprs: Sequence[ir.Expr]) -> tuple[list[Thunk], list[Getter] | None]:
        """Compile ``exprs``: their async forms, and their plain forms if all have one.

        Each construct below has a plain form built from plain parts, so an expression with
        nothing that waits is one ordinary function call at run time.
        """
        compiled = [self.compile(x) for x in exprs]
        getters = [c.get for c in compiled]
        plain = None if any(g is None for g in getters) else cast(list[Getter], getters)
        return [c.run for c in compiled], plain

    def and_(self, e: ir.And) -> Compiled:
        (left, right), plain = self.parts((e.left, e.right))
        if plain is not None:
            pl, pr = plain
            return Compiled.sync(lambda run, env: pl(run, env) and pr(run, env))

        async def run_(run: Any, env: Env) -> object:
            return await left(run, env) and await right(run, env)

        return Compiled(run_)

    def or_(self, e: ir.Or) -> Compiled:
        (left, right), plain = self.parts((e.left, e.right))
        if plain is not None:
            pl, pr = plain
            return Compiled.sync(lambda run, env: pl(run, env) or pr(run, env))

        async def run_(run: Any, env: Env) -> object:
            return await left(run, env) or await right(run, env)

        return Compiled(run_)

    def not_(self, e: ir.Not) -> Compiled:
        return self.unary(e.operand, lambda x: not x)

    def merge(self, e: ir.Merge) -> Compiled:
        return self.binary(e.left, e.right, _MERGES[e.shape])

    def get_field(self, e: ir.GetField) -> Compiled:
        name, depth = e.name, e.depth
        if depth == 0:
            return self.unary(e.target, lambda r: cast(dict[str, object], r)[name])
        return self.unary(e.target, lambda v: _each(v, depth, lambda r: r[name]))

    def project(self, e: ir.ProjectFields) -> Compiled:
        names, depth = e.names, e.depth

        def project(r: Any) -> object:
            return {n: r[n] for n in names}

        return self.unary(e.target, lambda v: _each(v, depth, project))

    def make_record(self, e: ir.MakeRecord) -> Compiled:
        names = e.names
        parts, plain = self.parts(e.values)
        if plain is not None:
            fields = list(zip(names, plain, strict=True))
            return Compiled.sync(lambda run, env: {n: g(run, env) for n, g in fields})

        async def run_(run: Any, env: Env) -> object:
            return {n: await p(run, env) for n, p in zip(names, parts, strict=True)}

        return Compiled(run_)

    def make_list(self, e: ir.MakeList) -> Compiled:
        items, plain = self.parts(e.items)
        if plain is not None:
            gets = plain
            return Compiled.sync(lambda run, env: [g(run, env) for g in gets])

        async def run_(run: Any, env: Env) -> object:
            return [await x(run, env) for x in items]

        return Compiled(run_)

    def interpolate(self, e: ir.Interpolate) -> Compiled:
        strings = e.strings
        thunks, plain = self.parts(e.exprs)
        parts = list(zip(thunks, e.types, strict=True))
        if plain is not None:
            pieces = list(zip(plain, e.types, strings[1:], strict=True))
            first = strings[0]

            def text(run: Any, env: Env) -> object:
                out = [first]
                for get, t, after in pieces:
                    out.append(render(get(run, env), t))
                    out.append(after)
                return "".join(out)

            return Compiled.sync(text)

        async def run_(run: Any, env: Env) -> object:
            out = [strings[0]]
            for (part, t), text in zip(parts, strings[1:], strict=True):
                out.append(render(await part(run, env), t))
                out.append(text)
            return "".join(out)

        return Compiled(run_)

    # ------------------------------------------------------------------ conditionals

    def if_(self, e: ir.IfExpr) -> Compiled:
        (cond, then, otherwise), plain = self.parts((e.cond, e.then, e.otherwise))
        if plain is not None:
            pc, pt, po = plain
            return Compiled.sync(lambda run, env: pt(run, env) if pc(run, env) else po(run, env))

        async def run_(run: Any, env: Env) -> object:
            if await cond(run, env):
                return await then(run, env)
            return await otherwise(run, env)

        return Compiled(run_)

    def branch(self, e: ir.BranchExpr) -> Compiled:
        flat = [x for arm in e.arms for x in arm]
        thunks, plain = self.parts((*flat, e.otherwise))
        arms = list(zip(thunks[:-1:2], thunks[1:-1:2], strict=True))
        otherwise = thunks[-1]
        if plain is not None:
            plain_arms = list(zip(plain[:-1:2], plain[1:-1:2], strict=True))
            plain_otherwise = plain[-1]

            def choose(run: Any, env: Env) -> object:
                for cond, value in plain_arms:
                    if cond(run, env):
                        return value(run, env)
                return plain_otherwise(run, env)

            return Compiled.sync(choose)

        async def run_(run: Any, env: Env) -> object:
            for cond, value in arms:
                if await cond(run, env):
                    return await value(run, env)
            return await otherwise(run, env)

        return Compiled(run_)

    def when(self, e: ir.WhenExpr) -> Compiled:
        (value, cond), plain = self.parts((e.value, e.cond))
        if plain is not None:
            pv, pc = plain
            return Compiled.sync(lambda run, env: pv(run, env) if pc(run, env) else None)

        async def run_(run: Any, env: Env) -> object:
            return await value(run, env) if await cond(run, env) else None

        return Compiled(run_)

    def coalesce(self, e: ir.CoalesceExpr) -> Compiled:
        (left, right), plain = self.parts((e.left, e.right))
        if plain is not None:
            pl, pr = plain

            def coalesce(run: Any, env: Env) -> object:
                value = pl(run, env)
                return pr(run, env) if value is None else value

            return Compiled.sync(coalesce)

        async def run_(run: Any, env: Env) -> object:
            value = await left(run, env)
            return await right(run, env) if value is None else value

        return Compiled(run_)

    def match(self, e: ir.MatchExpr) -> Compiled:
        thunks, plain = self.parts((e.subject, *(c.body for c in e.cases)))
        subject = thunks[0]
        patterns = [_pattern(c.pattern) for c in e.cases]
        cases = list(zip(patterns, thunks[1:], strict=True))
        if plain is not None:
            plain_subject = plain[0]
            plain_cases = list(zip(patterns, plain[1:], strict=True))

            def select(run: Any, env: Env) -> object:
                value = plain_subject(run, env)
                for matches, body in plain_cases:
                    if matches(value):
                        return body(run, (*env, value))
                raise EvaluationFailure("match: no case matches the value")

            return Compiled.sync(select)

        async def run_(run: Any, env: Env) -> object:
            value = await subject(run, env)
            inner = (*env, value)
            for matches, body in cases:
                if matches(value):
                    return await body(run, inner)
            # The checker proved the match exhaustive; a value that matches nothing means a
            # stored image and the program disagree.
            raise EvaluationFailure("match: no case matches the value")

        return Compiled(run_)

    def higher_order(self, e: ir.HigherOrder) -> Compiled:
        (items, body), plain = self.parts((e.items, e.body))
        kind = e.kind
        if plain is not None:
            return Compiled.sync(_plain_higher_order(kind, *plain))

        if kind in ("all", "any"):
            want = kind == "any"

            async def decide(run: Any, env: Env) -> object:
                for x in cast(list[object], await items(run, env)):
                    if bool(await body(run, (*env, x))) is want:
                        return want
                return not want

            return Compiled(decide)

        async def each(run: Any, env: Env) -> object:
            xs = cast(list[object], await items(run, env))
            results = await _concurrently([body(run, (*env, x)) for x in xs])
            if kind == "map":
                return results
            return [x for x, keep in zip(xs, results, strict=True) if keep]

        return Compiled(each)

    # ------------------------------------------------------------------ calls

    def call(self, e: ir.CallExpr) -> Compiled:
        if e.kind == "library":
            return self.library_call(e)
        module = self.registry.get(e.function)
        if module is None:
            raise PlanError(
                f"the pipeline calls the module '{e.function}', which is not registered; "
                "register it (@module) in this process before executing the pipeline"
            )
        if module.version != e.version:
            raise PlanError(
                f"the pipeline was compiled against version {e.version} of '{e.function}', "
                f"but version {module.version} is registered; compile the pipeline again"
            )
        call = ModuleCall(self, e, module)
        self.calls_module = True
        if module.is_async or not call.direct:
            self.suspends = True
        return call.compiled()

    def library_call(self, e: ir.CallExpr) -> Compiled:
        fn = lookup_qualified(e.function)
        if fn is None or fn.impl is None:
            raise PlanError(f"'{e.function}' is not a function of the standard library")
        impl = fn.impl
        if fn.needs_types:
            typed = impl
            params = e.params

            def impl(*args: object) -> object:
                return typed(*args, types=params)

        args = [self.compile(a) for a in e.args]
        getters = [a.get for a in args]
        if all(g is not None for g in getters):
            direct = cast(list[Getter], getters)
            return Compiled.sync(lambda run, env: impl(*[g(run, env) for g in direct]))
        thunks = [a.run for a in args]

        async def run_(run: Any, env: Env) -> object:
            return impl(*[await t(run, env) for t in thunks])

        return Compiled(run_)


_DISPATCH: dict[type, Callable[[Evaluator, Any], Compiled]] = {
    ir.Const: Evaluator.const,
    ir.Ref: Evaluator.ref,
    ir.Local: Evaluator.local,
    ir.Convert: Evaluator.convert,
    ir.Arith: Evaluator.arith,
    ir.Neg: Evaluator.neg,
    ir.Compare: Evaluator.compare,
    ir.And: Evaluator.and_,
    ir.Or: Evaluator.or_,
    ir.Not: Evaluator.not_,
    ir.Merge: Evaluator.merge,
    ir.GetField: Evaluator.get_field,
    ir.ProjectFields: Evaluator.project,
    ir.MakeRecord: Evaluator.make_record,
    ir.MakeList: Evaluator.make_list,
    ir.Interpolate: Evaluator.interpolate,
    ir.IfExpr: Evaluator.if_,
    ir.BranchExpr: Evaluator.branch,
    ir.WhenExpr: Evaluator.when,
    ir.CoalesceExpr: Evaluator.coalesce,
    ir.MatchExpr: Evaluator.match,
    ir.HigherOrder: Evaluator.higher_order,
    ir.CallExpr: Evaluator.call,
}


class ModuleCall:
    """A module call: arguments, the Python function, its result check, and its options."""

    def __init__(self, ev: Evaluator, e: ir.CallExpr, module: Module) -> None:
        self.e = e
        self.module = module
        self.name = e.name
        self.validate = validator(e.result)
        self.args = [ev.compile(a) for a in e.args]
        options = e.options
        self.options = options
        self.fallback = None if options.fallback is None else ev.thunk(options.fallback)
        self.in_thread = module.blocking or (options.timeout is not None and not module.is_async)
        self.direct = options.plain and not self.in_thread

    def check(self, result: object) -> object:
        """The module's result as a value of its declared type, or a failure saying why."""
        return self.validate_result(self.module.from_python_result(result))

    def compiled(self) -> Compiled:
        getters = [a.get for a in self.args]
        plain_args = all(g is not None for g in getters)
        if plain_args and self.direct and not self.module.is_async:
            return Compiled.sync(self.inline(cast(list[Getter], getters)))
        if plain_args:
            direct = cast(list[Getter], getters)

            async def evaluate_args(run: Any, env: Env) -> list[object]:
                return [g(run, env) for g in direct]

        else:
            thunks = [a.run for a in self.args]

            async def evaluate_args(run: Any, env: Env) -> list[object]:
                return [await t(run, env) for t in thunks]

        invoke = self.invoke_direct if self.direct else self.invoke_with_policy

        async def run_(run: Any, env: Env) -> object:
            args = await evaluate_args(run, env)
            return await invoke(run, env, args)

        return Compiled(run_)

    def inline(self, getters: list[Getter]) -> Getter:
        """The common case in one frame: a plain function, plain arguments, no options.

        (This is :meth:`invoke_direct` with the argument evaluation folded in: one coroutine
        per call instead of three, which is most of the engine's per-node cost.)
        """
        func, name, check = self.module.func, self.name, self.check
        call_direct = not self.module.arg_converters
        if self.module.arg_converters:
            to_python = self.module.to_python_args

            def call(args: list[object]) -> object:
                return func(*to_python(args))

        else:

            def call(args: list[object]) -> object:
                return func(*args)

        if len(getters) == 1 and call_direct and not self.module.result_converter:
            # The commonest call of all, in one frame: one argument, a result checked by the
            # validator of its type (shared by every call site of that type).
            node = self.args[0].node
            if node is not None:  # the argument is a node: read its value, with no getter
                return functools.partial(
                    _call_on_node, func, node, self.validate, self.mismatch, name
                )
            return functools.partial(
                _call_one, func, getters[0], self.validate, self.mismatch, name
            )

        if not self.module.result_converter:
            check = self.validate_result

        def run_many(run: Any, env: Env) -> object:
            try:
                result = call([g(run, env) for g in getters])
            except Exception as exc:  # a module's own failure becomes the node's failure
                raise EvaluationFailure(f"{name} failed: {_message(exc)}") from exc
            return check(result)

        return run_many

    def validate_result(self, result: object) -> object:
        try:
            return self.validate(result)
        except DecodeError as err:
            raise self.mismatch(result, err) from None

    def mismatch(self, value: object, err: DecodeError) -> EvaluationFailure:
        detail = f" ({err})" if err.path else ""
        return EvaluationFailure(
            f"{self.name} returned {describe(value)} where "
            f"{show(self.e.result)} was expected{detail}"
        )

    def python_args(self, args: Sequence[object]) -> list[object]:
        return self.module.to_python_args(args)

    async def invoke_direct(self, run: Any, env: Env, args: list[object]) -> object:
        func = self.module.func
        try:
            result = func(*self.python_args(args))
            if self.module.is_async:
                result = await cast(Awaitable[object], result)
        except Exception as exc:  # a module's own failure becomes the node's failure
            raise EvaluationFailure(f"{self.name} failed: {_message(exc)}") from exc
        return self.check(result)

    async def invoke_with_policy(self, run: Any, env: Env, args: list[object]) -> object:
        options = self.options
        func = self.module.func
        py_args = self.python_args(args)

        def attempt() -> object:
            return func(*py_args)

        try:
            value = await run.policies.call(
                run.call_site(self.e),
                tuple(args),
                attempt,
                is_async=self.module.is_async,
                in_thread=self.in_thread,
                check=self.check,
            )
        except EvaluationFailure as failure:
            return await self.recover(run, env, failure)
        return {"ok": True, "value": value, "error": None} if options.wrap else value

    async def recover(self, run: Any, env: Env, failure: EvaluationFailure) -> object:
        """Fallback, then on_error, for a call whose every attempt failed (§8.3 steps 4–6)."""
        options = self.options
        if self.fallback is not None:
            value = await self.fallback(run, env)
            return {"ok": True, "value": value, "error": None} if options.wrap else value
        match options.on_error:
            case "skip":
                return zero_value(self.e.result)
            case "log":
                logger.warning("%s (line %d)", failure, self.e.line)
                run.warnings.append(f"line {self.e.line}: {failure}")
                return zero_value(self.e.result)
            case "wrap":
                return {"ok": False, "value": None, "error": str(failure)}
        raise failure


# ---------------------------------------------------------------------- helpers


def _value_of(i: int, run: Any, env: Env) -> object:
    """The value of node ``i``, which has completed (the getter of a strict reference)."""
    return run.values[i]


def _call_one(
    func: Callable[[object], object],
    get: Getter,
    validate: Callable[[object], object],
    mismatch: Callable[[object, DecodeError], EvaluationFailure],
    name: str,
    run: Any,
    env: Env,
) -> object:
    """A plain module of one argument, its result checked: the commonest node of all.

    Bound per call site with ``functools.partial`` rather than as a closure: a partial keeps
    its bindings in one tuple where a closure has a cell each, and in a pipeline of
    thousands of calls the objects a call touches being few and close together is what
    keeps the cost per node flat as the pipeline grows (the CPU caches).
    """
    try:
        result = func(get(run, env))
    except Exception as exc:  # a module's own failure becomes the node's failure
        raise EvaluationFailure(f"{name} failed: {_message(exc)}") from exc
    try:
        return validate(result)
    except DecodeError as err:
        raise mismatch(result, err) from None


def _call_on_node(
    func: Callable[[object], object],
    i: int,
    validate: Callable[[object], object],
    mismatch: Callable[[object, DecodeError], EvaluationFailure],
    name: str,
    run: Any,
    env: Env,
) -> object:
    """:func:`_call_one` on the value of the completed node ``i`` (one partial, not two)."""
    try:
        result = func(run.values[i])
    except Exception as exc:  # a module's own failure becomes the node's failure
        raise EvaluationFailure(f"{name} failed: {_message(exc)}") from exc
    try:
        return validate(result)
    except DecodeError as err:
        raise mismatch(result, err) from None


def _message(exc: BaseException) -> str:
    text = str(exc)
    return text if text else type(exc).__name__


def _each(value: object, depth: int, fn: Callable[[Any], object]) -> object:
    if depth == 0:
        return fn(value)
    return [_each(x, depth - 1, fn) for x in cast(list[object], value)]


def _merge_record(a: Any, b: Any) -> object:
    return {**a, **b}


def _merge_list_record(a: Any, b: Any) -> object:
    return [{**x, **b} for x in a]


def _merge_record_list(a: Any, b: Any) -> object:
    return [{**a, **x} for x in b]


def _merge_lists(a: Any, b: Any) -> object:
    if len(a) != len(b):
        raise EvaluationFailure(f"cannot merge lists of different lengths ({len(a)} and {len(b)})")
    return [{**x, **y} for x, y in zip(a, b, strict=True)]


_MERGES: dict[str, Callable[[Any, Any], object]] = {
    "record": _merge_record,
    "list-record": _merge_list_record,
    "record-list": _merge_record_list,
    "list-list": _merge_lists,
}


def _pattern(p: ir.Pattern) -> Callable[[object], bool]:
    match p:
        case ir.AnyPattern():
            return lambda value: True
        case ir.IsPattern(type=t):
            target: Type = t
            return lambda value: conforms(value, target)
        case ir.FieldsPattern(names=names):
            return lambda value: isinstance(value, dict) and all(n in value for n in names)


def _plain_higher_order(kind: str, items: Getter, body: Getter) -> Getter:
    """map / filter / all / any over a body that never waits."""
    if kind == "map":
        return lambda run, env: [body(run, (*env, x)) for x in cast(list[object], items(run, env))]
    if kind == "filter":
        return lambda run, env: [
            x for x in cast(list[object], items(run, env)) if body(run, (*env, x))
        ]
    want = kind == "any"

    def decide(run: Any, env: Env) -> object:
        for x in cast(list[object], items(run, env)):
            if bool(body(run, (*env, x))) is want:
                return want
        return not want

    return decide


async def _concurrently(coros: list[Coroutine[Any, Any, object]]) -> list[object]:
    """Evaluate element bodies, those that really wait concurrently; results in order.

    If elements fail, the failure of the lowest index is raised (language.md §4.12).
    """
    results: list[object] = [None] * len(coros)
    failures: dict[int, BaseException] = {}
    waiting: dict[int, Awaitable[object]] = {}
    for i, coro in enumerate(coros):
        try:
            done, value = step(coro)
        except Exception as exc:  # the element failed at once
            failures[i] = exc
            continue
        if done:
            results[i] = value
        else:
            waiting[i] = cast(Awaitable[object], value)
    if waiting:
        tasks = {i: asyncio.ensure_future(w) for i, w in waiting.items()}
        outcomes = await asyncio.gather(*tasks.values(), return_exceptions=True)
        for i, outcome in zip(tasks, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                failures[i] = outcome
            else:
                results[i] = outcome
    if failures:
        raise failures[min(failures)]
    return results
