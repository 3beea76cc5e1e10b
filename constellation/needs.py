"""Which missing inputs a suspended execution may still need (language.md §5.4).

``needs(e)`` is the set of missing inputs ``e`` may still require given what is known: an
input needed only by an untaken branch, a short-circuited operand or a present ``??`` left
side is not needed, while a condition that is not known yet keeps both of its arms.
"Known" means the expression can be evaluated now from completed nodes alone, without
calling any module (the analysis never calls one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from constellation import ir
from constellation.evaluate import Evaluator

_UNKNOWN = object()


class Needs:
    """The needs analysis over one execution's node states and values."""

    def __init__(
        self,
        pipeline: ir.Pipeline,
        evaluator: Evaluator,
        done: Sequence[bool],
        values: Sequence[object],
        missing: dict[int, str],
        run: Any,
    ) -> None:
        self.pipeline = pipeline
        self.evaluator = evaluator
        self.done = done
        self.values = values
        self.missing = missing  # node index -> input name, for inputs still missing
        self.run = run
        self.memo: dict[int, frozenset[str]] = {}
        evaluator.strict = frozenset(i for i, d in enumerate(done) if d)

    def of_node(self, i: int) -> frozenset[str]:
        if self.done[i]:
            return frozenset()
        if i in self.missing:
            return frozenset((self.missing[i],))
        found = self.memo.get(i)
        if found is None:
            self.memo[i] = frozenset()  # a guard: the DAG has no cycles
            expr = self.pipeline.nodes[i].expr
            found = frozenset() if expr is None else self.of(expr)
            self.memo[i] = found
        return found

    def known(self, e: ir.Expr) -> object:
        """The value of ``e`` if it can be computed now without a module call, else _UNKNOWN."""
        if _calls_module(e):
            return _UNKNOWN
        get = self.evaluator.compile(e).get
        if get is None:
            return _UNKNOWN
        try:
            return get(self.run, ())
        except Exception:  # a failure, or a local that is not bound here: not known
            return _UNKNOWN

    def of(self, e: ir.Expr) -> frozenset[str]:
        rule = _RULES.get(type(e))
        if rule is not None:
            return rule(self, e)
        out: frozenset[str] = frozenset()
        for child, _ in ir.children(e):
            out |= self.of(child)
        return out


def _ref(n: Needs, e: ir.Ref) -> frozenset[str]:
    return n.of_node(n.pipeline.index[e.node])


def _if(n: Needs, e: ir.IfExpr) -> frozenset[str]:
    c = n.known(e.cond)
    if c is _UNKNOWN:
        return n.of(e.cond) | n.of(e.then) | n.of(e.otherwise)
    return n.of(e.then if c else e.otherwise)


def _branch(n: Needs, e: ir.BranchExpr) -> frozenset[str]:
    out: frozenset[str] = frozenset()
    for cond, value in e.arms:
        c = n.known(cond)
        if c is _UNKNOWN:
            out |= n.of(cond) | n.of(value)
        elif c:
            return out | n.of(value)
    return out | n.of(e.otherwise)


def _when(n: Needs, e: ir.WhenExpr) -> frozenset[str]:
    c = n.known(e.cond)
    if c is _UNKNOWN:
        return n.of(e.cond) | n.of(e.value)
    return n.of(e.value) if c else frozenset()


def _coalesce(n: Needs, e: ir.CoalesceExpr) -> frozenset[str]:
    a = n.known(e.left)
    if a is _UNKNOWN:
        return n.of(e.left) | n.of(e.right)
    return n.of(e.right) if a is None else frozenset()


def _short_circuit(decided: bool) -> Callable[[Needs, Any], frozenset[str]]:
    def rule(n: Needs, e: ir.And | ir.Or) -> frozenset[str]:
        a = n.known(e.left)
        if a is _UNKNOWN:
            return n.of(e.left) | n.of(e.right)
        return frozenset() if bool(a) is decided else n.of(e.right)

    return rule


def _call(n: Needs, e: ir.CallExpr) -> frozenset[str]:
    # A call that has not failed yet needs its arguments; its fallback only once it fails.
    out: frozenset[str] = frozenset()
    for arg in e.args:
        out |= n.of(arg)
    return out


_RULES: dict[type, Callable[[Needs, Any], frozenset[str]]] = {
    ir.Ref: _ref,
    ir.IfExpr: _if,
    ir.BranchExpr: _branch,
    ir.WhenExpr: _when,
    ir.CoalesceExpr: _coalesce,
    ir.And: _short_circuit(False),
    ir.Or: _short_circuit(True),
    ir.CallExpr: _call,
}


def _calls_module(e: ir.Expr) -> bool:
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, ir.CallExpr) and x.kind == "module":
            return True
        stack.extend(child for child, _ in ir.children(x))
    return False
